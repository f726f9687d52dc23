#!/usr/bin/env bash
# The lab (tests/lab/brindle-lab) with --encap ipip, end to end. IPIP needs a kernel with the ipip
# module, which the project's machines lack: this script runs INSIDE the VM harness
#
#   tests/vm/run-in-vm --timeout 1500 --memory 1536 --env BRINDLED=... -- bash lab_ipip_test.sh CASE
#
# (tests/vm/CMakeLists.txt registers it: vm.lab-ipip-<case>). The guest's /run is a fresh tmpfs,
# so the lab's state (/run/brindle-lab) and its namespaces die with the VM; the lab is still taken
# down at the end, and the test checks that `down` leaves nothing behind.
#
# Cases (one VM boot each; TCG is slow, so the labs are small: one pod per node):
#   static        2 nodes, routing static, pool ipipMode Always
#   bgp           3 nodes, routing bgp (node-to-node mesh; BIRD installs the routes), ipipMode Always
#   crosssubnet   3 nodes on two underlay subnets (node3 on the other one), routing static,
#                 ipipMode CrossSubnet: tunl0 only towards node3
# Every case checks: the connectivity matrix is green; each node's tunnel address (IPAM, on the
# Node resource) is the /32 on its tunl0; tunl0 MTU 1480; routes to remote blocks are
# `via <node IP> dev tunl0 onlink` (proto 202 static, proto bird bgp); pod traffic crosses tunl0;
# DF pings of exactly the pod MTU (1480) pass between nodes and one byte more fail; `down`.
#
# Binaries: BRINDLED, BRINDLE_CNI, BRINDLECTL, BRINDLE_PLUGIN_DIR (passed with run-in-vm --env) or
# BRINDLE_BUILD_DIR.
set -euo pipefail
LAB_TOOL=$(cd "$(dirname "$0")/../lab" && pwd)/brindle-lab
readonly LAB_TOOL
readonly CASE=${1:?usage: lab_ipip_test.sh static|bgp|crosssubnet}
export BRINDLE_LAB_ID=vmipip
# The emulated guest is slow, slower still beside other tests: a gRPC connect to etcd can take
# more than the plugin's default 3 s (brindlectl failed to create the lab's pool so in CI).
export BRINDLE_LAB_DIAL_TIMEOUT_MS=30000
export NO_COLOR=1
readonly POD_MTU=1480

EVENTUALLY_INTERVAL=0.2  # each poll is a process start under emulation
# shellcheck source=tests/e2e/checks.sh
source "$(dirname "$0")/../e2e/checks.sh"
lab() { "$LAB_TOOL" "$@"; }
info() { lab info "$1"; }

case $CASE in
  static | bgp | crosssubnet) ;;
  *)
    echo "unknown case $CASE (static, bgp, crosssubnet)" >&2
    exit 2
    ;;
esac

# The kernel must have IPIP: on the project's machines it has not (run this through run-in-vm).
if ! modprobe ipip 2>/dev/null && [[ ! -d /sys/module/ipip ]]; then
  echo "lab_ipip_test.sh: the kernel $(uname -r) has no ipip module: run it inside tests/vm/run-in-vm" >&2
  exit 1
fi
# On the stock kernel x_tables are modules: nothing loads them here on purpose, the policy
# plugin must (libiptc alone fails with "iptables who? (do you need to insmod?)").

# Lab facts ---------------------------------------------------------------------------------------
# Routes the routing path installed on node <i>: proto 202 (static) or bird (bgp), unicast only.
remote_routes() {
  local proto=202
  [[ $CASE == bgp ]] && proto=bird
  lab node-exec "$1" ip -4 route show proto "$proto" | grep -v '^blackhole' | sed 's/ *$//' | sort
}
# The blocks node <i> owns: the blackholes its agent (static) or its BIRD (bgp) installs for them.
own_blocks() {
  local proto=202
  [[ $CASE == bgp ]] && proto=bird
  lab node-exec "$1" ip -4 route show proto "$proto" type blackhole | awk '{print $2}' | sort
}
# Node <name>'s ipipTunnelAddress (IPAM, published on its Node resource).
tunnel_address() {
  lab ctl get node "$1" -o json | { grep -o '"ipipTunnelAddress": *"[^"]*"' || true; } | cut -d'"' -f4
}
tunl0_counter() {  # tunl0_counter <node> <tx_packets|rx_packets>
  lab node-exec "$1" cat "/sys/class/net/tunl0/statistics/$2"
}
has_tunnel_address() { [[ -n $(tunnel_address "$1") ]]; }
has_remote_routes() { [[ -n $(remote_routes "$1") ]]; }
in_pool() { [[ $1 =~ ^198\.18\.[0-9]+\.[0-9]+$ ]]; }

# Node <i>: tunl0 is the kernel's ipip device, up, MTU 1480, with exactly its tunnel address.
check_node_tunnel() {  # check_node_tunnel <i>
  local i=$1 name tunnel dev addrs
  name=$(info "name-node$i")
  check "$name published an ipipTunnelAddress" eventually 60 has_tunnel_address "$name"
  tunnel=$(tunnel_address "$name")
  check "$name's tunnel address $tunnel comes from the pool 198.18.0.0/16" in_pool "$tunnel"
  dev=$(lab node-exec "$i" ip -d link show dev tunl0 2>&1 || true)
  check "$name: tunl0 is an ipip device" grep -q 'ipip any remote any local any' <<<"$dev"
  check "$name: tunl0 is up" grep -q '[<,]UP[,>]' <<<"$dev"
  check "$name: tunl0 MTU is $POD_MTU" test "$(lab node-exec "$i" cat /sys/class/net/tunl0/mtu)" = "$POD_MTU"
  addrs=$(lab node-exec "$i" ip -4 -o addr show dev tunl0 | awk '{print $4}')
  check "$name: tunl0 has exactly its tunnel address $tunnel/32 (has: ${addrs//$'\n'/ })" \
    test "$addrs" = "$tunnel/32"
}

# Node <from> routes every block of node <to> `via <to's IP> dev tunl0 onlink`.
check_tunnel_routes() {  # check_tunnel_routes <from> <to>
  local from=$1 to=$2 r block ip blocks
  ip=$(info "ip-node$to")
  r=$(remote_routes "$from")
  blocks=$(own_blocks "$to")
  check "node$to owns at least one block" test -n "$blocks"
  for block in $blocks; do
    check "node$from: $block via $ip dev tunl0 onlink" \
      grep -qE "^$block via $ip dev tunl0 (proto [a-z0-9]+ )?.*onlink" <<<"$r"
  done
}

# Node <from> routes every block of node <to> directly through eth0 (same subnet, CrossSubnet).
check_direct_routes() {  # check_direct_routes <from> <to>
  local from=$1 to=$2 r block ip
  ip=$(info "ip-node$to")
  r=$(remote_routes "$from")
  for block in $(own_blocks "$to"); do
    check "node$from: $block via $ip dev eth0 (no tunnel on the same subnet)" \
      grep -qE "^$block via $ip dev eth0( |$)" <<<"$r"
  done
}

# Pod MTU: the pod's device has it, a DF packet of exactly that size crosses to a pod on another
# node (through tunl0: 1480 + 20 = the underlay's 1500) and one byte more does not.
check_mtu() {  # check_mtu <from pod> <to pod>
  local from=$1 to=$2 have ip
  have=$(lab pod-exec "$from" cat /sys/class/net/eth0/mtu)
  check "pod $from eth0 MTU is $POD_MTU (has $have)" test "$have" = "$POD_MTU"
  ip=$(info "ip-$to")
  # ICMP echo: 20 bytes IPv4 + 8 bytes ICMP header.
  check "DF ping of $POD_MTU bytes $from -> $to passes" \
    lab pod-exec "$from" ping -c2 -i 0.2 -W3 -M "do" -s $((POD_MTU - 28)) "$ip"
  check "DF ping of $((POD_MTU + 1)) bytes $from -> $to fails" \
    not lab pod-exec "$from" ping -c1 -W2 -M "do" -s $((POD_MTU - 27)) "$ip" 2>/dev/null
}

# Pod traffic from node <a>'s pod to node <b>'s pod is carried by tunl0 on both nodes.
check_through_tunnel() {  # check_through_tunnel <a> <b>
  local a=$1 b=$2 tx0 rx0 tx1 rx1
  tx0=$(tunl0_counter "$a" tx_packets) rx0=$(tunl0_counter "$b" rx_packets)
  lab pod-exec "pod-n$a-1" ping -c5 -i 0.2 -W3 "$(info "ip-pod-n$b-1")" >/dev/null 2>&1 || true
  tx1=$(tunl0_counter "$a" tx_packets) rx1=$(tunl0_counter "$b" rx_packets)
  check "5 pings pod-n$a-1 -> pod-n$b-1 left node$a through tunl0 (tx $tx0 -> $tx1)" test $((tx1 - tx0)) -ge 5
  check "... and entered node$b through tunl0 (rx $rx0 -> $rx1)" test $((rx1 - rx0)) -ge 5
}

# And not through tunl0 (CrossSubnet, same subnet).
check_not_through_tunnel() {  # check_not_through_tunnel <a> <b>
  local a=$1 b=$2 tx0 tx1
  tx0=$(tunl0_counter "$a" tx_packets)
  lab pod-exec "pod-n$a-1" ping -c5 -i 0.2 -W3 "$(info "ip-pod-n$b-1")" >/dev/null 2>&1 || true
  tx1=$(tunl0_counter "$a" tx_packets)
  check "pings pod-n$a-1 -> pod-n$b-1 (same subnet) bypass tunl0 (tx $tx0 -> $tx1)" test "$tx1" = "$tx0"
}

check_matrix() {
  check "lab converged" lab wait-converged 120
  check "connectivity matrix all green (ICMP and TCP, every pod to every pod)" lab matrix
}

# BGP: every session Established (brindlectl node status) and BIRD's kernel protocol is what
# installed the routes.
bgp_established() {
  [[ $(lab node-status "$1" | awk 'p && NF {print $3} /^PEER ADDRESS/ {p = 1}' | sort -u) == Established ]]
}

on_exit() {
  local status=$? st
  if ((failures > 0 || status != 0)); then
    st=$(lab info state 2>/dev/null || echo "/run/brindle-lab/$BRINDLE_LAB_ID")
    echo "--- lab state at failure"
    lab status 2>&1 || true
    local i
    for i in 1 2 3; do
      [[ -d $st/node$i ]] || continue
      echo "--- node$i: ip -d link show tunl0; ip -4 addr; ip -4 route"
      lab node-exec "$i" ip -d link show tunl0 2>&1 || true
      lab node-exec "$i" ip -4 addr 2>&1 || true
      lab node-exec "$i" ip -4 route 2>&1 || true
    done
    for f in "$st"/node*/brindled.log "$st"/node*/bird/bird.log "$st"/node*/bird/bird.conf; do
      [[ -f $f ]] || continue
      echo "--- $f (last 60 lines)"
      tail -60 "$f"
    done
  fi
  lab down >/dev/null 2>&1 || true
  log "lab removed"
}
trap on_exit EXIT

log "kernel $(uname -r), case $CASE"
case $CASE in
  static)
    lab up --nodes 2 --encap ipip --pods-per-node 1 --no-matrix
    check "pool ipipMode is Always" test "$(info ipip-mode)" = Always
    check_matrix
    check_node_tunnel 1
    check_node_tunnel 2
    check_tunnel_routes 1 2
    check_tunnel_routes 2 1
    check_through_tunnel 1 2
    check_through_tunnel 2 1
    check_mtu pod-n1-1 pod-n2-1
    check_mtu pod-n2-1 pod-n1-1
    ;;
  bgp)
    # A full node-to-node mesh of 3 nodes: each BIRD has two Established sessions.
    lab up --nodes 3 --routing bgp --encap ipip --pods-per-node 1 --no-matrix
    for i in 1 2 3; do
      check "node$i: BGP sessions Established" eventually 90 bgp_established "$i"
    done
    check_matrix
    for i in 1 2 3; do
      check_node_tunnel "$i"
      check "node$i: BIRD installed the other nodes' blocks" eventually 60 has_remote_routes "$i"
    done
    for pair in "1 2" "2 1" "1 3" "3 2"; do
      # shellcheck disable=SC2086 # two node numbers
      check_tunnel_routes $pair
    done
    check "node1: no static-path (proto 202) unicast routes besides BIRD's" \
      test -z "$(lab node-exec 1 ip -4 route show proto 202 | grep -v '^blackhole' || true)"
    check_through_tunnel 1 2
    check_through_tunnel 3 1
    check_mtu pod-n1-1 pod-n2-1
    check_mtu pod-n3-1 pod-n1-1
    ;;
  crosssubnet)
    lab up --nodes 3 --encap ipip --cross-subnet --pods-per-node 1 --no-matrix
    check "pool ipipMode is CrossSubnet" test "$(info ipip-mode)" = CrossSubnet
    check "node3 is on the other subnet ($(info ip-node3))" test "$(info ip-node3)" = 198.19.2.13
    check_matrix
    check_node_tunnel 1
    check_node_tunnel 3
    check_direct_routes 1 2
    check_direct_routes 2 1
    check_tunnel_routes 1 3
    check_tunnel_routes 3 1
    check_tunnel_routes 3 2
    check_through_tunnel 1 3
    check_not_through_tunnel 1 2
    check_mtu pod-n1-1 pod-n3-1
    check_mtu pod-n1-1 pod-n2-1
    ;;
esac

log "lab down"
lab down
check "down left no namespace of the lab" test -z "$(ip netns list | grep "^brl-$BRINDLE_LAB_ID-" || true)"
check "down removed the lab's state" test ! -e "/run/brindle-lab/$BRINDLE_LAB_ID"
log "$CASE: $failures failure(s) in $((SECONDS - t_start)) s"
((failures == 0))
