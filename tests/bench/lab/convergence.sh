#!/usr/bin/env bash
# Convergence benchmark on the lab: a pod is created on node 1 (through brindle-cni) and a pod on
# node 2 pings it in a tight loop; the time from the start of the ADD to the first answer is the
# convergence time (IPAM, endpoint, plumbing, and -- when the pod's block is new -- the route to
# the block on node 2: programmed by routing-static, or announced by node 1's BIRD and installed by
# node 2's with routing-bgp). Prints p50/p99 over N pods (default 50) for every pod, and
# separately for the pods that opened a new block and those that went into an existing one.
# Goals: p99 <= 100 ms for a pod in an existing block; a new block reachable through BGP within
# 1 s (p99).
#
#   tests/bench/lab/convergence.sh [--routing static|bgp|both] [--encap none|vxlan] [--pods N]
#                                  [--block-size N] [--build-dir DIR]
#
# --routing both (the default) runs static, then bgp (a node-to-node mesh), each in a lab of its
# own. --block-size (default 31: two addresses a block, so every other pod opens a new block)
# sets the pool's blockSize; 26 is the lab's usual size (new blocks become rare).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../../.."
lab=tests/lab/brindle-lab
routing=both encap=none pods=50 block_size=31 build_dir=build/default
while (($#)); do
  case $1 in
    --routing) routing=$2; shift 2 ;;
    --encap) encap=$2; shift 2 ;;
    --pods) pods=$2; shift 2 ;;
    --block-size) block_size=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case $routing in
  static | bgp) modes=("$routing") ;;
  both) modes=(static bgp) ;;
  *) echo "--routing $routing: static, bgp or both" >&2; exit 2 ;;
esac
[[ $pods =~ ^[1-9][0-9]*$ ]] || { echo "--pods $pods: a positive number" >&2; exit 2; }

id=''
tmp=$(mktemp -d)
cleanup() {
  if [[ -n $id ]]; then "$lab" --id "$id" --build-dir "$build_dir" down >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Nearest-rank percentile of the (sorted, one a line) microsecond values in <file>, in ms.
percentile() {  # percentile <file> <p>
  local n
  n=$(grep -c . "$1" || true)
  if ((n == 0)); then echo "-"; return; fi
  sed -n "$(((n * $2 + 99) / 100))p" "$1" | awk '{printf "%.1f", $1 / 1000}'
}
report() {  # report <label> <file>
  local n
  sort -n -o "$2" "$2"
  n=$(grep -c . "$2" || true)
  printf '  %-32s p50 %8s ms   p99 %8s ms   (%d pods)\n' "$1" "$(percentile "$2" 50)" \
    "$(percentile "$2" 99)" "$n"
}
# This node's blocks: its blackhole routes (routing-static: proto 202; routing-bgp: proto bird).
node1_blocks() { ip -n "$node1_ns" route show type blackhole | awk '{print $2}' | sort; }

run_mode() {  # run_mode <static|bgp>
  local mode=$1 i pod address start end deadline prober prober_ns before after
  id=conv$$$mode
  "$lab" --id "$id" --build-dir "$build_dir" up --nodes 2 --routing "$mode" --encap "$encap" \
    --block-size "$block_size" --pods-per-node 1 --no-matrix >/dev/null
  "$lab" --id "$id" wait-converged 30 >/dev/null
  prober=$("$lab" --id "$id" pods | awk '$2 == "2" {print $1; exit}')
  [[ -n $prober ]] || { echo "no pod on node 2" >&2; exit 1; }
  prober_ns=$("$lab" --id "$id" info "ns-$prober")
  node1_ns=$("$lab" --id "$id" info ns-node1)
  : >"$tmp/all" && : >"$tmp/new" && : >"$tmp/old"
  for ((i = 0; i < pods; i++)); do
    pod=c$i
    before=$(node1_blocks)
    start=$(date +%s%N)
    "$lab" --id "$id" pod-add 1 "$pod" >/dev/null
    address=$("$lab" --id "$id" info "ip-$pod")
    # Tight loop of single pings (20 ms timeout each) from the pod's namespace until the first
    # reply; a deadline so that a route that never comes fails the run instead of hanging it.
    deadline=$((start + 30000000000))
    until ip netns exec "$prober_ns" ping -c1 -W0.02 -q "$address" >/dev/null 2>&1; do
      if (($(date +%s%N) > deadline)); then
        echo "pod $pod ($address) on node 1 not reachable from node 2 within 30 s (routing $mode)" >&2
        exit 1
      fi
    done
    end=$(date +%s%N)
    after=$(node1_blocks)
    echo $(((end - start) / 1000)) >>"$tmp/all"
    if [[ $after != "$before" ]]; then
      echo $(((end - start) / 1000)) >>"$tmp/new"
    else
      echo $(((end - start) / 1000)) >>"$tmp/old"
    fi
  done
  printf 'convergence (pod ADD on node 1 -> first ping answered from node 2), routing %s, encap %s, blockSize %s, %d pods:\n' \
    "$mode" "$encap" "$block_size" "$pods"
  report "every pod" "$tmp/all"
  report "pod in a new block (route)" "$tmp/new"
  report "pod in an existing block" "$tmp/old"
  "$lab" --id "$id" --build-dir "$build_dir" down >/dev/null
  id=''
}

for mode in "${modes[@]}"; do run_mode "$mode"; done
echo "  (includes the brindle-cni ADD itself; goals: existing block p99 <= 100 ms, new block via BGP p99 <= 1 s)"
