#!/usr/bin/env bash
# Convergence benchmark on the lab: a pod is created on node 1 (through brindle-cni) and a pod on
# node 2 pings it in a tight loop; the time from the start of the ADD to the first answer is the
# convergence time (IPAM, endpoint, plumbing, and -- when the pod's block is new -- the route to
# the block on node 2). Prints p50/p99 over N pods (default 50). Goal: p99 <= 100 ms.
#   tests/bench/lab/convergence.sh [--encap none|vxlan] [--pods N] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../../.."
lab=tests/lab/brindle-lab
encap=none pods=50 build_dir=build/default
while (($#)); do
  case $1 in
    --encap) encap=$2; shift 2 ;;
    --pods) pods=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
id=conv$$
trap '"$lab" --id "$id" --build-dir "$build_dir" down >/dev/null 2>&1 || true' EXIT
"$lab" --id "$id" --build-dir "$build_dir" up --nodes 2 --encap "$encap" --pods-per-node 1 \
  --no-matrix >/dev/null
"$lab" --id "$id" --build-dir "$build_dir" wait-converged 30 >/dev/null
prober=$("$lab" --id "$id" pods | awk '$2 == "2" || $2 == "node2" {print $1; exit}')
[[ -n $prober ]] || { echo "no pod on node 2" >&2; exit 1; }
results=()
for ((i = 0; i < pods; i++)); do
  pod=c$i
  start=$(date +%s%N)
  "$lab" --id "$id" pod-add 1 "$pod" >/dev/null
  address=$("$lab" --id "$id" info "ip-$pod")
  # Tight loop of single pings (20 ms timeout each) until the first reply.
  until "$lab" --id "$id" pod-exec "$prober" ping -c1 -W0.02 -q "$address" >/dev/null 2>&1; do :; done
  end=$(date +%s%N)
  results+=($(((end - start) / 1000)))
done
printf '%s\n' "${results[@]}" | sort -n > /tmp/brindle-convergence.$$
n=${#results[@]}
p50=$(sed -n "$(((n * 50 + 99) / 100))p" /tmp/brindle-convergence.$$)
p99=$(sed -n "$(((n * 99 + 99) / 100))p" /tmp/brindle-convergence.$$)
rm -f /tmp/brindle-convergence.$$
printf 'convergence (pod ADD on node 1 -> first ping answered from node 2), encap %s, %d pods:\n' "$encap" "$n"
awk -v a="$p50" -v b="$p99" 'BEGIN {
  printf "  p50 %.1f ms   p99 %.1f ms   (goal p99 <= 100 ms; includes the brindle-cni ADD itself)\n", a / 1000, b / 1000 }'
