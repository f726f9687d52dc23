#!/usr/bin/env bash
# End-to-end tests on the multi-node lab (tests/lab/brindle-lab): every case brings up a lab of its
# own (unique id), checks the data path from inside the pods' and nodes' namespaces, and removes the
# lab when it ends, passed or failed.
#
#   e2e.sh CASE      CASE: static-none big-tcp static-vxlan vxlan-crosssubnet vxlan-ipv6 restart node-removal
#                          pod-deletion foreign-routes none-not-onlink
#                          bgp-mesh bgp-route-reflector bgp-vxlan bgp-tor bgp-peer-change
#                          bgp-node-leave bgp-agent-kill policy-k8s policy-k8s-nftables policy-brindle
#   (the bgp-* cases need bird2: each node's brindled runs BIRD through the routing-bgp plugin;
#   policy-* are the NetworkPolicy conformance model of policy-conformance.sh)
#
# Binaries: BRINDLED, BRINDLE_CNI, BRINDLECTL, BRINDLE_PLUGIN_DIR (set by ctest) or
# BRINDLE_BUILD_DIR.
set -euo pipefail
LAB_TOOL=$(cd "$(dirname "$0")/../lab" && pwd)/brindle-lab
readonly LAB_TOOL
readonly CASE=${1:?usage: e2e.sh CASE}
export BRINDLE_LAB_ID=e2e$$
export NO_COLOR=1

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "$0")/checks.sh"
lab() { "$LAB_TOOL" "$@"; }
info() { lab info "$1"; }
pod_ping() { lab pod-exec "$1" ping -c1 -W1 "$(info "ip-$2")" >/dev/null 2>&1; }
pod_tcp() {  # the listener answers with its pod's name
  [[ $(lab pod-exec "$1" timeout 5 socat -u "TCP:$(info "ip-$2"):7777,connect-timeout=2" STDOUT 2>/dev/null) == "$2" ]]
}
routes() { lab node-exec "$1" ip route show proto 202 | sed 's/ *$//' | sort; }
has_route() { lab node-exec "$1" ip route show proto 202 | grep -q "^$2 "; }  # has_route <node> <block>
has_neigh() { lab node-exec "$1" ip neigh show dev vxlan.brindle | grep -q "^$2 "; }
has_fdb() { lab node-exec "$1" bridge fdb show dev vxlan.brindle | grep -qi "^$2 "; }
has_vxlan_route() { lab node-exec "$1" ip route show proto 202 | grep -q 'dev vxlan.brindle'; }

# --- BGP (routing-bgp: BIRD installs routes with proto bird) ------------------------------------
bird_routes() { lab node-exec "$1" ip route show proto bird | sed 's/ *$//' | sort; }
# has_bird_route <node> <block> [<gateway>]: BIRD installed <block> (via <gateway>).
has_bird_route() {
  local r
  r=$(lab node-exec "$1" ip route show proto bird | grep "^$2 ") || return 1
  [[ -z ${3:-} ]] || grep -q " via $3 " <<<"$r"
}
# The blocks node <i> announces: BIRD's blackholes for them.
bird_blocks() { lab node-exec "$1" ip route show proto bird type blackhole | awk '{print $2}' | sort; }
# BGP protocols of <node|tor>'s BIRD that are Established, one name a line.
bgp_established() { lab birdc "$1" show protocols | awk '$2 == "BGP" && $NF == "Established" {print $1}' | sort; }
bgp_protocols() { lab birdc "$1" show protocols | awk '$2 == "BGP" {print $1}' | sort; }
# count_is <n> <cmd...>: <cmd> prints exactly <n> non-empty lines.
count_is() {
  local want=$1 out
  shift
  out=$("$@") || return 1
  [[ $(grep -c . <<<"$out") == "$want" ]]
}
# BIRD's "since" of protocol <name> on <node>, in epoch milliseconds (the lab's BIRDs print
# "YYYY-MM-DD HH:MM:SS.mmm"; BIRD derives it from a monotonic clock on every query: compare
# with a tolerance).
bgp_since_ms() {
  local row
  row=$(lab birdc "$1" show protocols "$2" | awk -v n="$2" '$1 == n {print $5 " " $6}')
  [[ -n $row ]] || return 1
  date -d "$row" +%s%3N
}
same_since() {  # same_since <node> <protocol> <earlier ms>: within 250 ms (a reset takes seconds)
  local now
  now=$(bgp_since_ms "$1" "$2") || { echo "    no protocol $2 on $1"; return 1; }
  ((now - $3 < 250 && $3 - now < 250)) || { echo "    $2 on $1: since $3 -> $now"; return 1; }
}
# node status (brindlectl) rows: "<address> <type> <state> ..." below the heading.
status_peers() { lab node-status "$1" | awk 'p {print $1, $2, $3} /^PEER ADDRESS/ {p = 1}' | sort; }
router_routes() { ip -n "$(info router-ns)" route show proto bird | sed 's/ *$//' | sort; }
router_has_route() { router_routes | grep -q "^$1 via $2 "; }
# A process that exited but is not reaped yet (a zombie) counts as gone.
proc_alive() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) =~ ^[^Z]$ ]]; }
# The log of brindled's current run on node <i> (the lab appends every run after a marker).
last_run_log() { awk '/^--- start / {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$(info state)/node$1/brindled.log"; }
bird_pids_in() { # bird processes in namespace <ns>
  local pid
  for pid in $(ip netns pids "$1"); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == bird ]] && echo "$pid"
  done
  true
}

# Labs whose test process died without cleaning up (ctest's timeout kills with SIGKILL): their
# owner pid is gone. Only labs of this suite (ids e2e<pid>) are considered.
cleanup_stale() {
  local ns id
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^brl-e2e[0-9]+-' || true); do
    id=${ns#brl-}
    id=${id%%-*}
    if ! kill -0 "${id#e2e}" 2>/dev/null; then
      log "removing the stale lab $id"
      BRINDLE_LAB_ID=$id lab down >/dev/null 2>&1 || true
    fi
  done
}

on_exit() {
  local status=$?
  if ((failures > 0 || status != 0)); then
    local st
    st=$(lab info state 2>/dev/null || echo "/run/brindle-lab/$BRINDLE_LAB_ID")
    echo "--- lab state at failure"
    lab status 2>&1 || true
    for f in "$st"/node*/brindled.log "$st"/node*/bird/bird.log "$st"/tor/bird.log; do
      [[ -f $f ]] || continue
      echo "--- $f (last 40 lines)"
      tail -40 "$f"
    done
  fi
  lab down >/dev/null 2>&1 || true
  log "lab removed"
}

up() {
  log "lab up: $*"
  lab up --no-matrix "$@"
}

# Pod MTU: the device has it, a DF packet of exactly that size crosses to another node and one
# byte more does not leave the pod.
check_mtu() {  # check_mtu <from pod> <to pod> <expected mtu>
  local from=$1 to=$2 mtu=$3 have ip
  have=$(lab pod-exec "$from" cat /sys/class/net/eth0/mtu)
  check "pod $from eth0 MTU is $mtu (has $have)" test "$have" = "$mtu"
  ip=$(info "ip-$to")
  # ICMP echo: 20 bytes IPv4 + 8 bytes ICMP header.
  check "DF ping of $mtu bytes $from -> $to passes" \
    lab pod-exec "$from" ping -c2 -i 0.2 -W2 -M "do" -s $((mtu - 28)) "$ip"
  check "DF ping of $((mtu + 1)) bytes $from -> $to fails" \
    not lab pod-exec "$from" ping -c1 -W1 -M "do" -s $((mtu - 27)) "$ip"
}

check_matrix() {
  check "lab converged" lab wait-converged 30
  check "connectivity matrix all green (ICMP and TCP, every pod to every pod)" lab matrix
}

# ------------------------------------------------------------------------------------------------
case_static_none() {
  up --nodes 3 --encap none --pods-per-node 2
  check_matrix
  local r
  r=$(routes 1)
  check "node1 routes node2's block directly via 198.19.1.12" grep -q "via 198.19.1.12 dev eth0" <<<"$r"
  check "node1 routes node3's block directly via 198.19.1.13" grep -q "via 198.19.1.13 dev eth0" <<<"$r"
  check "node1 blackholes its own block" grep -q "^blackhole 198.18." <<<"$r"
  check "no vxlan device without encapsulation" not lab node-exec 1 ip link show vxlan.brindle
  check_mtu pod-n1-1 pod-n2-1 1500
}

# tcp_transfer <from pod> <to pod> <bytes>: that many bytes sent over TCP arrive, all of them.
tcp_transfer() {
  local received out
  out=$(mktemp)
  lab pod-exec "$2" timeout 30 sh -c 'socat -u TCP-LISTEN:7788,reuseaddr STDOUT | wc -c' >"$out" &
  local listener=$!
  sleep 0.5
  lab pod-exec "$1" timeout 30 sh -c "head -c $3 /dev/zero | socat -u STDIN TCP:$(info "ip-$2"):7788"
  wait "$listener"
  received=$(tr -d ' \n' <"$out")
  rm -f "$out"
  [[ $received == "$3" ]] || { echo "    received $received of $3 bytes"; return 1; }
}

# BIG TCP (opt-in, [workload] big_tcp): with encap none and an underlay that offers 196608-byte
# GSO/GRO packets, the pods' veths get them too and everything still works (matrix, MTU); with
# VXLAN, whose device does not carry them, brindled warns and the pods keep 64 KB.
case_big_tcp() {
  up --nodes 2 --encap none --pods-per-node 2 --big-tcp
  check_matrix
  local p st
  st=$(info state)
  for p in pod-n1-1 pod-n2-2; do
    check "pod $p eth0 takes 196608-byte GSO/GRO packets" \
      eval "lab pod-exec $p ip -d link show eth0 | grep -q 'gso_max_size 196608 .*gro_max_size 196608'"
  done
  check "node1 says its pods get the larger sizes" \
    grep -q 'big_tcp: pod veths get larger GSO/GRO sizes' "$st/node1/brindled.log"
  check_mtu pod-n1-1 pod-n2-1 1500
  check "a 64 MiB TCP transfer across nodes arrives whole" tcp_transfer pod-n1-1 pod-n2-1 67108864

  up --nodes 2 --encap vxlan --pods-per-node 1 --big-tcp
  check_matrix
  st=$(info state)
  check "pod pod-n1-1 keeps 64 KB GSO/GRO packets with VXLAN" \
    eval "lab pod-exec pod-n1-1 ip -d link show eth0 | grep -q 'gso_max_size 65536 .*gro_max_size 65536'"
  check "node1 warns that big_tcp is not applied with VXLAN" \
    grep -q 'big_tcp is not applied' "$st/node1/brindled.log"
}

case_static_vxlan() {
  up --nodes 3 --encap vxlan --pods-per-node 2
  check_matrix
  local r tunnel2
  r=$(routes 1)
  tunnel2=$(lab ctl get node node2 -o json | { grep -o '"vxlanTunnelAddress": *"[^"]*"' || true; } | cut -d'"' -f4)
  check "node2 published a VXLAN tunnel address ($tunnel2)" test -n "$tunnel2"
  check "node1 routes node2's block via its tunnel address onlink" \
    grep -q "via $tunnel2 dev vxlan.brindle onlink" <<<"$r"
  check "node1 has 2 remote routes through vxlan.brindle" \
    test "$(grep -c 'dev vxlan.brindle onlink' <<<"$r")" = 2
  check "node1 has a permanent neighbour for node2's tunnel address" \
    bash -c "$LAB_TOOL node-exec 1 ip neigh show dev vxlan.brindle | grep -q '^$tunnel2 lladdr .* PERMANENT'"
  check "node1 has an FDB entry towards 198.19.1.12" \
    bash -c "$LAB_TOOL node-exec 1 bridge fdb show dev vxlan.brindle | grep -q 'dst 198.19.1.12 self permanent'"
  check "vxlan.brindle: VNI 4096, port 4789, nolearning" \
    bash -c "$LAB_TOOL node-exec 1 ip -d link show vxlan.brindle | grep -q 'vxlan id 4096 local 198.19.1.11 dev eth0 .*dstport 4789 nolearning'"
  check "vxlan.brindle MTU is 1450" \
    test "$(lab node-exec 1 cat /sys/class/net/vxlan.brindle/mtu)" = 1450
  check_mtu pod-n1-1 pod-n3-1 1450
}

case_vxlan_crosssubnet() {
  up --nodes 3 --encap vxlan --cross-subnet --pods-per-node 2
  check_matrix
  local r1 r3
  r1=$(routes 1)
  r3=$(routes 3)
  check "node1 -> node2 (same subnet): direct route via 198.19.1.12" \
    grep -q "via 198.19.1.12 dev eth0" <<<"$r1"
  check "node1 -> node3 (other subnet): through vxlan.brindle" \
    test "$(grep -c 'dev vxlan.brindle onlink' <<<"$r1")" = 1
  check "node3 -> node1 and node2 (other subnet): both through vxlan.brindle" \
    test "$(grep -c 'dev vxlan.brindle onlink' <<<"$r3")" = 2
  check "node1 -> node3 traffic crosses the router" \
    bash -c "$LAB_TOOL node-exec 1 ip route get 198.19.2.13 | grep -q 'via 198.19.1.1'"
  check_mtu pod-n1-1 pod-n3-1 1450
  check_mtu pod-n1-1 pod-n2-1 1450
}

# Dual stack over VXLAN: IPv6 pools ride vxlan6.brindle (IPv6 underlay, VNI and port as for IPv4)
# with the node's IPv6 tunnel address; both families reach every pod on every node.
case_vxlan_ipv6() {
  up --nodes 3 --encap vxlan --ipv6 --pods-per-node 2
  check_matrix
  local node2 tunnel6 mac r6 mtu ip6
  node2=$(lab ctl get node node2 -o json)
  tunnel6=$(grep -o '"vxlanTunnelAddressV6": *"[^"]*"' <<<"$node2" | cut -d'"' -f4 || true)
  mac=$(grep -o '"vxlanTunnelMAC": *"[^"]*"' <<<"$node2" | cut -d'"' -f4 || true)
  check "node2 published an IPv6 VXLAN tunnel address ($tunnel6) from the IPv6 pool" \
    grep -q '^2001:db8:18::' <<<"$tunnel6"
  # One VTEP MAC per node serves both devices (encap-vxlan: derived from the node name).
  check "node2's vxlan6.brindle has its published VTEP MAC ($mac)" \
    bash -c "$LAB_TOOL node-exec 2 ip link show vxlan6.brindle | grep -q 'link/ether $mac '"
  check "vxlan6.brindle: VNI 4096, IPv6 underlay address, port 4789, nolearning" \
    bash -c "$LAB_TOOL node-exec 1 ip -d link show vxlan6.brindle | grep -q 'vxlan id 4096 local 2001:db8:19:1::11 dev eth0 .*dstport 4789 nolearning'"
  r6=$(lab node-exec 1 ip -6 route show proto 202 | sed 's/ *$//')
  check "node1 routes node2's and node3's IPv6 blocks via their tunnel addresses onlink" \
    test "$(grep -c 'dev vxlan6.brindle .*onlink' <<<"$r6")" = 2
  check "node1 routes node2's IPv6 block via $tunnel6" grep -q "via $tunnel6 dev vxlan6.brindle" <<<"$r6"
  check "node1 has a permanent neighbour for node2's IPv6 tunnel address" \
    bash -c "$LAB_TOOL node-exec 1 ip -6 neigh show dev vxlan6.brindle | grep -q '^$tunnel6 lladdr .* PERMANENT'"
  check "node1 has an FDB entry $mac -> 2001:db8:19:1::12" \
    bash -c "$LAB_TOOL node-exec 1 bridge fdb show dev vxlan6.brindle | grep -q '^$mac dst 2001:db8:19:1::12 self permanent'"
  check "node1 blackholes its own IPv6 block" grep -q '^blackhole 2001:db8:18::' <<<"$r6"
  check "vxlan6.brindle MTU is 1430 (IPv6 underlay: 70 bytes)" \
    test "$(lab node-exec 1 cat /sys/class/net/vxlan6.brindle/mtu)" = 1430
  # The pod has one MTU for both families: the smaller of the two devices' (1430).
  mtu=$(lab pod-exec pod-n1-1 cat /sys/class/net/eth0/mtu)
  check "pod MTU is 1430 (fits both tunnels; has $mtu)" test "$mtu" = 1430
  ip6=$(info ip6-pod-n3-1)
  # ICMPv6 echo: 40 bytes IPv6 + 8 bytes ICMPv6 header.
  check "DF IPv6 ping of 1430 bytes pod-n1-1 -> pod-n3-1 passes" \
    lab pod-exec pod-n1-1 ping -6 -c2 -i 0.2 -W2 -M "do" -s $((1430 - 48)) "$ip6"
  check "IPv6 ping of 1431 bytes does not leave pod-n1-1" \
    not lab pod-exec pod-n1-1 ping -6 -c1 -W1 -M "do" -s $((1431 - 48)) "$ip6"
  check_mtu pod-n1-1 pod-n3-1 1430
}

# Restarting brindled on node1 keeps traffic to and from its pods flowing and removes no route it
# still wants; what changed while it was down (a node deleted, a pod added) is caught up.
case_restart() {
  up --nodes 3 --encap vxlan --pods-per-node 1
  check_matrix
  local before st ifindex_before
  st=$(info state)
  before=$(routes 1)
  ifindex_before=$(lab node-exec 1 cat /sys/class/net/vxlan.brindle/ifindex)
  local node3_blocks
  node3_blocks=$(lab node-exec 3 ip route show proto 202 type blackhole | awk '{print $2}')

  # Traffic both ways during the whole restart: 20 pings a second.
  lab pod-exec pod-n2-1 ping -i 0.05 -c 200 -W1 "$(info ip-pod-n1-1)" >"$st/ping-in.txt" 2>&1 &
  local ping_in=$!
  lab pod-exec pod-n1-1 ping -i 0.05 -c 200 -W1 "$(info ip-pod-n2-1)" >"$st/ping-out.txt" 2>&1 &
  local ping_outp=$!
  # Node1's routes, sampled every 50 ms from before the stop to after the restart.
  (
    i=0
    while [[ ! -f $st/stop-sampling ]]; do
      "$LAB_TOOL" node-exec 1 ip route show proto 202 | sed 's/ *$//' | sort >"$st/sample.$i"
      i=$((i + 1))
      sleep 0.05
    done
  ) &
  local sampler=$!
  sleep 1
  log "stopping brindled on node1"
  lab node-stop 1
  # Changes node1 misses while it is down.
  lab node-stop 3
  lab ctl delete node node3
  lab pod-add 2 pod-n2-late
  sleep 1
  log "starting brindled on node1"
  lab node-start 1
  log "node1 ready again"
  sleep 1
  touch "$st/stop-sampling"
  wait "$sampler"
  wait "$ping_in" || true
  wait "$ping_outp" || true

  local loss_in loss_out
  loss_in=$(grep -o '[0-9.]*% packet loss' "$st/ping-in.txt" || echo "no result")
  loss_out=$(grep -o '[0-9.]*% packet loss' "$st/ping-out.txt" || echo "no result")
  check "pod on node2 -> pod on node1: no loss during the restart ($loss_in)" \
    test "$loss_in" = "0% packet loss"
  check "pod on node1 -> pod on node2: no loss during the restart ($loss_out)" \
    test "$loss_out" = "0% packet loss"

  # Routes still wanted after the restart were present in every sample.
  local after kept missing=0 n=0 f b
  for b in $node3_blocks; do eventually 15 not has_route 1 "$b" || true; done
  after=$(routes 1)
  kept=$(comm -12 <(echo "$before") <(echo "$after"))
  for f in "$st"/sample.*; do
    n=$((n + 1))
    if [[ -n $(comm -23 <(echo "$kept") "$f") ]]; then
      missing=$((missing + 1))
      [[ $missing == 1 ]] && { echo "sample $f lacks:"; comm -23 <(echo "$kept") "$f"; }
    fi
  done
  check "no wanted route of node1 disappeared in any of $n samples during the restart" \
    test "$missing" = 0
  check "node1 kept its remote routes ($(wc -l <<<"$kept") kept)" test "$(wc -l <<<"$kept")" -ge 2
  check "vxlan.brindle was not re-created (ifindex $ifindex_before)" \
    test "$(lab node-exec 1 cat /sys/class/net/vxlan.brindle/ifindex)" = "$ifindex_before"
  # Reconverged: node3 (deleted while node1 was down) is withdrawn, the late pod is reachable.
  for b in $node3_blocks; do
    check "node1 withdrew deleted node3's block $b after the restart" \
      not grep -q "^$b " <<<"$after"
  done
  check "pod on node1 reaches the pod added on node2 while node1 was down" \
    eventually 10 pod_ping pod-n1-1 pod-n2-late
  check "and over TCP" pod_tcp pod-n1-1 pod-n2-late
  check "the pod added while node1 was down reaches node1's pod" pod_ping pod-n2-late pod-n1-1
}

# A node removed from the cluster (agent stopped, Node resource deleted) has its routes and its
# VXLAN neighbour/FDB entries withdrawn on every other node.
case_node_removal() {
  up --nodes 3 --encap vxlan --pods-per-node 1
  check_matrix
  local blocks tunnel3 mac3 b n
  blocks=$(lab node-exec 3 ip route show proto 202 type blackhole | awk '{print $2}')
  tunnel3=$(lab ctl get node node3 -o json | { grep -o '"vxlanTunnelAddress": *"[^"]*"' || true; } | cut -d'"' -f4)
  mac3=$(lab ctl get node node3 -o json | { grep -o '"vxlanTunnelMAC": *"[^"]*"' || true; } | cut -d'"' -f4)
  check "node3 has blocks and a tunnel ($blocks, $tunnel3, $mac3)" test -n "$blocks" -a -n "$tunnel3" -a -n "$mac3"
  for n in 1 2; do
    for b in $blocks; do
      check "node$n routes node3's block $b before the removal" has_route "$n" "$b"
    done
  done
  log "removing node3: stop brindled, brindlectl delete node node3"
  lab node-stop 3
  lab ctl delete node node3
  for n in 1 2; do
    for b in $blocks; do
      check "node$n withdrew the route to node3's block $b" eventually 15 not has_route "$n" "$b"
    done
    check "node$n removed the neighbour entry of node3's tunnel address" \
      eventually 10 not has_neigh "$n" "$tunnel3"
    check "node$n removed the FDB entry of node3's VTEP" eventually 10 not has_fdb "$n" "$mac3"
  done
  check "node1 and node2 still reach each other" pod_ping pod-n1-1 pod-n2-1
  check "node3's pod is no longer reachable from node1" not pod_ping pod-n1-1 pod-n3-1
  # Its block affinities can go too (an operator cleaning up): nothing comes back.
  local a
  for a in $(lab ctl get blockaffinity | awk '$2 == "node3" {print $1}'); do
    check "block affinity $a deleted" lab ctl delete blockaffinity "$a"
  done
  sleep 1
  for b in $blocks; do
    check "still no route to node3's block $b on node1 or node2" not has_route 1 "$b"
    check "nor on node2" not has_route 2 "$b"
  done
}

# A deleted pod stops being reachable, its address and host route are gone, its neighbours stay.
case_pod_deletion() {
  up --nodes 2 --encap none --pods-per-node 2
  check_matrix
  local ip
  ip=$(info ip-pod-n2-1)
  check "pod-n2-1 reachable before" pod_ping pod-n1-1 pod-n2-1
  lab pod-del pod-n2-1
  check "deleted pod's address $ip no longer answers ICMP" \
    not lab pod-exec pod-n1-1 ping -c2 -W1 "$ip"
  check "nor TCP" not lab pod-exec pod-n1-1 timeout 4 socat -u "TCP:$ip:7777,connect-timeout=2" STDOUT
  check "node2 has no host route for $ip any more" \
    bash -c "! $LAB_TOOL node-exec 2 ip route show proto 201 | grep -q '^$ip '"
  check "the address $ip is released in IPAM" \
    bash -c "$LAB_TOOL ctl ipam show --ip $ip | grep -q 'is not assigned'"
  check "the other pod on node2 is still reachable" pod_ping pod-n1-1 pod-n2-2
  check "and over TCP" pod_tcp pod-n1-1 pod-n2-2
}

# Routes brindled does not own (another protocol, or its protocol in another table) survive its
# start-up reconciliation and later changes.
case_foreign_routes() {
  up --nodes 2 --encap vxlan --pods-per-node 1
  check_matrix
  local gw
  gw=$(info gw-node1)
  lab node-exec 1 ip route add 198.19.200.0/24 via "$gw" proto static
  lab node-exec 1 ip route add 198.18.250.0/24 via "$gw" proto static
  lab node-exec 1 ip route add 198.19.201.0/24 via "$gw" proto 202 table 100
  lab node-exec 1 ip route add blackhole 198.18.251.0/24 proto boot
  foreign() {
    lab node-exec 1 ip route show table all | grep -E '^(blackhole )?198\.(19\.20[01]|18\.25[01])\.0/24' | sort
  }
  local before
  before=$(foreign)
  check "4 foreign routes set up" test "$(wc -l <<<"$before")" = 4
  log "restarting brindled on node1 (full reconciliation)"
  lab node-restart 1
  lab pod-add 2 pod-n2-extra
  lab pod-add 1 pod-n1-extra
  check "new pods reachable across nodes" eventually 10 pod_ping pod-n1-extra pod-n2-extra
  lab pod-del pod-n2-extra
  lab node-stop 2
  lab ctl delete node node2
  check "node2's routes withdrawn on node1" eventually 15 not has_vxlan_route 1
  sleep 1
  check "foreign routes untouched after restart, pod changes and a node removal" \
    test "$(foreign)" = "$before"
}

# Without encapsulation a node on another subnet is not on-link: its routes are reported as an
# error (naming the node) and not programmed; nodes on the same subnet still work.
case_none_not_onlink() {
  up --nodes 3 --encap none --cross-subnet --pods-per-node 1
  local st
  st=$(info state)
  check "node1 <-> node2 (same subnet) reach each other" eventually 15 pod_ping pod-n1-1 pod-n2-1
  check "and over TCP" pod_tcp pod-n2-1 pod-n1-1
  check "node1 reports node3 as not on-link" \
    eventually 10 grep -q 'node \\"node3\\" at 198.19.2.13/24 .*is not on-link' "$st/node1/brindled.log"
  check "node3 reports node1 as not on-link" \
    eventually 10 grep -q 'node \\"node1\\" at 198.19.1.11/24 .*is not on-link' "$st/node3/brindled.log"
  check "node1 programs no route to node3's block" \
    test "$(lab node-exec 1 ip route show proto 202 | grep -c via)" = 1
  check "node1's pod does not reach node3's pod" not pod_ping pod-n1-1 pod-n3-1
}

# --- BGP through BIRD 2 (routing-bgp) ------------------------------------------------------------

# Full node-to-node mesh (the BGPConfiguration defaults): every node's BIRD has Established
# sessions to the two others and installs their blocks via their addresses.
case_bgp_mesh() {
  up --nodes 3 --routing bgp --encap none --pods-per-node 2
  check_matrix
  local n m b
  for n in 1 2 3; do
    check "node$n's BIRD has 2 BGP sessions, both Established" \
      eventually 20 count_is 2 bgp_established "$n"
    check "node$n's BIRD has no other BGP protocol" count_is 2 bgp_protocols "$n"
    check "brindlectl node status on node$n: 2 mesh peers Established" \
      eventually 10 count_is 2 bash -c "$LAB_TOOL node-status $n | grep -E ' mesh +Established '"
    for m in 1 2 3; do
      ((m == n)) && continue
      for b in $(bird_blocks "$m"); do
        check "node$n: BIRD routes node$m's block $b via $(info "ip-node$m")" \
          has_bird_route "$n" "$b" "$(info "ip-node$m")"
      done
    done
    check "node$n: no static-routing routes (proto 202)" test -z "$(routes "$n")"
  done
}

# BGP with VXLAN CrossSubnet: BIRD installs the routes the host formed (through vxlan.brindle
# across subnets, direct within), not the ones BGP carries for the same blocks.
case_bgp_vxlan() {
  up --nodes 3 --routing bgp --encap vxlan --cross-subnet --pods-per-node 1
  check_matrix
  local b tunnel3
  tunnel3=$(lab ctl get node node3 -o json | { grep -o '"vxlanTunnelAddress": *"[^"]*"' || true; } | cut -d'"' -f4)
  check "node3 published a VXLAN tunnel address ($tunnel3)" test -n "$tunnel3"
  for b in $(bird_blocks 3); do
    check "node1 -> node3's block $b (other subnet): via $tunnel3 dev vxlan.brindle onlink (BIRD)" \
      bash -c "$LAB_TOOL node-exec 1 ip route show $b proto bird | grep -q 'via $tunnel3 dev vxlan.brindle .*onlink'"
    check "node1's BIRD also learned $b over BGP (not installed)" \
      bash -c "$LAB_TOOL birdc 1 show route $b all | grep -q 'BGP.next_hop: 198.19.2.13'"
  done
  for b in $(bird_blocks 2); do
    check "node1 -> node2's block $b (same subnet): direct via 198.19.1.12 (BIRD)" \
      has_bird_route 1 "$b" 198.19.1.12
  done
  check "node1: no static-routing routes (proto 202)" test -z "$(routes 1)"
  check_mtu pod-n1-1 pod-n3-1 1450
}

# Route reflector: node1 has a cluster id and reflects; the mesh is off; the clients peer only
# with it and still reach each other's pods.
case_bgp_route_reflector() {
  up --nodes 3 --routing bgp --route-reflector --encap none --pods-per-node 1
  check_matrix
  check "node1 (reflector) has 2 Established reflector-client sessions" \
    eventually 20 count_is 2 bash -c "$LAB_TOOL birdc 1 show protocols | awk '\$1 ~ /^RRClient_/ && \$NF == \"Established\"'"
  local n
  for n in 2 3; do
    check "node$n has exactly one BGP session (to the reflector)" count_is 1 bgp_protocols "$n"
    check "node$n's session to node1 is Established" \
      eventually 20 count_is 1 bash -c "$LAB_TOOL node-status $n | grep -E '^$(info ip-node1) +node +Established '"
  done
  local b
  for b in $(bird_blocks 3); do
    check "node2 routes node3's block $b via node3 (reflected, next hop kept)" \
      has_bird_route 2 "$b" "$(info ip-node3)"
    check "node2 learned $b through the reflector (cluster list 198.19.1.254, originator node3)" \
      bash -c "$LAB_TOOL birdc 2 show route all $b | grep -q 'BGP.cluster_list: *198.19.1.254' &&
               $LAB_TOOL birdc 2 show route all $b | grep -q 'BGP.originator_id: *$(info ip-node3)'"
  done
}

# A top-of-rack router on two subnets, configured through a global BGPPeer; no mesh. Routes cross
# the router: it learns every node's blocks (and nothing else) and is the next hop between subnets.
case_bgp_tor() {
  up --nodes 3 --routing bgp --encap none --cross-subnet --tor --pods-per-node 1
  check_matrix
  local n b all=()
  check "the top-of-rack BIRD has 3 Established sessions" eventually 20 count_is 3 bgp_established tor
  for n in 1 2 3; do
    check "node$n: one peer, the global one (198.19.1.1), Established; no mesh" \
      eventually 10 test "$(status_peers "$n")" = "198.19.1.1 global Established"
    for b in $(bird_blocks "$n"); do
      all+=("$b")
      check "the router has node$n's block $b via $(info "ip-node$n") (BGP)" \
        eventually 10 router_has_route "$b" "$(info "ip-node$n")"
    done
  done
  check "the router learned exactly the nodes' blocks (${#all[@]}) and nothing else" \
    test "$(router_routes | awk '{print $1}')" = "$(printf '%s\n' "${all[@]}" | sort)"
  for b in $(bird_blocks 2); do
    check "node1 -> node2's block $b (same subnet): direct via 198.19.1.12" has_bird_route 1 "$b" 198.19.1.12
  done
  for b in $(bird_blocks 3); do
    check "node1 -> node3's block $b (other subnet): via the router 198.19.1.1" has_bird_route 1 "$b" 198.19.1.1
  done
  for b in $(bird_blocks 1); do
    check "node3 -> node1's block $b (other subnet): via the router 198.19.2.1" has_bird_route 3 "$b" 198.19.2.1
  done
}

# Deleting the global BGPPeer closes the sessions to the top-of-rack router, which withdraws the
# nodes' blocks; re-adding it brings them back. The mesh sessions (switched on as well) are not
# reset by either change, nor by switching the mesh on.
case_bgp_peer_change() {
  up --nodes 2 --routing bgp --tor --encap none --pods-per-node 1
  check_matrix
  local st b blocks=() global1 mesh1
  st=$(info state)
  for b in $(bird_blocks 1) $(bird_blocks 2); do blocks+=("$b"); done
  check "the router has all ${#blocks[@]} blocks" eventually 10 count_is "${#blocks[@]}" router_routes
  global1=$(bgp_since_ms 1 Global_peer_tor) || global1=0
  check "node1's session to the router is Established" eventually 10 count_is 1 bgp_established 1

  log "switching the node-to-node mesh on"
  printf '%s\n' "apiVersion: brindle.network/v1" "kind: BGPConfiguration" "metadata: {name: default}" \
    "spec: {nodeToNodeMeshEnabled: true}" >"$st/mesh-on.yaml"
  lab ctl apply -f "$st/mesh-on.yaml" >/dev/null
  check "node1 and node2 mesh sessions Established" \
    eventually 20 count_is 1 bash -c "$LAB_TOOL birdc 1 show protocols | awk '\$1 ~ /^Mesh_/ && \$NF == \"Established\"'"
  check "node1's session to the router was not reset by the new mesh peer" same_since 1 Global_peer_tor "$global1"
  mesh1=$(bgp_since_ms 1 Mesh_mesh_node2) || mesh1=0

  log "deleting the global BGPPeer"
  lab ctl delete bgppeer tor >/dev/null
  check "the router withdrew every node block" eventually 15 count_is 0 router_routes
  check "node1 has no session to the router any more" \
    eventually 10 not bash -c "$LAB_TOOL birdc 1 show protocols | grep -q '^Global_'"
  check "brindlectl node status on node1: only the mesh peer" \
    eventually 10 test "$(status_peers 1)" = "$(info ip-node2) mesh Established"
  check "node1's mesh session was not reset" same_since 1 Mesh_mesh_node2 "$mesh1"
  check "pods still reach each other over the mesh" pod_ping pod-n1-1 pod-n2-1

  log "re-adding the global BGPPeer"
  printf '%s\n' "apiVersion: brindle.network/v1" "kind: BGPPeer" "metadata: {name: tor}" \
    "spec: {peerIP: 198.19.1.1, asNumber: 64512}" >"$st/tor-peer.yaml"
  lab ctl apply -f "$st/tor-peer.yaml" >/dev/null
  check "node1 and node2 are back in session with the router" eventually 20 count_is 2 bgp_established tor
  for b in "${blocks[@]}"; do
    check "the router has block $b again" eventually 15 bash -c "ip -n $(info router-ns) route show proto bird | grep -q '^$b '"
  done
  check "node1's mesh session still not reset" same_since 1 Mesh_mesh_node2 "$mesh1"
  check_matrix
}

# A node leaving (agent stopped, Node deleted with brindlectl): the others drop its session and
# its blocks' routes.
case_bgp_node_leave() {
  up --nodes 3 --routing bgp --encap none --pods-per-node 1
  check_matrix
  local blocks b n
  blocks=$(bird_blocks 3)
  check "node3 announces blocks ($(tr '\n' ' ' <<<"$blocks"))" test -n "$blocks"
  for n in 1 2; do
    for b in $blocks; do
      check "node$n routes node3's block $b before it leaves" has_bird_route "$n" "$b" "$(info ip-node3)"
    done
  done
  log "node3 leaves: brindled stopped, brindlectl delete node node3"
  lab node-stop 3
  lab ctl delete node node3 >/dev/null
  for n in 1 2; do
    for b in $blocks; do
      check "node$n withdrew node3's block $b" eventually 15 not has_bird_route "$n" "$b"
    done
    check "node$n's BIRD has no session to node3 any more" \
      eventually 10 not bash -c "$LAB_TOOL birdc $n show protocols | grep -q node3"
    check "node$n keeps one Established session (the remaining node)" count_is 1 bgp_established "$n"
  done
  check "node1 and node2 still reach each other" pod_ping pod-n1-1 pod-n2-1
  check "and over TCP" pod_tcp pod-n2-1 pod-n1-1
  check "node3's pod is no longer reachable from node1" not pod_ping pod-n1-1 pod-n3-1
}

# SIGKILL of brindled: BIRD (its own session) keeps running, its routes and sessions stay and
# traffic flows; the restarted agent adopts that BIRD (no second one) and converges.
case_bgp_agent_kill() {
  up --nodes 2 --routing bgp --encap none --pods-per-node 1
  check_matrix
  local st pid bird_pid before1 before2 mesh
  st=$(info state)
  bird_pid=$(<"$st/node1/bird/bird.pid")
  check "node1 runs one BIRD (pid $bird_pid)" test "$(bird_pids_in "$(info ns-node1)")" = "$bird_pid"
  before1=$(bird_routes 1)
  before2=$(bird_routes 2)
  mesh=$(bgp_since_ms 2 Mesh_mesh_node1) || mesh=0
  # Traffic both ways, 20 pings a second, from before the kill until after the restart (ping
  # itself runs in the background, so SIGINT makes it print its summary and stop).
  ip netns exec "$(info ns-pod-n2-1)" ping -i 0.05 -W1 "$(info ip-pod-n1-1)" >"$st/ping-in.txt" 2>&1 &
  local ping_in=$!
  ip netns exec "$(info ns-pod-n1-1)" ping -i 0.05 -W1 "$(info ip-pod-n2-1)" >"$st/ping-out.txt" 2>&1 &
  local ping_out=$!
  sleep 1
  pid=$(<"$st/node1/brindled.pid")
  log "SIGKILL brindled on node1 (pid $pid)"
  kill -KILL "$pid"
  check "brindled on node1 is gone" eventually 5 not proc_alive "$pid"
  sleep 2  # the agent stays down a while
  check "node1's BIRD still runs (pid $bird_pid)" proc_alive "$bird_pid"
  check "node1's BIRD routes unchanged without its agent" test "$(bird_routes 1)" = "$before1"
  check "node2's BIRD routes unchanged" test "$(bird_routes 2)" = "$before2"
  check "the session node2 -> node1 was not reset" same_since 2 Mesh_mesh_node1 "$mesh"
  log "restarting brindled on node1"
  lab node-start 1
  check "node1 runs exactly one BIRD, the same (pid $bird_pid)" \
    test "$(bird_pids_in "$(info ns-node1)")" = "$bird_pid"
  adopted() { last_run_log 1 | grep -q 'adopted the running BIRD'; }
  check "the new agent adopted it (its log says so)" adopted
  check "brindlectl node status on node1: the mesh peer Established" \
    eventually 10 test "$(status_peers 1)" = "$(info ip-node2) mesh Established"
  check "the session node2 -> node1 survived the restart" same_since 2 Mesh_mesh_node1 "$mesh"
  sleep 1
  kill -INT "$ping_in" "$ping_out" 2>/dev/null || true
  wait "$ping_in" || true
  wait "$ping_out" || true
  local loss_in loss_out
  loss_in=$(grep -o '[0-9.]*% packet loss' "$st/ping-in.txt" || echo "no result")
  loss_out=$(grep -o '[0-9.]*% packet loss' "$st/ping-out.txt" || echo "no result")
  check "pings were sent throughout ($(grep -o '^[0-9]* packets transmitted' "$st/ping-in.txt" || true))" \
    grep -qE '^[0-9]{2,} packets transmitted' "$st/ping-in.txt"
  check "pod on node2 -> pod on node1: no loss across kill and restart ($loss_in)" \
    test "$loss_in" = "0% packet loss"
  check "pod on node1 -> pod on node2: no loss across kill and restart ($loss_out)" \
    test "$loss_out" = "0% packet loss"
  check "node1's BIRD routes unchanged after the restart" test "$(bird_routes 1)" = "$before1"
  check_matrix
  check "still exactly one BIRD on node1 (pid $bird_pid)" \
    test "$(bird_pids_in "$(info ns-node1)")" = "$bird_pid"
}

# The NetworkPolicy conformance model (cases policy-k8s, policy-brindle).
# shellcheck source=tests/e2e/policy-conformance.sh
source "$(dirname "$0")/policy-conformance.sh"

trap on_exit EXIT
# timeout(1) in tests/e2e/CMakeLists.txt, before ctest's SIGKILL: say so, then on_exit cleans up.
trap 'fail "$CASE: timed out (TERM after $SECONDS s)"; exit 124' TERM
cleanup_stale
case $CASE in
  static-none) case_static_none ;;
  big-tcp) case_big_tcp ;;
  static-vxlan) case_static_vxlan ;;
  vxlan-crosssubnet) case_vxlan_crosssubnet ;;
  vxlan-ipv6) case_vxlan_ipv6 ;;
  restart) case_restart ;;
  node-removal) case_node_removal ;;
  pod-deletion) case_pod_deletion ;;
  foreign-routes) case_foreign_routes ;;
  none-not-onlink) case_none_not_onlink ;;
  bgp-mesh) case_bgp_mesh ;;
  bgp-route-reflector) case_bgp_route_reflector ;;
  bgp-vxlan) case_bgp_vxlan ;;
  bgp-tor) case_bgp_tor ;;
  bgp-peer-change) case_bgp_peer_change ;;
  bgp-node-leave) case_bgp_node_leave ;;
  bgp-agent-kill) case_bgp_agent_kill ;;
  policy-k8s) case_policy_k8s ;;
  policy-k8s-nftables) case_policy_k8s nftables ;;
  policy-brindle) case_policy_brindle ;;
  *)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
log "$CASE: $failures failure(s)"
((failures == 0))
