#!/usr/bin/env bash
# Checks fake_kube_apiserver.py against the real kubectl (and curl for the raw protocol):
# discovery, CRDs, create/get/list/selectors/apply/patch/delete, watches, errors, auth, TLS.
# KUBECTL may name the kubectl binary (default: kubectl on PATH); PYTHON the interpreter.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
server_py="$here/fake_kube_apiserver.py"
kubectl_bin="${KUBECTL:-kubectl}"
python_bin="${PYTHON:-python3}"
for tool in "$kubectl_bin" "$python_bin" curl openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (Debian: kubernetes-client, python3, curl, openssl)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/kapi-check.XXXXXX)"
server_pids=()
cleanup() {
  local pid
  for pid in "${server_pids[@]}" ${watch_pid:-}; do kill "$pid" 2>/dev/null || true; done
  for pid in "${server_pids[@]}" ${watch_pid:-}; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" KUBECONFIG="$work/kubeconfig"
mkdir -p "$HOME"
checks=0

fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/server-*.log; do
    [[ -e "$log" ]] && { echo "--- last lines of $(basename "$log")" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}
pass() { checks=$((checks + 1)); echo "ok $checks - $*"; }

# start_server NAME ARGS...: starts the server, waits for its ready line, sets URL and PID.
start_server() {
  local name="$1"; shift
  "$python_bin" "$server_py" --listen 127.0.0.1:0 "$@" >"$work/server-$name.out" \
    2>"$work/server-$name.log" &
  PID=$!
  server_pids+=("$PID")
  local i
  for i in $(seq 100); do
    if grep -q '^ready ' "$work/server-$name.out"; then break; fi
    kill -0 "$PID" 2>/dev/null || fail "server $name exited before it was ready"
    sleep 0.1
  done
  [[ "$(wc -l <"$work/server-$name.out")" == 1 ]] || fail "server $name: stdout is not one ready line"
  URL="$(sed -n 's/^ready \(https\?:\/\/127\.0\.0\.1:[0-9]\+\)$/\1/p' "$work/server-$name.out")"
  [[ -n "$URL" ]] || fail "server $name: bad ready line: $(cat "$work/server-$name.out")"
}

# write_kubeconfig FILE URL TOKEN [CA]
write_kubeconfig() {
  local ca_line=""
  [[ -n "${4:-}" ]] && ca_line="    certificate-authority: $4"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $2
$ca_line
users:
- name: tester
  user:
    token: "$3"
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: default}
current-context: fake
EOF
}

k() { "$kubectl_bin" --request-timeout=10s --cache-dir "$work/cache" "$@"; }

# expect_ok DESC CMD...: CMD succeeds; its output is left in $out.
expect_ok() {
  local desc="$1"; shift
  out="$("$@" 2>&1)" || fail "$desc: '$*' failed: $out"
}
# expect_fail DESC NEEDLE CMD...: CMD fails and says NEEDLE.
expect_fail() {
  local desc="$1" needle="$2"; shift 2
  if out="$("$@" 2>&1)"; then fail "$desc: '$*' succeeded, expected a failure with '$needle': $out"; fi
  [[ "$out" == *"$needle"* ]] || fail "$desc: '$*' failed without '$needle': $out"
  pass "$desc"
}
contains() { [[ "$out" == *"$2"* ]] || fail "$1: expected '$2' in: $out"; }
lacks() { [[ "$out" != *"$2"* ]] || fail "$1: did not expect '$2' in: $out"; }
json_field() { "$python_bin" -c 'import json,sys; d=json.load(sys.stdin)
for p in sys.argv[1].split("."): d=d[int(p)] if isinstance(d,list) else d[p]
print(d)' "$1"; }

kubectl_version="$("$kubectl_bin" version --client 2>/dev/null | grep -Eo 'v[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)"
echo "# kubectl: $(command -v "$kubectl_bin") ${kubectl_version:-(unknown version)}"

# --- the main server: HTTPS with a bearer token (kubectl sends tokens only over TLS) -----------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" \
  >/dev/null 2>&1 || fail "openssl could not make a throwaway certificate"
token="t0k-$RANDOM$RANDOM"
start_server main --token "$token" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
main_url="$URL"; main_pid="$PID"
[[ "$main_url" == https://* ]] || fail "a --tls-cert server must announce https: $main_url"
main_log="$work/server-main.log"
write_kubeconfig "$KUBECONFIG" "$main_url" "$token" "$work/tls.crt"

expect_ok "version" k version
# kubectl 1.20 prints version.Info{...GitVersion:"v1.20.2"...}; newer ones "Server Version: v1.20.2".
grep -Eq '^Server Version: .*v1\.20\.2' <<<"$out" || fail "version: no 'Server Version: ... v1.20.2' in: $out"
pass "kubectl version shows the server version (over TLS, with the token)"

expect_ok "api-resources" k api-resources
for resource in "namespaces .*ns .*v1 .*false .*Namespace" "pods .*po .*v1 .*true .*Pod" \
  "nodes .*no .*v1 .*false .*Node" "networkpolicies .*netpol .*networking.k8s.io/v1 .*true" \
  "customresourcedefinitions .*crd,crds .*apiextensions.k8s.io/v1 .*false"; do
  grep -Eq "^$resource" <<<"$out" || fail "api-resources: no line like '$resource' in: $out"
done
pass "kubectl api-resources lists the built-in resources"

# --- CRDs ----------------------------------------------------------------------------------------
cat >"$work/crds.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ippools.brindle.network}
spec:
  group: brindle.network
  scope: Cluster
  names: {plural: ippools, singular: ippool, kind: IPPool, listKind: IPPoolList, shortNames: [ipp]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: networksets.brindle.network}
spec:
  group: brindle.network
  scope: Namespaced
  names: {plural: networksets, singular: networkset, kind: NetworkSet, listKind: NetworkSetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
expect_ok "apply CRDs" k apply --validate=false -f "$work/crds.yaml"
contains "apply CRDs" "customresourcedefinition.apiextensions.k8s.io/ippools.brindle.network created"
contains "apply CRDs" "customresourcedefinition.apiextensions.k8s.io/networksets.brindle.network created"
for i in $(seq 50); do k get ippools >/dev/null 2>&1 && break; sleep 0.2; done
expect_ok "get ippools after the CRD" k get ippools
pass "CRDs applied; kubectl get ippools works"
expect_ok "CRD status" k get crd ippools.brindle.network -o jsonpath='{.status.conditions[?(@.type=="Established")].status}/{.status.acceptedNames.kind}'
[[ "$out" == "True/IPPool" ]] || fail "CRD status: expected Established True and acceptedNames.kind IPPool, got '$out'"
expect_ok "api-resources with CRDs" k api-resources --api-group=brindle.network
grep -Eq '^ippools +ipp +brindle.network/v1 +false +IPPool' <<<"$out" || fail "api-resources: no ippools line: $out"
grep -Eq '^networksets +brindle.network/v1 +true +NetworkSet' <<<"$out" || fail "api-resources: no networksets line: $out"
pass "CRD established; its resources are in discovery"

# --- custom resources: create, get, selectors, apply (PATCH), AlreadyExists ----------------------
pool() { # pool NAME CIDR [LABELS-FLOW-MAP]
  printf 'apiVersion: brindle.network/v1\nkind: IPPool\nmetadata: {name: %s, labels: %s}\nspec: {cidr: "%s", ipipMode: Never}\n' \
    "$1" "${3:-{\}}" "$2"
}
pool pool-a 198.18.0.0/24 '{app: x}' >"$work/pool-a.yaml"
pool pool-b 198.18.1.0/24 '{app: "y"}' >"$work/pool-b.yaml" # quoted: YAML 1.1 reads a bare y as true
pool pool-c 198.18.2.0/24 >"$work/pool-c.yaml"
for p in a b c; do
  expect_ok "create pool-$p" k create --validate=false -f "$work/pool-$p.yaml"
  contains "create pool-$p" "ippool.brindle.network/pool-$p created"
done
expect_ok "get -o json" k get ippool pool-a -o json
[[ "$(json_field spec.cidr <<<"$out")" == 198.18.0.0/24 ]] || fail "get -o json: spec.cidr: $out"
[[ "$(json_field kind <<<"$out")" == IPPool && "$(json_field apiVersion <<<"$out")" == brindle.network/v1 ]] || fail "get -o json: kind/apiVersion: $out"
uid="$(json_field metadata.uid <<<"$out")"
[[ "$uid" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || fail "metadata.uid is not a uuid4: $uid"
[[ "$(json_field metadata.creationTimestamp <<<"$out")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail "creationTimestamp: $out"
[[ "$(json_field metadata.resourceVersion <<<"$out")" =~ ^[0-9]+$ ]] || fail "resourceVersion: $out"
pass "create + get -o json of a custom resource (uid, creationTimestamp, resourceVersion)"
expect_ok "get jsonpath" k get ipp pool-b -o jsonpath='{.spec.cidr} {.metadata.labels.app}'
[[ "$out" == "198.18.1.0/24 y" ]] || fail "get -o jsonpath: got '$out'"
pass "get -o jsonpath through a short name"

names_for() { k get ippools -o jsonpath='{range .items[*]}{.metadata.name} {end}' "$@"; }
check_selector() { # SELECTOR EXPECTED-NAMES
  expect_ok "selector $1" names_for -l "$1"
  [[ "$out" == "$2" ]] || fail "get -l '$1': expected '$2', got '$out'"
}
check_selector app=x "pool-a "
check_selector 'app!=x' "pool-b pool-c "
check_selector app "pool-a pool-b "
check_selector '!app' "pool-c "
check_selector 'app in (y,z)' "pool-b "
check_selector 'app notin (y),app' "pool-a "
expect_ok "get -l app=x table" k get ippools -l app=x
contains "get -l" pool-a
lacks "get -l" pool-b
pass "label selectors (=, !=, exists, !exists, in, notin, comma) filter lists"
expect_ok "field selector" names_for --field-selector metadata.name=pool-c
[[ "$out" == "pool-c " ]] || fail "--field-selector metadata.name=pool-c: got '$out'"
expect_ok "paging" k get ippools --chunk-size=1 -o name
[[ "$out" == $'ippool.brindle.network/pool-a\nippool.brindle.network/pool-b\nippool.brindle.network/pool-c' ]] || fail "--chunk-size=1 paging: got '$out'"
grep -q 'GET /apis/brindle.network/v1/ippools?continue=' "$main_log" || fail "paging: kubectl never sent ?continue="
pass "field selector and limit/continue paging (--chunk-size=1)"

pool pool-d 198.18.3.0/24 '{app: x}' >"$work/pool-d.yaml"
expect_ok "apply new" k apply --validate=false -f "$work/pool-d.yaml"
contains "apply new" "ippool.brindle.network/pool-d created"
rv_before="$(k get ippool pool-d -o jsonpath='{.metadata.resourceVersion}')"
pool pool-d 198.18.3.0/25 '{app: x, tier: gold}' >"$work/pool-d.yaml"
expect_ok "apply change" k apply --validate=false -f "$work/pool-d.yaml"
contains "apply change" "ippool.brindle.network/pool-d configured"
grep -q '"PATCH /apis/brindle.network/v1/ippools/pool-d' "$main_log" || fail "apply of an existing object did not PATCH"
expect_ok "after apply" k get ippool pool-d -o jsonpath='{.spec.cidr} {.metadata.labels.tier} {.metadata.resourceVersion}'
read -r cidr tier rv_after <<<"$out"
[[ "$cidr $tier" == "198.18.3.0/25 gold" ]] || fail "apply change not visible: '$out'"
((rv_after > rv_before)) || fail "resourceVersion did not grow on apply: $rv_before -> $rv_after"
expect_ok "apply unchanged" k apply --validate=false -f "$work/pool-d.yaml"
contains "apply unchanged" "ippool.brindle.network/pool-d unchanged"
pass "kubectl apply: create, then PATCH with the change visible, then unchanged"
expect_ok "label" k label ippool pool-c app=z
check_selector app=z "pool-c "
expect_ok "label remove" k label ippool pool-c app-
check_selector '!app' "pool-c "
pass "kubectl label add/remove (merge patch)"
expect_fail "create of an existing object fails with AlreadyExists" \
  'Error from server (AlreadyExists)' k create --validate=false -f "$work/pool-a.yaml"

# --- namespaces, NetworkPolicy, Pod, namespaced custom resources -------------------------------
# Namespaces from a manifest: `kubectl create namespace` of kubectl >= 1.2x sends protobuf (JSON only here).
ns_manifest() { printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$1"; }
expect_ok "create ns" k create --validate=false -f <(ns_manifest brindle-test)
# The server labels every namespace with its name, and keeps the label whatever a client sets.
expect_ok "ns name label" k get ns brindle-test -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name}'
[[ "$out" == brindle-test ]] || fail "namespace label kubernetes.io/metadata.name: got '$out'"
expect_ok "label ns" k label ns brindle-test team=blue kubernetes.io/metadata.name=other --overwrite
expect_ok "ns labels" k get ns brindle-test -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name}/{.metadata.labels.team}'
[[ "$out" == brindle-test/blue ]] || fail "namespace labels after kubectl label: got '$out'"
expect_ok "default ns label" k get ns default -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name}'
[[ "$out" == default ]] || fail "namespace default: label kubernetes.io/metadata.name: got '$out'"
pass "namespaces carry kubernetes.io/metadata.name = their name (set by the server)"
cat >"$work/ns-objects.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: brindle-test}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{ipBlock: {cidr: 198.18.0.0/15}}]
    ports: [{protocol: TCP, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: brindle-test, labels: {app: web}}
spec:
  containers: [{name: web, image: example.invalid/web:1}]
---
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: friends, namespace: brindle-test}
spec: {nets: [198.18.9.0/24]}
EOF
expect_ok "apply ns objects" k apply --validate=false -f "$work/ns-objects.yaml"
contains "apply ns objects" "networkpolicy.networking.k8s.io/deny-ingress created"
contains "apply ns objects" "pod/web-1 created"
contains "apply ns objects" "networkset.brindle.network/friends created"
expect_ok "get pods -A" k get pods -A
grep -Eq '^brindle-test +web-1 +Pending ' <<<"$out" || fail "get pods -A: no 'brindle-test web-1 Pending' row: $out"
expect_ok "get netpol" k get netpol -n brindle-test deny-ingress -o jsonpath='{.spec.ingress[0].from[0].ipBlock.cidr}'
[[ "$out" == 198.18.0.0/15 ]] || fail "networkpolicy spec: '$out'"
expect_ok "get networksets -A" k get networksets -A
grep -Eq '^brindle-test +friends ' <<<"$out" || fail "get networksets -A: $out"
expect_ok "default ns has no pods" k get pods
contains "no pods in default" "No resources found in default namespace."
pass "namespace + NetworkPolicy + Pod + namespaced custom resource; get -A"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n' >"$work/pod.yaml"
expect_fail "create a pod in a missing namespace fails with NotFound" \
  'Error from server (NotFound): error when creating' k create --validate=false -n no-such-ns -f "$work/pod.yaml"
contains "missing namespace" 'namespaces "no-such-ns" not found'

# --- delete ---------------------------------------------------------------------------------------
expect_ok "delete" k delete ippool pool-b
contains "delete" 'ippool.brindle.network "pool-b" deleted'
expect_fail "get after delete fails with NotFound" \
  'Error from server (NotFound): ippools.brindle.network "pool-b" not found' k get ippool pool-b
expect_fail "delete again fails with NotFound" 'NotFound' k delete ippool pool-b
expect_ok "delete pod" k delete pod -n brindle-test web-1
expect_fail "pod gone" 'pods "web-1" not found' k get pod -n brindle-test web-1

# Garbage collection: a custom resource owned by a Node goes with it (kubectl's default cascade,
# background), and stays with --cascade=orphan.
owned_by_node() { # owned_by_node NODE: an IPPool "owned-NODE" owned by the core Node NODE
  local uid
  uid=$(k get node "$1" -o jsonpath='{.metadata.uid}')
  printf 'apiVersion: brindle.network/v1\nkind: IPPool\nmetadata:\n  name: owned-%s\n  ownerReferences:\n  - {apiVersion: v1, kind: Node, name: %s, uid: "%s"}\nspec: {}\n' \
    "$1" "$1" "$uid" >"$work/owned.yaml"
  k create --validate=false -f "$work/owned.yaml"
}
for node in worker-1 worker-2; do
  printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$node" >"$work/node.yaml"
  expect_ok "create node $node" k create --validate=false -f "$work/node.yaml"
  expect_ok "create its owned resource" owned_by_node "$node"
done
expect_ok "delete node (cascade background)" k delete node worker-1
expect_fail "the dependent went with its owner" 'not found' k get ippool owned-worker-1
expect_ok "delete node --cascade=orphan" k delete node worker-2 --cascade=orphan
expect_ok "an orphaned dependent stays" k get ippool owned-worker-2
expect_ok "delete it" k delete ippool owned-worker-2

# --- watch (kubectl, over TLS) -------------------------------------------------------------------
watch_out="$work/watch.out"
k get ippools --watch-only -o json --output-watch-events --request-timeout=30s >"$watch_out" 2>"$work/watch.err" &
watch_pid=$!
for i in $(seq 100); do grep -q 'GET /apis/brindle.network/v1/ippools?.*watch=true' "$main_log" && break; sleep 0.1; done
grep -q 'GET /apis/brindle.network/v1/ippools?.*watch=true' "$main_log" || fail "kubectl --watch never opened a watch: $(cat "$work/watch.err")"
pool pool-w 198.18.7.0/24 >"$work/pool-w.yaml"
expect_ok "create under watch" k create --validate=false -f "$work/pool-w.yaml"
expect_ok "delete under watch" k delete ippool pool-w
for i in $(seq 100); do
  grep -q '"type": "DELETED"' "$watch_out" && break
  sleep 0.1
done
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=""
events="$("$python_bin" -c '
import json, sys
text = open(sys.argv[1]).read()
decoder, pos, seen = json.JSONDecoder(), 0, []
while pos < len(text):
    while pos < len(text) and text[pos].isspace(): pos += 1
    if pos >= len(text): break
    event, pos = decoder.raw_decode(text, pos)
    seen.append("%s:%s" % (event["type"], event["object"]["metadata"]["name"]))
print(" ".join(seen))' "$watch_out")" || fail "watch output is not JSON events: $(cat "$watch_out")"
[[ "$events" == "ADDED:pool-w DELETED:pool-w" ]] || fail "kubectl watch: expected 'ADDED:pool-w DELETED:pool-w', got '$events'"
pass "kubectl get --watch-only sees the ADDED and DELETED events"

# --- raw protocol with curl: 401, 409 on a stale PUT, delete precondition --------------------------
c() { curl -sS --cacert "$work/tls.crt" -H "Authorization: Bearer $token" "$@"; }
code="$(curl -sS --cacert "$work/tls.crt" -o "$work/401.json" -w '%{http_code}' "$main_url/api/v1/namespaces")"
[[ "$code" == 401 ]] || fail "no token: expected 401, got $code"
out="$(cat "$work/401.json")"
contains "401 Status" '"kind":"Status"'
contains "401 Status" '"reason":"Unauthorized"'
contains "401 Status" '"code":401'
pass "curl without the token gets a 401 Status"

pool_url="$main_url/apis/brindle.network/v1/ippools/pool-a"
c "$pool_url" >"$work/pool-a.json"
stale="$(json_field metadata.resourceVersion <"$work/pool-a.json")"
"$python_bin" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["spec"]["cidr"]="198.18.0.0/26"
json.dump(d, open(sys.argv[1],"w"))' "$work/pool-a.json"
code="$(c -o "$work/put1.json" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' --data-binary @"$work/pool-a.json" "$pool_url")"
[[ "$code" == 200 ]] || fail "PUT with the current resourceVersion: expected 200, got $code: $(cat "$work/put1.json")"
fresh="$(json_field metadata.resourceVersion <"$work/put1.json")"
((fresh > stale)) || fail "PUT did not raise the resourceVersion ($stale -> $fresh)"
[[ "$(json_field metadata.uid <"$work/put1.json")" == "$(json_field metadata.uid <"$work/pool-a.json")" ]] || fail "PUT changed the uid"
code="$(c -o "$work/put2.json" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' --data-binary @"$work/pool-a.json" "$pool_url")"
[[ "$code" == 409 ]] || fail "PUT with the stale resourceVersion $stale: expected 409, got $code: $(cat "$work/put2.json")"
out="$(cat "$work/put2.json")"
contains "409 Status" '"kind":"Status"'
contains "409 Status" '"reason":"Conflict"'
contains "409 Status" '"code":409'
contains "409 Status" 'the object has been modified'
[[ "$(k get ippool pool-a -o jsonpath='{.spec.cidr}')" == 198.18.0.0/26 ]] || fail "the accepted PUT is not visible to kubectl"
pass "curl PUT: 200 with the current resourceVersion, 409 Conflict Status with a stale one"
code="$(c -o "$work/del.json" -w '%{http_code}' -X DELETE -H 'Content-Type: application/json' \
  -d "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"preconditions\":{\"resourceVersion\":\"$stale\"}}" "$pool_url")"
[[ "$code" == 409 ]] || fail "DELETE with a stale precondition: expected 409, got $code: $(cat "$work/del.json")"
code="$(c -o "$work/bad.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"kube-system"}}' "$main_url/api/v1/namespaces/default/pods")"
[[ "$code" == 400 ]] && grep -q '"reason":"BadRequest"' "$work/bad.json" && grep -q 'metadata.namespace' "$work/bad.json" ||
  fail "a body namespace contradicting the URL: expected 400 BadRequest naming metadata.namespace, got $code: $(cat "$work/bad.json")"
pass "curl: DELETE precondition 409, contradicting namespace 400"

# --- authentication and TLS through kubectl --------------------------------------------------------
write_kubeconfig "$work/wrong-token" "$main_url" "not-the-token" "$work/tls.crt"
expect_fail "kubectl with a wrong token reports Unauthorized" 'Unauthorized' \
  k --kubeconfig "$work/wrong-token" get ippools
write_kubeconfig "$work/no-ca" "$main_url" "$token" ""
expect_fail "kubectl without the CA rejects the certificate" 'x509' \
  k --kubeconfig "$work/no-ca" get ippools

# --- CRD deletion removes its resources ----------------------------------------------------------
expect_ok "delete CRD" k delete crd networksets.brindle.network
for i in $(seq 50); do k get networksets -A >/dev/null 2>&1 || break; sleep 0.2; done
# A fresh discovery cache: the shared one still lists networksets (kubectl then reports a 404).
expect_fail "networksets are gone with their CRD" "doesn't have a resource type \"networksets\"" \
  k --cache-dir "$work/cache-after-crd-delete" get networksets -A
expect_ok "ippools stay" k get ippools -o name
contains "ippools stay" "ippool.brindle.network/pool-a"

# --- plain HTTP, no token, --history 2: 410 Expired in the watch stream ---------------------------
start_server history --history 2
http_url="$URL"; http_pid="$PID"
[[ "$http_url" == http://* ]] || fail "a plain server must announce http: $http_url"
write_kubeconfig "$work/http" "$http_url" "unused"
expect_ok "kubectl over plain http" k --kubeconfig "$work/http" get namespaces
grep -Eq '^kube-system +Active ' <<<"$out" || fail "get namespaces over http: $out"
for i in 1 2 3 4 5; do
  expect_ok "create ns h$i" k --kubeconfig "$work/http" create --validate=false -f <(ns_manifest "h$i")
done
out="$(curl -sS --max-time 5 "$http_url/api/v1/namespaces?watch=1&resourceVersion=1")" || fail "watch from resourceVersion 1 did not end by itself"
contains "410" '"type":"ERROR"'
contains "410" '"code":410'
contains "410" '"reason":"Expired"'
pass "watch from a compacted resourceVersion gets the 410 Expired ERROR event"
last_rv="$(k --kubeconfig "$work/http" get ns h5 -o jsonpath='{.metadata.resourceVersion}')"
out="$(curl -sS --max-time 5 "$http_url/api/v1/namespaces?watch=true&resourceVersion=$((last_rv - 1))&timeoutSeconds=1")"
[[ "$(grep -c . <<<"$out")" == 1 ]] && contains "recent watch" '"type":"ADDED"' && contains "recent watch" '"name":"h5"' ||
  fail "watch from resourceVersion $((last_rv - 1)): expected exactly the ADDED h5 event, got: $out"
pass "watch from a kept resourceVersion replays exactly the newer event, ends at timeoutSeconds"

# A watch with a label selector sees objects enter (ADDED) and leave (DELETED) the selection, and
# gets BOOKMARKs when quiet.
curl -sS -N --max-time 10 "$http_url/api/v1/namespaces?watch=1&labelSelector=team%3Da&allowWatchBookmarks=true&timeoutSeconds=3" \
  >"$work/selector-watch.out" 2>&1 &
selector_watch_pid=$!
for i in $(seq 50); do grep -q 'labelSelector=team%3Da' "$work/server-history.log" && break; sleep 0.1; done
expect_ok "label h1" k --kubeconfig "$work/http" label namespace h1 team=a
expect_ok "label h2" k --kubeconfig "$work/http" label namespace h2 team=b
expect_ok "unlabel h1" k --kubeconfig "$work/http" label namespace h1 team-
rc=0; wait "$selector_watch_pid" || rc=$?
[[ "$rc" == 0 ]] || fail "the selector watch did not end at timeoutSeconds=3 (curl exit $rc)"
events="$("$python_bin" -c '
import json, sys
seen = []
for line in open(sys.argv[1]):
    event = json.loads(line)
    name = event["object"]["metadata"].get("name", "")
    if event["type"] == "BOOKMARK":
        name = "rv" if event["object"]["metadata"]["resourceVersion"].isdigit() else "bad"
    if not seen or seen[-1] != event["type"] + ":" + name:
        seen.append(event["type"] + ":" + name)
print(" ".join(seen))' "$work/selector-watch.out")" || fail "selector watch output: $(cat "$work/selector-watch.out")"
[[ "$events" == "ADDED:h1 DELETED:h1 BOOKMARK:rv" || "$events" == "BOOKMARK:rv ADDED:h1 DELETED:h1 BOOKMARK:rv" ]] ||
  fail "selector watch: expected ADDED:h1 DELETED:h1 then BOOKMARKs, got '$events'"
pass "watch with labelSelector: ADDED on entering, DELETED on leaving, BOOKMARKs when quiet"

# --- SIGTERM closes open watches and exits 0 -------------------------------------------------------
curl -sS -N "$http_url/api/v1/namespaces?watch=1&resourceVersion=$last_rv" >"$work/open-watch.out" 2>&1 &
curl_pid=$!
sleep 0.5
kill -TERM "$http_pid"
for i in $(seq 50); do kill -0 "$http_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$http_pid" 2>/dev/null && fail "the server did not stop within 5 s of SIGTERM"
rc=0; wait "$http_pid" || rc=$?
[[ "$rc" == 0 ]] || fail "the server exited $rc on SIGTERM"
for i in $(seq 30); do kill -0 "$curl_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$curl_pid" 2>/dev/null && { kill "$curl_pid"; fail "an open watch was not closed by SIGTERM"; }
rc=0; wait "$curl_pid" || rc=$?
[[ "$rc" == 0 ]] || fail "the watch stream did not end cleanly on SIGTERM (curl exit $rc: $(cat "$work/open-watch.out"))"
pass "SIGTERM: open watch stream ended cleanly, server exited 0"

echo "PASS: $checks checks of fake_kube_apiserver.py against kubectl ${kubectl_version:-(unknown version)}"
