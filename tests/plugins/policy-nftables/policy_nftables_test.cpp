// The nftables policy plugin loaded like the host loads it, fed by a real PolicyEngine with model
// resources, checked with real traffic between network namespaces (the test acts as the node) and
// with the kernel's nftables state as `nft` lists it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "policy_lab.hpp"
#include "policy_test_support.hpp"  // tests/host/policy: pods, namespace profiles, YAML

namespace brindle::policy_nftables_test {
namespace {

using brindle::netlink::ScratchNetns;
using brindle::policy_lab::Process;
using policy::PolicyEngine;
using namespace brindle::test;  // NOLINT(google-build-using-namespace): shared test support
namespace pt = brindle::policy::testing;

class Plugin : public policy_lab::PolicyPlugin {
 public:
  Plugin() : policy_lab::PolicyPlugin(BRINDLE_POLICY_NFTABLES_PLUGIN) {}
};

class Lab : public policy_lab::Lab {
 public:
  Lab() : policy_lab::Lab("bpn") {}

  std::string in_node() const { return "ip netns exec " + node.name() + " "; }
  // Our table as the kernel lists it ("" when it does not exist).
  std::string table() const {
    const Shell r = sh(in_node() + "nft -s list table inet brindle");
    return r.status == 0 ? r.output : "";
  }
  std::string ruleset() const { return must(in_node() + "nft -s list ruleset"); }
};

model::IpPrefix prefix(const char* text) {
  return model::IpPrefix::parse(text);
}

policy::Globals lab_globals(bool nat_outgoing = true) {
  policy::Globals g;
  g.interface_prefix = "brn";
  g.all_pools = {prefix("198.18.0.0/16"), prefix("2001:db8::/44")};
  if (nat_outgoing) {
    g.nat_outgoing_pools = {prefix("198.18.0.0/16")};
  }
  g.node_addresses = {prefix("198.19.0.1/32"), prefix("2001:db8:ff::1/128")};
  g.failsafe_inbound = {{policy::kProtoTCP, 22}};
  g.failsafe_outbound = {{policy::kProtoTCP, 2379}};
  return g;
}

// The resources of the lab's pods and namespaces in a fresh engine.
void feed(PolicyEngine& engine, const std::vector<std::string>& pods, bool nat_outgoing = true) {
  engine.set_globals(lab_globals(nat_outgoing));
  for (const char* ns : {"x", "y"}) {
    engine.upsert_profile(pt::namespace_profile(ns));
  }
  for (const std::string& pod : pods) {
    const std::string ns(1, pod[0]);
    const std::string name(1, pod[2]);
    engine.upsert_workload_endpoint(pt::make_pod(
        ns, name, {{"pod", name}},
        {model::IpAddress::parse(Lab::pod_ip(pod)), model::IpAddress::parse(Lab::pod_ip(pod, 6))},
        pt::conformance_ports()));
  }
}

brindle_str_t abi_str(const std::string& text) {
  return brindle_str_t{text.data(), text.size()};
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
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

constexpr const char* kDenyIngressXa = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
)";

constexpr const char* kAllowFromBOnTcp80 = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b-tcp-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
)";

class PolicyNftables : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string pod : {"x/a", "x/b", "y/a"}) {
      lab.serve(lab.add_pod(pod));
    }
    feed(engine, {"x/a", "x/b", "y/a"});
    const Plugin::Result created = plugin.create(lab.node, host);
    ASSERT_EQ(created.status, BRINDLE_OK) << created.message;
  }

  // Sends the engine's changes, then in_sync() and apply().
  void program() {
    const Plugin::Result sent = plugin.send(lab.node, engine);
    ASSERT_EQ(sent.status, BRINDLE_OK) << sent.message;
    const Plugin::Result synced = plugin.in_sync(lab.node);
    ASSERT_EQ(synced.status, BRINDLE_OK) << synced.message;
    const Plugin::Result applied = plugin.apply(lab.node);
    ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;
  }
  void apply_yaml(std::string_view yaml, bool remove = false) {
    pt::apply_yaml(engine, yaml, remove);
  }

  Lab lab;
  TestHost host;
  Plugin plugin;
  PolicyEngine engine{{.node_name = "node-1"}};
};

TEST_F(PolicyNftables, DescriptorNamesTheNftablesPolicyPlugin) {
  EXPECT_STREQ(plugin.descriptor()->name, "nftables");
  EXPECT_EQ(plugin.descriptor()->kind, BRINDLE_KIND_POLICY);
}

TEST_F(PolicyNftables, NoPolicyAllowsEverythingAndTheLayoutIsInPlace) {
  EXPECT_EQ(lab.table(), "") << "nothing before the first apply";
  program();
  EXPECT_TRUE(lab.reach("x/a", "y/a"));
  EXPECT_TRUE(lab.reach("y/a", "x/b", 81));
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80, "udp"));
  EXPECT_TRUE(lab.node_reaches("x/a"));
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

TEST_F(PolicyNftables, KubernetesDefaultDenyIngress) {
  apply_yaml(kDenyIngressXa);
  program();
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
  EXPECT_FALSE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 80, "udp"));
  EXPECT_TRUE(lab.reach("x/a", "y/a")) << "egress is not isolated";
  EXPECT_TRUE(lab.reach("y/a", "x/b")) << "other pods are not selected";
  EXPECT_TRUE(lab.node_reaches("x/a")) << "traffic from the node is allowed";
  EXPECT_TRUE(contains(lab.table(), "drop comment \"no policy allowed\""));
  // Deleting the policy opens the pod again.
  apply_yaml(kDenyIngressXa, true);
  program();
  EXPECT_TRUE(lab.reach("y/a", "x/a"));
}

TEST_F(PolicyNftables, AllowFromSelectedPodOnTcpPortOnly) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 81));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 80, "udp")) << "a TCP port never opens UDP";
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80)) << "y/a has pod=a, not pod=b";
  // The selector is a named set of the pods it selects.
  const std::string table = lab.table();
  std::smatch set;
  ASSERT_TRUE(std::regex_search(table, set, std::regex("ip saddr @(s-[A-Za-z0-9_-]+)"))) << table;
  const std::string listed = must(lab.in_node() + "nft -s list set inet brindle " + set[1].str());
  EXPECT_TRUE(contains(listed, "flags interval")) << listed;
  EXPECT_TRUE(contains(listed, Lab::pod_ip("x/b"))) << listed;
  EXPECT_FALSE(contains(listed, Lab::pod_ip("y/a"))) << listed;
}

TEST_F(PolicyNftables, IpBlockWithExcept) {
  apply_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ipblock, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 198.18.0.0/16, except: [198.18.2.0/24]}}]
)");
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("y/a", "x/a")) << "198.18.2.1 is in the except list";
  // Both CIDRs, each in a set of its own, and the except carved out.
  const std::string table = lab.table();
  EXPECT_TRUE(contains(table, "198.18.0.0/16")) << table;
  EXPECT_TRUE(contains(table, "198.18.2.0/24")) << table;
}

TEST_F(PolicyNftables, EgressDeny) {
  apply_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
)");
  program();
  EXPECT_FALSE(lab.reach("x/a", "y/a"));
  EXPECT_FALSE(lab.reach("x/a", "x/b", 80, "udp"));
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "replies of allowed ingress are established";
  EXPECT_TRUE(lab.reach("x/b", "y/a"));
}

TEST_F(PolicyNftables, EgressAllowByCidrAndProtocol) {
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: egress-cidr, namespace: x}
spec:
  selector: pod == "a"
  types: [Egress]
  egress:
  - action: Allow
    protocol: UDP
    destination: {nets: [198.18.2.0/24]}
  - action: Allow
    protocol: TCP
    destination: {nets: [198.18.1.2/32], ports: ["80:80"]}
)");
  program();
  EXPECT_TRUE(lab.reach("x/a", "y/a", 80, "udp"));
  EXPECT_FALSE(lab.reach("x/a", "y/a", 80, "tcp")) << "only UDP to 198.18.2.0/24";
  EXPECT_TRUE(lab.reach("x/a", "x/b", 80, "tcp"));
  EXPECT_FALSE(lab.reach("x/a", "x/b", 81, "tcp"));
  EXPECT_FALSE(lab.reach("x/a", "x/b", 80, "udp"));
}

TEST_F(PolicyNftables, BrindlePolicyOrderDenyBeforeAllow) {
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: deny-b, namespace: x}
spec:
  order: 10
  selector: pod == "a"
  ingress:
  - action: Deny
    source: {selector: pod == "b"}
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  order: 20
  selector: pod == "a"
  ingress: [{action: Allow}]
)");
  program();
  EXPECT_FALSE(lab.reach("x/b", "x/a"));
  EXPECT_TRUE(lab.reach("y/a", "x/a"));
  // The allow-all now comes first and decides.
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  order: 5
  selector: pod == "a"
  ingress: [{action: Allow}]
)");
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a"));
}

TEST_F(PolicyNftables, ProfilesDecideWhenNoPolicyApplies) {
  // Namespace x's profile now allows ingress only from pod=b; no policy selects x/a.
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: Profile
metadata: {name: kns.x}
spec:
  labelsToApply: {ns: x, kubernetes.io/metadata.name: x}
  ingress:
  - action: Allow
    source: {selector: pod == "b"}
  egress: [{action: Allow}]
)");
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("y/a", "x/a")) << "no profile rule matched: dropped";
  EXPECT_TRUE(lab.reach("x/a", "y/a")) << "y's profile still allows";
  EXPECT_TRUE(contains(lab.table(), "drop comment \"no profile allowed\""));
}

TEST_F(PolicyNftables, PassGoesToTheProfiles) {
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: pass-b}
spec:
  order: 1
  selector: pod == "a" && ns == "x"
  ingress:
  - action: Pass
    source: {selector: pod == "b"}
---
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: deny-rest}
spec:
  order: 2
  selector: pod == "a" && ns == "x"
  ingress: [{action: Deny}]
)");
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a")) << "passed to kns.x, which allows";
  EXPECT_FALSE(lab.reach("y/a", "x/a")) << "denied by deny-rest";
  // A profile that allows nothing makes passed traffic drop too.
  apply_yaml(R"(
apiVersion: brindle.network/v1
kind: Profile
metadata: {name: kns.x}
spec:
  labelsToApply: {ns: x, kubernetes.io/metadata.name: x}
  ingress:
  - action: Allow
    source: {selector: pod == "nobody"}
)");
  program();
  EXPECT_FALSE(lab.reach("x/b", "x/a"));
}

TEST_F(PolicyNftables, NamedPortsAreConcatenatedSets) {
  apply_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: serve-81-tcp}]
)");
  program();
  EXPECT_TRUE(lab.reach("y/a", "x/a", 81));
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80));
  const std::string table = lab.table();
  EXPECT_TRUE(contains(table, "type ipv4_addr . inet_proto . inet_service")) << table;
  EXPECT_TRUE(contains(table, "198.18.1.1 . tcp . 81")) << table;
  // (nft lists the raw transport-header port as "tcp dport"; the key's l4proto decides.)
  EXPECT_TRUE(std::regex_search(
      table, std::regex(R"(ip daddr \. meta l4proto \. (th|tcp) dport @s-[0-9a-z-]+ meta mark)")))
      << table;
}

TEST_F(PolicyNftables, UnknownWorkloadInterfaceIsDropped) {
  const ScratchNetns& rogue = lab.add_pod("y/z", "brnrogue", "198.18.9.9", "2001:db8:9::9");
  lab.serve(rogue);
  ASSERT_FALSE(Lab::probe(rogue, Lab::pod_ip("x/a"), 80).empty()) << "reachable before";
  program();
  EXPECT_TRUE(Lab::probe(rogue, Lab::pod_ip("x/a"), 80).empty());
  EXPECT_TRUE(Lab::probe(lab.pods.at("x/a"), "198.18.9.9", 80).empty());
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "known endpoints still talk";
}

TEST_F(PolicyNftables, InvalidPacketsAreDropped) {
  // Strict TCP tracking: a lone ACK of no known connection is INVALID (not picked up mid-stream).
  must(lab.in_node() + "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0");
  // x/a counts the ACKs to port 7777 that reach it (in its own namespace).
  const ScratchNetns& xa = lab.pods.at("x/a");
  must("ip netns exec " + xa.name() +
       " nft 'add table inet probe; add chain inet probe in { type filter hook prerouting "
       "priority -300; }; add rule inet probe in tcp dport 7777 tcp flags ack counter'");
  const auto arrived = [&] {
    const std::string listed = must("ip netns exec " + xa.name() + " nft list table inet probe");
    std::smatch m;
    return std::regex_search(listed, m, std::regex("counter packets (\\d+)")) ? std::stoi(m[1])
                                                                              : -1;
  };
  // y/a sends a bare ACK through a raw socket (the kernel adds the IP header).
  const std::string send_ack =
      "ip netns exec " + lab.pods.at("y/a").name() + " python3 -c '\n" +
      "import socket, struct\n"
      "src, dst = socket.inet_aton(\"" +
      Lab::pod_ip("y/a") + "\"), socket.inet_aton(\"" + Lab::pod_ip("x/a") +
      "\")\n"
      "hdr = struct.pack(\"!HHIIBBHHH\", 40000, 7777, 1, 1, 5 << 4, 0x10, 1024, 0, 0)\n"
      "pseudo = src + dst + struct.pack(\"!BBH\", 0, 6, len(hdr))\n"
      "data = pseudo + hdr\n"
      "s = sum(struct.unpack(\"!%dH\" % (len(data) // 2), data))\n"
      "s = (s >> 16) + (s & 0xffff); s += s >> 16\n"
      "hdr = hdr[:16] + struct.pack(\"!H\", ~s & 0xffff) + hdr[18:]\n"
      "sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)\n"
      "sock.sendto(hdr, (\"" +
      Lab::pod_ip("x/a") + "\", 0))\n'";
  must(send_ack);
  ASSERT_EQ(arrived(), 1) << "without the plugin the stray ACK is forwarded";
  program();
  must(send_ack);
  EXPECT_EQ(arrived(), 1) << "the INVALID packet was dropped";
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "valid traffic still passes";
  EXPECT_EQ(arrived(), 1);
}

TEST_F(PolicyNftables, EndpointRemovalRemovesItsRules) {
  apply_yaml(kDenyIngressXa);
  program();
  ASSERT_TRUE(contains(lab.table(), "\"brnya\" : goto"));
  ASSERT_TRUE(lab.reach("x/a", "y/a"));
  engine.remove_workload_endpoint("y", "a");
  program();
  const std::string table = lab.table();
  EXPECT_FALSE(contains(table, "brnya")) << table;
  EXPECT_TRUE(contains(table, "\"brnxa\" : goto")) << table;
  EXPECT_FALSE(lab.reach("x/a", "y/a")) << "its interface is unknown now: dropped";
  // Removing the only user of a policy removes its chains too.
  engine.remove_workload_endpoint("x", "a");
  program();
  EXPECT_FALSE(contains(lab.table(), "chain pi-")) << lab.table();
}

TEST_F(PolicyNftables, Ipv6PoliciesAreEnforced) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80, "tcp", 6));
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80, "tcp", 6));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 81, "tcp", 6));
  EXPECT_TRUE(lab.reach("x/a", "y/a", 80, "tcp", 6));
  const std::string table = lab.table();
  EXPECT_TRUE(contains(table, "ip6 saddr @s-")) << table;
  EXPECT_TRUE(contains(table, "nd-neighbor-solicit")) << table;
}

TEST_F(PolicyNftables, NatOutgoingMasqueradesOnlyOutsideThePools) {
  lab.add_external();
  lab.serve(*lab.external);
  program();
  EXPECT_EQ(Lab::probe(lab.pods.at("x/a"), Lab::kExternal4, 80), Lab::kExternalNode4);
  EXPECT_EQ(Lab::probe(lab.pods.at("x/a"), Lab::pod_ip("y/a"), 80), Lab::pod_ip("x/a"))
      << "pod to pod keeps its source";

  // Without natOutgoing the external host cannot answer (it has no route to the pools).
  PolicyEngine without_nat({.node_name = "node-1"});
  feed(without_nat, {"x/a", "x/b", "y/a"}, false);
  ASSERT_EQ(plugin.create(lab.node, host).status, BRINDLE_OK);
  engine = std::move(without_nat);
  program();
  EXPECT_EQ(Lab::probe(lab.pods.at("x/a"), Lab::kExternal4, 80), "");
}

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

// The ABI's destroy() leaves kernel state in place, like the iptables plugin's chains; the next
// instance replaces the table only at its first apply() after in_sync().
TEST_F(PolicyNftables, DestroyLeavesTheTableAndTheNextInstanceReplacesIt) {
  program();
  Process client(
      "ip netns exec " + lab.pods.at("x/a").name() + " socat - TCP4:" + Lab::pod_ip("y/a") + ":90",
      true);
  ASSERT_TRUE(client.write_line("before"));
  ASSERT_EQ(client.read_line(), "before");
  const std::string programmed = lab.table();

  plugin.destroy();
  EXPECT_EQ(lab.table(), programmed) << "destroy leaves the table";
  PolicyEngine restarted({.node_name = "node-1"});
  feed(restarted, {"x/a", "x/b", "y/a"});
  pt::apply_yaml(restarted, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: y}
spec:
  podSelector: {}
)");
  ASSERT_EQ(plugin.create(lab.node, host).status, BRINDLE_OK);
  ASSERT_EQ(plugin.send(lab.node, restarted).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(lab.table(), programmed) << "nothing replaced before in_sync()";
  EXPECT_TRUE(lab.reach("x/b", "y/a"));

  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  EXPECT_NE(lab.table(), programmed);
  EXPECT_FALSE(lab.reach("x/b", "y/a")) << "the new model is enforced";
  ASSERT_TRUE(client.write_line("after"));
  EXPECT_EQ(client.read_line(), "after") << "the established connection survived";

  // Cleaning up after the plugin is one command: everything of it is in its table.
  plugin.destroy();
  must(lab.in_node() + "nft delete table inet brindle");
  EXPECT_FALSE(contains(lab.ruleset(), "brindle"));
  EXPECT_TRUE(lab.reach("x/b", "y/a"));
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

TEST(PolicyNftablesConfig, BadValuesNameTheirLocation) {
  Plugin plugin;
  ScratchNetns ns = ScratchNetns::create();
  {
    TestHost host;
    host.set_int("mark_mask", 0x10000);
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(
        contains(r.message, "/etc/brindle/brindle.toml:10:1: mark_mask: needs at least two"))
        << r.message;
  }
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
  {
    TestHost host;
    host.set_int("mark_mask", 0x300000);
    host.set_bool("ipv6", false);
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_OK) << r.message;
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
