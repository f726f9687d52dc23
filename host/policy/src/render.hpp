// Internal: turns one policy source (Kubernetes NetworkPolicy, Brindle (Global)NetworkPolicy,
// Profile) into its rendered rules plus the selections and IP sets they refer to. Rendering is
// independent of set membership, so a policy is re-rendered only when its own spec changes.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "brindle/model/kinds.hpp"
#include "brindle/model/selector.hpp"
#include "brindle/policy/model.hpp"

namespace brindle::policy::detail {

// 64-bit hash of a text, the same in every process and on every machine.
uint64_t stable_hash(std::string_view text);
std::string hex16(uint64_t value);

// Kubernetes peers select pods by the pod's own labels; Brindle selectors match endpoints by their
// labels plus inherited profile labels, and network sets.
enum class Flavor : uint8_t { kPods, kEndpointsAndSets };
enum class ScopeKind : uint8_t { kNamespace, kNamespaceSelector, kAll };

// Which endpoints (and network sets) are selected: the unit shared by IP sets and policy targets.
struct SelectionSpec {
  Flavor flavor = Flavor::kPods;
  ScopeKind scope = ScopeKind::kAll;
  std::string namespace_;              // kNamespace
  model::Selector namespace_selector;  // kNamespaceSelector
  model::Selector selector;
  std::string descriptor() const;  // canonical text: equal descriptors select the same things
};

struct SetSpec {
  SelectionSpec selection;
  IpSetType type = IpSetType::kNet;
  model::IpFamily family = model::IpFamily::kV4;
  std::string port_name;  // kNetPort
  uint8_t protocol = 0;   // kNetPort
  std::string descriptor() const;
  std::string id() const;  // "n4-<16 hex>", "p6-<16 hex>": hash of the descriptor
};

struct PolicyPlan {
  Policy policy;
  std::optional<SelectionSpec> target;  // the endpoints it applies to; none for profiles
  bool ingress = false;                 // applies to the endpoints' ingress
  bool egress = false;
  double order = std::numeric_limits<double>::infinity();
  std::vector<SetSpec> sets;  // every set the rules use, unique, sorted by id
  std::vector<std::string> warnings;
};

inline constexpr double kKubernetesPolicyOrder = 1000;

std::string kubernetes_policy_id(std::string_view ns, std::string_view name);
std::string network_policy_id(std::string_view ns, std::string_view name);
std::string global_network_policy_id(std::string_view name);
bool is_namespace_profile(std::string_view profile);  // "kns.<namespace>"

// Throw PolicyError naming the resource and field.
PolicyPlan plan_kubernetes(const model::KubernetesNetworkPolicy& policy);
PolicyPlan plan_network_policy(const model::NetworkPolicy& policy);
PolicyPlan plan_global_network_policy(const model::GlobalNetworkPolicy& policy);
// `spec` may be null (a namespace profile without a Profile resource: allow-all).
PolicyPlan plan_profile(const std::string& name, const model::ProfileSpec* spec);

}  // namespace brindle::policy::detail
