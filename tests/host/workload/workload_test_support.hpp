// Helpers of the workload tests: a pod's identity and network as the agent hands them to
// setup_pod(), for a pod namespace of the CNI test support.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "brindle/workload/plumbing.hpp"
#include "cni_test_support.hpp"

namespace brindle::workload::testing {

// Pod `name` in namespace "ns1", container "ctr-<name>", interface eth0 in `pod`.
inline PodIdentity identity(const cni::testing::TestPod& pod, const std::string& name) {
  PodIdentity identity;
  identity.container_id = "ctr-" + name;
  identity.pod_namespace = "ns1";
  identity.pod_name = name;
  identity.ifname = "eth0";
  identity.netns_path = pod.path();
  return identity;
}

// The pod's addresses ("198.18.0.1/32", ...) and MTU (0: the kernel default).
inline PodNetworkSpec network(const std::vector<std::string>& addresses, uint32_t mtu = 1450) {
  PodNetworkSpec spec;
  for (const std::string& a : addresses) {
    spec.addresses.push_back(netlink::IpPrefix::parse(a));
  }
  spec.mtu = mtu;
  return spec;
}

}  // namespace brindle::workload::testing
