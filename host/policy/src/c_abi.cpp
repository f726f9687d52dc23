#include "brindle/policy/c_abi.hpp"

#include <stdexcept>

namespace brindle::policy {

namespace {

std::vector<brindle_ip_prefix_t> to_c(const std::vector<model::IpPrefix>& prefixes) {
  std::vector<brindle_ip_prefix_t> out;
  out.reserve(prefixes.size());
  for (const auto& p : prefixes) {
    out.push_back(p.to_c());
  }
  return out;
}

std::vector<brindle_str_t> to_c(const std::vector<std::string>& strings) {
  std::vector<brindle_str_t> out;
  out.reserve(strings.size());
  for (const auto& s : strings) {
    out.push_back(c_str(s));
  }
  return out;
}

std::vector<brindle_proto_port_t> to_c(const std::vector<ProtoPort>& ports) {
  std::vector<brindle_proto_port_t> out;
  out.reserve(ports.size());
  for (const auto& p : ports) {
    out.push_back({p.protocol, p.port});
  }
  return out;
}

brindle_ipset_member_t to_c(const IpSetMember& m) {
  brindle_ipset_member_t c{};
  c.net = m.net.to_c();
  c.protocol = m.protocol;
  c.port = m.port;
  return c;
}

template <typename T>
const T* data_or_null(const std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

// ---- C -> C++ --------------------------------------------------------------------------------

template <typename T>
void check_array(const T* data, size_t n, const char* what) {
  if (n > 0 && data == nullptr) {
    throw std::invalid_argument(std::string(what) + ": NULL array with " + std::to_string(n) +
                                " entries");
  }
}

std::string from_c(brindle_str_t s) {
  check_array(s.data, s.size, "string");
  return s.size == 0 ? std::string() : std::string(s.data, s.size);
}

std::vector<std::string> strings_from_c(const brindle_str_t* data, size_t n, const char* what) {
  check_array(data, n, what);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(from_c(data[i]));
  }
  return out;
}

std::vector<model::IpPrefix> prefixes_from_c(const brindle_ip_prefix_t* data, size_t n,
                                             const char* what) {
  check_array(data, n, what);
  std::vector<model::IpPrefix> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(model::IpPrefix::from_c(data[i]));
  }
  return out;
}

std::vector<PortRange> ranges_from_c(const brindle_port_range_t* data, size_t n, const char* what) {
  check_array(data, n, what);
  std::vector<PortRange> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back({data[i].first, data[i].last});
  }
  return out;
}

std::vector<ProtoPort> proto_ports_from_c(const brindle_proto_port_t* data, size_t n,
                                          const char* what) {
  check_array(data, n, what);
  std::vector<ProtoPort> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back({data[i].protocol, data[i].port});
  }
  return out;
}

std::optional<RuleMatch> match_from_c(const brindle_rule_match_t* c) {
  if (c == nullptr) {
    return std::nullopt;
  }
  RuleMatch m;
  m.nets = prefixes_from_c(c->nets, c->n_nets, "nets");
  m.not_nets = prefixes_from_c(c->not_nets, c->n_not_nets, "not_nets");
  m.ipsets = strings_from_c(c->ipsets, c->n_ipsets, "ipsets");
  m.not_ipsets = strings_from_c(c->not_ipsets, c->n_not_ipsets, "not_ipsets");
  m.ports = ranges_from_c(c->ports, c->n_ports, "ports");
  m.not_ports = ranges_from_c(c->not_ports, c->n_not_ports, "not_ports");
  m.named_port_ipsets =
      strings_from_c(c->named_port_ipsets, c->n_named_port_ipsets, "named_port_ipsets");
  return m;
}

std::vector<Rule> rules_from_c(const brindle_rule_t* const* rules, size_t n, const char* what) {
  check_array(rules, n, what);
  std::vector<Rule> out;
  for (size_t i = 0; i < n; ++i) {
    if (rules[i] == nullptr) {
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + "]: NULL rule");
    }
    const brindle_rule_t& c = *rules[i];
    if (c.action < BRINDLE_ACTION_ALLOW || c.action > BRINDLE_ACTION_LOG) {
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) +
                                  "]: unknown action " + std::to_string(c.action));
    }
    Rule r;
    r.id = from_c(c.id);
    r.action = static_cast<Action>(c.action);
    r.ip_version = c.ip_version;
    r.protocol = c.protocol;
    r.not_protocol = c.not_protocol;
    r.icmp_type = c.icmp_type;
    r.icmp_code = c.icmp_code;
    r.source = match_from_c(c.source);
    r.destination = match_from_c(c.destination);
    r.log_prefix = from_c(c.log_prefix);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

CMembers::CMembers(const std::vector<IpSetMember>& members) {
  members_.reserve(members.size());
  for (const auto& m : members) {
    members_.push_back(to_c(m));
  }
}

CIpSet::CIpSet(const IpSet& set) : source_(set), members_(set.members) {
  c_.struct_size = sizeof(c_);
  c_.id = c_str(source_.id);
  c_.type = set.type == IpSetType::kNetPort ? BRINDLE_IPSET_NET_PORT : BRINDLE_IPSET_NET;
  c_.family = static_cast<uint8_t>(set.family);
  c_.members = members_.size() == 0 ? nullptr : members_.data();
  c_.n_members = members_.size();
}

const brindle_rule_match_t* CPolicy::add_match(const RuleMatch& m) {
  brindle_rule_match_t c{};
  c.struct_size = sizeof(c);
  auto prefixes = [&](const std::vector<model::IpPrefix>& v, const brindle_ip_prefix_t*& out,
                      size_t& n) {
    prefixes_.push_back(to_c(v));
    out = data_or_null(prefixes_.back());
    n = v.size();
  };
  auto strings = [&](const std::vector<std::string>& v, const brindle_str_t*& out, size_t& n) {
    strings_.push_back(to_c(v));
    out = data_or_null(strings_.back());
    n = v.size();
  };
  auto ranges = [&](const std::vector<PortRange>& v, const brindle_port_range_t*& out, size_t& n) {
    std::vector<brindle_port_range_t> c_ranges;
    for (const auto& r : v) {
      c_ranges.push_back({r.first, r.last});
    }
    ranges_.push_back(std::move(c_ranges));
    out = data_or_null(ranges_.back());
    n = v.size();
  };
  prefixes(m.nets, c.nets, c.n_nets);
  prefixes(m.not_nets, c.not_nets, c.n_not_nets);
  strings(m.ipsets, c.ipsets, c.n_ipsets);
  strings(m.not_ipsets, c.not_ipsets, c.n_not_ipsets);
  ranges(m.ports, c.ports, c.n_ports);
  ranges(m.not_ports, c.not_ports, c.n_not_ports);
  strings(m.named_port_ipsets, c.named_port_ipsets, c.n_named_port_ipsets);
  matches_.push_back(c);
  return &matches_.back();
}

std::vector<const brindle_rule_t*> CPolicy::add_rules(const std::vector<Rule>& rules) {
  std::vector<const brindle_rule_t*> out;
  for (const Rule& r : rules) {
    brindle_rule_t c{};
    c.struct_size = sizeof(c);
    c.id = c_str(r.id);
    c.action = static_cast<brindle_rule_action_t>(r.action);
    c.ip_version = r.ip_version;
    c.protocol = r.protocol;
    c.not_protocol = r.not_protocol;
    c.icmp_type = r.icmp_type;
    c.icmp_code = r.icmp_code;
    c.source = r.source ? add_match(*r.source) : nullptr;
    c.destination = r.destination ? add_match(*r.destination) : nullptr;
    c.log_prefix = c_str(r.log_prefix);
    rules_.push_back(c);
    out.push_back(&rules_.back());
  }
  return out;
}

CPolicy::CPolicy(const Policy& policy) : source_(policy) {
  ingress_ = add_rules(source_.ingress);
  egress_ = add_rules(source_.egress);
  c_.struct_size = sizeof(c_);
  c_.id = c_str(source_.id);
  c_.kind = source_.kind == PolicyKind::kProfile ? BRINDLE_POLICY_KIND_PROFILE
                                                 : BRINDLE_POLICY_KIND_POLICY;
  c_.ingress = data_or_null(ingress_);
  c_.n_ingress = ingress_.size();
  c_.egress = data_or_null(egress_);
  c_.n_egress = egress_.size();
}

CEndpoint::CEndpoint(const Endpoint& endpoint)
    : source_(endpoint),
      addresses_(to_c(source_.addresses)),
      ingress_(to_c(source_.ingress_policies)),
      egress_(to_c(source_.egress_policies)),
      profiles_(to_c(source_.profiles)) {
  c_.struct_size = sizeof(c_);
  c_.id = c_str(source_.id);
  c_.interface = c_str(source_.interface_name);
  c_.addresses = data_or_null(addresses_);
  c_.n_addresses = addresses_.size();
  c_.mac = source_.mac ? source_.mac->to_c() : brindle_mac_t{};
  c_.ingress_policies = data_or_null(ingress_);
  c_.n_ingress_policies = ingress_.size();
  c_.egress_policies = data_or_null(egress_);
  c_.n_egress_policies = egress_.size();
  c_.profiles = data_or_null(profiles_);
  c_.n_profiles = profiles_.size();
}

CGlobals::CGlobals(const Globals& globals)
    : source_(globals),
      all_pools_(to_c(source_.all_pools)),
      nat_outgoing_pools_(to_c(source_.nat_outgoing_pools)),
      failsafe_inbound_(to_c(source_.failsafe_inbound)),
      failsafe_outbound_(to_c(source_.failsafe_outbound)),
      node_addresses_(to_c(source_.node_addresses)) {
  c_.struct_size = sizeof(c_);
  c_.interface_prefix = c_str(source_.interface_prefix);
  c_.all_pools = data_or_null(all_pools_);
  c_.n_all_pools = all_pools_.size();
  c_.nat_outgoing_pools = data_or_null(nat_outgoing_pools_);
  c_.n_nat_outgoing_pools = nat_outgoing_pools_.size();
  c_.failsafe_inbound = data_or_null(failsafe_inbound_);
  c_.n_failsafe_inbound = failsafe_inbound_.size();
  c_.failsafe_outbound = data_or_null(failsafe_outbound_);
  c_.n_failsafe_outbound = failsafe_outbound_.size();
  c_.node_addresses = data_or_null(node_addresses_);
  c_.n_node_addresses = node_addresses_.size();
}

brindle_status_t send_change(const brindle_policy_vtable_t& v, brindle_instance_t* inst,
                             const Change& change, brindle_error_t* err) {
  if (const auto* c = std::get_if<SetGlobals>(&change)) {
    CGlobals g(c->globals);
    return v.set_globals(inst, g.get(), err);
  }
  if (const auto* c = std::get_if<UpsertIpSet>(&change)) {
    CIpSet s(c->set);
    return v.upsert_ipset(inst, s.get(), err);
  }
  if (const auto* c = std::get_if<UpdateIpSetMembers>(&change)) {
    CMembers added(c->added);
    CMembers removed(c->removed);
    return v.update_ipset_members(inst, c_str(c->id), added.size() ? added.data() : nullptr,
                                  added.size(), removed.size() ? removed.data() : nullptr,
                                  removed.size(), err);
  }
  if (const auto* c = std::get_if<UpsertPolicy>(&change)) {
    CPolicy p(c->policy);
    return v.upsert_policy(inst, p.get(), err);
  }
  if (const auto* c = std::get_if<UpsertEndpoint>(&change)) {
    CEndpoint e(c->endpoint);
    return v.upsert_endpoint(inst, e.get(), err);
  }
  if (const auto* c = std::get_if<RemoveEndpoint>(&change)) {
    return v.remove_endpoint(inst, c_str(c->id), err);
  }
  if (const auto* c = std::get_if<RemovePolicy>(&change)) {
    return v.remove_policy(
        inst,
        c->kind == PolicyKind::kProfile ? BRINDLE_POLICY_KIND_PROFILE : BRINDLE_POLICY_KIND_POLICY,
        c_str(c->id), err);
  }
  const auto& c = std::get<RemoveIpSet>(change);
  return v.remove_ipset(inst, c_str(c.id), err);
}

IpSetMember from_c(const brindle_ipset_member_t& m) {
  return {model::IpPrefix::from_c(m.net), m.protocol, m.port};
}

IpSet from_c(const brindle_ipset_t& c) {
  IpSet s;
  s.id = from_c(c.id);
  if (c.type != BRINDLE_IPSET_NET && c.type != BRINDLE_IPSET_NET_PORT) {
    throw std::invalid_argument("ipset " + s.id + ": unknown type");
  }
  if (c.family != 4 && c.family != 6) {
    throw std::invalid_argument("ipset " + s.id + ": family must be 4 or 6");
  }
  s.type = c.type == BRINDLE_IPSET_NET_PORT ? IpSetType::kNetPort : IpSetType::kNet;
  s.family = c.family == 6 ? model::IpFamily::kV6 : model::IpFamily::kV4;
  check_array(c.members, c.n_members, "members");
  for (size_t i = 0; i < c.n_members; ++i) {
    s.members.push_back(from_c(c.members[i]));
  }
  return s;
}

Policy from_c(const brindle_policy_t& c) {
  Policy p;
  p.id = from_c(c.id);
  p.kind = c.kind == BRINDLE_POLICY_KIND_PROFILE ? PolicyKind::kProfile : PolicyKind::kPolicy;
  p.ingress = rules_from_c(c.ingress, c.n_ingress, "ingress");
  p.egress = rules_from_c(c.egress, c.n_egress, "egress");
  return p;
}

Endpoint from_c(const brindle_endpoint_t& c) {
  Endpoint e;
  e.id = from_c(c.id);
  e.interface_name = from_c(c.interface);
  e.addresses = prefixes_from_c(c.addresses, c.n_addresses, "addresses");
  model::MacAddress mac(std::array<uint8_t, 6>{c.mac.bytes[0], c.mac.bytes[1], c.mac.bytes[2],
                                               c.mac.bytes[3], c.mac.bytes[4], c.mac.bytes[5]});
  if (!mac.is_zero()) {
    e.mac = mac;
  }
  e.ingress_policies = strings_from_c(c.ingress_policies, c.n_ingress_policies, "ingress");
  e.egress_policies = strings_from_c(c.egress_policies, c.n_egress_policies, "egress");
  e.profiles = strings_from_c(c.profiles, c.n_profiles, "profiles");
  return e;
}

Globals from_c(const brindle_policy_globals_t& c) {
  Globals g;
  g.interface_prefix = from_c(c.interface_prefix);
  g.all_pools = prefixes_from_c(c.all_pools, c.n_all_pools, "all_pools");
  g.nat_outgoing_pools =
      prefixes_from_c(c.nat_outgoing_pools, c.n_nat_outgoing_pools, "nat_outgoing_pools");
  g.failsafe_inbound =
      proto_ports_from_c(c.failsafe_inbound, c.n_failsafe_inbound, "failsafe_inbound");
  g.failsafe_outbound =
      proto_ports_from_c(c.failsafe_outbound, c.n_failsafe_outbound, "failsafe_outbound");
  g.node_addresses = prefixes_from_c(c.node_addresses, c.n_node_addresses, "node_addresses");
  return g;
}

}  // namespace brindle::policy
