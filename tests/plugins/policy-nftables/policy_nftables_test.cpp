// The nftables policy plugin loaded like the host loads it, fed by a real PolicyEngine with model
// resources, checked with real traffic between network namespaces (the test acts as the node) and
// with the kernel's nftables state as `nft` lists it: the behaviour every policy plugin shares
// (policy_behaviour_tests.hpp), and the tests of the plugin's own representation (one table,
// atomic updates, refresh, foreign tables), bad input, configuration and timing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "policy_behaviour_tests.hpp"
#include "policy_nftables_lab.hpp"

namespace brindle::policy_lab {
// The shared scenarios and configuration keys (ctest: "PolicyBehaviour.<Test><Traits>",
// "PolicyConfig.<Test><Traits>").
INSTANTIATE_TYPED_TEST_SUITE_P(PolicyBehaviour, PolicyBehaviourTest,
                               policy_nftables_test::NftablesTraits);
INSTANTIATE_TYPED_TEST_SUITE_P(PolicyConfig, PolicyConfigTest,
                               policy_nftables_test::NftablesTraits);
}  // namespace brindle::policy_lab

namespace brindle::policy_nftables_test {
namespace {

using policy::PolicyEngine;
using policy_lab::feed;
using policy_lab::kAllowFromBOnTcp80;
using policy_lab::kDenyIngressXa;
namespace pt = brindle::policy::testing;

brindle_str_t abi_str(const std::string& text) {
  return brindle_str_t{text.data(), text.size()};
}

// The chain an interface's traffic is dispatched to (ingress: to the workload).
std::string endpoint_chain_of(const std::string& table, const std::string& interface,
                              bool ingress) {
  std::smatch match;
  const std::regex element("\"" + interface + "\" : goto ((tw|fw)-[0-9a-f]{16})");
  std::string::const_iterator from = table.begin();
  while (std::regex_search(from, table.end(), match, element)) {
    if ((match[2].str() == "tw") == ingress) {
      return match[1].str();
    }
    from = match.suffix().first;
  }
  return "";
}

using PolicyNftables = policy_lab::PolicyPluginTest<NftablesTraits>;

// Every update is one transaction: a reader listing the table in a loop while policies change
// only ever sees one of the complete tables, `nft monitor` sees one new generation per apply(),
// and a foreign table in the same namespace is never touched.
TEST_F(PolicyNftables, UpdatesAreAtomicAndForeignTablesAreLeftAlone) {
  must(lab.in_node() +
       "nft 'add table inet foreign; add chain inet foreign filter_forward { type filter hook "
       "forward "
       "priority 0; policy accept; }; add rule inet foreign filter_forward ip saddr 198.19.9.9 "
       "accept; "
       "add table ip brindle; add chain ip brindle c'");
  const auto foreign = [&] {
    return must(lab.in_node() + "nft -s list table inet foreign") +
           must(lab.in_node() + "nft -s list table ip brindle");
  };
  const std::string foreign_before = foreign();

  program();
  const std::string open_table = lab.table();
  apply_yaml(kDenyIngressXa);
  program();
  const std::string denied_table = lab.table();
  ASSERT_NE(open_table, denied_table);
  ASSERT_FALSE(lab.reach("y/a", "x/a"));

  const std::string listings = "/tmp/bpn-listings-" + std::to_string(getpid());
  const std::string events = listings + ".monitor";
  {
    Process reader(lab.in_node() + "sh -c 'while :; do nft -s list table inet brindle; echo " +
                   "=====; done' > " + listings + " 2>&1");
    Process monitor(lab.in_node() + "nft monitor > " + events + " 2>&1");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (int i = 0; i < 10; ++i) {
      apply_yaml(kDenyIngressXa, true);
      program();
      EXPECT_EQ(lab.table(), open_table);
      apply_yaml(kDenyIngressXa);
      program();
      EXPECT_EQ(lab.table(), denied_table);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::ifstream in(listings);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  size_t seen = 0;
  size_t open_seen = 0;
  for (size_t start = 0, end; (end = all.find("=====\n", start)) != std::string::npos;
       start = end + 6) {
    const std::string listing = all.substr(start, end - start);
    ++seen;
    open_seen += listing == open_table ? 1 : 0;
    EXPECT_TRUE(listing == open_table || listing == denied_table)
        << "a listing that is neither table:\n"
        << listing;
  }
  std::cout << "[ listings ] " << seen << " read during 20 updates, " << open_seen
            << " of the open table\n";
  EXPECT_GT(seen, 20u);
  std::ifstream monitor_in(events);
  std::stringstream monitor_text;
  monitor_text << monitor_in.rdbuf();
  EXPECT_EQ(count_of(monitor_text.str(), "# new generation"), 20u) << monitor_text.str();
  std::remove(listings.c_str());
  std::remove(events.c_str());
  EXPECT_EQ(foreign(), foreign_before);
}

TEST_F(PolicyNftables, HundredPoliciesApplyTiming) {
  std::string yaml;
  for (int i = 0; i < 100; ++i) {
    yaml += "---\napiVersion: brindle.network/v1\nkind: NetworkPolicy\nmetadata: {name: p" +
            std::to_string(i) + ", namespace: x}\nspec:\n  order: " + std::to_string(i) +
            "\n  selector: pod == \"a\"\n  ingress:\n  - action: Allow\n    protocol: TCP\n" +
            "    source: {nets: [198.19.200." + std::to_string(i) + "/32]}\n" +
            "    destination: {ports: [" + std::to_string(1000 + i) + "]}\n";
  }
  yaml += R"(---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: p-last, namespace: x}
spec:
  order: 1000
  selector: pod == "a"
  ingress:
  - action: Allow
    source: {selector: pod == "b"}
)";
  apply_yaml(yaml);
  const auto started = std::chrono::steady_clock::now();
  program();
  const auto full = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(count_of(lab.table(), "chain pi-"), 101u);
  EXPECT_TRUE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("y/a", "x/a"));

  // One policy changes: the table is rebuilt in one transaction all the same.
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: p50, namespace: x}
spec:
  order: 50
  selector: pod == "a"
  ingress: [{action: Allow, source: {nets: [198.18.2.1/32]}}]
)");
  const auto again = std::chrono::steady_clock::now();
  ASSERT_EQ(plugin.send(lab.node, engine).status, BRINDLE_OK);
  const Plugin::Result applied = plugin.apply(lab.node);
  ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;
  const auto incremental = std::chrono::steady_clock::now() - again;
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "y/a (198.18.2.1) is allowed by p50 now";
  const auto ms = [](auto d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) /
           1000.0;
  };
  std::cout << "[ timing ] 101 policies, 3 endpoints: first apply " << ms(full)
            << " ms, one policy changed " << ms(incremental) << " ms (one transaction each)\n";
  RecordProperty("first_apply_ms", std::to_string(ms(full)));
  RecordProperty("one_change_apply_ms", std::to_string(ms(incremental)));
}

TEST_F(PolicyNftables, RefreshRepairsATamperedTable) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  const std::string programmed = lab.table();
  ASSERT_TRUE(lab.reach("x/b", "x/a"));
  ASSERT_FALSE(lab.reach("y/a", "x/a"));
  const std::string ingress_chain = endpoint_chain_of(programmed, "brnxa", true);
  ASSERT_FALSE(ingress_chain.empty()) << programmed;
  must(lab.in_node() + "nft insert rule inet brindle " + ingress_chain + " accept");
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "the tampering took effect";
  const Plugin::Result refreshed = plugin.refresh(lab.node);
  ASSERT_EQ(refreshed.status, BRINDLE_OK) << refreshed.message;
  EXPECT_EQ(lab.table(), programmed);
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
  EXPECT_EQ(host.metric("repairs_total"), 1);

  // The whole table deleted: recreated.
  must(lab.in_node() + "nft delete table inet brindle");
  ASSERT_EQ(plugin.refresh(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(lab.table(), programmed);
  EXPECT_EQ(host.metric("repairs_total"), 2);
  // Nothing changed: nothing to repair.
  ASSERT_EQ(plugin.refresh(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(host.metric("repairs_total"), 2);
}

// Bad input through the C ABI: a status code and a message naming what is wrong, nothing
// programmed from it, and the plugin keeps working.
TEST_F(PolicyNftables, BadInputGivesCodeAndMessage) {
  program();
  const std::string programmed = lab.table();
  const brindle_policy_vtable_t& vt = *plugin.vtable();

  // A CIDR with a prefix length beyond 32.
  brindle_ipset_member_t member{};
  member.net.family = 4;
  member.net.prefix_len = 40;
  member.net.addr[0] = 198;
  member.net.addr[1] = 18;
  const std::string set_id = "bad-set";
  brindle_ipset_t set{sizeof(brindle_ipset_t), abi_str(set_id), BRINDLE_IPSET_NET, 4, &member, 1};
  Plugin::Result r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.upsert_ipset(plugin.instance(), &set, err);
  });
  EXPECT_EQ(r.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(r.message, "ipset s-bad-set member 198.18.0.0: prefix length 40 exceeds 32"))
      << r.message;

  // Members of a set that does not exist.
  member.net.prefix_len = 32;
  const std::string unknown = "no-such-set";
  r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.update_ipset_members(plugin.instance(), abi_str(unknown), &member, 1, nullptr, 0,
                                   err);
  });
  EXPECT_EQ(r.status, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(r.message, "ipset no-such-set is not known");

  // An endpoint whose interface name would break out of an nft string.
  const std::string endpoint_id = "ep-1";
  const std::string interface = "brn\"x";
  brindle_endpoint_t endpoint{};
  endpoint.struct_size = sizeof(endpoint);
  endpoint.id = abi_str(endpoint_id);
  endpoint.interface = abi_str(interface);
  r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.upsert_endpoint(plugin.instance(), &endpoint, err);
  });
  EXPECT_EQ(r.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(r.message, "endpoint ep-1: interface \"brn\"x\" must be")) << r.message;

  // A rule with a network of no family.
  brindle_ip_prefix_t no_family{};
  brindle_rule_match_t match{};
  match.struct_size = sizeof(match);
  match.nets = &no_family;
  match.n_nets = 1;
  const std::string rule_id = "r1";
  brindle_rule_t rule{};
  rule.struct_size = sizeof(rule);
  rule.id = abi_str(rule_id);
  rule.action = BRINDLE_ACTION_ALLOW;
  rule.icmp_type = -1;
  rule.icmp_code = -1;
  rule.source = &match;
  const brindle_rule_t* rules[] = {&rule};
  const std::string policy_id = "bad.policy";
  brindle_policy_t policy{};
  policy.struct_size = sizeof(policy);
  policy.id = abi_str(policy_id);
  policy.kind = BRINDLE_POLICY_KIND_POLICY;
  policy.ingress = rules;
  policy.n_ingress = 1;
  r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.upsert_policy(plugin.instance(), &policy, err);
  });
  EXPECT_EQ(r.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(
      contains(r.message, "policy bad.policy ingress rule r1 source.nets[0]: not an IP prefix"))
      << r.message;

  // Ports without a protocol that has them.
  const brindle_port_range_t port{80, 80};
  match.nets = nullptr;
  match.n_nets = 0;
  match.ports = &port;
  match.n_ports = 1;
  rule.source = nullptr;
  rule.destination = &match;
  rule.protocol = 1;
  r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.upsert_policy(plugin.instance(), &policy, err);
  });
  EXPECT_EQ(r.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(r.message, "ports need protocol tcp, udp")) << r.message;

  // Nothing of it reached the kernel; the plugin still applies.
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(lab.table(), programmed);
  EXPECT_TRUE(lab.reach("y/a", "x/a"));

  // Removing what does not exist is not an error (removals are idempotent) and changes nothing.
  const std::string no_endpoint = "no-such-endpoint";
  r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.remove_endpoint(plugin.instance(), abi_str(no_endpoint), err);
  });
  EXPECT_EQ(r.status, BRINDLE_OK) << r.message;
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(lab.table(), programmed);

  // An endpoint naming a policy that does not exist (yet) fails closed: its chain drops.
  const std::string valid_interface = "brnzz";
  const std::string missing_policy = "no.such.policy";
  endpoint.interface = abi_str(valid_interface);
  endpoint.ingress_policies = nullptr;
  const brindle_str_t policies[] = {abi_str(missing_policy)};
  endpoint.ingress_policies = policies;
  endpoint.n_ingress_policies = 1;
  r = plugin.call(lab.node, [&](brindle_error_t* err) {
    return vt.upsert_endpoint(plugin.instance(), &endpoint, err);
  });
  ASSERT_EQ(r.status, BRINDLE_OK) << r.message;
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  const std::string table = lab.table();
  const std::string chain = endpoint_chain_of(table, "brnzz", true);
  ASSERT_FALSE(chain.empty()) << table;
  const std::string listed = must(lab.in_node() + "nft -s list chain inet brindle " + chain);
  EXPECT_TRUE(std::regex_search(
      listed, std::regex(R"(== 0x00000000 drop comment "missing pi-[0-9a-f]{16}")")))
      << listed;
}

// A transaction the kernel refuses: a table of the same name owned by another process. The
// error names nft's complaint and the command, and the previous state stays.
TEST_F(PolicyNftables, RefusedTransactionNamesTheCommand) {
  Process owner(lab.in_node() + "nft -i", true);
  ASSERT_TRUE(owner.write_line("add table inet brindle { flags owner; }"));
  for (int i = 0; i < 50 && !contains(lab.table(), "flags owner"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(contains(lab.table(), "flags owner")) << lab.table();
  const Plugin::Result sent = plugin.send(lab.node, engine);
  ASSERT_EQ(sent.status, BRINDLE_OK);
  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  const Plugin::Result applied = plugin.apply(lab.node);
  std::cout << "[ error ] " << applied.status << ": " << applied.message << "\n";
  EXPECT_EQ(applied.status, BRINDLE_ERR_PERMISSION);
  EXPECT_EQ(applied.message,
            "nft transaction failed (nothing applied): Error: Could not process rule: Operation "
            "not permitted; in: add table inet brindle");
  EXPECT_FALSE(contains(lab.table(), "chain forward")) << "nothing of it was applied";
}

// Keys of its own (the shared ones: PolicyConfigTest).
TEST(PolicyNftablesConfig, BadValuesNameTheirLocation) {
  Plugin plugin;
  ScratchNetns ns = ScratchNetns::create();
  {
    TestHost host;
    host.set_string("ipset_max_elements", "10");
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "brindle.toml:10:1: ipset_max_elements: unknown key"))
        << r.message;
  }
  {
    TestHost host;
    host.set_int("priority_offset", 500);
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "priority_offset: must be between")) << r.message;
  }
}

TEST(PolicyNftablesConfig, MarkMaskBitsAndIpv6Off) {
  Lab lab;
  for (const std::string pod : {"x/a", "x/b"}) {
    lab.serve(lab.add_pod(pod));
  }
  TestHost host;
  host.set_int("mark_mask", 0x300000);
  host.set_bool("ipv6", false);
  Plugin plugin;
  ASSERT_EQ(plugin.create(lab.node, host).status, BRINDLE_OK);
  PolicyEngine engine({.node_name = "node-1"});
  feed(engine, {"x/a", "x/b"});
  pt::apply_yaml(engine, kDenyIngressXa);
  ASSERT_EQ(plugin.send(lab.node, engine).status, BRINDLE_OK);
  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  const std::string table = lab.table();
  EXPECT_TRUE(contains(table, "meta mark set meta mark & 0xffcfffff")) << table;
  EXPECT_TRUE(contains(table, "meta mark & 0x00100000 == 0x00100000 return")) << table;
  EXPECT_FALSE(lab.reach("x/b", "x/a")) << "IPv4 is filtered";
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80, "tcp", 6)) << "ipv6 = false leaves IPv6 alone";
}

}  // namespace
}  // namespace brindle::policy_nftables_test
