// The agent's policy path: datastore resources -> PolicyEngine -> the policy plugin.
//
// Everything here runs on the loop thread except program_endpoint_policy(), which a CNI worker
// calls and which waits for the loop. A pod's endpoint is given to the engine and applied by the
// plugin before its interface is created, so it is never reachable without its policy.
#include <malloc.h>

#include "agent_impl.hpp"
#include "brindle/common/log.hpp"
#include "brindle/daemon/plugin_set.hpp"
#include "brindle/policy/c_abi.hpp"

namespace brindle::agent {

using loader::PluginKind;
using model::IpPrefix;

namespace {

// How long a CNI ADD waits for the policy plugin before failing with "try again".
constexpr std::chrono::seconds kEndpointPolicyTimeout{10};

// After an apply of at least this many changes (a resync, a policy used by many endpoints), the
// heap's free pages go back to the system: the changes, the plugin's rendering and libiptc's
// table images are transient, and glibc keeps what they freed (tens of MB at 10k endpoints).
constexpr size_t kTrimAfterChanges = 256;

std::optional<IpPrefix> host_prefix(const std::optional<strings::IpPrefix>& p) {
  if (!p) {
    return std::nullopt;
  }
  const IpPrefix full = IpPrefix::parse(strings::format_ip_prefix(*p));
  return IpPrefix::host(full.address());
}

}  // namespace

bool Agent::Impl::policy_upsert(const std::string& kind, const model::Resource& r) {
  if (!policy_engine) {
    return false;
  }
  try {
    if (kind == "WorkloadEndpoint") {
      policy_engine->upsert_workload_endpoint(model::decode<model::WorkloadEndpointSpec>(r));
    } else if (kind == "Profile") {
      policy_engine->upsert_profile(model::decode<model::ProfileSpec>(r));
    } else if (kind == "KubernetesNetworkPolicy") {
      policy_engine->upsert_kubernetes_network_policy(
          model::decode<model::KubernetesNetworkPolicySpec>(r));
    } else if (kind == "NetworkPolicy") {
      policy_engine->upsert_network_policy(model::decode<model::NetworkPolicySpec>(r));
    } else if (kind == "GlobalNetworkPolicy") {
      policy_engine->upsert_global_network_policy(model::decode<model::GlobalNetworkPolicySpec>(r));
    } else if (kind == "NetworkSet") {
      policy_engine->upsert_network_set(model::decode<model::NetworkSetSpec>(r));
    } else if (kind == "GlobalNetworkSet") {
      policy_engine->upsert_global_network_set(model::decode<model::GlobalNetworkSetSpec>(r));
    } else {
      return false;
    }
  } catch (const policy::PolicyError& e) {
    // The previous version (if any) stays in force: the engine is unchanged.
    log::warn("policy resource not applied", {{"kind", kind}, {"error", e.what()}});
  }
  return true;
}

bool Agent::Impl::policy_remove(const datastore::Key& key) {
  if (!policy_engine) {
    return false;
  }
  if (key.kind == "WorkloadEndpoint") {
    policy_engine->remove_workload_endpoint(key.namespace_, key.name);
  } else if (key.kind == "Profile") {
    policy_engine->remove_profile(key.name);
  } else if (key.kind == "KubernetesNetworkPolicy") {
    policy_engine->remove_kubernetes_network_policy(key.namespace_, key.name);
  } else if (key.kind == "NetworkPolicy") {
    policy_engine->remove_network_policy(key.namespace_, key.name);
  } else if (key.kind == "GlobalNetworkPolicy") {
    policy_engine->remove_global_network_policy(key.name);
  } else if (key.kind == "NetworkSet") {
    policy_engine->remove_network_set(key.namespace_, key.name);
  } else if (key.kind == "GlobalNetworkSet") {
    policy_engine->remove_global_network_set(key.name);
  } else {
    return false;
  }
  return true;
}

std::string Agent::Impl::sync_policy() {
  loader::LoadedPlugin* plugin = plugins.get(PluginKind::policy);
  if (plugin == nullptr || !policy_engine) {
    return {};
  }
  // Globals follow the pools, this node's addresses and its tunnel address.
  policy::Globals globals;
  globals.interface_prefix = config.workload.interface_prefix;
  for (const calc::PoolInfo& p : routes.pools()) {
    if (p.disabled) {
      continue;
    }
    globals.all_pools.push_back(p.cidr);
    if (p.nat_outgoing) {
      globals.nat_outgoing_pools.push_back(p.cidr);
    }
  }
  for (const auto& a : {host_prefix(node.ipv4), host_prefix(node.ipv6)}) {
    if (a) {
      globals.node_addresses.push_back(*a);
    }
  }
  if (tunnel_address) {
    globals.node_addresses.push_back(IpPrefix::host(*tunnel_address));
  }
  policy_engine->set_globals(globals);  // no change recorded when equal

  for (policy::Change& change : policy_engine->take_changes()) {
    policy_pending.push_back(std::move(change));
  }
  const brindle_policy_vtable_t& vt = *plugin->library().policy();
  brindle_error_t err{};
  const bool first_apply = !policy_in_sync_sent;
  const size_t sent = policy_pending.size();
  while (!policy_pending.empty()) {
    if (policy::send_change(vt, plugin->instance(), policy_pending.front(), &err) != BRINDLE_OK) {
      return std::string("policy: ") + err.message;
    }
    policy_pending.pop_front();
  }
  if (!policy_in_sync_sent) {
    if (vt.in_sync(plugin->instance(), &err) != BRINDLE_OK) {
      return std::string("policy in_sync: ") + err.message;
    }
    policy_in_sync_sent = true;
  }
  const brindle_status_t applied = vt.apply(plugin->instance(), &err);
  if (first_apply || sent >= kTrimAfterChanges) {
    policy_pending.shrink_to_fit();
    malloc_trim(0);
  }
  if (applied != BRINDLE_OK) {
    return std::string("policy apply: ") + err.message;
  }
  return {};
}

void Agent::Impl::program_endpoint_policy(const model::WorkloadEndpoint& endpoint) {
  if (!plugins.get(PluginKind::policy)) {
    return;
  }
  auto done = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = done->get_future();
  asio::post(io, [self = shared_from_this(), endpoint, done] {
    try {
      self->policy_engine->upsert_workload_endpoint(endpoint);
      const std::string error = self->sync_policy();
      self->last_policy_error = error;
      done->set_value(error);
    } catch (const std::exception& e) {
      done->set_value(e.what());
    }
  });
  if (result.wait_for(kEndpointPolicyTimeout) != std::future_status::ready) {
    throw EndpointPolicyError("the policy plugin did not program the endpoint within " +
                              std::to_string(kEndpointPolicyTimeout.count()) + " s");
  }
  const std::string error = result.get();
  if (!error.empty()) {
    throw EndpointPolicyError(error);
  }
}

}  // namespace brindle::agent
