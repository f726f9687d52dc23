// The behaviour every policy plugin must show, written once: a GoogleTest typed test suite
// (PolicyBehaviourTest) of traffic-level scenarios with the same YAML and the same expectations,
// which each plugin's test executable instantiates with a traits struct of its own:
//
//   struct Traits {
//     using Lab = ...;     // a policy_lab::Lab with the plugin's namespaces and state readers
//     using Plugin = ...;  // a policy_lab::PolicyPlugin opening the plugin's .so
//     static constexpr const char* kName;  // the descriptor's name
//     // The kernel state the plugin programs, comparable over time ("destroy leaves it").
//     static std::string state(const Lab&);
//     // Checks of the plugin's own representation where a scenario has them (see each scenario).
//     static void expect_nothing_before_first_apply(const Lab&);
//     static void expect_base_layout(const Lab&);
//     static void expect_default_deny(const Lab&);
//     static void expect_x_b_selected_as_source(const Lab&);
//     static void expect_ip_block_with_except(const Lab&);
//     static void expect_profile_drop(const Lab&);
//     static void expect_named_port_81_of_x_a(const Lab&);
//     static void expect_dispatched(const Lab&, const std::string& interface);
//     static void expect_interface_gone(const Lab&, const std::string& interface);
//     static void expect_no_policy_chains(const Lab&);
//     static void expect_ipv6_layout(const Lab&);
//     static void expect_cleanup_after_destroy(const Lab&);
//   };
//
// Each executable instantiates it with the prefix "PolicyBehaviour" (and PolicyConfigTest, the
// configuration keys both plugins read, with "PolicyConfig"), which gtest_discover_tests names
// "<plugin prefix>PolicyBehaviour.<Test><Traits type>". Also the fixture (PolicyPluginTest) and
// model helpers the plugins' own tests use. Include it in one source file of each test executable.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "policy_lab.hpp"
#include "policy_test_support.hpp"  // tests/host/policy: pods, namespace profiles, YAML

namespace brindle::policy_lab {

namespace pt = brindle::policy::testing;

inline model::IpPrefix prefix(const char* text) {
  return model::IpPrefix::parse(text);
}

inline policy::Globals lab_globals(bool nat_outgoing = true) {
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
inline void feed(policy::PolicyEngine& engine, const std::vector<std::string>& pods,
                 bool nat_outgoing = true) {
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

inline constexpr const char* kDenyIngressXa = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
)";

inline constexpr const char* kAllowFromBOnTcp80 = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b-tcp-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
)";

// Pods x/a, x/b and y/a with servers, their model in an engine, and a plugin instance in the
// node's namespace.
template <typename Traits>
class PolicyPluginTest : public ::testing::Test {
 protected:
  using Lab = typename Traits::Lab;
  using Plugin = typename Traits::Plugin;

  void SetUp() override {
    for (const std::string pod : {"x/a", "x/b", "y/a"}) {
      lab.serve(lab.add_pod(pod));
    }
    feed(engine, {"x/a", "x/b", "y/a"});
    const typename Plugin::Result created = plugin.create(lab.node, host);
    ASSERT_EQ(created.status, BRINDLE_OK) << created.message;
  }

  // Sends the engine's changes, then in_sync() and apply().
  void program() {
    const typename Plugin::Result sent = plugin.send(lab.node, engine);
    ASSERT_EQ(sent.status, BRINDLE_OK) << sent.message;
    const typename Plugin::Result synced = plugin.in_sync(lab.node);
    ASSERT_EQ(synced.status, BRINDLE_OK) << synced.message;
    const typename Plugin::Result applied = plugin.apply(lab.node);
    ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;
  }
  void apply_yaml(std::string_view yaml, bool remove = false) {
    pt::apply_yaml(engine, yaml, remove);
  }

  Lab lab;
  TestHost host;
  Plugin plugin;
  policy::PolicyEngine engine{{.node_name = "node-1"}};
};

template <typename Traits>
class PolicyBehaviourTest : public PolicyPluginTest<Traits> {};
TYPED_TEST_SUITE_P(PolicyBehaviourTest);

TYPED_TEST_P(PolicyBehaviourTest, DescriptorNamesThePlugin) {
  EXPECT_STREQ(this->plugin.descriptor()->name, TypeParam::kName);
  EXPECT_EQ(this->plugin.descriptor()->kind, BRINDLE_KIND_POLICY);
}

TYPED_TEST_P(PolicyBehaviourTest, NoPolicyAllowsEverythingAndTheLayoutIsInPlace) {
  TypeParam::expect_nothing_before_first_apply(this->lab);
  this->program();
  EXPECT_TRUE(this->lab.reach("x/a", "y/a"));
  EXPECT_TRUE(this->lab.reach("y/a", "x/b", 81));
  EXPECT_TRUE(this->lab.reach("x/b", "x/a", 80, "udp"));
  EXPECT_TRUE(this->lab.node_reaches("x/a"));
  TypeParam::expect_base_layout(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, KubernetesDefaultDenyIngress) {
  this->apply_yaml(kDenyIngressXa);
  this->program();
  EXPECT_FALSE(this->lab.reach("y/a", "x/a"));
  EXPECT_FALSE(this->lab.reach("x/b", "x/a"));
  EXPECT_FALSE(this->lab.reach("x/b", "x/a", 80, "udp"));
  EXPECT_TRUE(this->lab.reach("x/a", "y/a")) << "egress is not isolated";
  EXPECT_TRUE(this->lab.reach("y/a", "x/b")) << "other pods are not selected";
  EXPECT_TRUE(this->lab.node_reaches("x/a")) << "traffic from the node is allowed";
  TypeParam::expect_default_deny(this->lab);
  // Deleting the policy opens the pod again.
  this->apply_yaml(kDenyIngressXa, true);
  this->program();
  EXPECT_TRUE(this->lab.reach("y/a", "x/a"));
}

TYPED_TEST_P(PolicyBehaviourTest, AllowFromSelectedPodOnTcpPortOnly) {
  this->apply_yaml(kAllowFromBOnTcp80);
  this->program();
  EXPECT_TRUE(this->lab.reach("x/b", "x/a", 80));
  EXPECT_FALSE(this->lab.reach("x/b", "x/a", 81));
  EXPECT_FALSE(this->lab.reach("x/b", "x/a", 80, "udp")) << "a TCP port never opens UDP";
  EXPECT_FALSE(this->lab.reach("y/a", "x/a", 80)) << "y/a has pod=a, not pod=b";
  TypeParam::expect_x_b_selected_as_source(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, IpBlockWithExcept) {
  this->apply_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ipblock, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 198.18.0.0/16, except: [198.18.2.0/24]}}]
)");
  this->program();
  EXPECT_TRUE(this->lab.reach("x/b", "x/a"));
  EXPECT_FALSE(this->lab.reach("y/a", "x/a")) << "198.18.2.1 is in the except list";
  TypeParam::expect_ip_block_with_except(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, EgressDeny) {
  this->apply_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
)");
  this->program();
  EXPECT_FALSE(this->lab.reach("x/a", "y/a"));
  EXPECT_FALSE(this->lab.reach("x/a", "x/b", 80, "udp"));
  EXPECT_TRUE(this->lab.reach("y/a", "x/a")) << "replies of allowed ingress are established";
  EXPECT_TRUE(this->lab.reach("x/b", "y/a"));
}

TYPED_TEST_P(PolicyBehaviourTest, EgressAllowByCidrAndProtocol) {
  this->apply_yaml(R"(
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
  this->program();
  EXPECT_TRUE(this->lab.reach("x/a", "y/a", 80, "udp"));
  EXPECT_FALSE(this->lab.reach("x/a", "y/a", 80, "tcp")) << "only UDP to 198.18.2.0/24";
  EXPECT_TRUE(this->lab.reach("x/a", "x/b", 80, "tcp"));
  EXPECT_FALSE(this->lab.reach("x/a", "x/b", 81, "tcp"));
  EXPECT_FALSE(this->lab.reach("x/a", "x/b", 80, "udp"));
}

TYPED_TEST_P(PolicyBehaviourTest, BrindlePolicyOrderDenyBeforeAllow) {
  this->apply_yaml(R"(
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
  this->program();
  EXPECT_FALSE(this->lab.reach("x/b", "x/a"));
  EXPECT_TRUE(this->lab.reach("y/a", "x/a"));
  // The allow-all now comes first and decides.
  this->apply_yaml(R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  order: 5
  selector: pod == "a"
  ingress: [{action: Allow}]
)");
  this->program();
  EXPECT_TRUE(this->lab.reach("x/b", "x/a"));
}

TYPED_TEST_P(PolicyBehaviourTest, ProfilesDecideWhenNoPolicyApplies) {
  // Namespace x's profile now allows ingress only from pod=b; no policy selects x/a.
  this->apply_yaml(R"(
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
  this->program();
  EXPECT_TRUE(this->lab.reach("x/b", "x/a"));
  EXPECT_FALSE(this->lab.reach("y/a", "x/a")) << "no profile rule matched: dropped";
  EXPECT_TRUE(this->lab.reach("x/a", "y/a")) << "y's profile still allows";
  TypeParam::expect_profile_drop(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, PassGoesToTheProfiles) {
  this->apply_yaml(R"(
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
  this->program();
  EXPECT_TRUE(this->lab.reach("x/b", "x/a")) << "passed to kns.x, which allows";
  EXPECT_FALSE(this->lab.reach("y/a", "x/a")) << "denied by deny-rest";
  // A profile that allows nothing makes passed traffic drop too.
  this->apply_yaml(R"(
apiVersion: brindle.network/v1
kind: Profile
metadata: {name: kns.x}
spec:
  labelsToApply: {ns: x, kubernetes.io/metadata.name: x}
  ingress:
  - action: Allow
    source: {selector: pod == "nobody"}
)");
  this->program();
  EXPECT_FALSE(this->lab.reach("x/b", "x/a"));
}

TYPED_TEST_P(PolicyBehaviourTest, NamedPortsOpenOnlyTheirPort) {
  this->apply_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: serve-81-tcp}]
)");
  this->program();
  EXPECT_TRUE(this->lab.reach("y/a", "x/a", 81));
  EXPECT_FALSE(this->lab.reach("y/a", "x/a", 80));
  TypeParam::expect_named_port_81_of_x_a(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, UnknownWorkloadInterfaceIsDropped) {
  const ScratchNetns& rogue = this->lab.add_pod("y/z", "brnrogue", "198.18.9.9", "2001:db8:9::9");
  this->lab.serve(rogue);
  ASSERT_FALSE(Lab::probe(rogue, Lab::pod_ip("x/a"), 80).empty()) << "reachable before";
  this->program();
  EXPECT_TRUE(Lab::probe(rogue, Lab::pod_ip("x/a"), 80).empty());
  EXPECT_TRUE(Lab::probe(this->lab.pods.at("x/a"), "198.18.9.9", 80).empty());
  EXPECT_TRUE(this->lab.reach("y/a", "x/a")) << "known endpoints still talk";
}

TYPED_TEST_P(PolicyBehaviourTest, InvalidPacketsAreDropped) {
  // Strict TCP tracking: a lone ACK of no known connection is INVALID (not picked up mid-stream).
  must(this->lab.in_node() + "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0");
  // x/a counts the ACKs to port 7777 that reach it (in its own namespace).
  const ScratchNetns& xa = this->lab.pods.at("x/a");
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
      "ip netns exec " + this->lab.pods.at("y/a").name() + " python3 -c '\n" +
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
  this->program();
  must(send_ack);
  EXPECT_EQ(arrived(), 1) << "the INVALID packet was dropped";
  EXPECT_TRUE(this->lab.reach("y/a", "x/a")) << "valid traffic still passes";
  EXPECT_EQ(arrived(), 1);
}

TYPED_TEST_P(PolicyBehaviourTest, EndpointRemovalRemovesItsRules) {
  this->apply_yaml(kDenyIngressXa);
  this->program();
  ASSERT_NO_FATAL_FAILURE(TypeParam::expect_dispatched(this->lab, "brnya"));
  ASSERT_TRUE(this->lab.reach("x/a", "y/a"));
  this->engine.remove_workload_endpoint("y", "a");
  this->program();
  TypeParam::expect_interface_gone(this->lab, "brnya");
  TypeParam::expect_dispatched(this->lab, "brnxa");
  EXPECT_FALSE(this->lab.reach("x/a", "y/a")) << "its interface is unknown now: dropped";
  // Removing the only user of a policy removes its chains too.
  this->engine.remove_workload_endpoint("x", "a");
  this->program();
  TypeParam::expect_no_policy_chains(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, Ipv6PoliciesAreEnforced) {
  this->apply_yaml(kAllowFromBOnTcp80);
  this->program();
  EXPECT_TRUE(this->lab.reach("x/b", "x/a", 80, "tcp", 6));
  EXPECT_FALSE(this->lab.reach("y/a", "x/a", 80, "tcp", 6));
  EXPECT_FALSE(this->lab.reach("x/b", "x/a", 81, "tcp", 6));
  EXPECT_TRUE(this->lab.reach("x/a", "y/a", 80, "tcp", 6));
  TypeParam::expect_ipv6_layout(this->lab);
}

TYPED_TEST_P(PolicyBehaviourTest, NatOutgoingMasqueradesOnlyOutsideThePools) {
  this->lab.add_external();
  this->lab.serve(*this->lab.external);
  this->program();
  EXPECT_EQ(Lab::probe(this->lab.pods.at("x/a"), Lab::kExternal4, 80), Lab::kExternalNode4);
  EXPECT_EQ(Lab::probe(this->lab.pods.at("x/a"), Lab::pod_ip("y/a"), 80), Lab::pod_ip("x/a"))
      << "pod to pod keeps its source";

  // Without natOutgoing the external host cannot answer (it has no route to the pools).
  policy::PolicyEngine without_nat({.node_name = "node-1"});
  feed(without_nat, {"x/a", "x/b", "y/a"}, false);
  ASSERT_EQ(this->plugin.create(this->lab.node, this->host).status, BRINDLE_OK);
  this->engine = std::move(without_nat);
  this->program();
  EXPECT_EQ(Lab::probe(this->lab.pods.at("x/a"), Lab::kExternal4, 80), "");
}

// The ABI's destroy() leaves kernel state in place (an agent restart); the next instance replaces
// it only at its first apply() after in_sync(), and established connections survive.
TYPED_TEST_P(PolicyBehaviourTest, RestartKeepsStateUntilInSyncAndEstablishedConnections) {
  this->program();
  Process client("ip netns exec " + this->lab.pods.at("x/a").name() +
                     " socat - TCP4:" + Lab::pod_ip("y/a") + ":90",
                 true);
  ASSERT_TRUE(client.write_line("before"));
  ASSERT_EQ(client.read_line(), "before");
  const std::string programmed = TypeParam::state(this->lab);

  // The agent restarts with a model that now isolates y/a's ingress.
  this->plugin.destroy();
  EXPECT_EQ(TypeParam::state(this->lab), programmed) << "destroy leaves the kernel state";
  policy::PolicyEngine restarted({.node_name = "node-1"});
  feed(restarted, {"x/a", "x/b", "y/a"});
  pt::apply_yaml(restarted, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: y}
spec:
  podSelector: {}
)");
  ASSERT_EQ(this->plugin.create(this->lab.node, this->host).status, BRINDLE_OK);
  ASSERT_EQ(this->plugin.send(this->lab.node, restarted).status, BRINDLE_OK);
  ASSERT_EQ(this->plugin.apply(this->lab.node).status, BRINDLE_OK);
  EXPECT_EQ(TypeParam::state(this->lab), programmed) << "nothing replaced before in_sync()";
  EXPECT_TRUE(this->lab.reach("x/b", "y/a"));

  ASSERT_EQ(this->plugin.in_sync(this->lab.node).status, BRINDLE_OK);
  ASSERT_EQ(this->plugin.apply(this->lab.node).status, BRINDLE_OK);
  EXPECT_NE(TypeParam::state(this->lab), programmed);
  EXPECT_FALSE(this->lab.reach("x/b", "y/a")) << "the new model is enforced";
  ASSERT_TRUE(client.write_line("after"));
  EXPECT_EQ(client.read_line(), "after") << "the established connection survived";

  this->plugin.destroy();
  TypeParam::expect_cleanup_after_destroy(this->lab);
}

REGISTER_TYPED_TEST_SUITE_P(PolicyBehaviourTest, DescriptorNamesThePlugin,
                            NoPolicyAllowsEverythingAndTheLayoutIsInPlace,
                            KubernetesDefaultDenyIngress, AllowFromSelectedPodOnTcpPortOnly,
                            IpBlockWithExcept, EgressDeny, EgressAllowByCidrAndProtocol,
                            BrindlePolicyOrderDenyBeforeAllow, ProfilesDecideWhenNoPolicyApplies,
                            PassGoesToTheProfiles, NamedPortsOpenOnlyTheirPort,
                            UnknownWorkloadInterfaceIsDropped, InvalidPacketsAreDropped,
                            EndpointRemovalRemovesItsRules, Ipv6PoliciesAreEnforced,
                            NatOutgoingMasqueradesOnlyOutsideThePools,
                            RestartKeepsStateUntilInSyncAndEstablishedConnections);

// The configuration keys both plugins read: a bad value names the file, line and key; a good
// section creates an instance.
template <typename Traits>
class PolicyConfigTest : public ::testing::Test {};
TYPED_TEST_SUITE_P(PolicyConfigTest);

TYPED_TEST_P(PolicyConfigTest, SharedKeysNameTheirLocation) {
  using Plugin = typename TypeParam::Plugin;
  Plugin plugin;
  ScratchNetns ns = ScratchNetns::create();
  {
    TestHost host;
    host.set_int("mark_mask", 0x10000);
    const typename Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(
        contains(r.message, "/etc/brindle/brindle.toml:10:1: mark_mask: needs at least two"))
        << r.message;
  }
  {
    TestHost host;
    host.set_string("ipv6", "yes");
    const typename Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "ipv6: must be a boolean")) << r.message;
  }
  {
    TestHost host;
    host.set_int("mark_mask", 0x300000);
    host.set_bool("ipv6", false);
    const typename Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_OK) << r.message;
  }
}

REGISTER_TYPED_TEST_SUITE_P(PolicyConfigTest, SharedKeysNameTheirLocation);

}  // namespace brindle::policy_lab
