// Reconciliation of the policy model with the kernel: see dataplane.hpp.
#include "dataplane.hpp"

#include <algorithm>
#include <set>

#include "nft_adapter.hpp"

namespace brindle::policy_nftables {
namespace {

const std::string kListTable =
    "list table " + std::string(kTableFamily) + " " + std::string(kTableName);

using policy_model::normal_kind;

bool id_chars(std::string_view id, std::string_view extra) {
  return std::all_of(id.begin(), id.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

// A prefix as the ABI gave it: a family and a length within it (the address may have host bits,
// they are cleared when rendered).
void check_prefix(const IpPrefix& p, const std::string& what) {
  if (!p.valid()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                what + ": not an IP prefix (family " + std::to_string(p.family()) + ")");
  }
  if (p.prefix_len() > p.max_len()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                what + ": prefix length " + std::to_string(p.prefix_len()) + " exceeds " +
                    std::to_string(p.max_len()) + " (" + p.address_string() + ")");
  }
}

void check_prefixes(const std::vector<IpPrefix>& prefixes, const std::string& what) {
  for (size_t i = 0; i < prefixes.size(); ++i) {
    check_prefix(prefixes[i], what + "[" + std::to_string(i) + "]");
  }
}

// Interface names go into nft strings, where '*' is a wildcard and '"' ends the string.
void check_interface(std::string_view name, const std::string& what, size_t max) {
  if (name.empty() || name.size() > max || !quotable(name) ||
      name.find_first_of("* ") != std::string_view::npos) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                what + " \"" + std::string(name) + "\" must be 1 to " + std::to_string(max) +
                    " printable characters without '*', '\"', '\\' or spaces");
  }
}

void check_match(const RuleMatch& m, const std::string& what) {
  check_prefixes(m.nets, what + ".nets");
  check_prefixes(m.not_nets, what + ".not_nets");
  for (const auto* ranges : {&m.ports, &m.not_ports}) {
    for (const PortRange& r : *ranges) {
      if (r.first > r.last) {
        throw Error(BRINDLE_ERR_INVALID_ARGUMENT, what + ": port range " + std::to_string(r.first) +
                                                      "-" + std::to_string(r.last) +
                                                      " is reversed");
      }
    }
  }
}

void validate_rules(const Policy& policy, const std::vector<Rule>& rules, const char* direction) {
  for (const Rule& r : rules) {
    const std::string what = "policy " + policy.id + " " + direction + " rule " + r.id;
    policy_model::check_rule(r, what);
    if (r.action < BRINDLE_ACTION_ALLOW || r.action > BRINDLE_ACTION_LOG) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                  what + ": unknown action " + std::to_string(static_cast<int>(r.action)));
    }
    if (r.icmp_type < -1 || r.icmp_type > 255 || r.icmp_code < -1 || r.icmp_code > 255) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, what + ": icmp type/code out of range");
    }
    check_match(r.source, what + " source");
    check_match(r.destination, what + " destination");
  }
}

}  // namespace

Dataplane::Dataplane(Host host, Options options)
    : host_(host),
      options_(options),
      view_{globals_,
            [this](const std::string& id) -> const ModelSet* {
              const auto it = sets_.find(id);
              return it == sets_.end() ? nullptr : &it->second.rendered;
            },
            [this](brindle_policy_kind_t kind, const std::string& id) {
              return (kind == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_).contains(id);
            }},
      applies_(host.counter("applies_total", "apply() calls")),
      transactions_(
          host.counter("table_transactions_total", "nft transactions replacing the table")),
      repairs_(host.counter("repairs_total", "times refresh() found the table changed")) {}

std::map<std::string, Policy>& Dataplane::policies_of(brindle_policy_kind_t kind) {
  return normal_kind(kind) == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_;
}

// ---- model changes ------------------------------------------------------------------------------

void Dataplane::set_globals(const PolicyGlobals& globals) {
  if (!globals.interface_prefix.empty()) {
    check_interface(globals.interface_prefix, "interface_prefix", 14);
  }
  check_prefixes(globals.all_pools, "globals all_pools");
  check_prefixes(globals.nat_outgoing_pools, "globals nat_outgoing_pools");
  check_prefixes(globals.node_addresses, "globals node_addresses");
  globals_ = globals;
}

void Dataplane::upsert_ipset(const IpSet& set) {
  if (set.id.empty() || !id_chars(set.id, "_-")) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "ipset id \"" + set.id + "\" must be non-empty [A-Za-z0-9_-]");
  }
  if (set.family != 4 && set.family != 6) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "ipset " + set.id + ": family must be 4 or 6, got " + std::to_string(set.family));
  }
  if (set.type != BRINDLE_IPSET_NET && set.type != BRINDLE_IPSET_NET_PORT) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "ipset " + set.id + ": unknown type " + std::to_string(static_cast<int>(set.type)));
  }
  StoredSet next{{set_kernel_name(set.id), set.type, set.family, {}}, {}};
  change_members(next, set.members, {});
  sets_[set.id] = std::move(next);
}

void Dataplane::change_members(StoredSet& stored, const std::vector<IpSetMember>& added,
                               const std::vector<IpSetMember>& removed) {
  const ModelSet& set = stored.rendered;
  for (const auto* list : {&added, &removed}) {
    for (const IpSetMember& m : *list) {
      const std::string what = "ipset " + set.kernel_name + " member " +
                               (m.net.valid() ? m.net.address_string() : std::string("?"));
      check_prefix(m.net, what);
      if (m.net.family() != set.family) {
        throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                    what + " is not of the set's family IPv" + std::to_string(set.family));
      }
      if (set.type == BRINDLE_IPSET_NET_PORT && !protocol_has_ports(m.protocol)) {
        throw Error(BRINDLE_ERR_INVALID_ARGUMENT, what +
                                                      ": a named-port member needs protocol "
                                                      "tcp, udp, sctp, udplite or dccp (got " +
                                                      std::to_string(m.protocol) + ")");
      }
    }
  }
  const bool net_port = set.type == BRINDLE_IPSET_NET_PORT;
  auto key = [&](const IpSetMember& m) {
    return MemberKey{m.net.network(), net_port ? m.protocol : uint8_t{0},
                     net_port ? m.port : uint16_t{0}};
  };
  for (const IpSetMember& m : removed) {
    stored.given.erase(key(m));
  }
  for (const IpSetMember& m : added) {
    stored.given.insert(key(m));
  }
  std::vector<IpSetMember> members;
  members.reserve(stored.given.size());
  for (const auto& [net, protocol, port] : stored.given) {
    members.push_back({net, protocol, port});
  }
  stored.rendered.members = canonical_members(std::move(members));
}

void Dataplane::update_ipset_members(std::string_view id, const std::vector<IpSetMember>& added,
                                     const std::vector<IpSetMember>& removed) {
  const auto it = sets_.find(std::string(id));
  if (it == sets_.end()) {
    throw Error(BRINDLE_ERR_NOT_FOUND, "ipset " + std::string(id) + " is not known");
  }
  change_members(it->second, added, removed);
}

void Dataplane::remove_ipset(std::string_view id) {
  sets_.erase(std::string(id));
}

void Dataplane::upsert_policy(const Policy& policy) {
  if (policy.id.empty() || !id_chars(policy.id, "_.-")) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "policy id \"" + policy.id + "\" must be non-empty [A-Za-z0-9_.-]");
  }
  validate_rules(policy, policy.ingress, "ingress");
  validate_rules(policy, policy.egress, "egress");
  Policy stored = policy;
  stored.kind = normal_kind(policy.kind);
  policies_of(stored.kind)[policy.id] = std::move(stored);
}

void Dataplane::remove_policy(brindle_policy_kind_t kind, std::string_view id) {
  policies_of(kind).erase(std::string(id));
}

void Dataplane::upsert_endpoint(const Endpoint& endpoint) {
  if (endpoint.id.empty()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "endpoint id is empty");
  }
  check_interface(endpoint.interface, "endpoint " + endpoint.id + ": interface", 15);
  endpoints_[endpoint.id] = {endpoint.interface, endpoint.ingress_policies,
                             endpoint.egress_policies, endpoint.profiles};
}

void Dataplane::remove_endpoint(std::string_view id) {
  endpoints_.erase(std::string(id));
}

void Dataplane::in_sync() {
  in_sync_ = true;
}

// ---- rendering and programming
// -------------------------------------------------------------------

TableModel Dataplane::table_model() const {
  TableModel table;
  for (const auto& [id, set] : sets_) {
    table.sets.push_back(&set.rendered);
  }
  // An interface named by several endpoints goes to the lowest endpoint id's chains.
  std::map<std::string, const StoredEndpoint*> by_interface;
  for (const auto& [id, endpoint] : endpoints_) {
    by_interface.emplace(endpoint.interface, &endpoint);
  }
  std::set<EndpointChainKey> chains;
  std::set<std::pair<brindle_policy_kind_t, std::string>> used;
  for (const auto& [interface, endpoint] : by_interface) {
    const EndpointChainKey to{true, endpoint->ingress_policies, endpoint->profiles};
    const EndpointChainKey from{false, endpoint->egress_policies, endpoint->profiles};
    table.dispatch.push_back({interface, to.chain_name(), from.chain_name()});
    for (const EndpointChainKey* key : {&to, &from}) {
      chains.insert(*key);
      for (const std::string& id : key->policies) {
        used.emplace(BRINDLE_POLICY_KIND_POLICY, id);
      }
      for (const std::string& id : key->profiles) {
        used.emplace(BRINDLE_POLICY_KIND_PROFILE, id);
      }
    }
  }
  table.endpoint_chains.assign(chains.begin(), chains.end());
  // Only the policies some endpoint uses get chains (a missing one is a drop in its user).
  for (const auto& [kind, id] : used) {
    const auto& map = kind == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_;
    if (const auto it = map.find(id); it != map.end()) {
      table.policies.push_back(&it->second);
    }
  }
  return table;
}

void Dataplane::write(const std::string& script) {
  written_script_.clear();  // unknown until the transaction succeeds
  nft::Context nft;
  nft.run(script);
  transactions_.add(1);
  written_listing_ = nft.list(kListTable).value_or("");
  written_script_ = script;
}

void Dataplane::apply() {
  applies_.add(1);
  if (!in_sync_) {
    return;  // the previous table stays until the model is complete
  }
  const std::string script = renderer_.replace_script(table_model());
  if (script == written_script_) {
    return;
  }
  write(script);
}

void Dataplane::refresh() {
  if (!in_sync_) {
    return;
  }
  if (written_script_.empty()) {
    apply();
    return;
  }
  const std::optional<std::string> listing = nft::Context().list(kListTable);
  if (listing && *listing == written_listing_) {
    return;
  }
  repairs_.add(1);
  host_.warn("nftables table changed behind our back: rewritten",
             std::string("table=") + std::string(kTableFamily) + "/" + std::string(kTableName) +
                 (listing ? "" : " (it was missing)"));
  const std::string script = written_script_;  // write() forgets it until it succeeds
  write(script);
}

}  // namespace brindle::policy_nftables
