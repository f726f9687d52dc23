#!/usr/bin/env bash
# End-to-end tests on the multi-node lab (tests/lab/brindle-lab): every case brings up a lab of its
# own (unique id), checks the data path from inside the pods' and nodes' namespaces, and removes the
# lab when it ends, passed or failed.
#
#   e2e.sh CASE      CASE: static-none static-vxlan vxlan-crosssubnet restart node-removal
#                          pod-deletion foreign-routes none-not-onlink
#
# Binaries: BRINDLED, BRINDLE_CNI, BRINDLECTL, BRINDLE_PLUGIN_DIR (set by ctest) or
# BRINDLE_BUILD_DIR.
set -euo pipefail
LAB_TOOL=$(cd "$(dirname "$0")/../lab" && pwd)/brindle-lab
readonly LAB_TOOL
readonly CASE=${1:?usage: e2e.sh CASE}
export BRINDLE_LAB_ID=e2e$$
export NO_COLOR=1

failures=0
t_start=$SECONDS
log() { echo "[$((SECONDS - t_start))s] $*"; }
pass() { log "PASS: $*"; }
fail() {
  log "FAIL: $*"
  failures=$((failures + 1))
}
check() {  # check <description> <cmd...>
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# Polls <cmd> for up to <seconds>.
eventually() {  # eventually <seconds> <cmd...>
  local deadline=$((SECONDS + $1))
  shift
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}
lab() { "$LAB_TOOL" "$@"; }
info() { lab info "$1"; }
pod_ping() { lab pod-exec "$1" ping -c1 -W1 "$(info "ip-$2")" >/dev/null 2>&1; }
pod_tcp() {  # the listener answers with its pod's name
  [[ $(lab pod-exec "$1" timeout 5 socat -u "TCP:$(info "ip-$2"):7777,connect-timeout=2" STDOUT 2>/dev/null) == "$2" ]]
}
not() { ! "$@"; }
routes() { lab node-exec "$1" ip route show proto 202 | sed 's/ *$//' | sort; }
has_route() { lab node-exec "$1" ip route show proto 202 | grep -q "^$2 "; }  # has_route <node> <block>
has_neigh() { lab node-exec "$1" ip neigh show dev vxlan.brindle | grep -q "^$2 "; }
has_fdb() { lab node-exec "$1" bridge fdb show dev vxlan.brindle | grep -qi "^$2 "; }
has_vxlan_route() { lab node-exec "$1" ip route show proto 202 | grep -q 'dev vxlan.brindle'; }

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
    for f in "$st"/node*/brindled.log; do
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

trap on_exit EXIT
cleanup_stale
case $CASE in
  static-none) case_static_none ;;
  static-vxlan) case_static_vxlan ;;
  vxlan-crosssubnet) case_vxlan_crosssubnet ;;
  restart) case_restart ;;
  node-removal) case_node_removal ;;
  pod-deletion) case_pod_deletion ;;
  foreign-routes) case_foreign_routes ;;
  none-not-onlink) case_none_not_onlink ;;
  *)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
log "$CASE: $failures failure(s)"
((failures == 0))
