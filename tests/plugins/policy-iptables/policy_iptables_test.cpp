// The iptables policy plugin loaded like the host loads it, fed by a real PolicyEngine with model
// resources, checked with real traffic between network namespaces (the test acts as the node).
#include <gtest/gtest.h>

#include <regex>

#include "policy_iptables_lab.hpp"
#include "policy_test_support.hpp"  // tests/host/policy: pods, namespace profiles, YAML

namespace brindle::policy_iptables_test {
namespace {

using policy::PolicyEngine;
namespace pt = brindle::policy::testing;

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

// iptables-save text without counters (they move with traffic).
std::string without_counters(const std::string& text) {
  return std::regex_replace(text, std::regex(R"(\[\d+:\d+\])"), "");
}
std::vector<std::string> lines_with(const std::string& text, const std::string& part) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (contains(line, part)) {
      out.push_back(line);
    }
  }
  return out;
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

class PolicyIptables : public ::testing::Test {
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

TEST_F(PolicyIptables, DescriptorNamesTheIptablesPolicyPlugin) {
  EXPECT_STREQ(plugin.descriptor()->name, "iptables");
  EXPECT_EQ(plugin.descriptor()->kind, BRINDLE_KIND_POLICY);
}

TEST_F(PolicyIptables, NoPolicyAllowsEverythingAndTheLayoutIsInPlace) {
  program();
  EXPECT_TRUE(lab.reach("x/a", "y/a"));
  EXPECT_TRUE(lab.reach("y/a", "x/b", 81));
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80, "udp"));
  EXPECT_TRUE(lab.node_reaches("x/a"));
  const std::string saved = lab.save();
  // Our jump is the first rule of each built-in chain, and the kernel decodes our entries.
  EXPECT_EQ(lines_with(saved, "-A FORWARD").at(0), "-A FORWARD -j brindle-FORWARD") << saved;
  EXPECT_EQ(lines_with(saved, "-A POSTROUTING").at(0), "-A POSTROUTING -j brindle-POSTROUTING");
  EXPECT_TRUE(contains(saved,
                       "-A brindle-FORWARD -i brn+ -m conntrack --ctstate "
                       "RELATED,ESTABLISHED -j ACCEPT"))
      << saved;
  EXPECT_TRUE(contains(saved, "-A brindle-from-wl-dispatch -i brnxa -g brindle-fw-brnxa"));
  EXPECT_TRUE(contains(saved,
                       "-A brindle-to-wl-dispatch -m comment --comment "
                       "\"unknown workload interface\" -j DROP"))
      << saved;
  EXPECT_TRUE(contains(saved,
                       "-A brindle-INPUT -i brn+ -p tcp -m multiport --dports 22 -m "
                       "comment --comment failsafe -j ACCEPT"))
      << saved;
}

TEST_F(PolicyIptables, KubernetesDefaultDenyIngress) {
  apply_yaml(kDenyIngressXa);
  program();
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
  EXPECT_FALSE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 80, "udp"));
  EXPECT_TRUE(lab.reach("x/a", "y/a")) << "egress is not isolated";
  EXPECT_TRUE(lab.reach("y/a", "x/b")) << "other pods are not selected";
  EXPECT_TRUE(lab.node_reaches("x/a")) << "traffic from the node is allowed";
  // Deleting the policy opens the pod again.
  apply_yaml(kDenyIngressXa, true);
  program();
  EXPECT_TRUE(lab.reach("y/a", "x/a"));
}

TEST_F(PolicyIptables, AllowFromSelectedPodOnTcpPortOnly) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 81));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 80, "udp")) << "a TCP port never opens UDP";
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80)) << "y/a has pod=a, not pod=b";
}

TEST_F(PolicyIptables, IpBlockWithExcept) {
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
}

TEST_F(PolicyIptables, EgressDeny) {
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

TEST_F(PolicyIptables, BrindlePolicyOrderDenyBeforeAllow) {
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

TEST_F(PolicyIptables, PassGoesToTheProfiles) {
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

TEST_F(PolicyIptables, NamedPortsAreIpSets) {
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
  const std::string sets = must("ip netns exec " + lab.node.name() + " ipset save");
  EXPECT_TRUE(contains(sets, "hash:net,port family inet")) << sets;
  EXPECT_TRUE(contains(sets, "198.18.1.1,tcp:81")) << sets;
}

TEST_F(PolicyIptables, UnknownWorkloadInterfaceIsDropped) {
  const ScratchNetns& rogue = lab.add_pod("y/z", "brnrogue", "198.18.9.9", "2001:db8:9::9");
  lab.serve(rogue);
  ASSERT_FALSE(Lab::probe(rogue, Lab::pod_ip("x/a"), 80).empty()) << "reachable before";
  program();
  EXPECT_TRUE(Lab::probe(rogue, Lab::pod_ip("x/a"), 80).empty());
  EXPECT_TRUE(Lab::probe(lab.pods.at("x/a"), "198.18.9.9", 80).empty());
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "known endpoints still talk";
}

TEST_F(PolicyIptables, RefreshRepairsTamperedChainsAndSets) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  const std::string programmed = without_counters(lab.save());
  ASSERT_TRUE(lab.reach("x/b", "x/a"));
  ASSERT_FALSE(lab.reach("y/a", "x/a"));

  const std::string in_node = "ip netns exec " + lab.node.name() + " ";
  // Someone empties the set of pods labelled pod=b and opens x/a's ingress chain.
  for (const std::string& line : lines_with(must(in_node + "ipset list -n"), "brindle-s-n4")) {
    must(in_node + "ipset flush " + line);
  }
  EXPECT_FALSE(lab.reach("x/b", "x/a")) << "the set tampering took effect";
  must(in_node + "iptables-legacy -I brindle-tw-brnxa 1 -j ACCEPT");
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "the rule tampering took effect";

  const Plugin::Result refreshed = plugin.refresh(lab.node);
  ASSERT_EQ(refreshed.status, BRINDLE_OK) << refreshed.message;
  EXPECT_EQ(without_counters(lab.save()), programmed);
  EXPECT_TRUE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
  EXPECT_GE(host.metric("repairs_total"), 2);

  // The jump from FORWARD removed: restored as the first rule.
  must(in_node + "iptables-legacy -D FORWARD -j brindle-FORWARD");
  EXPECT_TRUE(lab.reach("y/a", "x/a"));
  ASSERT_EQ(plugin.refresh(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(without_counters(lab.save()), programmed);
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
}

TEST_F(PolicyIptables, RestartKeepsEstablishedConnections) {
  program();
  Process client(
      "ip netns exec " + lab.pods.at("x/a").name() + " socat - TCP4:" + Lab::pod_ip("y/a") + ":90",
      true);
  ASSERT_TRUE(client.write_line("before"));
  ASSERT_EQ(client.read_line(), "before");
  const std::string programmed = without_counters(lab.save());

  // The agent restarts with a model that now isolates y/a's ingress.
  plugin.destroy();
  EXPECT_EQ(without_counters(lab.save()), programmed) << "destroy leaves the rules";
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
  EXPECT_EQ(without_counters(lab.save()), programmed) << "nothing replaced before in_sync()";
  EXPECT_TRUE(lab.reach("x/b", "y/a"));

  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  EXPECT_NE(without_counters(lab.save()), programmed);
  EXPECT_FALSE(lab.reach("x/b", "y/a")) << "the new model is enforced";
  ASSERT_TRUE(client.write_line("after"));
  EXPECT_EQ(client.read_line(), "after") << "the established connection survived";
}

TEST_F(PolicyIptables, ForeignRulesChainsAndSetsAreLeftAlone) {
  const std::string in_node = "ip netns exec " + lab.node.name() + " ";
  must(in_node + "ipset create foreign-set hash:ip");
  must(in_node + "iptables-legacy -N foreign-chain");
  must(in_node + "iptables-legacy -A foreign-chain -s 198.19.9.9/32 -j ACCEPT");
  must(in_node + "iptables-legacy -A FORWARD -j foreign-chain");
  must(in_node + "iptables-legacy -A INPUT -m set --match-set foreign-set src -j DROP");
  must(in_node + "iptables-legacy -t nat -A POSTROUTING -s 198.19.9.9/32 -j ACCEPT");
  must(in_node + "ip6tables-legacy -A FORWARD -s 2001:db8:9::9/128 -j ACCEPT");
  const auto foreign = [&] {
    std::vector<std::string> out = lines_with(lab.save(), "foreign");
    for (const std::string& line : lines_with(lab.save(), "198.19.9.9")) {
      out.push_back(line);
    }
    for (const std::string& line : lines_with(lab.save(6), "2001:db8:9::9")) {
      out.push_back(line);
    }
    return out;
  };
  const std::vector<std::string> before = foreign();
  ASSERT_EQ(before.size(), 7u);

  apply_yaml(kDenyIngressXa);
  program();
  EXPECT_EQ(foreign(), before);
  // Removing a pod and a policy removes their chains; the foreign state stays.
  engine.remove_workload_endpoint("y", "a");
  apply_yaml(kDenyIngressXa, true);
  program();
  const std::string saved = lab.save();
  EXPECT_FALSE(contains(saved, "brindle-tw-brnya")) << saved;
  EXPECT_FALSE(contains(saved, "brindle-pi-")) << saved;
  EXPECT_EQ(foreign(), before);
  EXPECT_TRUE(contains(must(in_node + "ipset list -n"), "foreign-set"));
  EXPECT_EQ(lines_with(saved, "-A FORWARD").at(0), "-A FORWARD -j brindle-FORWARD");
}

TEST_F(PolicyIptables, NatOutgoingMasqueradesOnlyOutsideThePools) {
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

TEST_F(PolicyIptables, Ipv6PoliciesAreEnforced) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80, "tcp", 6));
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80, "tcp", 6));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 81, "tcp", 6));
  EXPECT_TRUE(lab.reach("x/a", "y/a", 80, "tcp", 6));
  const std::string saved = lab.save(6);
  EXPECT_TRUE(contains(saved, "-A FORWARD -j brindle-FORWARD")) << saved;
  EXPECT_TRUE(contains(saved, "--icmpv6-type 135 -j ACCEPT")) << saved;
}

constexpr const char* kRichPolicies = R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: rich, namespace: x}
spec:
  order: 10
  selector: pod == "a"
  ingress:
  - action: Log
    protocol: TCP
  - action: Deny
    protocol: UDP
    destination: {ports: [81, "1000:2000"]}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
  - action: Allow
    notProtocol: UDP
    source: {nets: [198.18.1.0/24, 198.18.2.0/24], notNets: [198.18.1.3/32]}
  - action: Allow
    protocol: TCP
    destination: {notPorts: [22]}
  egress:
  - action: Pass
    protocol: TCP
    destination: {ports: [serve-80-tcp]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: kube, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}, {ipBlock: {cidr: 198.18.0.0/16, except: [198.18.3.0/24]}}]
    ports: [{port: 80, endPort: 90}, {protocol: SCTP, port: 9}]
)";

// Our hand-built entries are byte for byte what iptables-legacy builds from the same text: the
// tables saved from the node and loaded by iptables-legacy-restore into a fresh namespace (with
// the same sets) compare equal to the same model there, so a plugin instance commits nothing.
TEST_F(PolicyIptables, EntriesAreWhatIptablesItselfBuilds) {
  apply_yaml(kRichPolicies);
  program();
  const std::string dir = ::testing::TempDir();
  ScratchNetns twin = ScratchNetns::create_named("bpi-twin");
  const std::string in_node = "ip netns exec " + lab.node.name() + " ";
  const std::string in_twin = "ip netns exec " + twin.name() + " ";
  must(in_node + "ipset save > " + dir + "/" + twin.name() + "-sets");
  must(in_twin + "ipset restore < " + dir + "/" + twin.name() + "-sets");
  for (const std::string tool : {"iptables", "ip6tables"}) {
    must(in_node + tool + "-legacy-save > " + dir + "/" + twin.name() + "-" + tool);
    must(in_twin + tool + "-legacy-restore < " + dir + "/" + twin.name() + "-" + tool);
  }
  must("rm -f " + dir + "/" + twin.name() + "-*");
  const auto saved_tables = [](const ScratchNetns& ns) {
    std::string out;
    for (const char* table : {"filter", "nat"}) {
      out += must("ip netns exec " + ns.name() + " iptables-legacy-save -t " + table +
                  " | grep -v '^#'");
    }
    return without_counters(out);
  };
  const std::string restored = saved_tables(twin);
  ASSERT_EQ(restored, saved_tables(lab.node));
  ASSERT_TRUE(contains(restored, "-m set --match-set brindle-")) << restored;
  ASSERT_TRUE(contains(restored, "-m multiport --dports 81,1000:2000")) << restored;
  ASSERT_TRUE(contains(restored, "-j LOG")) << restored;

  TestHost twin_host;
  Plugin twin_plugin;
  ASSERT_EQ(twin_plugin.create(twin, twin_host).status, BRINDLE_OK);
  PolicyEngine twin_engine({.node_name = "node-1"});
  feed(twin_engine, {"x/a", "x/b", "y/a"});
  pt::apply_yaml(twin_engine, kRichPolicies);
  ASSERT_EQ(twin_plugin.send(twin, twin_engine).status, BRINDLE_OK);
  ASSERT_EQ(twin_plugin.in_sync(twin).status, BRINDLE_OK);
  const Plugin::Result applied = twin_plugin.apply(twin);
  ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;
  EXPECT_EQ(twin_host.metric("table_commits_total"), 0)
      << "some entry differs from iptables-legacy's own encoding:\n"
      << [&] {
           std::string out;
           for (const std::string& line : twin_host.logs) {
             out += line + "\n";
           }
           return out;
         }();
  EXPECT_EQ(saved_tables(twin), restored);
  // And a change is committed (the comparison is not blind).
  must(in_twin + "iptables-legacy -D brindle-FORWARD 1");
  ASSERT_EQ(twin_plugin.refresh(twin).status, BRINDLE_OK);
  EXPECT_EQ(twin_host.metric("table_commits_total"), 1);
  EXPECT_EQ(saved_tables(twin), restored);
  twin_plugin.destroy();
  must(in_twin + "iptables-legacy -F && " + in_twin + "iptables-legacy -X");  // before ipsets go
}

TEST(PolicyIptablesConfig, BadValuesNameTheirLocation) {
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
    host.set_int("ipset_max_elements", 10);
    host.set_string("marks", "0xff");
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "brindle.toml:11:1: marks: unknown key")) << r.message;
  }
  {
    TestHost host;
    host.set_int("ipset_max_elements", 10);
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "brindle.toml:10:1: ipset_max_elements: must be between"))
        << r.message;
  }
  {
    TestHost host;
    host.set_string("ipv6", "yes");
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "ipv6: must be a boolean")) << r.message;
  }
  {
    TestHost host;
    host.set_int("mark_mask", 0x300000);
    host.set_bool("ipv6", false);
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_OK) << r.message;
  }
}

TEST(PolicyIptablesConfig, MarkMaskBitsAreTheAcceptAndPassMarks) {
  Lab lab;
  TestHost host;
  host.set_int("mark_mask", 0x300000);
  host.set_bool("ipv6", false);
  Plugin plugin;
  ASSERT_EQ(plugin.create(lab.node, host).status, BRINDLE_OK);
  PolicyEngine engine({.node_name = "node-1"});
  feed(engine, {"x/a"});
  ASSERT_EQ(plugin.send(lab.node, engine).status, BRINDLE_OK);
  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  const std::string saved = lab.save();
  EXPECT_TRUE(contains(saved, "-A brindle-tw-brnxa -j MARK --set-xmark 0x0/0x300000")) << saved;
  EXPECT_TRUE(contains(saved, "-m mark --mark 0x100000/0x100000 -j RETURN")) << saved;
  EXPECT_EQ(
      sh("ip netns exec " + lab.node.name() + " ip6tables-legacy-save").output.find("brindle"),
      std::string::npos)
      << "ipv6 = false leaves ip6tables alone";
}

}  // namespace
}  // namespace brindle::policy_iptables_test
