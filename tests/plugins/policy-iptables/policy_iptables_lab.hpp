// Test support for the iptables policy plugin: the shared policy plugin lab
// (tests/plugins/common/policy_lab.hpp) with the iptables plugin and its namespaces ("bpi-*"), the
// node's tables as iptables-legacy-save prints them, and the traits the shared behaviour suite
// (policy_behaviour_tests.hpp) reads them through.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

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
    return must(in_node() + (family == 4 ? "iptables" : "ip6tables") +
                "-legacy-save | grep -v '^#'");
  }
};

// iptables-save text without counters (they move with traffic).
inline std::string without_counters(const std::string& text) {
  return std::regex_replace(text, std::regex(R"(\[\d+:\d+\])"), "");
}

inline std::vector<std::string> lines_with(const std::string& text, const std::string& part) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (contains(line, part)) {
      out.push_back(line);
    }
  }
  return out;
}

// The iptables plugin's kernel state for the shared behaviour suite.
struct IptablesTraits {
  using Lab = policy_iptables_test::Lab;
  using Plugin = policy_iptables_test::Plugin;
  static constexpr const char* kName = "iptables";

  static std::string state(const Lab& lab) { return without_counters(lab.save()); }

  static void expect_nothing_before_first_apply(const Lab& lab) {
    const std::string state = sh(lab.in_node() + "iptables-legacy-save; " + lab.in_node() +
                                 "ip6tables-legacy-save; " + lab.in_node() + "ipset list -n")
                                  .output;
    EXPECT_FALSE(contains(state, "brindle")) << state;
  }
  static void expect_base_layout(const Lab& lab) {
    const std::string saved = lab.save();
    // Our jump is the first rule of each built-in chain, and the kernel decodes our entries.
    EXPECT_EQ(lines_with(saved, "-A FORWARD").at(0), "-A FORWARD -j brindle-FORWARD") << saved;
    EXPECT_EQ(lines_with(saved, "-A POSTROUTING").at(0), "-A POSTROUTING -j brindle-POSTROUTING");
    EXPECT_TRUE(contains(saved,
                         "-A brindle-FORWARD -i brn+ -m conntrack --ctstate "
                         "RELATED,ESTABLISHED -j ACCEPT"))
        << saved;
    EXPECT_TRUE(std::regex_search(
        saved, std::regex("-A brindle-from-wl-dispatch -i brnxa -g brindle-fw-[0-9a-f]{16}")))
        << saved;
    EXPECT_TRUE(contains(saved,
                         "-A brindle-to-wl-dispatch -m comment --comment "
                         "\"unknown workload interface\" -j DROP"))
        << saved;
    EXPECT_TRUE(contains(saved,
                         "-A brindle-INPUT -i brn+ -p tcp -m multiport --dports 22 -m "
                         "comment --comment failsafe -j ACCEPT"))
        << saved;
  }
  // The iptables suite checks these scenarios by their traffic only.
  static void expect_default_deny(const Lab&) {}
  static void expect_x_b_selected_as_source(const Lab&) {}
  static void expect_ip_block_with_except(const Lab&) {}
  static void expect_profile_drop(const Lab&) {}
  static void expect_named_port_81_of_x_a(const Lab& lab) {
    const std::string sets = must(lab.in_node() + "ipset save");
    EXPECT_TRUE(contains(sets, "hash:net,port family inet")) << sets;
    EXPECT_TRUE(contains(sets, "198.18.1.1,tcp:81")) << sets;
  }
  static void expect_dispatched(const Lab& lab, const std::string& interface) {
    const std::string saved = lab.save();
    EXPECT_TRUE(std::regex_search(saved, std::regex("-[io] " + interface + " -g brindle-")))
        << saved;
  }
  static void expect_interface_gone(const Lab& lab, const std::string& interface) {
    const std::string saved = lab.save();
    EXPECT_FALSE(contains(saved, interface)) << saved;
  }
  static void expect_no_policy_chains(const Lab& lab) {
    const std::string saved = lab.save();
    EXPECT_FALSE(contains(saved, "brindle-pi-")) << saved;
  }
  static void expect_ipv6_layout(const Lab& lab) {
    const std::string saved = lab.save(6);
    EXPECT_TRUE(contains(saved, "-A FORWARD -j brindle-FORWARD")) << saved;
    EXPECT_TRUE(contains(saved, "--icmpv6-type 135 -j ACCEPT")) << saved;
  }
  // Its chains and sets stay; removing them is the operator's iptables/ipset work.
  static void expect_cleanup_after_destroy(const Lab&) {}
};

}  // namespace brindle::policy_iptables_test
