// Test support for the nftables policy plugin: the shared policy plugin lab
// (tests/plugins/common/policy_lab.hpp) with the nftables plugin and its namespaces ("bpn-*"), the
// node's table as `nft` lists it, and the traits the shared behaviour suite
// (policy_behaviour_tests.hpp) reads it through.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "policy_lab.hpp"

namespace brindle::policy_nftables_test {

using brindle::netlink::ScratchNetns;
using brindle::policy_lab::Process;
using namespace brindle::test;  // NOLINT(google-build-using-namespace): shared test support

// The nftables plugin library and at most one instance.
class Plugin : public policy_lab::PolicyPlugin {
 public:
  Plugin() : policy_lab::PolicyPlugin(BRINDLE_POLICY_NFTABLES_PLUGIN) {}
};

class Lab : public policy_lab::Lab {
 public:
  Lab() : policy_lab::Lab("bpn") {}

  // Our table as the kernel lists it ("" when it does not exist).
  std::string table() const {
    const Shell r = sh(in_node() + "nft -s list table inet brindle");
    return r.status == 0 ? r.output : "";
  }
  std::string ruleset() const { return must(in_node() + "nft -s list ruleset"); }
};

inline size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

// The nftables plugin's kernel state for the shared behaviour suite.
struct NftablesTraits {
  using Lab = policy_nftables_test::Lab;
  using Plugin = policy_nftables_test::Plugin;
  static constexpr const char* kName = "nftables";

  static std::string state(const Lab& lab) { return lab.table(); }

  static void expect_nothing_before_first_apply(const Lab& lab) {
    EXPECT_EQ(lab.table(), "") << "nothing before the first apply";
  }
  static void expect_base_layout(const Lab& lab) {
    const std::string table = lab.table();
    EXPECT_TRUE(contains(table, "type filter hook forward priority filter - 10; policy accept;"))
        << table;
    EXPECT_TRUE(contains(table, "type nat hook postrouting priority srcnat - 10; policy accept;"));
    EXPECT_TRUE(contains(table, "iifname \"brn*\" ct state established,related accept")) << table;
    EXPECT_TRUE(contains(table, "iifname \"brn*\" ct state invalid drop")) << table;
    EXPECT_TRUE(std::regex_search(table, std::regex("\"brnxa\" : goto fw-[0-9a-f]{16}"))) << table;
    EXPECT_TRUE(contains(table, "drop comment \"unknown workload interface\"")) << table;
    EXPECT_TRUE(contains(table,
                         "iifname \"brn*\" tcp dport 22 accept comment "
                         "\"failsafe\""))
        << table;
    EXPECT_EQ(count_of(lab.ruleset(), "table "), 1u) << "one table of its own, nothing else";
  }
  static void expect_default_deny(const Lab& lab) {
    EXPECT_TRUE(contains(lab.table(), "drop comment \"no policy allowed\""));
  }
  // The selector is a named set of the pods it selects.
  static void expect_x_b_selected_as_source(const Lab& lab) {
    const std::string table = lab.table();
    std::smatch set;
    ASSERT_TRUE(std::regex_search(table, set, std::regex("ip saddr @(s-[A-Za-z0-9_-]+)"))) << table;
    const std::string listed = must(lab.in_node() + "nft -s list set inet brindle " + set[1].str());
    EXPECT_TRUE(contains(listed, "flags interval")) << listed;
    EXPECT_TRUE(contains(listed, Lab::pod_ip("x/b"))) << listed;
    EXPECT_FALSE(contains(listed, Lab::pod_ip("y/a"))) << listed;
  }
  // Both CIDRs, each in a set of its own, and the except carved out.
  static void expect_ip_block_with_except(const Lab& lab) {
    const std::string table = lab.table();
    EXPECT_TRUE(contains(table, "198.18.0.0/16")) << table;
    EXPECT_TRUE(contains(table, "198.18.2.0/24")) << table;
  }
  static void expect_profile_drop(const Lab& lab) {
    EXPECT_TRUE(contains(lab.table(), "drop comment \"no profile allowed\""));
  }
  // Named ports are concatenated sets of address . protocol . port.
  static void expect_named_port_81_of_x_a(const Lab& lab) {
    const std::string table = lab.table();
    EXPECT_TRUE(contains(table, "type ipv4_addr . inet_proto . inet_service")) << table;
    EXPECT_TRUE(contains(table, "198.18.1.1 . tcp . 81")) << table;
    // (nft lists the raw transport-header port as "tcp dport"; the key's l4proto decides.)
    EXPECT_TRUE(std::regex_search(
        table, std::regex(R"(ip daddr \. meta l4proto \. (th|tcp) dport @s-[0-9a-z-]+ meta mark)")))
        << table;
  }
  static void expect_dispatched(const Lab& lab, const std::string& interface) {
    const std::string table = lab.table();
    EXPECT_TRUE(contains(table, "\"" + interface + "\" : goto")) << table;
  }
  static void expect_interface_gone(const Lab& lab, const std::string& interface) {
    const std::string table = lab.table();
    EXPECT_FALSE(contains(table, interface)) << table;
  }
  static void expect_no_policy_chains(const Lab& lab) {
    EXPECT_FALSE(contains(lab.table(), "chain pi-")) << lab.table();
  }
  static void expect_ipv6_layout(const Lab& lab) {
    const std::string table = lab.table();
    EXPECT_TRUE(contains(table, "ip6 saddr @s-")) << table;
    EXPECT_TRUE(contains(table, "nd-neighbor-solicit")) << table;
  }
  // Cleaning up after the plugin is one command: everything of it is in its table.
  static void expect_cleanup_after_destroy(const Lab& lab) {
    must(lab.in_node() + "nft delete table inet brindle");
    EXPECT_FALSE(contains(lab.ruleset(), "brindle"));
    EXPECT_TRUE(lab.reach("x/b", "y/a"));
  }
};

}  // namespace brindle::policy_nftables_test
