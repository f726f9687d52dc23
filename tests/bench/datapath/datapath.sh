#!/usr/bin/env bash
# Datapath benchmark (issue 5): pod-to-pod throughput and latency across two nodes, Brindle against
# bare kernel references built in the same run.
#
#   tests/bench/datapath/datapath.sh [--build-dir DIR] [--id ID] [--duration S] [--rounds N]
#                                    [--policies N] [--variants a2,a2v,b,b-big,c,d,b-nft,c-nft]
#                                    [--no-pin]
#                                    [--perf DIR]
#
# Variants (each: iperf3 TCP for --duration seconds (default 5) with 1 and with 4 streams, and
# ping RTT avg over 200 pings at a 10 ms interval; with --rounds N (default 3) the median of N;
# iperf3's client is pinned to CPU 0 and its server to CPU 1 unless --no-pin):
#   a   bare reference: two namespaces joined by veth pairs through a router namespace, plain
#       routes, no Brindle (ratios are against this row)
#   a2  bare, lab-shaped: pod ns - veth - node ns - veth - bridge - veth - node ns - veth - pod ns,
#       plain routes, no Brindle (the same hops as a lab pod-to-pod path)
#   a2v a2 with a VXLAN device between the node namespaces made as Brindle makes vxlan.brindle (VNI
#       4096, port 4789, no learning, permanent neighbour + FDB entries, routes via the peer's
#       tunnel address onlink, pod MTU 1450), no netfilter anywhere: the kernel's own VXLAN path on
#       this machine, the ceiling of any VXLAN dataplane built on it (c against a2v: what Brindle
#       adds to it)
#   b   brindle-lab --encap none, 2 nodes, client pod on node1, server pod on node2
#   b-big  b with BIG TCP: brindle-lab --encap none --big-tcp (the lab's underlay veths at 196608
#       GSO/GRO bytes, as a BIG-TCP-capable card would offer, and [workload] big_tcp = true: the
#       pods' veths get 196608 too). Not run by default; a stays a default veth pair (64 KB).
#   c   brindle-lab --encap vxlan (same), no policy selects the pods
#   b-nft, c-nft  b and c with the nftables policy plugin (brindle-lab --policy nftables; not run by
#       default); their "rules" column counts the rules of table inet brindle
#   d1  c + 1 Kubernetes NetworkPolicy allowing the traffic (both pods isolated, ingress+egress)
#   dN  c + N policies (default 100): N-1 that select both pods but never match the traffic, plus
#       the one that allows it
# The lab always runs the iptables policy plugin (configs/brindle.toml), so b and c include its
# chains (no policy: the namespace profile allows). "rules" = iptables filter rules in brindle-*
# chains on the server's node. Numbers depend on the machine's load: on a shared 2-core machine
# they are noisy; compare rows of the same run only.
#
# --perf DIR: after the rounds of each variant (a included), one more 4-stream run under
# `perf record -e cpu-clock -F 1000 -a -g` (DIR/<key>.perf.data, DIR/<key>.iperf3.json), and a second
# table: CPU milliseconds per GB received, both CPUs, split into the path's parts (inclusive time,
# so columns overlap: e.g. the outer packet's netfilter hooks are in "netfilter" and in "vxlan tx").
# Per-GB costs move less with the machine's load than throughput does; "other" is CPU taken by
# processes that are not part of the run (load). Needs perf.
#
# The lab is `tests/lab/brindle-lab --id ID` (default dpbench); it is torn down (`down`) at the end
# and on failure, as are the reference namespaces (dpref-<id>-*).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../../.."
lab=tests/lab/brindle-lab
build_dir=${BRINDLE_BUILD_DIR:-build/default} id=dpbench duration=5 rounds=3 policies=100
# iperf3's client on CPU 0 and its server on CPU 1 (when there are two): left to the scheduler,
# both sometimes share a CPU and a round loses half its throughput whatever the path.
affinity="-A 0,1"
variants=,a2,a2v,b,c,d,
perf_dir=""
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --id) id=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --policies) policies=$2; shift 2 ;;
    --variants) variants=,$2,; shift 2 ;;
    --no-pin) affinity=""; shift ;;
    --perf) [[ -n ${2:-} ]] || { echo "--perf: a directory" >&2; exit 2; }; perf_dir=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
(($(nproc) >= 2)) || affinity=""
[[ $id =~ ^[a-z0-9]{1,16}$ ]] || { echo "--id $id: 1 to 16 of [a-z0-9]" >&2; exit 2; }
for v in duration rounds policies; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "--$v ${!v}: a positive number" >&2; exit 2; }
done
((policies >= 2)) || { echo "--policies $policies: at least 2" >&2; exit 2; }
((EUID == 0)) || { echo "run as root (network namespaces)" >&2; exit 1; }
for tool in iperf3 jq ping ip; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
build_dir=$(readlink -f "$build_dir")
if [[ -n $perf_dir ]]; then
  command -v perf >/dev/null || { echo "--perf: perf is not installed" >&2; exit 1; }
  mkdir -p "$perf_dir" || { echo "--perf $perf_dir: cannot create the directory" >&2; exit 1; }
  perf_dir=$(readlink -f "$perf_dir")
fi
export BRINDLE_BUILD_DIR=$build_dir

tmp=$(mktemp -d)
lab_up=0
ref_prefix="dpref-$id-"
ref_namespaces() { ip netns list | awk '{print $1}' | grep -E "^$ref_prefix" || true; }
# Stops the iperf3 server recorded in <pidfile> (started by this script).
stop_server() {
  local pidfile=$1 pid i
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  rm -f "$pidfile"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
ref_down() {
  local ns
  stop_server "$tmp/iperf3-a.pid"
  stop_server "$tmp/iperf3-a2.pid"
  stop_server "$tmp/iperf3-a2v.pid"
  for ns in $(ref_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
}
cleanup() {
  local rc=$? f
  for f in "$tmp"/iperf3-*.pid; do stop_server "$f"; done
  ref_down
  if ((lab_up)); then "$lab" --id "$id" --build-dir "$build_dir" down >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "==> $*" >&2; }

# --- measurement --------------------------------------------------------------------------------
# A variant is measured through two command prefixes (client side and server side) that run a
# command in the client's / the server's namespace, and the server's address.
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

iperf_tcp() {  # iperf_tcp <streams> <server ip> <client cmd...> -> Gbit/s received
  local streams=$1 ip=$2 out i
  shift 2
  for ((i = 0; i < 20; i++)); do
    if out=$("$@" iperf3 -c "$ip" -t "$duration" -P "$streams" $affinity -J 2>/dev/null); then
      jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out"
      return 0
    fi
    sleep 0.2  # the server may still be starting
  done
  echo "iperf3 -c $ip -P $streams failed: $(jq -r '.error // empty' <<<"$out" 2>/dev/null)" >&2
  return 1
}

ping_avg() {  # ping_avg <server ip> <client cmd...> -> avg RTT in ms
  local ip=$1 out
  shift
  out=$("$@" ping -n -q -c 200 -i 0.01 -W 1 "$ip") || { echo "ping $ip failed: $out" >&2; return 1; }
  grep -q ' 0% packet loss' <<<"$out" || echo "warning: ping to $ip lost packets: $(grep 'packet loss' <<<"$out")" >&2
  sed -n 's|^rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p' <<<"$out"
}

# Every variant is measured in rounds paired with the reference a (a, variant, a, variant, ...):
# the load of a shared machine drifts, so each ratio is taken against the reference measured in
# the same round, and the figure shown is the median over the rounds. A client is a function that
# runs its arguments in the client's namespace.
start_server() {  # start_server <key> <address> <cmd prefix...>: iperf3 -s in the server's namespace
  local key=$1 ip=$2
  shift 2
  "$@" iperf3 -s -D -B "$ip" -I "$tmp/iperf3-$key.pid" >/dev/null
}
measure_once() {  # measure_once <client fn> <server address> -> "tcp1 tcp4 rtt"
  local t1 t4 rtt
  t1=$(iperf_tcp 1 "$2" "$1")
  t4=$(iperf_tcp 4 "$2" "$1")
  rtt=$(ping_avg "$2" "$1")
  echo "$t1 $t4 $rtt"
}
# measure <key> <client fn> <server address> <rules>: appends "key tcp1 tcp4 rtt ratio1 ratio4
# ratio_rtt rules" to $tmp/results (medians over the rounds; ratios against a of the same round);
# a's own figures go to $tmp/ref.
measure() {
  local key=$1 client=$2 ip=$3 rules=$4 r x a c
  : >"$tmp/rounds"
  for ((r = 1; r <= rounds; r++)); do
    a=$(measure_once client_a "$ip_a")
    x=$(measure_once "$client" "$ip")
    echo "$a" >>"$tmp/ref"
    echo "$x $a" >>"$tmp/rounds"
    # shellcheck disable=SC2086
    printf '    %-5s round %d: tcp x1 %5.2f Gbit/s, x4 %5.2f Gbit/s, rtt %.3f ms   (a: %5.2f, %5.2f, %.3f)\n' \
      "$key" "$r" $x $a >&2
  done
  {
    printf '%s' "$key"
    for c in 1 2 3; do printf ' %s' "$(awk -v c=$c '{print $c}' "$tmp/rounds" | median)"; done
    for c in 1 2 3; do printf ' %s' "$(awk -v c=$c '{print $c / $(c + 3)}' "$tmp/rounds" | median)"; done
    echo " $rules"
  } >>"$tmp/results"
}

# --- --perf: where the CPU goes ------------------------------------------------------------------
# profile <key> <client fn> <server address>: one 4-stream run while perf samples every CPU.
profile() {
  [[ -n $perf_dir ]] || return 0
  local key=$1 client=$2 ip=$3 pid
  perf record -q -e cpu-clock -F 1000 -a -g -o "$perf_dir/$key.perf.data" -- sleep "$((duration + 2))" \
    >/dev/null 2>&1 &
  pid=$!
  sleep 0.5
  "$client" iperf3 -c "$ip" -t "$duration" -P 4 $affinity -J >"$perf_dir/$key.iperf3.json" ||
    { wait "$pid" || true; echo "--perf: iperf3 for $key failed" >&2; return 1; }
  wait "$pid" || { echo "--perf: perf record for $key failed" >&2; return 1; }
  echo "$key" >>"$tmp/profiled"
}
# profile_row <key>: "key gbit busy copies netfilter conntrack iptables vxlan_tx after_decap bridge
# other", CPU ms per GB received (1 sample = 1 ms at -F 1000).
profile_row() {
  local key=$1 data=$perf_dir/$1.perf.data gb gbit other
  gb=$(jq -r '.end.sum_received.bytes / 1e9' "$perf_dir/$key.iperf3.json")
  gbit=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$perf_dir/$key.iperf3.json")
  other=$(perf report -i "$data" --no-children --sort comm -n --stdio -g none 2>/dev/null |
    awk '/^ +[0-9.]+%/ && $3 != "iperf3" && $3 != "swapper" && $3 !~ /^ksoftirqd/ {s += $2} END {print s + 0}')
  perf report -i "$data" --children --sort sym -n --stdio -g none 2>/dev/null |
    awk -v key="$key" -v gb="$gb" -v gbit="$gbit" -v other="$other" '
      /^ +[0-9.]+% +[0-9.]+% +[0-9]+ +\[/ {
        c = $1; sub("%", "", c); children[$5] = c; self[$5] = $3; total += $3
      }
      function inc(s) { return (s in children) ? children[s] * total / 100 : 0 }
      function own(s) { return (s in self) ? self[s] : 0 }
      END {
        printf "%s %.2f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", key, gbit,
          (total - own("pv_native_safe_halt") - own("default_idle") - other) / gb,
          (own("_copy_from_iter") + own("_copy_to_iter")) / gb,
          (inc("nf_hook_slow") + inc("nf_hook_slow_list")) / gb, inc("nf_conntrack_in") / gb,
          inc("ipt_do_table") / gb, inc("vxlan_xmit") / gb, inc("gro_cell_poll") / gb,
          inc("br_handle_frame") / gb, other / gb
      }'
}

# --- a: the bare reference, pod ns - router ns - pod ns ------------------------------------------
ref_veth() {  # ref_veth <ns1> <if1> <ip1/len> <ns2> <if2> <ip2/len>
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}
# As the lab does for its underlay bridge (a switch does not run the host's br_netfilter hooks).
bridge_is_a_switch() {  # bridge_is_a_switch <netns>
  local f
  for f in iptables ip6tables arptables; do
    if ip netns exec "$1" test -e "/proc/sys/net/bridge/bridge-nf-call-$f"; then
      ip netns exec "$1" sysctl -qw "net.bridge.bridge-nf-call-$f=0"
    fi
  done
}
ref_ns() {
  local ns
  for ns in "$@"; do
    ip netns add "$ref_prefix$ns"
    ip -n "$ref_prefix$ns" link set lo up
  done
}

ip_a=198.18.2.2
client_a() { ip netns exec "${ref_prefix}a" "$@"; }
ref_router_up() {
  local a=${ref_prefix}a r=${ref_prefix}r b=${ref_prefix}b
  say "a: bare reference ($a - $r - $b, veth pairs, plain routes)"
  ref_ns a r b
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
  ref_veth "$a" eth0 198.18.1.2/24 "$r" eth1 198.18.1.1/24
  ref_veth "$b" eth0 198.18.2.2/24 "$r" eth2 198.18.2.1/24
  ip -n "$a" route add default via 198.18.1.1
  ip -n "$b" route add default via 198.18.2.1
  start_server a "$ip_a" ip netns exec "$b"
}

# --- a2, a2v: bare, the lab's shape: pod - node - underlay bridge - node - pod --------------------
# ref_labshape_up <key> <tag> [vxlan]: namespaces <tag>pa, <tag>n1, <tag>ul, <tag>n2, <tag>pb;
# the server in <tag>pb at ip_labshape.
ip_labshape=198.18.2.2
ref_labshape_up() {
  local key=$1 tag=$2 encap=${3:-none}
  local pa=$ref_prefix${tag}pa n1=$ref_prefix${tag}n1 ul=$ref_prefix${tag}ul n2=$ref_prefix${tag}n2
  local pb=$ref_prefix${tag}pb ns port
  say "$key: bare, lab-shaped ($pa - $n1 - bridge in $ul - $n2 - $pb, plain routes, encap $encap)"
  ref_ns "${tag}pa" "${tag}n1" "${tag}ul" "${tag}n2" "${tag}pb"
  ip netns exec "$n1" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$n2" sysctl -qw net.ipv4.ip_forward=1
  bridge_is_a_switch "$ul"
  ip -n "$ul" link add br0 type bridge
  ip -n "$ul" link set br0 up
  ref_veth "$pa" eth0 198.18.1.2/24 "$n1" pod0 198.18.1.1/24
  ref_veth "$pb" eth0 198.18.2.2/24 "$n2" pod0 198.18.2.1/24
  ip -n "$ul" link add n1 type veth peer name eth0 netns "$n1"
  ip -n "$ul" link add n2 type veth peer name eth0 netns "$n2"
  ip -n "$n1" addr add 198.19.1.11/24 dev eth0
  ip -n "$n2" addr add 198.19.1.12/24 dev eth0
  for port in n1 n2; do ip -n "$ul" link set "$port" master br0 up; done
  for ns in "$n1" "$n2"; do ip -n "$ns" link set eth0 up; done
  ip -n "$pa" route add default via 198.18.1.1
  ip -n "$pb" route add default via 198.18.2.1
  if [[ $encap == vxlan ]]; then
    # As encap-vxlan programs a node: the device, its tunnel address, and per remote node a
    # permanent neighbour (tunnel address -> VTEP MAC), a permanent FDB entry (VTEP MAC -> node
    # address) and the route to its pods via the tunnel address, onlink. Pods get MTU 1450.
    local i peer mac
    local -A node_ns=([1]=$n1 [2]=$n2) pod_net=([1]=198.18.1.0/24 [2]=198.18.2.0/24)
    for i in 1 2; do
      ip -n "${node_ns[$i]}" link add vxlan.brindle type vxlan id 4096 dstport 4789 \
        local "198.19.1.1$i" dev eth0 nolearning
      ip -n "${node_ns[$i]}" link set vxlan.brindle mtu 1450 up
      ip -n "${node_ns[$i]}" addr add "198.18.3.$i/32" dev vxlan.brindle
    done
    for i in 1 2; do
      peer=$((3 - i))
      mac=$(ip -n "${node_ns[$peer]}" -j link show vxlan.brindle | jq -r '.[0].address')
      ip -n "${node_ns[$i]}" neigh add "198.18.3.$peer" lladdr "$mac" dev vxlan.brindle nud permanent
      ip netns exec "${node_ns[$i]}" bridge fdb add "$mac" dev vxlan.brindle dst "198.19.1.1$peer" \
        self permanent
      ip -n "${node_ns[$i]}" route add "${pod_net[$peer]}" via "198.18.3.$peer" dev vxlan.brindle onlink
    done
    for ns in "$pa" "$pb"; do ip -n "$ns" link set eth0 mtu 1450; done
    ip -n "$n1" link set pod0 mtu 1450
    ip -n "$n2" link set pod0 mtu 1450
  else
    ip -n "$n1" route add 198.18.2.0/24 via 198.19.1.12
    ip -n "$n2" route add 198.18.1.0/24 via 198.19.1.11
  fi
  start_server "$key" "$ip_labshape" ip netns exec "$pb"
}
client_a2() { ip netns exec "${ref_prefix}pa" "$@"; }
client_a2v() { ip netns exec "${ref_prefix}vpa" "$@"; }

# --- b, c, d: the lab --------------------------------------------------------------------------------
L() { "$lab" --id "$id" "$@"; }

# iptables filter rules in brindle-* chains on node <i> (the policy plugin's).
policy_rules() { L node-exec "$1" iptables-legacy-save -t filter | grep -c '^-A brindle-' || true; }
# nftables rules in table inet brindle on node <i> (the nftables policy plugin's).
nft_rules() { L node-exec "$1" nft -a list table inet brindle | grep -c '# handle' || true; }
policy_chains() { L node-exec "$1" iptables-legacy-save -t filter | grep -c '^:brindle-p[io]-' || true; }

lab_up() {  # lab_up <none|vxlan> [lab up options...]
  local encap=$1
  shift
  say "lab $id: up, 2 nodes, --encap $encap $* (binaries from $build_dir)"
  lab_up=1
  "$lab" --id "$id" --build-dir "$build_dir" up --nodes 2 --encap "$encap" --pods-per-node 0 \
    --no-matrix "$@" >"$tmp/lab-up.log" 2>&1 || { cat "$tmp/lab-up.log" >&2; return 1; }
  L pod-add 1 cli --labels app=bench,role=client --ports "" >/dev/null
  L pod-add 2 srv --labels app=bench,role=server --ports "" >/dev/null
  L wait-converged 30 >/dev/null || { echo "lab $id: pods not converged" >&2; return 1; }
  start_server lab "$(L info ip-srv)" "$lab" --id "$id" pod-exec srv
}
lab_down() {
  stop_server "$tmp/iperf3-lab.pid"
  L down >/dev/null
  lab_up=0
}
client_lab() { "$lab" --id "$id" pod-exec cli "$@"; }
measure_lab() {  # measure_lab <label>
  measure "$1" client_lab "$(L info ip-srv)" "$(policy_rules 2)"
}

# Kubernetes NetworkPolicies in namespace lab: <count>-1 fillers selecting both pods (ingress and
# egress rules that never match the benchmark traffic: other addresses and ports), then one that
# allows everything between the pods of the namespace.
write_policies() {  # write_policies <count> <file>
  local count=$1 i
  for ((i = 1; i < count; i++)); do
    cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: filler-$(printf '%03d' "$i"), namespace: lab}
spec:
  podSelector: {matchLabels: {app: bench}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{ipBlock: {cidr: 198.18.250.$((i % 250 + 1))/32}}], ports: [{protocol: TCP, port: $((20000 + i))}]}]
  egress: [{to: [{ipBlock: {cidr: 198.18.251.$((i % 250 + 1))/32}}], ports: [{protocol: UDP, port: $((20000 + i))}]}]
EOF
  done
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: zz-allow-bench, namespace: lab}
spec:
  podSelector: {matchLabels: {app: bench}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {matchLabels: {app: bench}}}]}]
  egress: [{to: [{podSelector: {matchLabels: {app: bench}}}]}]
EOF
} >"$2"

# Applies <count> policies and waits until both nodes have a pi and a po chain for each of them and
# the pods still reach each other.
apply_policies() {  # apply_policies <count>
  local count=$1 deadline i ok
  write_policies "$count" "$tmp/policies-$count.yaml"
  L ctl apply -f "$tmp/policies-$count.yaml" >/dev/null
  deadline=$((SECONDS + 120))
  while :; do
    ok=1
    for i in 1 2; do (($(policy_chains "$i") >= 2 * count)) || ok=0; done
    ((ok)) && break
    ((SECONDS < deadline)) || { echo "policy chains for $count policies not programmed within 120 s" >&2; return 1; }
    sleep 0.5
  done
  L pod-exec cli ping -c1 -W2 "$(L info ip-srv)" >/dev/null ||
    { echo "client does not reach server with $count policies" >&2; return 1; }
}

# --- run ---------------------------------------------------------------------------------------------
[[ -z $(ref_namespaces) ]] || { echo "namespaces $ref_prefix* exist: another run with --id $id?" >&2; exit 1; }
say "datapath benchmark: iperf3 TCP ${duration}s x1 and x4 streams, ping 200 x 10 ms; median of $rounds round(s); load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus"
# --variants: a subset (a, the reference, is always measured: every variant is paired with it).
wants() { [[ $variants == *,$1,* ]]; }
ref_router_up
if wants a2; then
  ref_labshape_up a2 ''
  measure a2 client_a2 "$ip_labshape" -
  profile a2 client_a2 "$ip_labshape"
  stop_server "$tmp/iperf3-a2.pid"
fi
if wants a2v; then
  ref_labshape_up a2v v vxlan
  measure a2v client_a2v "$ip_labshape" -
  profile a2v client_a2v "$ip_labshape"
  stop_server "$tmp/iperf3-a2v.pid"
fi
if wants b; then
  lab_up none
  measure_lab b
  profile b client_lab "$(L info ip-srv)"
  lab_down
fi
if wants b-big; then
  lab_up none --big-tcp
  # brindled gave the pods' veths the underlay's BIG TCP sizes (else this row would be b again).
  for pod in cli srv; do
    L pod-exec "$pod" ip -d link show eth0 | grep -q 'gso_max_size 196608 .*gro_max_size 196608' ||
      { echo "b-big: pod $pod's eth0 does not have the BIG TCP sizes" >&2; exit 1; }
  done
  measure_lab b-big
  profile b-big client_lab "$(L info ip-srv)"
  lab_down
fi
if wants c || wants d; then
  lab_up vxlan
  if wants c; then
    measure_lab c
    profile c client_lab "$(L info ip-srv)"
  fi
  if wants d; then
    say "d1: 1 NetworkPolicy"
    apply_policies 1
    measure_lab d1
    profile d1 client_lab "$(L info ip-srv)"
    say "d$policies: $policies NetworkPolicies"
    apply_policies "$policies"
    measure_lab "d$policies"
    profile "d$policies" client_lab "$(L info ip-srv)"
  fi
  lab_down
fi
# The same two labs with the nftables policy plugin instead of iptables.
for v in b-nft c-nft; do
  wants "$v" || continue
  if [[ $v == b-nft ]]; then lab_up none --policy nftables; else lab_up vxlan --policy nftables; fi
  measure "$v" client_lab "$(L info ip-srv)" "$(nft_rules 2)"
  profile "$v" client_lab "$(L info ip-srv)"
  lab_down
done
profile a client_a "$ip_a"
ref_down

# --- table -------------------------------------------------------------------------------------------
describe() {
  case $1 in
    a) echo "bare: veth - router ns - veth" ;;
    a2) echo "bare, lab-shaped (node ns, bridge)" ;;
    a2v) echo "bare, lab-shaped, vxlan, no netfilter" ;;
    b) echo "brindle, encap none" ;;
    b-big) echo "brindle, encap none, BIG TCP 196608" ;;
    c) echo "brindle, encap vxlan" ;;
    b-nft) echo "brindle, encap none, nftables policy" ;;
    c-nft) echo "brindle, encap vxlan, nftables policy" ;;
    d1) echo "brindle vxlan, 1 NetworkPolicy" ;;
    d*) echo "brindle vxlan, ${1#d} NetworkPolicies" ;;
  esac
}
echo
echo "pod-to-pod datapath across two nodes (iperf3 TCP ${duration}s, ping 200 x 10 ms; medians of $rounds rounds;"
echo "ratios: median of (variant / a) over rounds each paired with a measurement of a)"
printf '%-5s %-36s %8s %6s %8s %6s %8s %6s %6s\n' "" variant "tcp x1" "" "tcp x4" "" "rtt avg" "" rules
printf '%-5s %-36s %8s %6s %8s %6s %8s %6s %6s\n' "" "" "Gbit/s" "vs a" "Gbit/s" "vs a" "ms" "vs a" ""
{
  printf 'a'
  for c in 1 2 3; do printf ' %s' "$(awk -v c=$c '{print $c}' "$tmp/ref" | median)"; done
  echo " 1 1 1 -"
  cat "$tmp/results"
} | while read -r key t1 t4 rtt r1 r4 rr rules; do
  awk -v k="$key" -v d="$(describe "$key")" -v t1="$t1" -v t4="$t4" -v r="$rtt" -v n="$rules" \
    -v r1="$r1" -v r4="$r4" -v rr="$rr" \
    'BEGIN { printf "%-5s %-36s %8.2f %5.0f%% %8.2f %5.0f%% %8.3f %5.2fx %6s\n", k, d, t1, 100 * r1, t4, 100 * r4, r, rr, n }'
done
echo "a: every measurement of a in the run ($(grep -c . "$tmp/ref")); goals (issue 5, TCP vs the bare reference):"
echo "encap none >= 95% (b; b-big is the opt-in BIG TCP), vxlan >= 80%; policy cost flat: d1 ~ d$policies. rules = iptables rules in brindle-* chains"
echo "on the server's node (the policy plugin's). machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg) at the end."
# What Brindle adds to the kernel's own path: its rows against the bare lab-shaped ones.
vs_bare() {  # vs_bare <brindle key> <bare key>: "x1 x4" of the two rows' "vs a" ratios
  awk -v b="$1" -v r="$2" '$1 == b {b1 = $5; b4 = $6} $1 == r {r1 = $5; r4 = $6}
    END {if (b1 != "" && r1 != "") printf "%.0f%% / %.0f%%", 100 * b1 / r1, 100 * b4 / r4}' "$tmp/results"
}
for pair in "b a2" "c a2v"; do
  read -r bk rk <<<"$pair"
  ratios=$(vs_bare "$bk" "$rk")
  [[ -z $ratios ]] || echo "$bk against $rk (the same path without Brindle), tcp x1 / x4: $ratios"
done
if [[ -s $tmp/profiled ]]; then
  echo
  echo "CPU per GB received (--perf: one iperf3 TCP ${duration}s x4 run per variant under perf record -a; ms of"
  echo "CPU over both cpus per GB; inclusive, so columns overlap; perf data in $perf_dir)"
  printf '%-5s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s\n' "" Gbit/s busy copies netfiltr conntrk iptables \
    "vxlan" "after" bridge other
  printf '%-5s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s\n' "" "" "" "" "" "" "" tx decap "" load
  while read -r key; do
    profile_row "$key"
  done <"$tmp/profiled" | awk '{printf "%-5s %7.2f %7d %7d %7d %7d %7d %7d %7d %7d %7d\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}'
  echo "busy: CPU not idle and not taken by other processes; copies: user<->kernel copies (per byte, the rest"
  echo "is per packet); netfiltr: netfilter hooks (conntrack, iptables, nat); vxlan tx: vxlan_xmit with the outer"
  echo "packet's output path; after decap: the inner packet's stack after VXLAN decapsulation (gro_cell_poll)."
fi
