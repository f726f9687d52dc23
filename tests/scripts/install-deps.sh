#!/usr/bin/env bash
# Installs everything Brindle needs to build, test and run its lab on Debian 12. Idempotent.
set -euo pipefail
packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy libclang-rt-14-dev
  # libraries
  libboost-dev libboost-program-options-dev libboost-filesystem-dev libboost-system-dev
  libtoml11-dev nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev
  libnl-3-dev libnl-route-3-dev
  libip4tc-dev libip6tc-dev libipset-dev  # policy-iptables (libiptc, libipset)
  libnftables-dev  # policy-nftables (libnftables; brings the nft CLI's library)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # tests and tools
  libgtest-dev libgmock-dev libbenchmark-dev abigail-tools
  iproute2 iputils-ping procps psmisc openssl curl
  socat  # the lab's TCP listeners and probes
  iptables ipset  # iptables-legacy(-save/-restore) and ipset: inspect and benchmark policy-iptables
  nftables  # the nft CLI: policy-nftables' tests read the kernel's tables with it
  iperf3 jq  # datapath benchmarks (tests/bench/datapath)
  python3  # tests/lab/set-gso-sizes (--big-tcp), tests/e2e/probe_worker.py, the test API server
  etcd-server etcd-client
  bird2  # routing-bgp drives BIRD 2; its tests run it in scratch namespaces
  containernetworking-plugins  # the ptp + host-local reference of the CNI benchmark
  # the VM harness (tests/vm): a stock Debian kernel under qemu for what this kernel lacks (ipip)
  qemu-system-x86 linux-image-amd64 initramfs-tools
  # packaging
  lintian rpm rpmlint gnupg dpkg-dev file systemd fakeroot
)
# kubectl, the real client the test Kubernetes API server is checked against
# (tests/support/kube-apiserver): Debian's kubernetes-client (kubectl 1.20), unless some kubectl is
# installed already (another package owning /usr/bin/kubectl would make it fail to install).
command -v kubectl >/dev/null || packages+=(kubernetes-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
  echo "install-deps: installing ${missing[*]}"
  if [[ ! -d /var/lib/apt/lists/partial ]] || [[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v partial)" ]]; then
    apt-get update
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
# etcd-server's package starts a system etcd on 127.0.0.1:2379; tests start their own instances
# on free ports, so the system one is not needed (and must not be relied upon).
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi
