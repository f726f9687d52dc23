# shellcheck shell=bash
# The NetworkPolicy conformance model on the lab (sourced by e2e.sh, cases policy-k8s and
# policy-brindle; the probes themselves are probe_worker.py's, one process per source).
#
# Model: Kubernetes namespaces x, y, z (Profiles kns.<ns>, labels ns=<ns> and
# kubernetes.io/metadata.name=<ns>), pods a, b, c in each (lab pods x-a ... z-c, label pod=<a|b|c>)
# spread over two nodes (x-a node1, x-b node2, x-c node1, y-a node2, ...), every pod serving TCP and
# UDP on 80 and 81 (answering with its name) with the named container ports serve-<port>-<proto>,
# and a port named "web": 80/TCP on pods a and b, 81/TCP on pods c, none on z-b. Besides the pods,
# node2's own address (198.19.1.12, servers on the same ports in its namespace) is a source and a
# destination: a non-pod address, the pods' own node for the pods on node2.
#
# A step applies resources with brindlectl, computes the expected truth table from predicates
# written for it (ingress of the destination AND egress of the source; a pod always reaches itself,
# node2 always reaches node2's pods), then probes every source to every destination on the step's
# ports, all in parallel (1 s timeouts), until the table matches or 15 s pass; on mismatch it prints
# the expected and the actual tables. Between cases everything is deleted again and the matrix must
# be all-allow before the next case starts, so a case cannot pass on the previous case's state.
#
# Semantics list of reference-cni-netpol.md -> steps (k8s-* in policy-k8s, b-* in policy-brindle):
#   1 policyTypes defaulting        k8s-policytypes (omitted -> Ingress; non-empty egress -> +Egress;
#                                   empty egress -> Ingress only); k8s-deny-ingress (explicit
#                                   [Ingress]: its egress rules ignored); k8s-deny-egress ([Egress]:
#                                   its ingress rules ignored)
#   2 ports/protocols               k8s-ports (no protocol = TCP; UDP port; protocol without port =
#                                   all its ports; SCTP rules open neither TCP nor UDP; no ports =
#                                   all ports in k8s-pod-selector)
#   3 ipBlock.except                k8s-ipblock (except narrows one peer, another peer allows the
#                                   excepted pod; cidr with host bits is masked; ingress and egress);
#                                   k8s-stacked (another policy allows the excepted address).
#                                   IPv6: not on the lab (IPv4 only), see tests/host/policy.
#   4 ipBlock matches pod IPs       k8s-ipblock (pod addresses as peers), also node2's address
#   5 named ports                   k8s-named-ports (ingress per selected pod: "web" is 80 on a/b, 81
#                                   on c; protocol must match; egress without `to` = every pod
#                                   declaring it, not node2; egress to a pod selector)
#   6 ports after DNAT              k8s-service-dnat (a service address DNATed in the nodes' nat
#                                   PREROUTING, as kube-proxy does: the policy sees the pod's port)
#   7 endPort                       k8s-endport (inclusive range, TCP and UDP, single-port range)
#   8 OR of policies/rules/peers,   k8s-rules (no cross product of one rule's ports with another
#     peer AND port within a rule   rule's peers); k8s-stacked (union; allow-all not narrowed)
#   9 peer shapes                   k8s-namespace-selector (other namespace; {} = all pods, not
#                                   node2); k8s-pod-selector (no namespaceSelector = own namespace);
#                                   k8s-peers (both selectors in one peer = AND, two peers = OR,
#                                   matchExpressions In/NotIn)
#  10 no pods selected / empty peers k8s-no-effect
#  11 both ends must allow          k8s-ingress-egress
#  12 label changes                 k8s-labels (pod relabel via its WorkloadEndpoint, namespace
#                                   relabel via kns.<ns>, without re-adding pods)
#  13 finished pods, reused IPs     k8s-reused-ip (a deleted pod's address taken by a pod of
#                                   other labels: refused from its first packet on; pods without
#                                   addresses: tests/host/policy, the lab's pods always have one)
#  14 self and own node             every step (pod to itself; node2 to node2's pods allowed even
#                                   when isolated, node2 to node1's pods is a foreign address)
#  15 replies (stateful)            k8s-deny-egress, k8s-ingress-egress (replies of allowed
#                                   connections leave pods whose egress is denied)
#  policy update / delete           k8s-update (update a policy's peer, delete it)
# Brindle policies (policy-brindle):
#   b-order      order, Deny before Allow, GlobalNetworkPolicy, re-ordering by an update
#   b-pass       Pass skips the remaining policies to the profiles; profile rules then decide
#   b-selectors  GlobalNetworkPolicy namespaceSelector; selector language in {}, !=, !has(),
#                notSelector; a pod label change (has(team)) applies
#   b-sets       GlobalNetworkSet and NetworkSet with nets (bare addresses too), a NetworkSet of
#                another namespace is not seen; egress nets/notNets with a port range
# Egress to the pod's own node (node2's address from pods on node2) is subject to egress policy
# (as in Calico; the list only exempts traffic *from* the node).

# --- the model ----------------------------------------------------------------------------------
PC_PROBE_WORKER=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/probe_worker.py
readonly PC_PROBE_WORKER
readonly PC_NAMESPACES=(x y z)
readonly PC_NODE_ID=node2  # node2's own address, as source and destination
PC_PODS=()                 # x-a x-b ... z-c
PC_IDS=()                  # the pods and node2: rows and columns of every table
declare -A PC_NODE=() PC_IP=() PC_NETNS=() PC_WEB=()
PC_TMP=''
PC_FILES=()

# The named container ports of model pod <id>: serve-<port>-<proto>, and "web" (PC_WEB).
pc_ports() {  # pc_ports <id>
  local ports="serve-80-tcp:80/TCP,serve-80-udp:80/UDP,serve-81-tcp:81/TCP,serve-81-udp:81/UDP"
  [[ -n ${PC_WEB[$1]:-} ]] && ports+=",web:${PC_WEB[$1]}/TCP"
  echo "$ports"
}

pc_setup() {  # pc_setup [iptables|nftables]: the policy plugin the nodes run
  local i=0 ns p node ports
  up --nodes 2 --encap none --pods-per-node 0 --policy "${1:-iptables}"
  PC_TMP="$(info state)/conformance"
  mkdir -p "$PC_TMP"
  for ns in "${PC_NAMESPACES[@]}"; do lab ns-set "$ns" "ns=$ns" >/dev/null; done
  for ns in "${PC_NAMESPACES[@]}"; do
    for p in a b c; do
      node=$((i % 2 + 1))
      if [[ $ns-$p == z-b ]]; then PC_WEB[$ns-$p]=''
      elif [[ $p == c ]]; then PC_WEB[$ns-$p]=81
      else PC_WEB[$ns-$p]=80; fi
      ports=$(pc_ports "$ns-$p")
      lab pod-add "$node" "$ns-$p" --namespace "$ns" --labels "pod=$p" --ports "$ports" >/dev/null
      PC_PODS+=("$ns-$p")
      PC_NODE[$ns-$p]=$node
      PC_IP[$ns-$p]=$(info "ip-$ns-$p")
      PC_NETNS[$ns-$p]=$(info "ns-$ns-$p")
      i=$((i + 1))
    done
  done
  PC_IDS=("${PC_PODS[@]}" "$PC_NODE_ID")
  PC_NODE[$PC_NODE_ID]=2
  PC_IP[$PC_NODE_ID]=$(info ip-node2)
  PC_NETNS[$PC_NODE_ID]=$(info ns-node2)
  lab node-serve 2 >/dev/null
  local id
  for id in "${PC_IDS[@]}"; do log "  $id: node${PC_NODE[$id]} ${PC_IP[$id]}"; done
}

# --- predicates -----------------------------------------------------------------------------------
# Set for each cell: S/D (ids), SNS/DNS and SPOD/DPOD (empty for node2), PR (tcp|udp), PN (port).
S='' D='' SNS='' DNS='' SPOD='' DPOD='' PR='' PN=''
allow() { true; }
ip_to_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
ip_in() {  # ip_in <address> <cidr>
  local net=${2%/*} len=${2#*/} mask
  mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
  (($(($(ip_to_int "$1") & mask)) == $(($(ip_to_int "$net") & mask))))
}
src_is() { [[ $S == "$1" ]]; }
dst_is() { [[ $D == "$1" ]]; }
src_pod() { [[ -n $SPOD ]]; }
dst_pod() { [[ -n $DPOD ]]; }
port_is() { [[ $PR/$PN == "$1" ]]; }

# The verdict for the current cell: <ingress predicate> of the destination and <egress
# predicate> of the source.
pc_allowed() {  # pc_allowed <ingress fn> <egress fn>
  [[ $S == "$D" ]] && return 0                   # 14: a pod reaches itself
  if src_pod; then "$2" || return 1; fi          # node2 has no policy
  dst_pod || return 0
  [[ $S == "$PC_NODE_ID" && ${PC_NODE[$D]} == 2 ]] && return 0  # 14: from its own node
  "$1"
}

# --- probing --------------------------------------------------------------------------------------
declare -A PC_EXP=() PC_ACT=()

pc_cell_vars() {  # pc_cell_vars <src> <dst> <proto/port>
  S=$1 D=$2 PR=${3%/*} PN=${3#*/}
  if [[ $S == "$PC_NODE_ID" ]]; then SNS='' SPOD=''; else SNS=${S%-*} SPOD=${S#*-}; fi
  if [[ $D == "$PC_NODE_ID" ]]; then DNS='' DPOD=''; else DNS=${D%-*} DPOD=${D#*-}; fi
}

pc_expected() {  # pc_expected <ingress fn> <egress fn> <ports...>
  local ing=$1 egr=$2 s d p
  shift 2
  PC_EXP=()
  for s in "${PC_IDS[@]}"; do
    for d in "${PC_IDS[@]}"; do
      for p in "$@"; do
        pc_cell_vars "$s" "$d" "$p"
        if pc_allowed "$ing" "$egr"; then PC_EXP[$s,$d,$p]=1; else PC_EXP[$s,$d,$p]=0; fi
      done
    done
  done
}

# pc_probe_cells <timeout scale> <src,dst,proto/port>...: probes these cells at once into PC_ACT
pc_probe_cells() {
  local scale=$1 out cell s d p f workers=()
  shift
  local -A args=()
  out=$(mktemp -d "$PC_TMP/probe.XXXXXX")
  for cell in "$@"; do
    IFS=, read -r s d p <<<"$cell"
    if [[ $s == "$d" && $s == "$PC_NODE_ID" ]]; then PC_ACT[$cell]=1; continue; fi
    args[$s]+=" $d ${PC_IP[$d]} $p"
  done
  for s in "${!args[@]}"; do
    # shellcheck disable=SC2086  # args[$s] is the worker's word list
    # Debian's python3 by its path: an interpreter shim earlier in PATH (pyenv) takes ~1 s to start.
    ip netns exec "${PC_NETNS[$s]}" /usr/bin/python3 "$PC_PROBE_WORKER" "$scale" "$out" "$s" ${args[$s]} &
    workers+=($!)
  done
  ((${#workers[@]} == 0)) || wait "${workers[@]}" || true
  for cell in "$@"; do
    IFS=, read -r s d p <<<"$cell"
    [[ $s == "$d" && $s == "$PC_NODE_ID" ]] && continue
    f="$out/$s,$d,${p/\//-}"
    if [[ -f $f ]]; then PC_ACT[$cell]=$(<"$f"); else PC_ACT[$cell]='?'; fi
  done
  rm -rf "$out"
}

pc_probe() {  # fills PC_ACT for every cell of PC_EXP
  local k retry
  PC_ACT=()
  pc_probe_cells 1 "${!PC_EXP[@]}"
  # A probe that times out reads as blocked: a loaded machine (400 probes at once) can make an
  # allowed cell look blocked, never a blocked one look allowed. So the cells that answered
  # blocked but should be allowed are probed again, on their own and with 3x the timeouts, before
  # they count.
  for _ in 1 2; do
    retry=()
    for k in "${!PC_EXP[@]}"; do
      [[ ${PC_EXP[$k]} == 1 && ${PC_ACT[$k]} != 1 ]] && retry+=("$k")
    done
    ((${#retry[@]} > 0)) || break
    pc_probe_cells 3 "${retry[@]}"
  done
}

pc_mismatches() {  # prints the number of cells where PC_ACT differs from PC_EXP
  local k n=0
  for k in "${!PC_EXP[@]}"; do [[ ${PC_ACT[$k]:-?} == "${PC_EXP[$k]}" ]] || n=$((n + 1)); done
  echo "$n"
}

pc_print_tables() {  # pc_print_tables <ports...>: expected and actual side by side, per port
  local p s d e a cell
  for p in "$@"; do
    echo "    $p: rows from, columns to; '.' allowed, 'X' blocked; expected | actual (* = differs)"
    printf '    %-7s' ''
    for d in "${PC_IDS[@]}"; do printf '%-4s' "${d/node2/n2}"; done
    printf '   | '
    for d in "${PC_IDS[@]}"; do printf '%-4s' "${d/node2/n2}"; done
    echo
    for s in "${PC_IDS[@]}"; do
      printf '    %-7s' "$s"
      for d in "${PC_IDS[@]}"; do
        e=${PC_EXP[$s,$d,$p]}
        printf '%-4s' "$([[ $e == 1 ]] && echo . || echo X)"
      done
      printf '   | '
      for d in "${PC_IDS[@]}"; do
        e=${PC_EXP[$s,$d,$p]} a=${PC_ACT[$s,$d,$p]:-?}
        case $a in 1) cell=. ;; 0) cell=X ;; *) cell='?' ;; esac
        [[ $a == "$e" ]] || cell="$cell*"
        printf '%-4s' "$cell"
      done
      echo
    done
  done
}

# pc_expect <description> <ingress fn> <egress fn> <ports...>: probes until the matrix is the
# expected one (15 s at most).
pc_expect() {
  local what=$1 ing=$2 egr=$3 t0=$SECONDS tries=0 bad cells
  shift 3
  pc_expected "$ing" "$egr" "$@"
  cells=${#PC_EXP[@]}
  while :; do
    tries=$((tries + 1))
    pc_probe
    bad=$(pc_mismatches)
    ((bad == 0 || SECONDS - t0 >= 15)) && break
    sleep 0.2
  done
  if ((bad == 0)); then
    pass "$what: $cells cells as expected ($* ; ${tries} probe round(s), $((SECONDS - t0)) s)"
  else
    fail "$what: $bad of $cells cells differ after $tries probe rounds, $((SECONDS - t0)) s"
    pc_print_tables "$@"
  fi
}

# --- resources ------------------------------------------------------------------------------------
pc_apply() {  # pc_apply <name> < YAML: applies it with brindlectl; removed by pc_reset
  local f="$PC_TMP/$1.yaml" known=0 g
  cat >"$f"
  for g in "${PC_FILES[@]}"; do [[ $g == "$f" ]] && known=1; done
  ((known)) || PC_FILES+=("$f")
  if ! lab ctl apply -f "$f" >"$PC_TMP/apply.out" 2>&1; then
    fail "brindlectl apply -f $1.yaml: $(cat "$PC_TMP/apply.out")"
  fi
}
pc_delete() {  # pc_delete <name>: deletes what pc_apply <name> applied
  lab ctl delete -f "$PC_TMP/$1.yaml" >/dev/null || fail "brindlectl delete -f $1.yaml"
}

# Deletes every resource the case applied, restores labels, and waits for the all-allow matrix.
pc_reset() {  # pc_reset <ports...>
  local f ns p
  for f in "${PC_FILES[@]}"; do lab ctl delete -f "$f" >/dev/null 2>&1 || true; done
  PC_FILES=()
  for ns in "${PC_NAMESPACES[@]}"; do lab ns-set "$ns" "ns=$ns" >/dev/null; done
  for p in "${PC_RELABELLED[@]}"; do lab pod-label "$p" "pod=${p#*-}" >/dev/null; done
  PC_RELABELLED=()
  pc_expect "  reset: every resource deleted, labels restored -> default allow" allow allow "$@"
}
PC_RELABELLED=()
pc_relabel() {  # pc_relabel <pod> <labels>
  lab pod-label "$1" "$2" >/dev/null
  PC_RELABELLED+=("$1")
}

# A Kubernetes NetworkPolicy manifest (networking.k8s.io/v1, as kubectl would apply it).
knp() {  # knp <namespace> <name> <spec lines...>
  local ns=$1 name=$2
  shift 2
  printf '%s\n' "---" "apiVersion: networking.k8s.io/v1" "kind: NetworkPolicy" \
    "metadata: {name: $name, namespace: $ns}" "spec:" "$@"
}

# ==================================================================================================
# Kubernetes NetworkPolicy
# ==================================================================================================

# 1 (explicit [Ingress]: egress rules ignored), isolation of every pod of x for ingress.
ing_deny_x() { [[ $DNS != x ]]; }
pc_k8s_deny_ingress() {
  pc_apply deny-ingress < <(knp x deny-ingress "  podSelector: {}" "  policyTypes: [Ingress]" \
    "  egress: [{to: [{podSelector: {matchLabels: {pod: a}}}]}]")
  pc_expect "k8s-deny-ingress: x isolated for ingress; its egress rules are ignored ([Ingress])" \
    ing_deny_x allow tcp/80 udp/81
  pc_reset tcp/80 udp/81
}

# 1 (explicit [Egress]: ingress rules ignored), 15 (replies leave y although its egress is denied).
egr_deny_y() { [[ $SNS != y ]]; }
pc_k8s_deny_egress() {
  pc_apply deny-egress < <(knp y deny-egress "  podSelector: {}" "  policyTypes: [Egress]" \
    "  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]")
  pc_expect "k8s-deny-egress: y isolated for egress (also to its own node); ingress rules ignored; replies pass" \
    allow egr_deny_y tcp/80 udp/80
  pc_reset tcp/80 udp/80
}

# 1: no policyTypes + non-empty egress -> [Ingress, Egress]; no policyTypes + empty egress -> [Ingress].
ing_types() {
  if [[ $D == y-a ]]; then return 1; fi
  if [[ $D == z-b ]]; then [[ $S == z-a ]]; return; fi
  true
}
egr_types() { [[ $S != y-a ]] || [[ $DNS == z ]]; }
pc_k8s_policytypes() {
  pc_apply policytypes < <(
    knp y ya-egress "  podSelector: {matchLabels: {pod: a}}" \
      "  egress: [{to: [{namespaceSelector: {matchLabels: {ns: z}}}]}]"
    knp z zb-ingress "  podSelector: {matchLabels: {pod: b}}" \
      "  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]" "  egress: []"
  )
  pc_expect "k8s-policytypes: y-a [Ingress,Egress] (no ingress rule, egress to z); z-b [Ingress] only" \
    ing_types egr_types tcp/80
  pc_reset tcp/80
}

# 9 (no namespaceSelector = the policy's namespace), 2 (no ports = every port and protocol).
ing_pod_b() { [[ $D != x-a ]] || [[ $S == x-b ]]; }
pc_k8s_pod_selector() {
  pc_apply pod-selector < <(knp x xa-from-b "  podSelector: {matchLabels: {pod: a}}" \
    "  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]")
  pc_expect "k8s-pod-selector: x-a only from x-b (own namespace only), on every port" \
    ing_pod_b allow tcp/80 tcp/81 udp/81
  pc_reset tcp/80 tcp/81 udp/81
}

# 9: namespaceSelector of another namespace; namespaceSelector {} = every pod, not node2.
ing_ns_sel() {
  case $D in
    x-a) [[ $SNS == y ]] ;;
    x-c) src_pod ;;
    *) true ;;
  esac
}
pc_k8s_namespace_selector() {
  pc_apply namespace-selector < <(
    knp x xa-from-y "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]"
    knp x xc-from-all "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress: [{from: [{namespaceSelector: {}}]}]"
  )
  pc_expect "k8s-namespace-selector: x-a only from y; x-c from every pod ({}), not from node2" \
    ing_ns_sel allow tcp/80
  pc_reset tcp/80
}

# 9: both selectors in one peer (AND) vs two peers (OR); matchExpressions In / NotIn.
ing_peers() {
  case $D in
    x-a) [[ $S == y-b ]] ;;
    x-b) [[ $SNS == y || $S == x-c ]] ;;
    x-c) [[ ($SNS == y || $SNS == z) && $SPOD != a ]] ;;
    *) true ;;
  esac
}
pc_k8s_peers() {
  pc_apply peers < <(
    knp x xa-and "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]"
    knp x xb-or "  podSelector: {matchLabels: {pod: b}}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: c}}}]}]"
    knp x xc-expr "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress:" "  - from:" \
      "    - namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [y, z]}]}" \
      "      podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [a]}]}"
  )
  pc_expect "k8s-peers: x-a from y AND pod=b; x-b from y OR pod=c; x-c from ns in (y,z) AND pod notin (a)" \
    ing_peers allow tcp/80
  pc_reset tcp/80
}

# 2: a port without protocol is TCP; UDP port; protocol without port; SCTP opens nothing else.
ing_ports() {
  case $D in
    x-a) port_is tcp/80 ;;
    x-b) port_is udp/81 ;;
    x-c) false ;;
    y-a) [[ $PR == udp ]] ;;
    *) true ;;
  esac
}
pc_k8s_ports() {
  pc_apply ports < <(
    knp x xa-80 "  podSelector: {matchLabels: {pod: a}}" "  ingress: [{ports: [{port: 80}]}]"
    knp x xb-udp81 "  podSelector: {matchLabels: {pod: b}}" \
      "  ingress: [{ports: [{protocol: UDP, port: 81}]}]"
    knp x xc-sctp "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress: [{ports: [{protocol: SCTP, port: 80}, {protocol: SCTP}]}]"
    knp y ya-udp "  podSelector: {matchLabels: {pod: a}}" "  ingress: [{ports: [{protocol: UDP}]}]"
  )
  pc_expect "k8s-ports: x-a {port 80} = TCP 80 only; x-b UDP 81; x-c SCTP only = nothing; y-a every UDP port" \
    ing_ports allow tcp/80 tcp/81 udp/80 udp/81
  pc_reset tcp/80 tcp/81 udp/80 udp/81
}

# 5: named ports resolved per destination pod, protocol included; egress without `to`.
ing_named() {
  case $DNS in
    x) [[ $PR == tcp && $PN == "${PC_WEB[$D]}" ]] ;;
    y) port_is udp/81 ;;
    *) true ;;
  esac
}
egr_named() {
  case $S in
    z-a) dst_pod && [[ $PR == tcp && $PN == "${PC_WEB[$D]}" ]] ;;
    z-c) [[ $DPOD == b ]] && port_is tcp/81 ;;
    *) true ;;
  esac
}
pc_k8s_named_ports() {
  pc_apply named-ports < <(
    knp x x-web "  podSelector: {}" "  ingress: [{ports: [{port: web}]}]"
    knp y y-named-udp "  podSelector: {}" \
      "  ingress: [{ports: [{protocol: UDP, port: serve-80-tcp}, {protocol: UDP, port: serve-81-udp}]}]"
    knp z za-egress-web "  podSelector: {matchLabels: {pod: a}}" "  policyTypes: [Egress]" \
      "  egress: [{ports: [{port: web}]}]"
    knp z zc-egress-b "  podSelector: {matchLabels: {pod: c}}" "  policyTypes: [Egress]" \
      "  egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}], ports: [{port: serve-81-tcp}]}]"
  )
  pc_expect "k8s-named-ports: x 'web' (80 on a/b, 81 on c); y UDP serve-80-tcp = nothing, serve-81-udp; z-a egress 'web' to declaring pods only; z-c egress serve-81-tcp to b pods" \
    ing_named egr_named tcp/80 tcp/81 udp/81
  pc_reset tcp/80 tcp/81 udp/81
}

# 7: endPort, an inclusive range.
ing_endport() {
  case $D in
    x-a) [[ $PR == tcp ]] ;;
    x-b) port_is tcp/81 ;;
    x-c) port_is udp/80 ;;
    *) true ;;
  esac
}
pc_k8s_endport() {
  pc_apply endport < <(
    knp x xa-80-81 "  podSelector: {matchLabels: {pod: a}}" "  ingress: [{ports: [{port: 80, endPort: 81}]}]"
    knp x xb-81-81 "  podSelector: {matchLabels: {pod: b}}" "  ingress: [{ports: [{port: 81, endPort: 81}]}]"
    knp x xc-udp-79-80 "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress: [{ports: [{protocol: UDP, port: 79, endPort: 80}]}]"
  )
  pc_expect "k8s-endport: x-a TCP 80-81; x-b TCP 81-81; x-c UDP 79-80" \
    ing_endport allow tcp/80 tcp/81 udp/80 udp/81
  pc_reset tcp/80 tcp/81 udp/80 udp/81
}

# 3, 4: ipBlock with except (pod addresses), host bits masked, another peer wins, egress too.
ing_ipblock() {
  case $D in
    x-a) ip_in "${PC_IP[$S]}" 198.18.0.0/16 && [[ $S != y-b ]] ;;
    x-b) ip_in "${PC_IP[$S]}" 198.18.0.0/16 ;;
    x-c) [[ $S == "$PC_NODE_ID" ]] ;;
    *) true ;;
  esac
}
egr_ipblock() { [[ $S != y-a ]] || { ip_in "${PC_IP[$D]}" 198.18.0.0/16 && [[ $D != x-a ]]; }; }
pc_k8s_ipblock() {
  pc_apply ipblock < <(
    knp x xa-block "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{ipBlock: {cidr: ${PC_IP[y-c]}/16, except: [${PC_IP[y-b]}/32]}}]}]"
    knp x xb-block-or-peer "  podSelector: {matchLabels: {pod: b}}" \
      "  ingress: [{from: [{ipBlock: {cidr: 198.18.0.0/16, except: [${PC_IP[y-b]}/32]}}, {namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]"
    knp x xc-node2 "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress: [{from: [{ipBlock: {cidr: ${PC_IP[$PC_NODE_ID]}/32}}]}]"
    knp y ya-egress-block "  podSelector: {matchLabels: {pod: a}}" "  policyTypes: [Egress]" \
      "  egress: [{to: [{ipBlock: {cidr: 198.18.0.0/16, except: [${PC_IP[x-a]}/32]}}]}]"
  )
  pc_expect "k8s-ipblock: x-a from ${PC_IP[y-c]}/16 (masked) except y-b; x-b same or {y,b}; x-c from node2's address; y-a egress to 198.18/16 except x-a" \
    ing_ipblock egr_ipblock tcp/80
  pc_reset tcp/80
}

# 8: policies are OR-ed, an allow-all is not narrowed; 3: another policy allows the excepted pod.
ing_stacked() {
  case $D in
    x-a) [[ $S == x-b || $SNS == y ]] ;;
    x-b) true ;;
    x-c) src_pod ;;
    *) true ;;
  esac
}
pc_k8s_stacked() {
  pc_apply stacked < <(
    knp x deny-all "  podSelector: {}"
    knp x xa-from-b "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]"
    knp x xa-from-y "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]"
    knp x xb-allow-all "  podSelector: {matchLabels: {pod: b}}" "  ingress: [{}]"
    knp x xc-block "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress: [{from: [{ipBlock: {cidr: 198.18.0.0/16, except: [${PC_IP[y-b]}/32]}}]}]"
    knp x xc-yb "  podSelector: {matchLabels: {pod: c}}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]"
  )
  pc_expect "k8s-stacked: deny-all in x + x-a from b (x) and from y (union); x-b allow-all wins; x-c ipBlock except y-b + a policy allowing y-b" \
    ing_stacked allow tcp/80
  pc_reset tcp/80
}

# 8: within one rule peer AND port; never one rule's ports with another rule's peers.
ing_rules() {
  [[ $D != x-a ]] && return 0
  { [[ $S == x-b ]] && port_is tcp/80; } || { [[ $SNS == y ]] && port_is udp/81; }
}
pc_k8s_rules() {
  pc_apply rules < <(knp x xa-two-rules "  podSelector: {matchLabels: {pod: a}}" "  ingress:" \
    "  - {from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}" \
    "  - {from: [{namespaceSelector: {matchLabels: {ns: y}}}], ports: [{protocol: UDP, port: 81}]}")
  pc_expect "k8s-rules: x-a from x-b on TCP 80, from y on UDP 81 (no cross product)" \
    ing_rules allow tcp/80 tcp/81 udp/81
  pc_reset tcp/80 tcp/81 udp/81
}

# 10: a policy selecting no pod has no effect; a rule whose peers match nothing still isolates.
ing_no_effect() { [[ $D != y-a ]]; }
pc_k8s_no_effect() {
  pc_apply no-effect < <(
    knp x selects-nothing "  podSelector: {matchLabels: {pod: nobody}}"
    knp y ya-from-nobody "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{podSelector: {matchLabels: {pod: nobody}}}]}]"
  )
  pc_expect "k8s-no-effect: a deny policy selecting no pod changes nothing; y-a allowing only a peer matching nothing is isolated" \
    ing_no_effect allow tcp/80
  pc_reset tcp/80
}

# 11: both ends must allow; 15: replies.
egr_x_to_y() { [[ $SNS != x ]] || [[ $DNS == y ]]; }
ing_ya_from_z() { [[ $D != y-a ]] || [[ $SNS == z ]]; }
pc_k8s_ingress_egress() {
  pc_apply ingress-egress < <(
    knp x x-egress-y "  podSelector: {}" "  policyTypes: [Egress]" \
      "  egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]"
    knp y ya-from-z "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]"
  )
  pc_expect "k8s-ingress-egress: x egress only to y; y-a ingress only from z (x -> y-a: denied by y-a)" \
    ing_ya_from_z egr_x_to_y tcp/80 udp/80
  pc_reset tcp/80 udp/80
}

# Policy update and delete.
ing_from_c() { [[ $D != x-a ]] || [[ $S == x-c ]]; }
pc_k8s_update() {
  pc_apply update < <(knp x xa-from "  podSelector: {matchLabels: {pod: a}}" \
    "  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]")
  pc_expect "k8s-update: x-a from x-b" ing_pod_b allow tcp/80
  pc_apply update < <(knp x xa-from "  podSelector: {matchLabels: {pod: a}}" \
    "  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]")
  pc_expect "k8s-update: the same policy updated: x-a from x-c" ing_from_c allow tcp/80
  pc_delete update
  pc_expect "k8s-update: the policy deleted: default allow" allow allow tcp/80
  pc_reset tcp/80
}

# 12: pod and namespace label changes, without re-adding anything.
ing_labels_1() {
  case $D in
    x-a) [[ $S == x-b ]] ;;
    y-*) false ;;
    *) true ;;
  esac
}
ing_labels_2() {
  case $D in
    x-a) [[ $S == x-b || $S == x-c ]] ;;
    y-*) [[ $SNS == z ]] ;;
    *) true ;;
  esac
}
ing_labels_3() { [[ $DNS != y ]]; }
pc_k8s_labels() {
  pc_apply labels < <(
    knp x xa-from-b "  podSelector: {matchLabels: {pod: a}}" \
      "  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]"
    knp y y-from-blue "  podSelector: {}" \
      "  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]"
  )
  pc_expect "k8s-labels: x-a from pod=b (x-b); y from namespaces team=blue (none)" ing_labels_1 allow tcp/80
  pc_relabel x-c pod=b
  lab ns-set z ns=z,team=blue >/dev/null
  pc_expect "k8s-labels: x-c relabelled pod=b reaches x-a; namespace z labelled team=blue reaches y" \
    ing_labels_2 allow tcp/80
  pc_relabel x-a pod=q
  lab ns-set z ns=z >/dev/null
  pc_expect "k8s-labels: x-a relabelled pod=q is no longer selected; z's team label removed: y isolated again" \
    ing_labels_3 allow tcp/80
  pc_reset tcp/80
}

# 13: a finished pod's address taken by another pod carries none of the old pod's standing. x-a
# admits pod=b; x-b is deleted and x-q (pod=q, same node) gets its address: refused at once and
# after; x-b re-added with that address is admitted again.
ing_xa_none() { [[ $D != x-a ]]; }
pc_swap_pod() {  # pc_swap_pod <old id> <new id> <labels>: <new> takes <old>'s node and address
  local old=$1 new=$2 labels=$3 node=${PC_NODE[$1]} ip=${PC_IP[$1]} i
  lab pod-del "$old" >/dev/null
  lab pod-add "$node" "$new" --namespace "${new%-*}" --labels "$labels" --ports "$(pc_ports "$new")" \
    --ip "$ip" >/dev/null
  for i in "${!PC_IDS[@]}"; do [[ ${PC_IDS[$i]} == "$old" ]] && PC_IDS[i]=$new; done
  PC_NODE[$new]=$node
  PC_IP[$new]=$(info "ip-$new")
  PC_NETNS[$new]=$(info "ns-$new")
  unset "PC_NODE[$old]" "PC_IP[$old]" "PC_NETNS[$old]"
  [[ ${PC_IP[$new]} == "$ip" ]] || fail "k8s-reused-ip: $new got ${PC_IP[$new]}, not $ip"
}
pc_k8s_reused_ip() {
  pc_apply reused < <(knp x xa-from-b "  podSelector: {matchLabels: {pod: a}}" \
    "  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]")
  pc_expect "k8s-reused-ip: x-a admits pod=b (x-b ${PC_IP[x-b]})" ing_pod_b allow tcp/80
  PC_WEB[x-q]=80
  pc_swap_pod x-b x-q pod=q
  # The first connection, right after ADD returned: the address's old standing is gone already.
  local got
  got=$(ip netns exec "${PC_NETNS[x-q]}" timeout 3 socat -u "TCP:${PC_IP[x-a]}:80,connect-timeout=1" \
    STDOUT 2>/dev/null) || true
  if [[ -z $got ]]; then
    pass "k8s-reused-ip: x-q (pod=q) on x-b's old address ${PC_IP[x-q]} refused by x-a from its first connection"
  else
    fail "k8s-reused-ip: x-q (pod=q) on x-b's old address reached x-a right after its ADD ($got)"
  fi
  pc_expect "k8s-reused-ip: x-q with x-b's old address is not pod=b: x-a admits nobody" \
    ing_xa_none allow tcp/80
  pc_swap_pod x-q x-b pod=b
  pc_expect "k8s-reused-ip: x-b back on its address: admitted again" ing_pod_b allow tcp/80
  pc_reset tcp/80
}

# 6: ports are the pod's container ports after a service's DNAT. A service address is DNATed in
# both nodes' nat PREROUTING as kube-proxy would (8080 -> x-a:80, 8181 -> x-a:81). x-a admitting
# TCP 80 lets service:8080 in, not service:8181; admitting 8080 (the service's port) opens nothing.
readonly PC_SERVICE_IP=198.19.250.1
pc_dnat() {  # pc_dnat <-A|-D>: the service's DNAT rules on both nodes
  local n
  for n in 1 2; do
    lab node-exec "$n" iptables-legacy -t nat "$1" PREROUTING -d "$PC_SERVICE_IP/32" -p tcp \
      --dport 8080 -j DNAT --to-destination "${PC_IP[x-a]}:80"
    lab node-exec "$n" iptables-legacy -t nat "$1" PREROUTING -d "$PC_SERVICE_IP/32" -p tcp \
      --dport 8181 -j DNAT --to-destination "${PC_IP[x-a]}:81"
  done
}
# pc_expect_service <description> <expected answer, '' = refused> <service port> <source ids...>:
# probes until every source gets the expected answer (15 s at most).
pc_expect_service() {
  local what=$1 want=$2 port=$3 t0=$SECONDS s got bad
  shift 3
  while :; do
    bad=''
    for s in "$@"; do
      got=$(ip netns exec "${PC_NETNS[$s]}" timeout 3 \
        socat -u "TCP:$PC_SERVICE_IP:$port,connect-timeout=1" STDOUT 2>/dev/null) || true
      [[ $got == "$want" ]] || bad+=" $s:${got:-refused}"
    done
    [[ -z $bad ]] || ((SECONDS - t0 >= 15)) && break
    sleep 0.2
  done
  if [[ -z $bad ]]; then
    pass "$what (from $*)"
  else
    fail "$what: got$bad after $((SECONDS - t0)) s"
  fi
}
ing_xa_80() { [[ $D != x-a ]] || [[ $PR/$PN == tcp/80 ]]; }
pc_k8s_service_dnat() {
  pc_dnat -A
  pc_expect_service "k8s-service-dnat: no policy: service:8080 answered by x-a" x-a 8080 x-b x-c y-a
  pc_expect_service "k8s-service-dnat: no policy: service:8181 answered by x-a" x-a 8181 x-b x-c y-a
  pc_apply dnat < <(knp x xa-80 "  podSelector: {matchLabels: {pod: a}}" \
    "  ingress: [{ports: [{port: 80}]}]")
  pc_expect "k8s-service-dnat: x-a admits TCP 80 only" ing_xa_80 allow tcp/80 tcp/81
  pc_expect_service "k8s-service-dnat: service:8080 -> x-a:80 admitted" x-a 8080 x-b x-c y-a
  pc_expect_service "k8s-service-dnat: service:8181 -> x-a:81 refused" '' 8181 x-b x-c y-a
  pc_apply dnat < <(knp x xa-80 "  podSelector: {matchLabels: {pod: a}}" \
    "  ingress: [{ports: [{port: 8080}]}]")
  pc_expect_service "k8s-service-dnat: a policy naming the service port 8080 does not admit service:8080" \
    '' 8080 x-b x-c y-a
  pc_dnat -D
  pc_reset tcp/80 tcp/81
}

# Which plugin enforces: its table (nftables) or its chains (iptables) on both nodes, not the other's.
pc_enforced_by() {  # pc_enforced_by <iptables|nftables>
  local n table chains
  for n in 1 2; do
    # Outputs captured, not piped into grep -q (pipefail: the writer may die of SIGPIPE).
    table=$(lab node-exec "$n" nft list table inet brindle 2>/dev/null) || table=''
    chains=$(lab node-exec "$n" iptables-legacy-save -t filter) || return 1
    if [[ $1 == nftables ]]; then
      [[ $table == *'chain forward {'* && $chains != *':brindle-'* ]] || return 1
    else
      [[ -z $table && $chains == *':brindle-FORWARD '* ]] || return 1
    fi
  done
}

case_policy_k8s() {  # case_policy_k8s [iptables|nftables]
  pc_setup "${1:-iptables}"
  check "the ${1:-iptables} policy plugin enforces on both nodes" pc_enforced_by "${1:-iptables}"
  pc_expect "k8s-default-allow: no policy, every pod and node2 reach every pod" allow allow \
    tcp/80 tcp/81 udp/80 udp/81
  pc_k8s_deny_ingress
  pc_k8s_deny_egress
  pc_k8s_policytypes
  pc_k8s_pod_selector
  pc_k8s_namespace_selector
  pc_k8s_peers
  pc_k8s_ports
  pc_k8s_named_ports
  pc_k8s_endport
  pc_k8s_ipblock
  pc_k8s_stacked
  pc_k8s_rules
  pc_k8s_no_effect
  pc_k8s_ingress_egress
  pc_k8s_update
  pc_k8s_labels
  pc_k8s_reused_ip
  pc_k8s_service_dnat
}

# ==================================================================================================
# Brindle policies
# ==================================================================================================

# order, Deny before Allow, a GlobalNetworkPolicy between two namespaced policies; re-ordering.
ing_order_1() {
  [[ $DNS != x ]] && return 0
  [[ $S == y-b ]] && return 0
  [[ $SPOD != b ]]
}
ing_order_2() { [[ $DNS != x ]] || [[ $SPOD != b ]]; }
b_order_yaml() {  # b_order_yaml <order of allow-yb>
  cat <<EOF
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-yb, namespace: x}
spec:
  order: $1
  ingress: [{action: Allow, source: {namespaceSelector: ns == "y", selector: pod == "b"}}]
---
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: deny-b-to-x}
spec:
  order: 10
  selector: ns == "x"
  ingress: [{action: Deny, source: {selector: pod == "b"}}]
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-rest, namespace: x}
spec:
  order: 20
  ingress: [{action: Allow}]
EOF
}
pc_b_order() {
  pc_apply order < <(b_order_yaml 5)
  pc_expect "b-order: to x: allow y-b (order 5), deny pod=b (global, order 10), allow the rest (order 20)" \
    ing_order_1 allow tcp/80
  pc_apply order < <(b_order_yaml 15)
  pc_expect "b-order: allow-yb moved to order 15 (after the Deny): y-b denied too" \
    ing_order_2 allow tcp/80
  pc_reset tcp/80
}

# Pass: to the profiles (kns.z: first without rules = allow, then with an ingress rule).
ing_pass_1() { [[ $DNS != z ]] || [[ $SPOD == a ]]; }
ing_pass_2() { [[ $DNS != z ]] || [[ $S == x-a ]]; }
pc_b_pass() {
  pc_apply pass <<'EOF'
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: pass-a-to-z}
spec:
  order: 1
  selector: ns == "z"
  ingress:
  - {action: Pass, source: {selector: pod == "a"}}
  - {action: Deny}
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: z}
spec:
  order: 100
  ingress: [{action: Allow}]
EOF
  pc_expect "b-pass: to z: pod=a passes (skips allow-all) to kns.z (no rules: allow), the rest denied" \
    ing_pass_1 allow tcp/80
  pc_apply pass-profile <<'EOF'
apiVersion: brindle.network/v1
kind: Profile
metadata: {name: kns.z}
spec:
  labelsToApply: {kubernetes.io/metadata.name: z, ns: z}
  ingress: [{action: Allow, source: {selector: ns == "x"}}]
EOF
  pc_expect "b-pass: kns.z now allows only from x: of the passed pod=a sources only x-a gets in" \
    ing_pass_2 allow tcp/80
  pc_reset tcp/80
}

# Selector language: namespaceSelector of a global policy, in {}, !=, !has(), notSelector.
ing_sel_1() {
  [[ ($DNS == y || $DNS == z) && $DPOD != c ]] || return 0
  [[ ($SPOD == a || $SPOD == c) && $SNS != z ]]
}
ing_sel_2() {
  [[ ($DNS == y || $DNS == z) && $DPOD != c ]] || return 0
  [[ ($SPOD == a || $SPOD == c) && $SNS != z && $S != x-a ]]
}
pc_b_selectors() {
  pc_apply selectors <<'EOF'
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: selectors}
spec:
  namespaceSelector: ns in {"y", "z"}
  selector: pod != "c"
  ingress:
  - action: Allow
    source: {selector: '!has(team) && pod in {"a", "c"}', notSelector: ns == "z"}
EOF
  pc_expect "b-selectors: y/z pods but c: only from pods a and c without team, not of z" \
    ing_sel_1 allow tcp/80
  pc_relabel x-a pod=a,team=red
  pc_expect "b-selectors: x-a labelled team=red: has(team) excludes it" ing_sel_2 allow tcp/80
  pc_reset tcp/80
}

# GlobalNetworkSet / NetworkSet with nets; namespaced sets are seen by their namespace only;
# egress nets/notNets with a port range.
ing_sets() {
  case $DNS in
    x) [[ $S == "$PC_NODE_ID" ]] ;;
    y) [[ $S == z-a || $S == z-b ]] ;;
    *) true ;;
  esac
}
egr_sets() {
  [[ $S != z-c ]] && return 0
  [[ $PR == tcp ]] && ip_in "${PC_IP[$D]}" 198.18.0.0/16 && [[ $D != x-a ]]
}
pc_b_sets() {
  pc_apply sets <<EOF
apiVersion: brindle.network/v1
kind: GlobalNetworkSet
metadata: {name: node2, labels: {role: node}}
spec: {nets: [${PC_IP[$PC_NODE_ID]}/32]}
---
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: x-from-nodes}
spec:
  selector: ns == "x"
  ingress: [{action: Allow, source: {selector: role == "node"}}]
---
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: z-ab, namespace: y, labels: {role: ab}}
spec: {nets: [${PC_IP[z-a]}, ${PC_IP[z-b]}/32]}
---
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: x-c, namespace: z, labels: {role: ab}}
spec: {nets: [${PC_IP[x-c]}/32]}
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: from-ab, namespace: y}
spec:
  ingress: [{action: Allow, source: {selector: role == "ab"}}]
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: zc-egress, namespace: z}
spec:
  selector: pod == "c"
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination: {nets: [198.18.0.0/16], notNets: [${PC_IP[x-a]}/32], ports: ["80:81"]}
EOF
  pc_expect "b-sets: x only from the GlobalNetworkSet (node2); y only from its NetworkSet (z-a, z-b; not z's set with x-c); z-c egress TCP 80:81 to 198.18/16 but x-a" \
    ing_sets egr_sets tcp/80 udp/80
  pc_reset tcp/80 udp/80
}

case_policy_brindle() {
  pc_setup
  pc_expect "b-default-allow: no policy" allow allow tcp/80 udp/80
  pc_b_order
  pc_b_pass
  pc_b_selectors
  pc_b_sets
}
