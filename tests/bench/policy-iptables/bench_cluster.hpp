// The benchmark cluster shared by the policy benchmarks (policy-iptables, agent-policy): 100
// namespaces (Profiles "kns.nsN" with team/env labels), 10 Kubernetes NetworkPolicies each (pod
// and namespace selectors, numeric and named ports, endPort, ipBlocks with except, ingress and
// egress) = 1k policies, and pods spread evenly over the namespaces (3 named ports each).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/model/kinds.hpp"

namespace brindle::bench {

inline constexpr int kNamespaces = 100;
inline constexpr int kApps = 10;
inline constexpr const char* kRoles[] = {"frontend", "backend", "db"};

inline uint64_t fnv(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// Host-side interface names as CNI plugins make them: prefix + 11 hex digits of a hash.
inline std::string interface_name(const std::string& ns, const std::string& pod) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "brn%011llx",
                static_cast<unsigned long long>(fnv(ns + "." + pod) & 0xfffffffffffull));
  return buf;
}

inline model::IpAddress pod_address(int ns, int i) {
  return model::IpAddress::v4(0xC6120000u + static_cast<uint32_t>(ns * 512 + i + 1));
}

inline model::WorkloadEndpoint make_pod(int ns, int i) {
  model::WorkloadEndpoint w;
  w.metadata.namespace_ = "ns" + std::to_string(ns);
  w.metadata.name = "pod" + std::to_string(i);
  w.metadata.labels = {{"app", "app" + std::to_string(i % kApps)},
                       {"role", kRoles[i % 3]},
                       {"version", "v" + std::to_string(i % 2)}};
  w.spec.node = "node-1";
  w.spec.orchestrator = "k8s";
  w.spec.pod = w.metadata.name;
  w.spec.interface_name = interface_name(w.metadata.namespace_, w.metadata.name);
  w.spec.ip_networks = {model::IpPrefix::host(pod_address(ns, i))};
  w.spec.profiles = {"kns." + w.metadata.namespace_};
  w.spec.ports = {{"http", model::PortProtocol::kTCP, 8080},
                  {"metrics", model::PortProtocol::kTCP, 9090},
                  {"dns", model::PortProtocol::kUDP, 53}};
  return w;
}

inline model::LabelSelector labels(std::map<std::string, std::string> m) {
  model::LabelSelector s;
  s.match_labels = std::move(m);
  return s;
}
inline model::K8sNetworkPolicyPeer pods(std::map<std::string, std::string> m) {
  model::K8sNetworkPolicyPeer p;
  p.pod_selector = labels(std::move(m));
  return p;
}
inline model::K8sNetworkPolicyPeer namespaces(
    std::map<std::string, std::string> ns,
    std::optional<std::map<std::string, std::string>> pod = {}) {
  model::K8sNetworkPolicyPeer p;
  p.namespace_selector = labels(std::move(ns));
  if (pod) {
    p.pod_selector = labels(std::move(*pod));
  }
  return p;
}
inline model::K8sNetworkPolicyPeer block(const char* cidr, std::vector<const char*> except = {}) {
  model::K8sNetworkPolicyPeer p;
  p.ip_block = model::K8sIPBlock{model::IpPrefix::parse(cidr), {}};
  for (const char* e : except) {
    p.ip_block->except.push_back(model::IpPrefix::parse(e));
  }
  return p;
}
inline model::K8sNetworkPolicyPort port(model::IntOrString p, std::optional<int32_t> end = {},
                                        model::PortProtocol protocol = model::PortProtocol::kTCP) {
  return {protocol, std::move(p), end};
}

inline model::Profile namespace_profile(int n) {
  model::Profile p;
  const std::string ns = "ns" + std::to_string(n);
  p.metadata.name = "kns." + ns;
  p.spec.labels_to_apply = {{"kubernetes.io/metadata.name", ns},
                            {"team", "team" + std::to_string(n % 10)},
                            {"env", n % 2 == 0 ? "prod" : "staging"}};
  return p;
}

// Policy k of namespace n: apps 0-6 and the three roles each have one, so a pod is selected by
// its app's policy (apps 0-6) and its role's.
inline model::KubernetesNetworkPolicy namespace_policy(int n, int k) {
  model::KubernetesNetworkPolicy p;
  p.metadata.namespace_ = "ns" + std::to_string(n);
  p.metadata.name = "policy" + std::to_string(k);
  auto& spec = p.spec;
  const std::string app = "app" + std::to_string(k);
  const std::string other_team = "team" + std::to_string((n + k) % 10);
  switch (k) {
    case 0:  // web tier: from frontends on 8080; to the databases and DNS
      spec.pod_selector = labels({{"app", app}});
      spec.ingress = {{{pods({{"role", "frontend"}})}, {port(8080)}}};
      spec.egress = {{{pods({{"role", "db"}})}, {port(5432)}},
                     {{block("198.19.0.0/16")}, {port(53, {}, model::PortProtocol::kUDP)}}};
      spec.policy_types = {model::PolicyType::kIngress, model::PolicyType::kEgress};
      break;
    case 1:  // another team's frontends, by named port
      spec.pod_selector = labels({{"app", app}});
      spec.ingress = {{{namespaces({{"team", other_team}}, {{{"role", "frontend"}}})},
                       {port(std::string("http"))}}};
      break;
    case 2:  // the pools minus a range, on two ports
      spec.pod_selector = labels({{"app", app}});
      spec.ingress = {{{block("198.18.0.0/15", {"198.18.128.0/17", "198.19.255.0/24"})},
                       {port(443), port(8443)}}};
      break;
    case 3:  // monitoring from namespace ns0, named port
      spec.pod_selector = labels({{"app", app}});
      spec.ingress = {
          {{namespaces({{"kubernetes.io/metadata.name", "ns0"}})}, {port(std::string("metrics"))}}};
      break;
    case 4:  // a port range from the previous app
      spec.pod_selector = labels({{"app", app}});
      spec.ingress = {{{pods({{"app", "app3"}})}, {port(9000, 9100)}}};
      break;
    case 5:  // egress only, to production namespaces
      spec.pod_selector = labels({{"app", app}});
      spec.egress = {{{namespaces({{"env", "prod"}})}, {port(8080), port(std::string("http"))}}};
      spec.policy_types = {model::PolicyType::kEgress};
      break;
    case 6:  // default deny ingress
      spec.pod_selector = labels({{"app", app}});
      spec.policy_types = {model::PolicyType::kIngress};
      break;
    case 7:  // frontends: from the node network and every namespace, web ports
      spec.pod_selector = labels({{"role", "frontend"}});
      spec.ingress = {{{block("198.19.0.0/16"), namespaces({})}, {port(80), port(443)}}};
      break;
    case 8:  // backends: from frontends here and in another team's namespaces
      spec.pod_selector = labels({{"role", "backend"}});
      spec.ingress = {{{pods({{"role", "frontend"}}),
                        namespaces({{"team", other_team}}, {{{"role", "frontend"}}})},
                       {port(std::string("http")), port(9090)}}};
      break;
    default:  // databases: from backends, one port; DNS out
      spec.pod_selector = labels({{"role", "db"}});
      spec.ingress = {{{pods({{"role", "backend"}})}, {port(5432)}}};
      spec.egress = {{{}, {port(std::string("dns"), {}, model::PortProtocol::kUDP)}}};
      spec.policy_types = {model::PolicyType::kIngress, model::PolicyType::kEgress};
      break;
  }
  return p;
}

}  // namespace brindle::bench
