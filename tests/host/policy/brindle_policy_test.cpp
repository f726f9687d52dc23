// Brindle NetworkPolicy, GlobalNetworkPolicy, NetworkSets and Profiles on the conformance model:
// order, Deny before Allow, Pass, global policies, network sets, the selector language, ICMP,
// nets, port ranges, Log, and what the engine refuses.
#include <gtest/gtest.h>

#include "policy_test_support.hpp"

namespace brindle::policy {
namespace {

using testing::apply_yaml;
using testing::in_ns;
using testing::Reachability;

constexpr uint8_t kTCP = kProtoTCP;
constexpr uint8_t kUDP = kProtoUDP;

auto pod_is = [](std::string name) { return [name](const std::string& p) { return p == name; }; };
auto ns_is = [](std::string ns) { return [ns](const std::string& p) { return in_ns(p, ns); }; };

class BrindlePolicy : public ::testing::Test {
 protected:
  void SetUp() override { testing::build_conformance(engine); }

  bool allowed_from_ip(const std::string& ip, const std::string& to, uint8_t proto = kTCP,
                       uint16_t port = 80) {
    return testing::allowed(engine, TracePeer::ip(model::IpAddress::parse(ip)), testing::peer(to),
                            proto, port);
  }

  PolicyEngine engine{EngineConfig{"node-1", true}};
};

constexpr const char* kDenyBThenAllow = R"(
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
)";

TEST_F(BrindlePolicy, LowerOrderDecidesFirst) {
  apply_yaml(engine, kDenyBThenAllow);
  EXPECT_REACHABILITY(engine, Reachability().expect("x/b", "x/a", false), kTCP, 80);
  // Swapping the orders lets the allow-all decide first.
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  order: 5
  selector: pod == "a"
  ingress: [{action: Allow}]
)");
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
  EXPECT_EQ(engine.snapshot().endpoints.at("x/a").ingress_policies,
            (std::vector<std::string>{"np.x.allow-all", "np.x.deny-b"}));
}

TEST_F(BrindlePolicy, PolicyWithoutOrderComesLast) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: aaa-allow, namespace: x}
spec:
  selector: pod == "a"
  ingress: [{action: Allow}]
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: zzz-deny-b, namespace: x}
spec:
  order: 100000
  selector: pod == "a"
  ingress:
  - action: Deny
    source: {selector: pod == "b"}
)");
  EXPECT_REACHABILITY(engine, Reachability().expect("x/b", "x/a", false), kTCP, 80);
}

TEST_F(BrindlePolicy, DenyBeforeAllowWithinOnePolicy) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: deny-then-allow, namespace: x}
spec:
  selector: pod == "a"
  ingress:
  - action: Deny
    protocol: TCP
    source: {selector: pod == "b"}
  - action: Allow
)");
  EXPECT_REACHABILITY(engine, Reachability().expect("x/b", "x/a", false), kTCP, 80);
  EXPECT_REACHABILITY(engine, Reachability(), kUDP, 80);
}

TEST_F(BrindlePolicy, PassSkipsToTheProfiles) {
  apply_yaml(engine, R"(
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
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  order: 10
  selector: all()
  ingress: [{action: Deny}]
)");
  // b's traffic to x/a skips x's deny-all and is allowed by the namespace profile.
  Reachability expected = Reachability().expect_if([](auto&) { return true; }, ns_is("x"), false);
  expected.expect("x/b", "x/a", true).expect("y/b", "x/a", true).expect("z/b", "x/a", true);
  // Other pods' traffic to x/a: pass-b applies but matches nothing, which drops it.
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
  TraceResult t = testing::trace_pods(engine, "y/b", "x/a", kTCP, 80);
  ASSERT_EQ(t.ingress.hits.size(), 2u);
  EXPECT_EQ(t.ingress.hits[0].action, Action::kPass);
  EXPECT_EQ(t.ingress.hits[1].kind, PolicyKind::kProfile);
  EXPECT_EQ(t.ingress.hits[1].policy_id, "kns.x");
}

TEST_F(BrindlePolicy, PassToAProfileThatDeniesDrops) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: pass-all}
spec:
  selector: pod == "a"
  ingress: [{action: Pass}]
---
apiVersion: brindle.network/v1
kind: Profile
metadata: {name: kns.x}
spec:
  ingress: [{action: Deny}]
  labelsToApply: {kubernetes.io/metadata.name: x, ns: x}
)");
  Reachability expected = Reachability().expect_to("x/a", false).expect_to("x/b", false);
  expected.expect_to("x/c", false);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

TEST_F(BrindlePolicy, GlobalPolicyWithNamespaceSelector) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: isolate-a-in-y}
spec:
  selector: pod == "a"
  namespaceSelector: ns == "y"
  types: [Ingress]
)");
  EXPECT_REACHABILITY(engine, Reachability().expect_to("y/a", false), kTCP, 80);
  // The namespace selector follows namespace labels.
  engine.upsert_profile(testing::namespace_profile("z", {{"ns", "y"}}));
  EXPECT_REACHABILITY(engine, Reachability().expect_to("y/a", false).expect_to("z/a", false), kTCP,
                      80);
}

TEST_F(BrindlePolicy, NamespacedRuleSelectorsSeeTheirNamespaceUnlessTold) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  selector: pod == "a"
  ingress:
  - action: Allow
    source: {selector: pod == "b"}
  - action: Allow
    source: {selector: pod == "c", namespaceSelector: 'ns in {"y", "z"}'}
)");
  Reachability expected = Reachability().expect_to("x/a", false).expect("x/b", "x/a", true);
  expected.expect("y/c", "x/a", true).expect("z/c", "x/a", true);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

TEST_F(BrindlePolicy, SelectorsSeeInheritedNamespaceLabels) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: z-isolated}
spec:
  selector: kubernetes.io/metadata.name == "z"
  ingress:
  - action: Allow
    source: {selector: ns == "z"}
)");
  Reachability expected = Reachability();
  expected.expect_if([](auto& p) { return !in_ns(p, "z"); }, ns_is("z"), false);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
}

TEST_F(BrindlePolicy, SelectorLanguage) {
  apply_yaml(engine, R"yaml(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: expressions, namespace: x}
spec:
  selector: pod != "b" && pod != "c"
  ingress:
  - action: Allow
    source: {selector: "pod in {'b', 'c'} && !has(missing)"}
)yaml");
  EXPECT_REACHABILITY(
      engine,
      Reachability().expect_to("x/a", false).expect("x/b", "x/a", true).expect("x/c", "x/a", true),
      kTCP, 80);
}

TEST_F(BrindlePolicy, NotSelector) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: not-b}
spec:
  selector: pod == "a" && ns == "x"
  ingress:
  - action: Allow
    source: {notSelector: pod == "b"}
)");
  Reachability expected = Reachability();
  expected.expect_if([](auto& p) { return testing::is_pod(p, "b"); }, pod_is("x/a"), false);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
  EXPECT_TRUE(allowed_from_ip("198.19.0.1", "x/a"));  // not an endpoint: not excluded
}

TEST_F(BrindlePolicy, NetworkSetsAreMatchedBySelectors) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: partners, namespace: x, labels: {role: partner}}
spec: {nets: [198.19.10.0/24]}
---
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: others, namespace: y, labels: {role: partner}}
spec: {nets: [198.19.20.0/24]}
---
apiVersion: brindle.network/v1
kind: GlobalNetworkSet
metadata: {name: monitoring, labels: {role: monitoring}}
spec: {nets: [198.19.30.0/24]}
---
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: partners-only, namespace: x}
spec:
  selector: pod == "a"
  ingress:
  - action: Allow
    source: {selector: role == "partner"}
---
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: monitoring}
spec:
  selector: pod == "b"
  ingress:
  - action: Allow
    source: {selector: role == "monitoring"}
)");
  EXPECT_TRUE(allowed_from_ip("198.19.10.5", "x/a"));
  EXPECT_FALSE(allowed_from_ip("198.19.20.5", "x/a"));  // another namespace's set
  EXPECT_FALSE(allowed_from_ip("198.19.30.5", "x/a"));  // global sets: global policies only
  EXPECT_FALSE(allowed_from_ip("198.19.11.5", "x/a"));
  EXPECT_TRUE(allowed_from_ip("198.19.30.5", "y/b"));
  EXPECT_FALSE(allowed_from_ip("198.19.10.5", "y/b"));
  EXPECT_FALSE(testing::allowed(engine, testing::peer("x/c"), testing::peer("x/a"), kTCP, 80));
  // A network set change reaches its IP sets.
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: partners, namespace: x, labels: {role: partner}}
spec: {nets: [198.19.11.0/24]}
)");
  EXPECT_FALSE(allowed_from_ip("198.19.10.5", "x/a"));
  EXPECT_TRUE(allowed_from_ip("198.19.11.5", "x/a"));
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkSet
metadata: {name: partners, namespace: x}
)",
             true);
  EXPECT_FALSE(allowed_from_ip("198.19.11.5", "x/a"));
}

TEST_F(BrindlePolicy, IcmpTypeAndCode) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: ping-only, namespace: x}
spec:
  selector: pod == "a"
  ingress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
)");
  TraceRequest r;
  r.from = testing::peer("y/a");
  r.to = testing::peer("x/a");
  r.protocol = kProtoICMP;
  r.icmp_type = 8;
  r.icmp_code = 0;
  EXPECT_EQ(engine.trace(r).verdict, Verdict::kAllow);
  r.icmp_type = 13;  // timestamp
  EXPECT_EQ(engine.trace(r).verdict, Verdict::kDeny);
  EXPECT_FALSE(testing::allowed(engine, testing::peer("y/a"), testing::peer("x/a"), kTCP, 80));
  // ICMP is IPv4 only: the rule is rendered for IPv4.
  const Model snapshot = engine.snapshot();
  const auto& rules = snapshot.policies.at({PolicyKind::kPolicy, "np.x.ping-only"}).ingress;
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].icmp_type, 8);
  EXPECT_EQ(rules[0].protocol, kProtoICMP);
}

TEST_F(BrindlePolicy, NetsNotNetsPortRangesAndNotPorts) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: x}
spec:
  selector: pod == "a"
  egress:
  - action: Allow
    protocol: TCP
    destination:
      nets: [198.18.0.0/16]
      notNets: [198.18.2.0/24]
      ports: ["80:90"]
      notPorts: [85]
)");
  for (uint16_t port : {uint16_t{80}, uint16_t{81}}) {
    Reachability expected = Reachability().expect_from("x/a", true);
    expected.expect_if(pod_is("x/a"), ns_is("y"), false);
    EXPECT_REACHABILITY(engine, expected, kTCP, port);
  }
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kTCP, 85);
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kUDP, 80);
}

TEST_F(BrindlePolicy, NamedPorts) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: named, namespace: x}
spec:
  selector: pod == "a"
  egress:
  - action: Allow
    protocol: UDP
    destination: {selector: pod == "b", namespaceSelector: all(), ports: [serve-81-udp]}
)");
  Reachability expected = Reachability().expect_from("x/a", false);
  expected.expect_if(
      pod_is("x/a"), [](auto& p) { return testing::is_pod(p, "b"); }, true);
  EXPECT_REACHABILITY(engine, expected, kUDP, 81);
  EXPECT_REACHABILITY(engine, Reachability().expect_from("x/a", false), kUDP, 80);
}

TEST_F(BrindlePolicy, LogContinues) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: logged, namespace: x}
spec:
  selector: pod == "a"
  ingress:
  - action: Log
  - action: Deny
    source: {selector: pod == "b"}
  - action: Allow
)");
  EXPECT_REACHABILITY(engine, Reachability().expect("x/b", "x/a", false), kTCP, 80);
  TraceResult t = testing::trace_pods(engine, "x/c", "x/a", kTCP, 80);
  ASSERT_EQ(t.ingress.hits.size(), 2u);
  EXPECT_EQ(t.ingress.hits[0].action, Action::kLog);
  EXPECT_EQ(t.ingress.hits[1].action, Action::kAllow);
  const Model snapshot = engine.snapshot();
  const auto& rules = snapshot.policies.at({PolicyKind::kPolicy, "np.x.logged"}).ingress;
  EXPECT_EQ(rules[0].log_prefix, "np.x.logged");
}

TEST_F(BrindlePolicy, ProfileRulesApplyAfterPolicies) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: Profile
metadata: {name: kns.y}
spec:
  ingress:
  - action: Allow
    source: {selector: ns == "y"}
  labelsToApply: {kubernetes.io/metadata.name: y, ns: y}
)");
  Reachability expected;
  expected.expect_if([](auto& p) { return !in_ns(p, "y"); }, ns_is("y"), false);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
  // Back to the namespace default when the profile loses its rules.
  engine.upsert_profile(testing::namespace_profile("y"));
  EXPECT_REACHABILITY(engine, Reachability(), kTCP, 80);
}

TEST_F(BrindlePolicy, KubernetesAndBrindlePoliciesTogether) {
  // A Brindle deny at order 10 comes before the Kubernetes policies (order 1000); what it does
  // not deny it passes on to the profiles.
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  podSelector: {}
  ingress: [{}]
---
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: deny-z}
spec:
  order: 10
  selector: all()
  ingress:
  - action: Deny
    source: {namespaceSelector: ns == "z"}
  - action: Pass
)");
  Reachability expected;
  expected.expect_if(
      ns_is("z"), [](auto&) { return true; }, false);
  EXPECT_REACHABILITY(engine, expected, kTCP, 80);
  EXPECT_EQ(engine.snapshot().endpoints.at("x/a").ingress_policies,
            (std::vector<std::string>{"gnp.deny-z", "knp.x.allow-all"}));
}

TEST_F(BrindlePolicy, InvalidSelectorIsAClearErrorAndChangesNothing) {
  apply_yaml(engine, kDenyBThenAllow);
  const Model before = engine.snapshot();
  model::NetworkPolicy bad;
  bad.metadata.name = "deny-b";
  bad.metadata.namespace_ = "x";
  bad.spec.selector = "pod == \"a\"";
  model::Rule r;
  r.action = model::RuleAction::kDeny;
  r.source.selector = "pod == ";
  bad.spec.ingress.push_back(r);
  try {
    engine.upsert_network_policy(bad);
    FAIL() << "expected PolicyError";
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("NetworkPolicy x/deny-b: spec.ingress[0].source.selector"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(engine.snapshot(), before);

  model::KubernetesNetworkPolicy k8s;
  k8s.metadata.name = "bad-op";
  k8s.metadata.namespace_ = "x";
  k8s.spec.pod_selector.match_expressions.push_back({"pod", "Maybe", {"a"}});
  EXPECT_THROW(engine.upsert_kubernetes_network_policy(k8s), PolicyError);
}

TEST_F(BrindlePolicy, InexpressibleNegationsFailClosed) {
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: not-icmp, namespace: x}
spec:
  selector: pod == "a"
  ingress:
  - action: Deny
    protocol: ICMP
    notICMP: {type: 8}
  - action: Allow
    protocol: ICMP
    notICMP: {type: 13}
  - action: Allow
    protocol: TCP
)");
  const auto warnings = engine.warnings();
  ASSERT_EQ(warnings.count({PolicyKind::kPolicy, "np.x.not-icmp"}), 1u);
  EXPECT_EQ(warnings.at({PolicyKind::kPolicy, "np.x.not-icmp"}).size(), 2u);
  // The Deny lost its notICMP (denies every ICMP), the Allow is left out.
  const Model snapshot = engine.snapshot();
  const auto& rules = snapshot.policies.at({PolicyKind::kPolicy, "np.x.not-icmp"}).ingress;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].action, Action::kDeny);
  EXPECT_EQ(rules[1].protocol, kProtoTCP);
  TraceRequest ping;
  ping.from = testing::peer("y/a");
  ping.to = testing::peer("x/a");
  ping.protocol = kProtoICMP;
  ping.icmp_type = 8;
  EXPECT_EQ(engine.trace(ping).verdict, Verdict::kDeny);
}

}  // namespace
}  // namespace brindle::policy
