// Test support for the iptables policy plugin: the shared policy plugin lab
// (tests/plugins/common/policy_lab.hpp) with the iptables plugin and its namespaces ("bpi-*"), and
// the node's tables as iptables-legacy-save prints them.
#pragma once

#include <string>

#include "policy_lab.hpp"

namespace brindle::policy_iptables_test {

using brindle::netlink::ScratchNetns;
using brindle::policy_lab::Process;
using namespace brindle::test;  // NOLINT(google-build-using-namespace): shared test support

// The iptables plugin library and at most one instance.
class Plugin : public policy_lab::PolicyPlugin {
 public:
  Plugin() : policy_lab::PolicyPlugin(BRINDLE_POLICY_IPTABLES_PLUGIN) {}
};

class Lab : public policy_lab::Lab {
 public:
  Lab() : policy_lab::Lab("bpi") {}

  std::string save(int family = 4) const {
    return must("ip netns exec " + node.name() + (family == 4 ? " iptables" : " ip6tables") +
                "-legacy-save | grep -v '^#'");
  }
};

}  // namespace brindle::policy_iptables_test
