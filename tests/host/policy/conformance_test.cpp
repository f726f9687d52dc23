// Kubernetes NetworkPolicy semantics, point by point (reference-cni-netpol.md), on the conformance
// model: every (client, server) pair is traced through the compiled model and compared with the
// expected truth table.
#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace brindle::policy {
namespace {

using testing::apply_yaml;
using testing::in_ns;
using testing::is_pod;
using testing::Reachability;

constexpr uint8_t kTCP = kProtoTCP;
constexpr uint8_t kUDP = kProtoUDP;
constexpr uint8_t kSCTP = kProtoSCTP;

auto any = [](const std::string&) { return true; };
auto pod_is = [](std::string name) { return [name](const std::string& p) { return p == name; }; };
auto ns_is = [](std::string ns) { return [ns](const std::string& p) { return in_ns(p, ns); }; };

class Conformance : public ::testing::Test {
 protected:
  void SetUp() override { testing::build_conformance(engine); }

  // Only x/a is isolated for ingress: everything reaches everything else.
  static Reachability only_to_xa(bool allowed_to_xa) {
    return Reachability().expect_to("x/a", allowed_to_xa);
  }

  PolicyEngine engine{EngineConfig{"node-1", true}};
};

constexpr const char* kDenyIngressToXa = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
)";

TEST_F(Conformance, NoPolicyAllowsEverything) {
  for (uint8_t proto : {kTCP, kUDP, kSCTP}) {
    EXPECT_REACHABILITY(engine, Reachability(), proto, 80);
  }
}

// ---- 1. policyTypes defaulting ------------------------------------------------------------

TEST_F(Conformance, P1_OmittedPolicyTypesMeanIngress) {
  apply_yaml(engine, kDenyIngressToXa);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);  // x/a still sends anywhere
}

TEST_F(Conformance, P1_EgressAddedWhenEgressRulesPresent) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-to-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to: [{podSelector: {matchLabels: {pod: b}}}]
)");
  // Types default to [Ingress, Egress]: no ingress rules isolates ingress; egress only to x/b.
  Reachability expected = only_to_xa(false);
  expected.expect_from("x/a", false).expect("x/a", "x/b", true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

TEST_F(Conformance, P1_ExplicitIngressIgnoresEgressRules) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ingress-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{}]
  egress:
  - to: [{podSelector: {matchLabels: {pod: b}}}]
)");
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
}

TEST_F(Conformance, P1_ExplicitEgressOnly) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
)");
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kTCP, 80);
}

// ---- 2. ports and protocols ---------------------------------------------------------------

TEST_F(Conformance, P2_PortWithoutProtocolIsTcp) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: tcp-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: 80}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(true), kTCP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 81);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kUDP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kSCTP, 80);
}

TEST_F(Conformance, P2_RuleWithoutPortsAllowsEveryPortAndProtocol) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
)");
  for (uint8_t proto : {kTCP, kUDP, kSCTP}) {
    for (uint16_t port : {uint16_t{80}, uint16_t{81}}) {
      EXPECT_REACHABILITY(engine, only_to_xa(false).expect("x/b", "x/a", true), proto, port);
    }
  }
}

TEST_F(Conformance, P2_ProtocolWithoutPortAllowsEveryPortOfIt) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all-udp, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{protocol: UDP}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(true), kUDP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(true), kUDP, 81);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kSCTP, 81);
}

TEST_F(Conformance, P2_SctpAndUdpNeverOpenTcp) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: sctp-udp-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{protocol: SCTP, port: 80}, {protocol: UDP, port: 80}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(true), kSCTP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(true), kUDP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kSCTP, 81);
}

// ---- 3. ipBlock and except ----------------------------------------------------------------

constexpr const char* kIpBlockExceptY = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: block, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - ipBlock: {cidr: 198.18.0.0/16, except: [198.18.2.0/24]}
)";

TEST_F(Conformance, P3_ExceptNarrowsThePeer) {
  apply_yaml(engine, kIpBlockExceptY);
  EXPECT_REACHABILITY(engine, Reachability().expect_if(ns_is("y"), pod_is("x/a"), false), kTCP, 80);
}

TEST_F(Conformance, P3_AnotherPeerAllowingTheExceptedAddressWins) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: block, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - ipBlock: {cidr: 198.18.0.0/16, except: [198.18.2.0/24]}
    - namespaceSelector: {}
      podSelector: {matchLabels: {pod: b}}
)");
  Reachability expected = Reachability().expect_if(ns_is("y"), pod_is("x/a"), false);
  expected.expect("y/b", "x/a", true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

TEST_F(Conformance, P3_AnotherPolicyAllowingTheExceptedAddressWins) {
  apply_yaml(engine, kIpBlockExceptY);
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-y-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 198.18.2.3/32}}]
)");
  Reachability expected = Reachability().expect_if(ns_is("y"), pod_is("x/a"), false);
  expected.expect("y/c", "x/a", true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

TEST_F(Conformance, P3_HostBitsAreMasked) {
  model::KubernetesNetworkPolicy p;
  p.metadata.name = "host-bits";
  p.metadata.namespace_ = "x";
  p.spec.pod_selector.match_labels = {{"pod", "a"}};
  model::K8sNetworkPolicyPeer block;
  // Host bits set, as the API server accepts them: 198.18.2.77/24 means 198.18.2.0/24.
  block.ip_block = model::K8sIPBlock{model::IpPrefix::parse("198.18.2.77/24"),
                                     {model::IpPrefix::parse("198.18.2.130/25")}};
  p.spec.ingress.push_back({{block}, {}});
  engine.upsert_kubernetes_network_policy(p);
  Reachability expected = only_to_xa(false);
  expected.expect("y/a", "x/a", true).expect("y/b", "x/a", true).expect("y/c", "x/a", true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
  const Model m = engine.snapshot();
  const Rule& rule = m.policies.at({PolicyKind::kPolicy, "knp.x.host-bits"}).ingress.at(0);
  EXPECT_EQ(rule.source->nets, std::vector{model::IpPrefix::parse("198.18.2.0/24")});
  EXPECT_EQ(rule.source->not_nets, std::vector{model::IpPrefix::parse("198.18.2.128/25")});
}

TEST_F(Conformance, P3_Ipv6Blocks) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: block6, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: "2001:db8:2::/48", except: ["2001:db8:2::3/128"]}}]
)");
  Reachability expected = only_to_xa(false);
  expected.expect("y/a", "x/a", true).expect("y/b", "x/a", true);
  EXPECT_EQ(testing::probe(engine, kTCP, 80, model::IpFamily::kV6).grid(), expected.grid());
  // The IPv4 addresses of the same pods are not in the block.
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
}

// ---- 4. ipBlock matches pod IPs -----------------------------------------------------------

TEST_F(Conformance, P4_IpBlockMatchesPodAddresses) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-to-z, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 198.18.3.0/24}}]
)");
  Reachability expected = Reachability().expect_from("x/a", false);
  expected.expect_if(pod_is("x/a"), ns_is("z"), true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

// ---- 5. named ports -----------------------------------------------------------------------

TEST_F(Conformance, P5_NamedPortIngress) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: serve-80-tcp}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(true), kTCP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 81);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kUDP, 80);
}

TEST_F(Conformance, P5_NamedPortProtocolMustMatch) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named-wrong-proto, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{protocol: UDP, port: serve-80-tcp}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false), kUDP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
}

TEST_F(Conformance, P5_NamedPortResolvedPerDestinationPod) {
  // x/b serves "web" on 81, x/c on 80; x/a does not declare it.
  auto web = [](const std::string& pod, uint16_t port) {
    auto w = testing::conformance_pod("x", pod);
    w.spec.ports.push_back({"web", model::PortProtocol::kTCP, port});
    return w;
  };
  engine.upsert_workload_endpoint(web("b", 81));
  engine.upsert_workload_endpoint(web("c", 80));
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: web}]
)");
  Reachability isolated_x = Reachability().expect_if(any, ns_is("x"), false);
  EXPECT_REACHABILITY(engine, Reachability(isolated_x).expect_to("x/c", true), kTCP, 80);
  EXPECT_REACHABILITY(engine, Reachability(isolated_x).expect_to("x/b", true), kTCP, 81);
}

TEST_F(Conformance, P5_EgressNamedPortWithoutToMatchesEveryPodDeclaringIt) {
  auto w = testing::conformance_pod("z", "c");
  w.spec.ports.clear();  // z/c declares no named ports
  engine.upsert_workload_endpoint(w);
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-named, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP, port: serve-81-udp}]
)");
  Reachability expected = Reachability().expect_from("x/a", true).expect("x/a", "z/c", false);
  EXPECT_REACHABILITY(engine, expected, kUDP, 81);
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kUDP, 80);
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kTCP, 81);
  // Nothing that is not a pod: an outside address on that port is not reachable.
  EXPECT_FALSE(testing::allowed(engine, testing::peer("x/a"),
                                TracePeer::ip(model::IpAddress::parse("198.19.0.1")), kUDP, 81));
}

TEST_F(Conformance, P5_EgressNamedPortWithPeer) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-named-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: serve-80-tcp}]
)");
  Reachability expected = Reachability().expect_from("x/a", false);
  expected.expect_if(
      pod_is("x/a"), [](const std::string& p) { return is_pod(p, "b"); }, true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kTCP, 81);
}

// ---- 6. ports are the pod's container ports -----------------------------------------------

TEST_F(Conformance, P6_PortsAreContainerPorts) {
  // A service would map 80 -> 8080; the policy sees the container port (after DNAT).
  auto w = testing::conformance_pod("x", "a");
  w.spec.ports.push_back({"http", model::PortProtocol::kTCP, 8080});
  engine.upsert_workload_endpoint(w);
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: http, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: http}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(true), kTCP, 8080);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
}

// ---- 7. endPort ---------------------------------------------------------------------------

TEST_F(Conformance, P7_EndPortIsInclusive) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: range, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: 80, endPort: 81}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(true), kTCP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(true), kTCP, 81);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 79);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 82);
  EXPECT_REACHABILITY(engine, only_to_xa(false), kUDP, 80);
}

// ---- 8. OR between rules, peers and policies; AND within a rule ---------------------------

TEST_F(Conformance, P8_PeerAndPortWithinOneRuleNoCrossProduct) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: two-rules, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
  - from: [{podSelector: {matchLabels: {pod: c}}}]
    ports: [{port: 81}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false).expect("x/b", "x/a", true), kTCP, 80);
  EXPECT_REACHABILITY(engine, only_to_xa(false).expect("x/c", "x/a", true), kTCP, 81);
}

TEST_F(Conformance, P8_PeersOfOneRuleAreOred) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-or-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}, {podSelector: {matchLabels: {pod: c}}}]
)");
  EXPECT_REACHABILITY(
      engine, only_to_xa(false).expect("x/b", "x/a", true).expect("x/c", "x/a", true), kTCP, 80);
}

TEST_F(Conformance, P8_AllowAllCannotBeNarrowedByAnotherPolicy) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
)");
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
  EXPECT_REACHABILITY(engine, Reachability(), kUDP, 81);
}

// ---- 9. peer shapes -----------------------------------------------------------------------

TEST_F(Conformance, P9_PodSelectorAloneMeansThePolicyNamespace) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false).expect("x/b", "x/a", true), kTCP, 80);
}

TEST_F(Conformance, P9_EmptyNamespaceSelectorMeansPodsOfAllNamespacesOnly) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all-ns, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {}}]
)");
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
  EXPECT_FALSE(testing::allowed(engine, TracePeer::ip(model::IpAddress::parse("198.19.0.1")),
                                testing::peer("x/a"), kTCP, 80));
}

TEST_F(Conformance, P9_NamespaceAndPodSelectorInOnePeerAreAnded) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-and-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false).expect("y/b", "x/a", true), kTCP, 80);
}

TEST_F(Conformance, P9_NamespaceAndPodSelectorAsTwoPeersAreOred) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-or-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [y]}]}
    - podSelector: {matchLabels: {pod: b}}
)");
  Reachability expected = only_to_xa(false).expect("x/b", "x/a", true);
  expected.expect_if(ns_is("y"), pod_is("x/a"), true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

// ---- 10. policies selecting nothing; peers matching nothing -------------------------------

TEST_F(Conformance, P10_PolicySelectingNoPodsHasNoEffect) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: nobody, namespace: x}
spec:
  podSelector: {matchLabels: {pod: nobody}}
  policyTypes: [Ingress, Egress]
)");
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
}

TEST_F(Conformance, P10_RuleWhosePeersMatchNothingStillIsolates) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-nobody, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: nobody}}}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
}

// ---- 11. both ends must allow -------------------------------------------------------------

TEST_F(Conformance, P11_ClientEgressAndServerIngressAreIndependent) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-no-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
)");
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/b", false), kTCP, 80);
  TraceResult t = testing::trace_pods(engine, "x/b", "x/a", kTCP, 80);
  EXPECT_EQ(t.ingress.verdict, Verdict::kAllow);
  EXPECT_EQ(t.egress.verdict, Verdict::kDeny);

  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-no-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
  egress: [{}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
}

// ---- 12. label changes --------------------------------------------------------------------

TEST_F(Conformance, P12_PodLabelChangesTakeEffect) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
)");
  auto xc = testing::conformance_pod("x", "c");
  xc.metadata.labels["pod"] = "b";  // x/c now looks like b
  engine.upsert_workload_endpoint(xc);
  EXPECT_REACHABILITY(
      engine, only_to_xa(false).expect("x/b", "x/a", true).expect("x/c", "x/a", true), kTCP, 80);
  auto xa = testing::conformance_pod("x", "a");
  xa.metadata.labels["pod"] = "other";  // the policy no longer selects x/a
  engine.upsert_workload_endpoint(xa);
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
  engine.upsert_workload_endpoint(testing::conformance_pod("x", "a"));
  engine.upsert_workload_endpoint(testing::conformance_pod("x", "c"));
  EXPECT_REACHABILITY(engine, only_to_xa(false).expect("x/b", "x/a", true), kTCP, 80);
}

TEST_F(Conformance, P12_NamespaceLabelChangesTakeEffect) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-blue, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
)");
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
  engine.upsert_profile(testing::namespace_profile("z", {{"team", "blue"}}));
  EXPECT_REACHABILITY(engine, only_to_xa(false).expect_if(ns_is("z"), pod_is("x/a"), true), kTCP,
                      80);
  engine.upsert_profile(testing::namespace_profile("z"));
  EXPECT_REACHABILITY(engine, only_to_xa(false), kTCP, 80);
}

// ---- 13. pods without addresses; reused addresses -----------------------------------------

TEST_F(Conformance, P13_PodsWithoutAddressesAreExcluded) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
)");
  auto xb = testing::conformance_pod("x", "b");
  xb.spec.ip_networks.clear();  // finished: its address was released
  engine.upsert_workload_endpoint(xb);
  const Model snapshot = engine.snapshot();
  for (const auto& [id, set] : snapshot.ipsets) {
    for (const IpSetMember& m : set.members) {
      EXPECT_FALSE(m.net.contains(testing::pod_ip("x", "b"))) << id;
    }
  }
  EXPECT_FALSE(testing::allowed(engine, TracePeer::ip(testing::pod_ip("x", "b")),
                                testing::peer("x/a"), kTCP, 80));
}

TEST_F(Conformance, P13_ReusedAddressDoesNotInheritPolicy) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
)");
  EXPECT_TRUE(testing::allowed(engine, testing::peer("x/b"), testing::peer("x/a"), kTCP, 80));
  engine.remove_workload_endpoint("x", "b");
  engine.upsert_workload_endpoint(
      testing::make_pod("y", "newcomer", {{"pod", "new"}}, {testing::pod_ip("x", "b")}, {}));
  EXPECT_FALSE(
      testing::allowed(engine, testing::peer("y/newcomer"), testing::peer("x/a"), kTCP, 80));
}

// ---- 14. a pod reaches itself; its node reaches it ----------------------------------------

constexpr const char* kDenyAllEverywhere = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: z}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)";

TEST_F(Conformance, P14_PodReachesItselfUnderDenyAll) {
  apply_yaml(engine, kDenyAllEverywhere);
  EXPECT_REACHABILITY(engine, Reachability(false), kTCP, 80);
  TraceResult t = testing::trace_pods(engine, "y/c", "y/c", kUDP, 81);
  EXPECT_TRUE(t.self);
  EXPECT_EQ(t.verdict, Verdict::kAllow);
}

TEST_F(Conformance, P14_NodeReachesItsPods) {
  Globals g;
  g.node_addresses = {model::IpPrefix::parse("198.19.0.1/32")};
  engine.set_globals(g);
  apply_yaml(engine, kDenyAllEverywhere);
  EXPECT_TRUE(testing::allowed(engine, TracePeer::ip(model::IpAddress::parse("198.19.0.1")),
                               testing::peer("x/a"), kTCP, 80));
  EXPECT_FALSE(testing::allowed(engine, TracePeer::ip(model::IpAddress::parse("198.19.0.2")),
                                testing::peer("x/a"), kTCP, 80));
}

// ---- 15. replies are allowed (stateful) ---------------------------------------------------

TEST_F(Conformance, P15_RepliesOfAllowedConnectionsAreAllowed) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
)");
  EXPECT_TRUE(testing::allowed(engine, testing::peer("x/a"), testing::peer("x/b"), kTCP, 80));
  EXPECT_FALSE(testing::allowed(engine, testing::peer("x/b"), testing::peer("x/a"), kTCP, 80));
  // The reply x/b -> x/a of that connection leaves x/b through its egress policy: accepted as
  // established, as the dataplane's conntrack does; the engine adds no rule for it.
  const Model m = engine.snapshot();
  Packet reply;
  reply.source = testing::pod_ip("x", "b");
  reply.destination = testing::pod_ip("x", "a");
  reply.source_port = 80;
  reply.destination_port = 49152;
  reply.established = true;
  EXPECT_EQ(evaluate(m, m.endpoints.at("x/b"), Direction::kEgress, reply).verdict, Verdict::kAllow);
  reply.established = false;
  EXPECT_EQ(evaluate(m, m.endpoints.at("x/b"), Direction::kEgress, reply).verdict, Verdict::kDeny);
  EXPECT_TRUE(m.policies.at({PolicyKind::kPolicy, "knp.x.deny-all"}).egress.empty());
}

// Everything above in one place: the trace names the policies and rules that decided.
TEST_F(Conformance, TraceNamesPoliciesAndRules) {
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
)");
  TraceResult ok = testing::trace_pods(engine, "x/b", "x/a", kTCP, 80);
  EXPECT_EQ(ok.verdict, Verdict::kAllow);
  EXPECT_EQ(ok.ingress.policies, std::vector<std::string>{"knp.x.from-b"});
  ASSERT_EQ(ok.ingress.hits.size(), 1u);
  EXPECT_EQ(ok.ingress.hits[0].policy_id, "knp.x.from-b");
  EXPECT_EQ(ok.ingress.hits[0].rule_index, 0u);
  EXPECT_EQ(ok.egress.verdict, Verdict::kAllow);
  EXPECT_EQ(ok.egress.profiles, std::vector<std::string>{"kns.x"});
  TraceResult denied = testing::trace_pods(engine, "x/c", "x/a", kTCP, 80);
  EXPECT_EQ(denied.verdict, Verdict::kDeny);
  EXPECT_NE(denied.ingress.reason.find("no policy matched"), std::string::npos);
  const std::string text = format_trace(ok);
  EXPECT_NE(text.find("knp.x.from-b rule 0"), std::string::npos) << text;
  EXPECT_NE(text.find("verdict: allow"), std::string::npos) << text;
}

}  // namespace
}  // namespace brindle::policy
