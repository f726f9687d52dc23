// The policy engine: compiles WorkloadEndpoints, Profiles (namespaces), Kubernetes NetworkPolicies,
// Brindle NetworkPolicies and GlobalNetworkPolicies and (Global)NetworkSets into this node's
// policy model (model.hpp), incrementally. Pure computation, no I/O and no threads: the daemon
// feeds it datastore changes and hands take_changes() to the policy plugin.
//
// Semantics (host/policy/README.md has the long form):
//  - Namespaces are the Profiles `kns.<namespace>`; their `labelsToApply` are the namespace's
//    labels (the datastore maps a Kubernetes Namespace to such a Profile). Every endpoint gets its
//    namespace profile (added first when its `profiles` lacks it). A `kns.*` profile direction with
//    no rules allows everything (the Kubernetes namespace default); other profiles use their rules.
//  - Kubernetes NetworkPolicy exactly as upstream (policyTypes defaulting, ports, ipBlock/except,
//    named ports per destination pod, endPort, peers), rendered as Allow rules at order 1000.
//    Pod selectors match the pod's own labels; namespace selectors the namespace's labels.
//  - Brindle (Global)NetworkPolicy: by `order` (absent = last), then id. Selectors match the
//    endpoint's labels plus those of its profiles (own labels win) and the labels of network sets:
//    a namespaced policy's selectors see its namespace's endpoints and NetworkSets (or, with a
//    namespaceSelector, those of the matching namespaces); a global policy's see every endpoint,
//    NetworkSet and GlobalNetworkSet. `notSelector` is never namespace-scoped.
//  - Every distinct selection (selector + scope + flavour) is one IP set per address family, and
//    each (selection, port name, protocol) one named-port set; ids are hashes of their definition.
//  - Only policies and profiles used by a local endpoint, and the sets they use, are in the model.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/model/kinds.hpp"
#include "brindle/policy/model.hpp"
#include "brindle/policy/trace.hpp"

namespace brindle::policy {

// Invalid input (a selector that does not parse, an impossible port range): names the resource
// and the field. The engine's state is unchanged when an upsert throws.
class PolicyError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct EngineConfig {
  std::string node_name;  // endpoints whose spec.node equals it get endpoint records
  // Every endpoint is local, whatever its node: a cluster-wide model for brindlectl and tests.
  bool all_endpoints_local = false;
};

// A pod (workload endpoint) or a bare address, as a trace end.
struct TracePeer {
  std::string namespace_;
  std::string name;  // WorkloadEndpoint name; empty for an address
  std::optional<model::IpAddress> address;
  static TracePeer endpoint(std::string namespace_, std::string name) {
    return {std::move(namespace_), std::move(name), std::nullopt};
  }
  static TracePeer ip(const model::IpAddress& address) { return {"", "", address}; }
};

struct TraceRequest {
  TracePeer from;
  TracePeer to;
  uint8_t protocol = kProtoTCP;
  uint16_t port = 0;  // destination port (the pod's container port)
  int16_t icmp_type = -1;
  int16_t icmp_code = -1;
  std::optional<model::IpFamily> family;  // default: IPv4 when both ends have it, else IPv6
};

// Command-line forms for `brindlectl policy trace`. Throw PolicyError naming the bad part.
//   peer: "<namespace>/<workload endpoint name>" or an IPv4/IPv6 address
//   port: "80" (TCP), "80/tcp", "53/udp", "9/sctp", "icmp", "icmp/8", "icmp/8/0", "icmpv6/128"
TracePeer parse_trace_peer(std::string_view text);
void parse_trace_port(std::string_view text, TraceRequest& request);

struct EngineStats {
  size_t endpoints = 0;        // known (local and remote)
  size_t local_endpoints = 0;  // with endpoint records
  size_t policies = 0;         // rendered policies and profiles
  size_t active_policies = 0;  // used by a local endpoint (in the model)
  size_t selections = 0;
  size_t ipsets = 0;  // maintained
  size_t active_ipsets = 0;
};

class PolicyEngine {
 public:
  explicit PolicyEngine(EngineConfig config);
  ~PolicyEngine();
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;
  PolicyEngine(PolicyEngine&&) noexcept;
  PolicyEngine& operator=(PolicyEngine&&) noexcept;

  // The id of a WorkloadEndpoint in the model: "<namespace>/<name>".
  static std::string endpoint_id(std::string_view namespace_, std::string_view name);

  void set_globals(const Globals& globals);

  // Upserts replace the whole object; removals of unknown objects do nothing. Upserts throw
  // PolicyError on invalid content (the previous version, if any, stays in force).
  void upsert_workload_endpoint(const model::WorkloadEndpoint& endpoint);
  void remove_workload_endpoint(std::string_view namespace_, std::string_view name);
  void upsert_profile(const model::Profile& profile);
  void remove_profile(std::string_view name);
  void upsert_kubernetes_network_policy(const model::KubernetesNetworkPolicy& policy);
  void remove_kubernetes_network_policy(std::string_view namespace_, std::string_view name);
  void upsert_network_policy(const model::NetworkPolicy& policy);
  void remove_network_policy(std::string_view namespace_, std::string_view name);
  void upsert_global_network_policy(const model::GlobalNetworkPolicy& policy);
  void remove_global_network_policy(std::string_view name);
  void upsert_network_set(const model::NetworkSet& set);
  void remove_network_set(std::string_view namespace_, std::string_view name);
  void upsert_global_network_set(const model::GlobalNetworkSet& set);
  void remove_global_network_set(std::string_view name);

  // The operations that bring a plugin from the model of the previous call (initially empty) to
  // the current one, in the order they must be applied.
  std::vector<Change> take_changes();
  // The current model in full (what a plugin holds after applying every change).
  Model snapshot();

  // Traces one packet through the current model. Throws PolicyError for an unknown endpoint or
  // one without an address of the family.
  TraceResult trace(const TraceRequest& request);

  // Constructs the model cannot express exactly (notICMP, named ports in notPorts), per policy
  // id: such Allow/Pass rules are left out, Deny/Log rules lose the criterion (fail closed).
  std::map<PolicyKey, std::vector<std::string>> warnings() const;

  EngineStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace brindle::policy
