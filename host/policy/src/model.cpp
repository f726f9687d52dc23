#include "brindle/policy/model.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

namespace brindle::policy {

bool protocol_has_ports(uint8_t protocol) {
  return protocol == kProtoTCP || protocol == kProtoUDP || protocol == kProtoSCTP ||
         protocol == kProtoUDPLite;
}

std::string protocol_name(uint8_t protocol) {
  switch (protocol) {
    case kProtoICMP:
      return "icmp";
    case kProtoTCP:
      return "tcp";
    case kProtoUDP:
      return "udp";
    case kProtoICMPv6:
      return "icmpv6";
    case kProtoSCTP:
      return "sctp";
    case kProtoUDPLite:
      return "udplite";
    default:
      return std::to_string(protocol);
  }
}

std::string to_string(const IpSetMember& member) {
  std::string out = member.net.to_string();
  if (member.protocol != 0) {
    out += "," + protocol_name(member.protocol) + ":" + std::to_string(member.port);
  }
  return out;
}

bool IpSet::contains(const model::IpAddress& address, uint8_t protocol, uint16_t port) const {
  if (address.family() != family) {
    return false;
  }
  return std::any_of(members.begin(), members.end(), [&](const IpSetMember& m) {
    if (!m.net.contains(address)) {
      return false;
    }
    return type == IpSetType::kNet || (m.protocol == protocol && m.port == port);
  });
}

bool RuleMatch::empty() const {
  return nets.empty() && not_nets.empty() && ipsets.empty() && not_ipsets.empty() &&
         ports.empty() && not_ports.empty() && named_port_ipsets.empty();
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::kAllow:
      return "allow";
    case Action::kDeny:
      return "deny";
    case Action::kPass:
      return "pass";
    case Action::kLog:
      return "log";
  }
  return "?";
}

std::string_view to_string(PolicyKind kind) {
  return kind == PolicyKind::kProfile ? "profile" : "policy";
}

namespace {

template <typename T, typename F>
void append_list(std::string& out, std::string_view name, const std::vector<T>& items, F format) {
  if (items.empty()) {
    return;
  }
  out += ' ';
  out += name;
  out += "=[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += format(items[i]);
  }
  out += ']';
}

std::string describe_match(const RuleMatch& m) {
  std::string out;
  auto prefix = [](const model::IpPrefix& p) { return p.to_string(); };
  auto str = [](const std::string& s) { return s; };
  auto range = [](const PortRange& r) {
    return r.first == r.last ? std::to_string(r.first)
                             : std::to_string(r.first) + ":" + std::to_string(r.last);
  };
  append_list(out, "nets", m.nets, prefix);
  append_list(out, "notNets", m.not_nets, prefix);
  append_list(out, "ipsets", m.ipsets, str);
  append_list(out, "notIpsets", m.not_ipsets, str);
  append_list(out, "ports", m.ports, range);
  append_list(out, "notPorts", m.not_ports, range);
  append_list(out, "namedPorts", m.named_port_ipsets, str);
  return out.empty() ? out : out.substr(1);
}

}  // namespace

std::string describe(const Rule& rule) {
  std::string out(to_string(rule.action));
  if (rule.ip_version != 0) {
    out += " v" + std::to_string(rule.ip_version);
  }
  if (rule.protocol != 0) {
    out += " " + protocol_name(rule.protocol);
  }
  if (rule.not_protocol != 0) {
    out += " !" + protocol_name(rule.not_protocol);
  }
  if (rule.icmp_type >= 0) {
    out += " type=" + std::to_string(rule.icmp_type);
  }
  if (rule.icmp_code >= 0) {
    out += " code=" + std::to_string(rule.icmp_code);
  }
  if (rule.source) {
    out += " src{" + describe_match(*rule.source) + "}";
  }
  if (rule.destination) {
    out += " dst{" + describe_match(*rule.destination) + "}";
  }
  if (!rule.log_prefix.empty()) {
    out += " prefix=\"" + rule.log_prefix + "\"";
  }
  return out;
}

std::string describe(const Change& change) {
  struct Visitor {
    std::string operator()(const SetGlobals&) const { return "set-globals"; }
    std::string operator()(const UpsertIpSet& c) const {
      return "upsert-ipset " + c.set.id + " (" + std::to_string(c.set.members.size()) + " members)";
    }
    std::string operator()(const UpdateIpSetMembers& c) const {
      return "update-ipset " + c.id + " (+" + std::to_string(c.added.size()) + " -" +
             std::to_string(c.removed.size()) + ")";
    }
    std::string operator()(const UpsertPolicy& c) const {
      return "upsert-" + std::string(to_string(c.policy.kind)) + " " + c.policy.id + " (" +
             std::to_string(c.policy.ingress.size()) + " ingress, " +
             std::to_string(c.policy.egress.size()) + " egress rules)";
    }
    std::string operator()(const UpsertEndpoint& c) const {
      return "upsert-endpoint " + c.endpoint.id;
    }
    std::string operator()(const RemoveEndpoint& c) const { return "remove-endpoint " + c.id; }
    std::string operator()(const RemovePolicy& c) const {
      return "remove-" + std::string(to_string(c.kind)) + " " + c.id;
    }
    std::string operator()(const RemoveIpSet& c) const { return "remove-ipset " + c.id; }
  };
  return std::visit(Visitor{}, change);
}

namespace {

void for_each_set_id(const Policy& policy, const std::function<void(const std::string&)>& f) {
  for (const auto* rules : {&policy.ingress, &policy.egress}) {
    for (const Rule& rule : *rules) {
      for (const auto* side : {&rule.source, &rule.destination}) {
        if (!*side) {
          continue;
        }
        for (const auto* ids :
             {&(*side)->ipsets, &(*side)->not_ipsets, &(*side)->named_port_ipsets}) {
          for (const std::string& id : *ids) {
            f(id);
          }
        }
      }
    }
  }
}

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument(what);
}

}  // namespace

namespace {

struct Applier {
  Model& m;

  void operator()(const SetGlobals& c) const { m.globals = c.globals; }

  void operator()(const UpsertIpSet& c) const { m.ipsets[c.set.id] = c.set; }

  void operator()(const UpdateIpSetMembers& c) const {
    auto it = m.ipsets.find(c.id);
    if (it == m.ipsets.end()) {
      fail("update of unknown ipset " + c.id);
    }
    std::set<IpSetMember> members(it->second.members.begin(), it->second.members.end());
    for (const IpSetMember& r : c.removed) {
      if (members.erase(r) == 0) {
        fail("ipset " + c.id + ": removed member " + to_string(r) + " is not in the set");
      }
    }
    for (const IpSetMember& a : c.added) {
      if (!members.insert(a).second) {
        fail("ipset " + c.id + ": added member " + to_string(a) + " is already in the set");
      }
    }
    it->second.members.assign(members.begin(), members.end());
  }

  void operator()(const UpsertPolicy& c) const {
    for_each_set_id(c.policy, [&](const std::string& id) {
      if (m.ipsets.count(id) == 0) {
        fail(std::string(to_string(c.policy.kind)) + " " + c.policy.id + " uses unknown ipset " +
             id);
      }
    });
    m.policies[c.policy.key()] = c.policy;
  }

  void operator()(const UpsertEndpoint& c) const {
    auto check = [&](const std::vector<std::string>& ids, PolicyKind kind) {
      for (const std::string& id : ids) {
        if (m.policies.count({kind, id}) == 0) {
          fail("endpoint " + c.endpoint.id + " uses unknown " + std::string(to_string(kind)) + " " +
               id);
        }
      }
    };
    check(c.endpoint.ingress_policies, PolicyKind::kPolicy);
    check(c.endpoint.egress_policies, PolicyKind::kPolicy);
    check(c.endpoint.profiles, PolicyKind::kProfile);
    m.endpoints[c.endpoint.id] = c.endpoint;
  }

  void operator()(const RemoveEndpoint& c) const {
    if (m.endpoints.erase(c.id) == 0) {
      fail("removal of unknown endpoint " + c.id);
    }
  }

  void operator()(const RemovePolicy& c) const {
    for (const auto& [id, ep] : m.endpoints) {
      const auto lists = c.kind == PolicyKind::kProfile
                             ? std::vector{&ep.profiles}
                             : std::vector{&ep.ingress_policies, &ep.egress_policies};
      for (const auto* list : lists) {
        if (std::find(list->begin(), list->end(), c.id) != list->end()) {
          fail("removal of " + std::string(to_string(c.kind)) + " " + c.id +
               " still used by endpoint " + id);
        }
      }
    }
    if (m.policies.erase({c.kind, c.id}) == 0) {
      fail("removal of unknown " + std::string(to_string(c.kind)) + " " + c.id);
    }
  }

  void operator()(const RemoveIpSet& c) const {
    for (const auto& [key, policy] : m.policies) {
      for_each_set_id(policy, [&](const std::string& id) {
        if (id == c.id) {
          fail("removal of ipset " + c.id + " still used by " + std::string(to_string(key.kind)) +
               " " + key.id);
        }
      });
    }
    if (m.ipsets.erase(c.id) == 0) {
      fail("removal of unknown ipset " + c.id);
    }
  }
};

}  // namespace

void apply_change(Model& model, const Change& change) {
  std::visit(Applier{model}, change);
}

}  // namespace brindle::policy
