// Shared by the policy engine tests: the conformance model (namespaces x, y, z; pods a, b, c
// labelled pod=<name>; servers on TCP, UDP and SCTP ports 80 and 81 with named ports
// serve-<port>-<proto>), resources from YAML as people write them, and reachability matrices
// computed with PolicyEngine::trace().
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "brindle/model/kinds.hpp"
#include "brindle/model/parse.hpp"
#include "brindle/policy/engine.hpp"

namespace brindle::policy::testing {

inline const std::vector<std::string> kNamespaces{"x", "y", "z"};
inline const std::vector<std::string> kPods{"a", "b", "c"};

inline size_t index_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}

// x/a = 198.18.1.1, y/b = 198.18.2.2, ... and 2001:db8:1::1, ...
inline model::IpAddress pod_ip(const std::string& ns, const std::string& pod,
                               model::IpFamily family = model::IpFamily::kV4) {
  const size_t n = index_of(kNamespaces, ns) + 1;
  const size_t p = index_of(kPods, pod) + 1;
  if (family == model::IpFamily::kV4) {
    return model::IpAddress::parse("198.18." + std::to_string(n) + "." + std::to_string(p));
  }
  return model::IpAddress::parse("2001:db8:" + std::to_string(n) + "::" + std::to_string(p));
}

inline std::vector<model::NamedPort> conformance_ports() {
  std::vector<model::NamedPort> ports;
  for (uint16_t port : {uint16_t{80}, uint16_t{81}}) {
    ports.push_back({"serve-" + std::to_string(port) + "-tcp", model::PortProtocol::kTCP, port});
    ports.push_back({"serve-" + std::to_string(port) + "-udp", model::PortProtocol::kUDP, port});
    ports.push_back({"serve-" + std::to_string(port) + "-sctp", model::PortProtocol::kSCTP, port});
  }
  return ports;
}

inline model::WorkloadEndpoint make_pod(const std::string& ns, const std::string& name,
                                        model::Labels labels,
                                        std::vector<model::IpAddress> addresses,
                                        std::vector<model::NamedPort> ports,
                                        const std::string& node = "node-1") {
  model::WorkloadEndpoint w;
  w.metadata.name = name;
  w.metadata.namespace_ = ns;
  w.metadata.labels = std::move(labels);
  w.spec.node = node;
  w.spec.orchestrator = "k8s";
  w.spec.pod = name;
  w.spec.interface_name = "brn" + ns + name;
  for (const auto& a : addresses) {
    w.spec.ip_networks.push_back(model::IpPrefix::host(a));
  }
  w.spec.profiles = {"kns." + ns};
  w.spec.ports = std::move(ports);
  return w;
}

inline model::WorkloadEndpoint conformance_pod(const std::string& ns, const std::string& pod) {
  return make_pod(ns, pod, {{"pod", pod}}, {pod_ip(ns, pod), pod_ip(ns, pod, model::IpFamily::kV6)},
                  conformance_ports(),
                  // Spread over two nodes; the all-local engine compiles both.
                  pod == "b" ? "node-2" : "node-1");
}

inline model::Profile namespace_profile(const std::string& ns, model::Labels extra = {}) {
  model::Profile p;
  p.metadata.name = "kns." + ns;
  p.spec.labels_to_apply = {{"kubernetes.io/metadata.name", ns}, {"ns", ns}};
  for (const auto& [k, v] : extra) {
    p.spec.labels_to_apply[k] = v;
  }
  return p;
}

inline void build_conformance(PolicyEngine& engine) {
  for (const auto& ns : kNamespaces) {
    engine.upsert_profile(namespace_profile(ns));
    for (const auto& pod : kPods) {
      engine.upsert_workload_endpoint(conformance_pod(ns, pod));
    }
  }
}

// Applies (or deletes) every document of a YAML text, as `brindlectl apply -f` would store them.
inline void apply_yaml(PolicyEngine& engine, std::string_view yaml, bool remove = false) {
  for (const model::Resource& r : model::parse_resources_or_throw(yaml, "test.yaml")) {
    const std::string& ns = r.metadata.namespace_;
    const std::string& name = r.metadata.name;
    if (r.kind == "KubernetesNetworkPolicy") {
      remove ? engine.remove_kubernetes_network_policy(ns, name)
             : engine.upsert_kubernetes_network_policy(
                   model::decode<model::KubernetesNetworkPolicySpec>(r));
    } else if (r.kind == "NetworkPolicy") {
      remove ? engine.remove_network_policy(ns, name)
             : engine.upsert_network_policy(model::decode<model::NetworkPolicySpec>(r));
    } else if (r.kind == "GlobalNetworkPolicy") {
      remove
          ? engine.remove_global_network_policy(name)
          : engine.upsert_global_network_policy(model::decode<model::GlobalNetworkPolicySpec>(r));
    } else if (r.kind == "NetworkSet") {
      remove ? engine.remove_network_set(ns, name)
             : engine.upsert_network_set(model::decode<model::NetworkSetSpec>(r));
    } else if (r.kind == "GlobalNetworkSet") {
      remove ? engine.remove_global_network_set(name)
             : engine.upsert_global_network_set(model::decode<model::GlobalNetworkSetSpec>(r));
    } else if (r.kind == "Profile") {
      remove ? engine.remove_profile(name)
             : engine.upsert_profile(model::decode<model::ProfileSpec>(r));
    } else if (r.kind == "WorkloadEndpoint") {
      remove ? engine.remove_workload_endpoint(ns, name)
             : engine.upsert_workload_endpoint(model::decode<model::WorkloadEndpointSpec>(r));
    } else {
      ADD_FAILURE() << "unexpected kind " << r.kind;
    }
  }
}

// Who can open a connection to whom: rows are clients, columns servers.
class Reachability {
 public:
  explicit Reachability(bool allowed = true) {
    for (const auto& from : pods()) {
      for (const auto& to : pods()) {
        table_[{from, to}] = allowed || from == to;  // a pod can always reach itself
      }
    }
  }

  static std::vector<std::string> pods() {
    std::vector<std::string> out;
    for (const auto& ns : kNamespaces) {
      for (const auto& p : kPods) {
        out.push_back(ns + "/" + p);
      }
    }
    return out;
  }

  Reachability& expect(const std::string& from, const std::string& to, bool allowed) {
    if (from != to) {
      table_.at({from, to}) = allowed;
    }
    return *this;
  }
  Reachability& expect_to(const std::string& to, bool allowed) {
    for (const auto& from : pods()) {
      expect(from, to, allowed);
    }
    return *this;
  }
  Reachability& expect_from(const std::string& from, bool allowed) {
    for (const auto& to : pods()) {
      expect(from, to, allowed);
    }
    return *this;
  }
  // Every pair where `from` matches the client predicate and `to` the server predicate.
  template <typename From, typename To>
  Reachability& expect_if(From from_pred, To to_pred, bool allowed) {
    for (const auto& from : pods()) {
      for (const auto& to : pods()) {
        if (from_pred(from) && to_pred(to)) {
          expect(from, to, allowed);
        }
      }
    }
    return *this;
  }
  bool allowed(const std::string& from, const std::string& to) const {
    return table_.at({from, to});
  }

  // ". " allowed, "X " denied; one row per client.
  std::string grid() const {
    std::string out = "     ";
    for (const auto& to : pods()) {
      out += to + " ";
    }
    out += "\n";
    for (const auto& from : pods()) {
      out += from + "  ";
      for (const auto& to : pods()) {
        out += table_.at({from, to}) ? " .  " : " X  ";
      }
      out += "\n";
    }
    return out;
  }

 private:
  std::map<std::pair<std::string, std::string>, bool> table_;
};

inline TracePeer peer(const std::string& pod) {
  const auto slash = pod.find('/');
  return TracePeer::endpoint(pod.substr(0, slash), pod.substr(slash + 1));
}

inline TraceResult trace_pods(PolicyEngine& engine, const std::string& from, const std::string& to,
                              uint8_t protocol, uint16_t port,
                              model::IpFamily family = model::IpFamily::kV4) {
  TraceRequest r;
  r.from = peer(from);
  r.to = peer(to);
  r.protocol = protocol;
  r.port = port;
  r.family = family;
  return engine.trace(r);
}

inline bool allowed(PolicyEngine& engine, const TracePeer& from, const TracePeer& to,
                    uint8_t protocol, uint16_t port) {
  TraceRequest r;
  r.from = from;
  r.to = to;
  r.protocol = protocol;
  r.port = port;
  return engine.trace(r).verdict == Verdict::kAllow;
}

// Traces every (client, server) pair of the conformance pods.
inline Reachability probe(PolicyEngine& engine, uint8_t protocol, uint16_t port,
                          model::IpFamily family = model::IpFamily::kV4) {
  Reachability r;
  for (const auto& from : Reachability::pods()) {
    for (const auto& to : Reachability::pods()) {
      r.expect(from, to,
               trace_pods(engine, from, to, protocol, port, family).verdict == Verdict::kAllow);
    }
  }
  return r;
}

inline bool in_ns(const std::string& pod, const std::string& ns) {
  return pod.substr(0, pod.find('/')) == ns;
}
inline bool is_pod(const std::string& pod, const std::string& name) {
  return pod.substr(pod.find('/') + 1) == name;
}

}  // namespace brindle::policy::testing

// Compares the probed matrix with the expected one, printing both grids on a difference.
#define EXPECT_REACHABILITY(engine, expected, protocol, port)                                    \
  EXPECT_EQ(::brindle::policy::testing::probe(engine, protocol, port).grid(), (expected).grid()) \
      << "probe " << ::brindle::policy::protocol_name(protocol) << "/" << (port)
