#!/usr/bin/env bash
# The README's main command: a local Brindle cluster inside network namespaces.
#
#   ./tests/lab.sh up [--nodes N] [--routing static|bgp] [--encap none|vxlan] [--cross-subnet]
#                     [--route-reflector | --tor] [--pods-per-node N] [--id ID]
#       installs the dependencies (apt-get), builds (configuration default), (re)creates the lab and
#       prints the pod-to-pod connectivity matrix; exit status 0 only when it is all green
#   ./tests/lab.sh down [--id ID]      removes everything the lab made
#   ./tests/lab.sh status|matrix|pods|ctl|node-status|birdc ...   see tests/lab/brindle-lab --help
#   ./tests/lab.sh pod-add NODE POD --namespace NS --labels k=v --ports name:80/TCP, ns-set NS k=v,
#                  pod-label POD k=v, node-serve NODE: the pieces of the policy conformance model
#
# Nothing is done in the machine's own network namespace: see tests/lab/brindle-lab.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
lab=tests/lab/brindle-lab
[[ $# -gt 0 ]] || set -- up
case $1 in
  up)
    echo "==> dependencies"
    tests/scripts/install-deps.sh
    # The lab's TCP probes; installed here too in case the dependency list lacks it.
    if ! command -v socat >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends socat
    fi
    echo "==> build (configuration default)"
    targets=(brindled brindle-cni brindlectl brindle-datastore-etcd brindle-routing-static
      brindle-routing-bgp brindle-encap-none brindle-encap-vxlan brindle-policy-iptables)
    build_args=()
    for target in "${targets[@]}"; do build_args+=(--target "$target"); done
    tests/scripts/build.sh default "${build_args[@]}"
    exec "$lab" --build-dir build/default "$@"
    ;;
  *) exec "$lab" --build-dir build/default "$@" ;;
esac
