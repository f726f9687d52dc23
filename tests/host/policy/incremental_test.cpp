// Incremental compilation equals compilation from scratch: random sequences of pod, namespace,
// profile, network set and policy changes (fixed seed), checked against a fresh engine fed the
// final state, and the change stream checked by replaying it into a replica model.
#include <gtest/gtest.h>

#include <random>

#include "policy_test_support.hpp"

namespace brindle::policy {
namespace {

using model::IpAddress;
using model::IpPrefix;
using model::LabelSelector;

class World {
 public:
  explicit World(uint32_t seed) : rng_(seed) {}

  // One random change, applied to `engine` and remembered as the desired state.
  void step(PolicyEngine& engine) {
    const int what = pick(0, 99);
    if (what < 30) {
      auto pod = random_pod();
      pods_[key(pod.metadata)] = pod;
      engine.upsert_workload_endpoint(pod);
    } else if (what < 38) {
      if (auto k = random_key(pods_)) {
        const auto meta = pods_.at(*k).metadata;
        pods_.erase(*k);
        engine.remove_workload_endpoint(meta.namespace_, meta.name);
      }
    } else if (what < 46) {
      auto p = random_profile();
      profiles_[p.metadata.name] = p;
      engine.upsert_profile(p);
    } else if (what < 49) {
      if (auto k = random_key(profiles_)) {
        profiles_.erase(*k);
        engine.remove_profile(*k);
      }
    } else if (what < 60) {
      auto p = random_k8s_policy();
      k8s_[key(p.metadata)] = p;
      engine.upsert_kubernetes_network_policy(p);
    } else if (what < 64) {
      if (auto k = random_key(k8s_)) {
        const auto meta = k8s_.at(*k).metadata;
        k8s_.erase(*k);
        engine.remove_kubernetes_network_policy(meta.namespace_, meta.name);
      }
    } else if (what < 72) {
      auto p = random_network_policy();
      nps_[key(p.metadata)] = p;
      engine.upsert_network_policy(p);
    } else if (what < 75) {
      if (auto k = random_key(nps_)) {
        const auto meta = nps_.at(*k).metadata;
        nps_.erase(*k);
        engine.remove_network_policy(meta.namespace_, meta.name);
      }
    } else if (what < 82) {
      auto p = random_global_policy();
      gnps_[p.metadata.name] = p;
      engine.upsert_global_network_policy(p);
    } else if (what < 85) {
      if (auto k = random_key(gnps_)) {
        gnps_.erase(*k);
        engine.remove_global_network_policy(*k);
      }
    } else if (what < 91) {
      auto s = random_netset();
      netsets_[key(s.metadata)] = s;
      engine.upsert_network_set(s);
    } else if (what < 93) {
      if (auto k = random_key(netsets_)) {
        const auto meta = netsets_.at(*k).metadata;
        netsets_.erase(*k);
        engine.remove_network_set(meta.namespace_, meta.name);
      }
    } else if (what < 97) {
      model::GlobalNetworkSet s;
      s.metadata.name = "g" + std::to_string(pick(0, 2));
      s.metadata.labels = random_labels();
      s.spec.nets = random_nets();
      global_netsets_[s.metadata.name] = s;
      engine.upsert_global_network_set(s);
    } else if (what < 98) {
      if (auto k = random_key(global_netsets_)) {
        global_netsets_.erase(*k);
        engine.remove_global_network_set(*k);
      }
    } else {
      globals_.node_addresses = {IpPrefix::parse("198.19.0." + std::to_string(pick(1, 3)) + "/32")};
      engine.set_globals(globals_);
    }
  }

  // Feeds the desired state to a fresh engine, kinds in an order unlike the incremental one.
  void feed(PolicyEngine& engine) const {
    engine.set_globals(globals_);
    for (const auto& [k, p] : gnps_) {
      engine.upsert_global_network_policy(p);
    }
    for (const auto& [k, p] : nps_) {
      engine.upsert_network_policy(p);
    }
    for (const auto& [k, p] : k8s_) {
      engine.upsert_kubernetes_network_policy(p);
    }
    for (auto it = pods_.rbegin(); it != pods_.rend(); ++it) {
      engine.upsert_workload_endpoint(it->second);
    }
    for (const auto& [k, s] : global_netsets_) {
      engine.upsert_global_network_set(s);
    }
    for (const auto& [k, s] : netsets_) {
      engine.upsert_network_set(s);
    }
    for (const auto& [k, p] : profiles_) {
      engine.upsert_profile(p);
    }
  }

  size_t pods() const { return pods_.size(); }
  size_t policies() const { return k8s_.size() + nps_.size() + gnps_.size(); }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin(int percent = 50) { return pick(0, 99) < percent; }
  template <typename T>
  const T& one(const std::vector<T>& v) {
    return v[static_cast<size_t>(pick(0, static_cast<int>(v.size()) - 1))];
  }
  static std::string key(const model::ObjectMeta& m) { return m.namespace_ + "/" + m.name; }
  template <typename M>
  std::optional<std::string> random_key(const M& map) {
    if (map.empty()) {
      return std::nullopt;
    }
    auto it = map.begin();
    std::advance(it, pick(0, static_cast<int>(map.size()) - 1));
    return it->first;
  }

  std::string ns() { return one(kNs); }

  model::Labels random_labels() {
    model::Labels l;
    for (const auto& [k, values] : kVocabulary) {
      if (coin(55)) {
        l[k] = one(values);
      }
    }
    return l;
  }

  std::vector<IpPrefix> random_nets() {
    std::vector<IpPrefix> nets;
    const int n = pick(0, 2);
    for (int i = 0; i < n; ++i) {
      nets.push_back(
          coin(80) ? IpPrefix::parse("198.18.0." + std::to_string(pick(0, 7) * 8) + "/29")
                   : IpPrefix::parse("2001:db8::" + std::to_string(pick(0, 3) * 16) + "/124"));
    }
    return nets;
  }

  model::WorkloadEndpoint random_pod() {
    model::WorkloadEndpoint w;
    w.metadata.namespace_ = ns();
    w.metadata.name = "p" + std::to_string(pick(0, 11));
    w.metadata.labels = random_labels();
    w.spec.node = one(std::vector<std::string>{"node-1", "node-1", "node-2", "node-3"});
    w.spec.pod = w.metadata.name;
    w.spec.interface_name = "brn" + w.metadata.namespace_ + w.metadata.name;
    // A small address pool: addresses get reused by other pods.
    const int n = pick(0, 2);
    for (int i = 0; i < n; ++i) {
      IpPrefix ip = coin(80) ? IpPrefix::parse("198.18.0." + std::to_string(pick(1, 40)) + "/32")
                             : IpPrefix::parse("2001:db8::" + std::to_string(pick(1, 40)) + "/128");
      if (std::find(w.spec.ip_networks.begin(), w.spec.ip_networks.end(), ip) ==
          w.spec.ip_networks.end()) {
        w.spec.ip_networks.push_back(ip);
      }
    }
    w.spec.profiles = {"kns." + w.metadata.namespace_};
    if (coin(25)) {
      w.spec.profiles.push_back("extra");
    }
    if (coin(60)) {
      w.spec.ports.push_back({"http", model::PortProtocol::kTCP, uint16_t(coin() ? 80 : 8080)});
    }
    if (coin(40)) {
      w.spec.ports.push_back({"dns", model::PortProtocol::kUDP, 53});
    }
    if (coin(20)) {
      w.spec.ports.push_back({"http-udp", model::PortProtocol::kUDP, 80});
    }
    return w;
  }

  model::Profile random_profile() {
    model::Profile p;
    p.metadata.name = coin(80) ? "kns." + ns() : "extra";
    for (const auto& [k, v] : random_labels()) {
      p.spec.labels_to_apply[k] = v;
    }
    if (coin(30)) {
      p.spec.ingress.push_back(random_rule(false));
    }
    if (coin(20)) {
      p.spec.egress.push_back(random_rule(false));
    }
    return p;
  }

  LabelSelector random_label_selector() {
    LabelSelector s;
    const int n = pick(0, 2);
    for (int i = 0; i < n; ++i) {
      const auto& [k, values] = one(kVocabularyList);
      switch (pick(0, 4)) {
        case 0:
          s.match_labels[k] = one(values);
          break;
        case 1:
          s.match_expressions.push_back({k, "In", {one(values), one(values)}});
          break;
        case 2:
          s.match_expressions.push_back({k, "NotIn", {one(values)}});
          break;
        case 3:
          s.match_expressions.push_back({k, "Exists", {}});
          break;
        default:
          s.match_expressions.push_back({k, "DoesNotExist", {}});
          break;
      }
    }
    return s;
  }

  model::K8sNetworkPolicyPeer random_peer() {
    model::K8sNetworkPolicyPeer p;
    switch (pick(0, 3)) {
      case 0:
        p.pod_selector = random_label_selector();
        break;
      case 1:
        p.namespace_selector = random_label_selector();
        break;
      case 2:
        p.pod_selector = random_label_selector();
        p.namespace_selector = random_label_selector();
        break;
      default: {
        model::K8sIPBlock b{IpPrefix::parse("198.18.0." + std::to_string(pick(0, 3) * 16) + "/28"),
                            {}};
        if (coin()) {
          b.except.push_back(IpPrefix::parse(
              "198.18.0." + std::to_string(b.cidr.address().bytes()[3] + 4) + "/30"));
        }
        p.ip_block = b;
      }
    }
    return p;
  }

  std::vector<model::K8sNetworkPolicyPort> random_k8s_ports() {
    std::vector<model::K8sNetworkPolicyPort> ports;
    const int n = pick(0, 2);
    for (int i = 0; i < n; ++i) {
      model::K8sNetworkPolicyPort p;
      p.protocol = one(std::vector{model::PortProtocol::kTCP, model::PortProtocol::kUDP,
                                   model::PortProtocol::kSCTP});
      switch (pick(0, 3)) {
        case 0:
          break;  // every port of the protocol
        case 1:
          p.port = int32_t{80};
          break;
        case 2:
          p.port = int32_t{80};
          p.end_port = 8080;
          break;
        default:
          p.port = one(std::vector<std::string>{"http", "dns", "http-udp"});
      }
      ports.push_back(p);
    }
    return ports;
  }

  model::KubernetesNetworkPolicy random_k8s_policy() {
    model::KubernetesNetworkPolicy p;
    p.metadata.namespace_ = ns();
    p.metadata.name = "k" + std::to_string(pick(0, 5));
    p.spec.pod_selector = random_label_selector();
    const int types = pick(0, 3);
    if (types == 1) {
      p.spec.policy_types = {model::PolicyType::kIngress};
    }
    if (types == 2) {
      p.spec.policy_types = {model::PolicyType::kEgress};
    }
    if (types == 3) {
      p.spec.policy_types = {model::PolicyType::kIngress, model::PolicyType::kEgress};
    }
    for (int i = pick(0, 2); i > 0; --i) {
      model::K8sNetworkPolicyIngressRule r;
      for (int j = pick(0, 2); j > 0; --j) {
        r.from.push_back(random_peer());
      }
      r.ports = random_k8s_ports();
      p.spec.ingress.push_back(r);
    }
    for (int i = pick(0, 2); i > 0; --i) {
      model::K8sNetworkPolicyEgressRule r;
      for (int j = pick(0, 2); j > 0; --j) {
        r.to.push_back(random_peer());
      }
      r.ports = random_k8s_ports();
      p.spec.egress.push_back(r);
    }
    return p;
  }

  std::string random_selector() { return one(kSelectors); }

  model::EntityRule random_entity(bool with_ports) {
    model::EntityRule e;
    if (coin(50)) {
      e.selector = random_selector();
    }
    if (coin(20)) {
      e.namespace_selector = random_selector();
    }
    if (coin(15)) {
      e.not_selector = random_selector();
    }
    if (coin(20)) {
      e.nets = random_nets();
    }
    if (coin(10)) {
      e.not_nets = {IpPrefix::parse("198.18.0.8/29")};
    }
    if (with_ports && coin(50)) {
      e.ports.push_back(model::RulePort{80, 90, ""});
      if (coin()) {
        e.ports.push_back(model::RulePort{0, 0, "http"});
      }
    }
    return e;
  }

  model::Rule random_rule(bool any_action = true) {
    model::Rule r;
    r.action = any_action ? one(std::vector{model::RuleAction::kAllow, model::RuleAction::kAllow,
                                            model::RuleAction::kDeny, model::RuleAction::kPass,
                                            model::RuleAction::kLog})
                          : model::RuleAction::kAllow;
    const bool ports = coin(40);
    if (ports) {
      r.protocol = model::RuleProtocol{coin() ? kProtoTCP : kProtoUDP};
    } else if (coin(10)) {
      r.protocol = model::RuleProtocol{kProtoICMP};
      r.icmp = model::IcmpMatch{8, std::nullopt};
    }
    r.source = random_entity(false);
    r.destination = random_entity(ports);
    // Families must agree with the rule (validation would refuse otherwise).
    if (r.protocol && r.protocol->number == kProtoICMP) {
      r.source.nets.clear();
      r.source.not_nets.clear();
      r.destination.nets.clear();
      r.destination.not_nets.clear();
    }
    return r;
  }

  model::NetworkPolicy random_network_policy() {
    model::NetworkPolicy p;
    p.metadata.namespace_ = ns();
    p.metadata.name = "n" + std::to_string(pick(0, 4));
    if (coin(70)) {
      p.spec.order = pick(0, 3) * 10;
    }
    p.spec.selector = random_selector();
    for (int i = pick(0, 2); i > 0; --i) {
      p.spec.ingress.push_back(random_rule());
    }
    for (int i = pick(0, 2); i > 0; --i) {
      p.spec.egress.push_back(random_rule());
    }
    return p;
  }

  model::GlobalNetworkPolicy random_global_policy() {
    model::GlobalNetworkPolicy p;
    p.metadata.name = "g" + std::to_string(pick(0, 3));
    if (coin(70)) {
      p.spec.order = pick(0, 3) * 10;
    }
    p.spec.selector = random_selector();
    if (coin(30)) {
      p.spec.namespace_selector = random_selector();
    }
    for (int i = pick(0, 2); i > 0; --i) {
      p.spec.ingress.push_back(random_rule());
    }
    for (int i = pick(0, 2); i > 0; --i) {
      p.spec.egress.push_back(random_rule());
    }
    return p;
  }

  model::NetworkSet random_netset() {
    model::NetworkSet s;
    s.metadata.namespace_ = ns();
    s.metadata.name = "s" + std::to_string(pick(0, 2));
    s.metadata.labels = random_labels();
    s.spec.nets = random_nets();
    return s;
  }

  inline static const std::vector<std::string> kNs{"n0", "n1", "n2", "n3"};
  inline static const std::map<std::string, std::vector<std::string>> kVocabulary{
      {"app", {"web", "db", "cache"}}, {"tier", {"fe", "be"}}, {"team", {"red", "blue"}}};
  inline static const std::vector<std::pair<std::string, std::vector<std::string>>> kVocabularyList{
      kVocabulary.begin(), kVocabulary.end()};
  inline static const std::vector<std::string> kSelectors{"all()",
                                                          "app == \"web\"",
                                                          "app == \"db\" || tier == \"be\"",
                                                          "has(tier)",
                                                          "!has(team)",
                                                          "app in {\"web\", \"cache\"}",
                                                          "team != \"red\"",
                                                          "app not in {\"db\"}",
                                                          "tier == \"fe\" && has(app)",
                                                          ""};

  std::mt19937 rng_;
  Globals globals_;
  std::map<std::string, model::WorkloadEndpoint> pods_;
  std::map<std::string, model::Profile> profiles_;
  std::map<std::string, model::KubernetesNetworkPolicy> k8s_;
  std::map<std::string, model::NetworkPolicy> nps_;
  std::map<std::string, model::GlobalNetworkPolicy> gnps_;
  std::map<std::string, model::NetworkSet> netsets_;
  std::map<std::string, model::GlobalNetworkSet> global_netsets_;
};

void check_against_scratch(const World& world, PolicyEngine& incremental, bool all_local,
                           int step) {
  PolicyEngine scratch(EngineConfig{"node-1", all_local});
  world.feed(scratch);
  const Model expected = scratch.snapshot();
  const Model actual = incremental.snapshot();
  ASSERT_EQ(actual.ipsets, expected.ipsets) << "step " << step;
  ASSERT_EQ(actual.policies, expected.policies) << "step " << step;
  ASSERT_EQ(actual.endpoints, expected.endpoints) << "step " << step;
  ASSERT_EQ(actual, expected) << "step " << step;
}

void run(uint32_t seed, int steps, bool all_local) {
  World world(seed);
  PolicyEngine engine(EngineConfig{"node-1", all_local});
  Model replica;
  std::mt19937 batch_rng(seed + 1);
  size_t max_pods = 0, max_policies = 0, ops = 0;
  for (int step = 1; step <= steps; ++step) {
    world.step(engine);
    max_pods = std::max(max_pods, world.pods());
    max_policies = std::max(max_policies, world.policies());
    // Hand changes over in batches of random size, as the daemon would.
    if (std::uniform_int_distribution<int>(0, 3)(batch_rng) == 0 || step == steps) {
      const std::vector<Change> changes = engine.take_changes();
      ops += changes.size();
      for (const Change& c : changes) {
        ASSERT_NO_THROW(apply_change(replica, c)) << "step " << step << ": " << describe(c);
      }
      ASSERT_EQ(replica, engine.snapshot()) << "step " << step;
    }
    if (step % 50 == 0 || step == steps) {
      ASSERT_NO_FATAL_FAILURE(check_against_scratch(world, engine, all_local, step));
    }
  }
  // The sequences must have been busy enough to mean something.
  EXPECT_GE(max_pods, 30u);
  EXPECT_GE(max_policies, 15u);
  EXPECT_GE(ops, static_cast<size_t>(steps / 2));
}

TEST(Incremental, RandomChangesMatchScratchOnOneNode) {
  run(20240501, 4000, false);
}

TEST(Incremental, RandomChangesMatchScratchClusterWide) {
  run(7, 3000, true);
}

}  // namespace
}  // namespace brindle::policy
