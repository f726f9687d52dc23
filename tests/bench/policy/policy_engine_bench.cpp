// Engine compute time for one pod change (add, relabel, remove; including take_changes()) with
// 10k endpoints and 1k policies: 100 namespaces x 100 pods, 10 policies per namespace (7
// Kubernetes NetworkPolicies with pod, namespace and named-port peers, 3 Brindle NetworkPolicies)
// plus global policies. "AllLocal": every endpoint on this node (the worst case for a node);
// "Node": 100 of the 10k endpoints are local.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "brindle/policy/engine.hpp"

namespace brindle::policy {
namespace {

constexpr int kNamespaces = 100;
constexpr int kPodsPerNamespace = 100;
constexpr int kApps = 10;

model::IpAddress address(int n) {
  return model::IpAddress::v4(0xC6120000u + static_cast<uint32_t>(n));  // 198.18.0.0/15
}

model::WorkloadEndpoint pod(int ns, int i, bool local, const std::string& role) {
  model::WorkloadEndpoint w;
  w.metadata.namespace_ = "ns" + std::to_string(ns);
  w.metadata.name = "pod" + std::to_string(i);
  w.metadata.labels = {{"app", "app" + std::to_string(i % kApps)},
                       {"role", role},
                       {"version", "v" + std::to_string(i % 3)}};
  w.spec.node = local ? "node-1" : "node-" + std::to_string(2 + i % 50);
  w.spec.pod = w.metadata.name;
  w.spec.interface_name = "brn" + std::to_string(ns) + "x" + std::to_string(i);
  w.spec.ip_networks = {model::IpPrefix::host(address(ns * 1000 + i + 1))};
  w.spec.profiles = {"kns." + w.metadata.namespace_};
  w.spec.ports = {{"http", model::PortProtocol::kTCP, 8080},
                  {"metrics", model::PortProtocol::kTCP, 9090}};
  return w;
}

model::LabelSelector labels(std::map<std::string, std::string> m) {
  model::LabelSelector s;
  s.match_labels = std::move(m);
  return s;
}

const char* role_of(int i) {
  static const char* kRoles[] = {"frontend", "backend", "db"};
  return kRoles[i % 3];
}

void build(PolicyEngine& e, bool all_local) {
  for (int n = 0; n < kNamespaces; ++n) {
    const std::string ns = "ns" + std::to_string(n);
    model::Profile p;
    p.metadata.name = "kns." + ns;
    p.spec.labels_to_apply = {{"kubernetes.io/metadata.name", ns},
                              {"team", "team" + std::to_string(n % 10)}};
    e.upsert_profile(p);
    for (int i = 0; i < kPodsPerNamespace; ++i) {
      e.upsert_workload_endpoint(pod(n, i, all_local || (n == 0), role_of(i)));
    }
    for (int k = 0; k < 7; ++k) {
      model::KubernetesNetworkPolicy k8s;
      k8s.metadata.namespace_ = ns;
      k8s.metadata.name = "knp" + std::to_string(k);
      k8s.spec.pod_selector = labels({{"app", "app" + std::to_string(k)}});
      model::K8sNetworkPolicyIngressRule in;
      model::K8sNetworkPolicyPeer same_ns;
      same_ns.pod_selector = labels({{"role", role_of(k)}});
      model::K8sNetworkPolicyPeer team;
      team.namespace_selector = labels({{"team", "team" + std::to_string((n + k) % 10)}});
      team.pod_selector = labels({{"role", "frontend"}});
      in.from = {same_ns, team};
      in.ports = {{model::PortProtocol::kTCP, std::string("http"), std::nullopt},
                  {model::PortProtocol::kTCP, int32_t{9090}, std::nullopt}};
      k8s.spec.ingress = {in};
      if (k == 0) {
        model::K8sNetworkPolicyEgressRule out;
        model::K8sNetworkPolicyPeer db;
        db.pod_selector = labels({{"role", "db"}});
        out.to = {db};
        k8s.spec.egress = {out};
        k8s.spec.policy_types = {model::PolicyType::kIngress, model::PolicyType::kEgress};
      }
      e.upsert_kubernetes_network_policy(k8s);
    }
    for (int k = 0; k < 3; ++k) {
      model::NetworkPolicy np;
      np.metadata.namespace_ = ns;
      np.metadata.name = "np" + std::to_string(k);
      np.spec.order = 100 + k;
      np.spec.selector = "app == \"app" + std::to_string(7 + k) + "\"";
      model::Rule deny;
      deny.action = model::RuleAction::kDeny;
      deny.source.selector = "version == \"v" + std::to_string(k) + "\" && role != \"db\"";
      model::Rule allow;
      allow.action = model::RuleAction::kAllow;
      allow.protocol = model::RuleProtocol{kProtoTCP};
      allow.destination.ports = {model::RulePort{8000, 8100, ""}};
      np.spec.ingress = {deny, allow};
      e.upsert_network_policy(np);
    }
  }
  model::GlobalNetworkPolicy gnp;
  gnp.metadata.name = "deny-to-db-from-other-teams";
  gnp.spec.order = 10;
  gnp.spec.selector = "role == \"db\"";
  model::Rule pass;
  pass.action = model::RuleAction::kPass;
  pass.source.selector = "role == \"backend\"";
  model::Rule deny;
  deny.action = model::RuleAction::kDeny;
  gnp.spec.ingress = {pass, deny};
  e.upsert_global_network_policy(gnp);
  e.take_changes();
}

PolicyEngine& engine(bool all_local) {
  static std::unique_ptr<PolicyEngine> engines[2];
  auto& e = engines[all_local ? 1 : 0];
  if (!e) {
    e = std::make_unique<PolicyEngine>(EngineConfig{"node-1", false});
    build(*e, all_local);
  }
  return *e;
}

void report(benchmark::State& state, PolicyEngine& e) {
  const EngineStats s = e.stats();
  state.counters["endpoints"] = static_cast<double>(s.endpoints);
  state.counters["local"] = static_cast<double>(s.local_endpoints);
  state.counters["policies"] = static_cast<double>(s.policies);
  state.counters["ipsets"] = static_cast<double>(s.ipsets);
}

// A new pod in namespace 0 (local in both setups), with its take_changes().
void AddPod(benchmark::State& state, bool all_local) {
  PolicyEngine& e = engine(all_local);
  int i = 0;
  size_t ops = 0;
  for (auto _ : state) {
    e.upsert_workload_endpoint(pod(0, 5000 + i, true, role_of(i)));
    ops += e.take_changes().size();
    state.PauseTiming();
    e.remove_workload_endpoint("ns0", "pod" + std::to_string(5000 + i));
    e.take_changes();
    ++i;
    state.ResumeTiming();
  }
  state.counters["changes"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kAvgIterations);
  report(state, e);
}

void RemovePod(benchmark::State& state, bool all_local) {
  PolicyEngine& e = engine(all_local);
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    e.upsert_workload_endpoint(pod(0, 5000 + i, true, role_of(i)));
    e.take_changes();
    state.ResumeTiming();
    e.remove_workload_endpoint("ns0", "pod" + std::to_string(5000 + i));
    e.take_changes();
    ++i;
  }
  report(state, e);
}

// An existing pod changes app and role (it leaves some selections and joins others).
void RelabelPod(benchmark::State& state, bool all_local) {
  PolicyEngine& e = engine(all_local);
  bool flip = false;
  for (auto _ : state) {
    model::WorkloadEndpoint w = pod(0, 42, true, flip ? "frontend" : "db");
    w.metadata.labels["app"] = flip ? "app1" : "app2";
    e.upsert_workload_endpoint(w);
    e.take_changes();
    flip = !flip;
  }
  report(state, e);
}

// A namespace's labels change (every namespace-selector peer re-evaluates its 100 pods).
void RelabelNamespace(benchmark::State& state, bool all_local) {
  PolicyEngine& e = engine(all_local);
  bool flip = false;
  for (auto _ : state) {
    model::Profile p;
    p.metadata.name = "kns.ns5";
    p.spec.labels_to_apply = {{"kubernetes.io/metadata.name", "ns5"},
                              {"team", flip ? "team5" : "team6"}};
    e.upsert_profile(p);
    e.take_changes();
    flip = !flip;
  }
  report(state, e);
}

// The full computation from nothing to the first take_changes() (a resync or a restart).
void FullCompute(benchmark::State& state, bool all_local) {
  for (auto _ : state) {
    PolicyEngine e(EngineConfig{"node-1", false});
    build(e, all_local);
    state.PauseTiming();
    report(state, e);
    {
      PolicyEngine discard = std::move(e);  // destruction is not part of the figure
    }
    state.ResumeTiming();
  }
}

BENCHMARK_CAPTURE(FullCompute, AllLocal, true)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(FullCompute, Node, false)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(AddPod, AllLocal, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RemovePod, AllLocal, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RelabelPod, AllLocal, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RelabelNamespace, AllLocal, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(AddPod, Node, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RemovePod, Node, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(RelabelPod, Node, false)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace brindle::policy

BENCHMARK_MAIN();
