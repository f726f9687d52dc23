// Brindle C++ SDK: policy plugins. See brindle/policy.h for the contract and evaluation order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "brindle/policy.h"
#include "brindle/sdk/core.hpp"

namespace brindle {

struct IpSetMember {
  IpPrefix net;
  uint8_t protocol = 0;
  uint16_t port = 0;
};

struct IpSet {
  std::string id;
  brindle_ipset_type_t type = BRINDLE_IPSET_NET;
  int family = 4;
  std::vector<IpSetMember> members;
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
};

struct RuleMatch {
  std::vector<IpPrefix> nets;
  std::vector<IpPrefix> not_nets;
  std::vector<std::string> ipsets;
  std::vector<std::string> not_ipsets;
  std::vector<PortRange> ports;
  std::vector<PortRange> not_ports;
  std::vector<std::string> named_port_ipsets;
};

struct Rule {
  std::string id;
  brindle_rule_action_t action = BRINDLE_ACTION_ALLOW;
  int ip_version = 0;
  uint8_t protocol = 0;
  uint8_t not_protocol = 0;
  int icmp_type = -1;
  int icmp_code = -1;
  RuleMatch source;
  RuleMatch destination;
  std::string log_prefix;
};

struct Policy {
  std::string id;
  brindle_policy_kind_t kind = BRINDLE_POLICY_KIND_POLICY;
  std::vector<Rule> ingress;
  std::vector<Rule> egress;
};

struct Endpoint {
  std::string id;
  std::string interface;
  std::vector<IpPrefix> addresses;
  Mac mac;
  std::vector<std::string> ingress_policies;
  std::vector<std::string> egress_policies;
  std::vector<std::string> profiles;
};

struct ProtoPort {
  uint8_t protocol = 0;
  uint16_t port = 0;
};

struct PolicyGlobals {
  std::string interface_prefix;
  std::vector<IpPrefix> all_pools;
  std::vector<IpPrefix> nat_outgoing_pools;
  std::vector<ProtoPort> failsafe_inbound;
  std::vector<ProtoPort> failsafe_outbound;
  std::vector<IpPrefix> node_addresses;
};

namespace detail {

inline std::vector<IpSetMember> members(const brindle_ipset_member_t* items, size_t n) {
  std::vector<IpSetMember> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back({IpPrefix(items[i].net), items[i].protocol, items[i].port});
  }
  return out;
}

inline std::vector<PortRange> port_ranges(const brindle_port_range_t* items, size_t n) {
  std::vector<PortRange> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back({items[i].first, items[i].last});
  }
  return out;
}

inline std::vector<ProtoPort> proto_ports(const brindle_proto_port_t* items, size_t n) {
  std::vector<ProtoPort> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back({items[i].protocol, items[i].port});
  }
  return out;
}

inline RuleMatch rule_match(const brindle_rule_match_t* raw) {
  if (raw == nullptr) {
    return {};
  }
  const brindle_rule_match_t m = read_struct(raw);
  return {prefixes(m.nets, m.n_nets),
          prefixes(m.not_nets, m.n_not_nets),
          strings(m.ipsets, m.n_ipsets),
          strings(m.not_ipsets, m.n_not_ipsets),
          port_ranges(m.ports, m.n_ports),
          port_ranges(m.not_ports, m.n_not_ports),
          strings(m.named_port_ipsets, m.n_named_port_ipsets)};
}

inline std::vector<Rule> rules(const brindle_rule_t* const* items, size_t n) {
  std::vector<Rule> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const brindle_rule_t r = read_struct(items[i]);
    out.push_back({std::string(view(r.id)), r.action, r.ip_version, r.protocol, r.not_protocol,
                   r.icmp_type, r.icmp_code, rule_match(r.source), rule_match(r.destination),
                   std::string(view(r.log_prefix))});
  }
  return out;
}

}  // namespace detail

class PolicyPlugin : public PluginBase {
 public:
  static constexpr brindle_plugin_kind_t kKind = BRINDLE_KIND_POLICY;
  using PluginBase::PluginBase;

  virtual void set_globals(const PolicyGlobals& globals) = 0;
  virtual void upsert_ipset(const IpSet& set) = 0;
  virtual void update_ipset_members(std::string_view id, const std::vector<IpSetMember>& added,
                                    const std::vector<IpSetMember>& removed) = 0;
  virtual void remove_ipset(std::string_view id) = 0;
  virtual void upsert_policy(const Policy& policy) = 0;
  virtual void remove_policy(brindle_policy_kind_t kind, std::string_view id) = 0;
  virtual void upsert_endpoint(const Endpoint& endpoint) = 0;
  virtual void remove_endpoint(std::string_view id) = 0;
  virtual void in_sync() = 0;
  virtual void apply() = 0;
  virtual void refresh() {}
};

namespace detail {

template <typename Plugin>
struct PolicyAdapter {
  static Plugin& self(brindle_instance_t* inst) { return *reinterpret_cast<Plugin*>(inst); }

  static brindle_status_t set_globals(brindle_instance_t* inst, const brindle_policy_globals_t* raw,
                                      brindle_error_t* err) {
    return guard(err, [&] {
      const brindle_policy_globals_t g = read_struct(raw);
      self(inst).set_globals({std::string(view(g.interface_prefix)),
                              prefixes(g.all_pools, g.n_all_pools),
                              prefixes(g.nat_outgoing_pools, g.n_nat_outgoing_pools),
                              proto_ports(g.failsafe_inbound, g.n_failsafe_inbound),
                              proto_ports(g.failsafe_outbound, g.n_failsafe_outbound),
                              prefixes(g.node_addresses, g.n_node_addresses)});
    });
  }
  static brindle_status_t upsert_ipset(brindle_instance_t* inst, const brindle_ipset_t* raw,
                                       brindle_error_t* err) {
    return guard(err, [&] {
      const brindle_ipset_t s = read_struct(raw);
      self(inst).upsert_ipset(
          {std::string(view(s.id)), s.type, s.family, members(s.members, s.n_members)});
    });
  }
  static brindle_status_t update_ipset_members(brindle_instance_t* inst, brindle_str_t id,
                                               const brindle_ipset_member_t* added, size_t n_added,
                                               const brindle_ipset_member_t* removed,
                                               size_t n_removed, brindle_error_t* err) {
    return guard(err, [&] {
      self(inst).update_ipset_members(view(id), members(added, n_added),
                                      members(removed, n_removed));
    });
  }
  static brindle_status_t remove_ipset(brindle_instance_t* inst, brindle_str_t id,
                                       brindle_error_t* err) {
    return guard(err, [&] { self(inst).remove_ipset(view(id)); });
  }
  static brindle_status_t upsert_policy(brindle_instance_t* inst, const brindle_policy_t* raw,
                                        brindle_error_t* err) {
    return guard(err, [&] {
      const brindle_policy_t p = read_struct(raw);
      self(inst).upsert_policy({std::string(view(p.id)), p.kind, rules(p.ingress, p.n_ingress),
                                rules(p.egress, p.n_egress)});
    });
  }
  static brindle_status_t remove_policy(brindle_instance_t* inst, brindle_policy_kind_t kind,
                                        brindle_str_t id, brindle_error_t* err) {
    return guard(err, [&] { self(inst).remove_policy(kind, view(id)); });
  }
  static brindle_status_t upsert_endpoint(brindle_instance_t* inst, const brindle_endpoint_t* raw,
                                          brindle_error_t* err) {
    return guard(err, [&] {
      const brindle_endpoint_t e = read_struct(raw);
      self(inst).upsert_endpoint({std::string(view(e.id)), std::string(view(e.interface)),
                                  prefixes(e.addresses, e.n_addresses), Mac{e.mac},
                                  strings(e.ingress_policies, e.n_ingress_policies),
                                  strings(e.egress_policies, e.n_egress_policies),
                                  strings(e.profiles, e.n_profiles)});
    });
  }
  static brindle_status_t remove_endpoint(brindle_instance_t* inst, brindle_str_t id,
                                          brindle_error_t* err) {
    return guard(err, [&] { self(inst).remove_endpoint(view(id)); });
  }
  static brindle_status_t in_sync(brindle_instance_t* inst, brindle_error_t* err) {
    return guard(err, [&] { self(inst).in_sync(); });
  }
  static brindle_status_t apply(brindle_instance_t* inst, brindle_error_t* err) {
    return guard(err, [&] { self(inst).apply(); });
  }
  static brindle_status_t refresh(brindle_instance_t* inst, brindle_error_t* err) {
    return guard(err, [&] { self(inst).refresh(); });
  }

  static constexpr brindle_policy_vtable_t kVtable{sizeof(brindle_policy_vtable_t),
                                                   &set_globals,
                                                   &upsert_ipset,
                                                   &update_ipset_members,
                                                   &remove_ipset,
                                                   &upsert_policy,
                                                   &remove_policy,
                                                   &upsert_endpoint,
                                                   &remove_endpoint,
                                                   &in_sync,
                                                   &apply,
                                                   &refresh};
};

}  // namespace detail
}  // namespace brindle
