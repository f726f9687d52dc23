// Internal: the per-kind hooks that the generic code in typed.cpp and registry.cpp calls.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "brindle/model/kinds.hpp"

namespace brindle::model {

// Defaults are filled before validation; both throw ValidationError with paths from "spec"
// (or "metadata.name" for naming rules).
// NOLINTBEGIN(bugprone-macro-parentheses): Spec names a type, which parentheses would break
#define BRINDLE_KIND_HOOKS(Spec)               \
  void default_spec(const ObjectMeta&, Spec&); \
  void validate_spec(const ObjectMeta&, const Spec&)
// NOLINTEND(bugprone-macro-parentheses)

BRINDLE_KIND_HOOKS(IPPoolSpec);
BRINDLE_KIND_HOOKS(IPAMConfigSpec);
BRINDLE_KIND_HOOKS(IPAMBlockSpec);
BRINDLE_KIND_HOOKS(BlockAffinitySpec);
BRINDLE_KIND_HOOKS(IPAMHandleSpec);
BRINDLE_KIND_HOOKS(NodeSpec);
BRINDLE_KIND_HOOKS(WorkloadEndpointSpec);
BRINDLE_KIND_HOOKS(NetworkPolicySpec);
BRINDLE_KIND_HOOKS(GlobalNetworkPolicySpec);
BRINDLE_KIND_HOOKS(NetworkSetSpec);
BRINDLE_KIND_HOOKS(GlobalNetworkSetSpec);
BRINDLE_KIND_HOOKS(ProfileSpec);
BRINDLE_KIND_HOOKS(KubernetesNetworkPolicySpec);
BRINDLE_KIND_HOOKS(BGPConfigurationSpec);
BRINDLE_KIND_HOOKS(BGPPeerSpec);
BRINDLE_KIND_HOOKS(AgentConfigurationSpec);

#undef BRINDLE_KIND_HOOKS

// Name, namespace, labels, annotations and timestamp; the per-kind name rules live in
// validate_spec. Throws ValidationError with paths from "metadata".
void validate_metadata(const ObjectMeta& metadata, std::string_view kind, bool namespaced);

// For kinds named "default" (cluster-wide) or "node.<node>" (one node): the node name, or
// nullopt for "default". Throws ValidationError for any other name.
std::optional<std::string> config_scope(const ObjectMeta& metadata);

}  // namespace brindle::model
