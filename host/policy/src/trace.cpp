#include "brindle/policy/trace.hpp"

#include <algorithm>

namespace brindle::policy {

std::string_view to_string(Direction direction) {
  return direction == Direction::kIngress ? "ingress" : "egress";
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kDeny:
      return "deny";
    case Verdict::kNotEnforced:
      return "not enforced";
  }
  return "?";
}

namespace {

std::string address_port(const model::IpAddress& a, std::optional<uint16_t> port) {
  if (!port) {
    return a.to_string();
  }
  return (a.is_v4() ? a.to_string() : "[" + a.to_string() + "]") + ":" + std::to_string(*port);
}

bool has_ports(const Packet& p) {
  return protocol_has_ports(p.protocol);
}

bool is_icmp(const Packet& p) {
  return p.protocol == kProtoICMP || p.protocol == kProtoICMPv6;
}

bool in_any(const std::vector<model::IpPrefix>& nets, const model::IpAddress& a) {
  return std::any_of(nets.begin(), nets.end(), [&](const auto& n) { return n.contains(a); });
}

bool in_ranges(const std::vector<PortRange>& ranges, uint16_t port) {
  return std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) { return r.contains(port); });
}

bool set_contains(const Model& model, const std::string& id, const model::IpAddress& a,
                  uint8_t protocol = 0, uint16_t port = 0) {
  auto it = model.ipsets.find(id);
  // A set the model lacks holds nothing (apply_change refuses such models anyway).
  return it != model.ipsets.end() && it->second.contains(a, protocol, port);
}

bool side_matches(const Model& model, const RuleMatch& m, const model::IpAddress& a,
                  std::optional<uint16_t> port, uint8_t protocol) {
  if (!m.nets.empty() && !in_any(m.nets, a)) {
    return false;
  }
  if (in_any(m.not_nets, a)) {
    return false;
  }
  for (const std::string& id : m.ipsets) {
    if (!set_contains(model, id, a)) {
      return false;
    }
  }
  for (const std::string& id : m.not_ipsets) {
    if (set_contains(model, id, a)) {
      return false;
    }
  }
  if (!m.ports.empty() || !m.named_port_ipsets.empty()) {
    if (!port) {
      return false;
    }
    bool any = in_ranges(m.ports, *port) ||
               std::any_of(m.named_port_ipsets.begin(), m.named_port_ipsets.end(),
                           [&](const std::string& id) {
                             return set_contains(model, id, a, protocol, *port);
                           });
    if (!any) {
      return false;
    }
  }
  if (!m.not_ports.empty() && (!port || in_ranges(m.not_ports, *port))) {
    return false;  // a port criterion needs a protocol with ports, as in the dataplane
  }
  return true;
}

bool rule_matches(const Model& model, const Rule& r, const Packet& p) {
  const int version = p.source.is_v4() ? 4 : 6;
  if (r.ip_version != 0 && r.ip_version != version) {
    return false;
  }
  if (r.protocol != 0 && r.protocol != p.protocol) {
    return false;
  }
  if (r.not_protocol != 0 && r.not_protocol == p.protocol) {
    return false;
  }
  if (r.icmp_type >= 0 && (!is_icmp(p) || p.icmp_type != r.icmp_type)) {
    return false;
  }
  if (r.icmp_code >= 0 && (!is_icmp(p) || p.icmp_code != r.icmp_code)) {
    return false;
  }
  std::optional<uint16_t> sport, dport;
  if (has_ports(p)) {
    sport = p.source_port;
    dport = p.destination_port;
  }
  if (r.source && !side_matches(model, *r.source, p.source, sport, p.protocol)) {
    return false;
  }
  if (r.destination && !side_matches(model, *r.destination, p.destination, dport, p.protocol)) {
    return false;
  }
  return true;
}

enum class Outcome { kNone, kAllow, kDeny, kPass };

// Walks one policy's rules; records matches. kNone: no deciding rule.
Outcome walk(const Model& model, PolicyKind kind, const std::string& id, Direction direction,
             const Packet& p, DirectionTrace& out) {
  auto it = model.policies.find({kind, id});
  if (it == model.policies.end()) {
    return Outcome::kNone;
  }
  const auto& rules = direction == Direction::kIngress ? it->second.ingress : it->second.egress;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (!rule_matches(model, r, p)) {
      continue;
    }
    out.hits.push_back({kind, id, i, r.id, r.action, describe(r)});
    const std::string where = std::string(to_string(kind)) + " " + id + " rule " +
                              std::to_string(i) + " (" + describe(r) + ")";
    switch (r.action) {
      case Action::kAllow:
        out.reason = "allowed by " + where;
        return Outcome::kAllow;
      case Action::kDeny:
        out.reason = "denied by " + where;
        return Outcome::kDeny;
      case Action::kPass:
        return Outcome::kPass;
      case Action::kLog:
        break;
    }
  }
  return Outcome::kNone;
}

}  // namespace

std::string to_string(const Packet& p) {
  std::optional<uint16_t> sport, dport;
  if (has_ports(p)) {
    sport = p.source_port;
    dport = p.destination_port;
  }
  std::string out = protocol_name(p.protocol) + " " + address_port(p.source, sport) + " -> " +
                    address_port(p.destination, dport);
  if (is_icmp(p) && p.icmp_type >= 0) {
    out += " type " + std::to_string(p.icmp_type);
    if (p.icmp_code >= 0) {
      out += " code " + std::to_string(p.icmp_code);
    }
  }
  if (p.established) {
    out += " (reply)";
  }
  return out;
}

DirectionTrace evaluate(const Model& model, const Endpoint& endpoint, Direction direction,
                        const Packet& p) {
  DirectionTrace out;
  out.direction = direction;
  out.endpoint_id = endpoint.id;
  out.policies =
      direction == Direction::kIngress ? endpoint.ingress_policies : endpoint.egress_policies;
  out.profiles = endpoint.profiles;
  auto decide = [&](Verdict v, std::string reason) {
    out.verdict = v;
    if (!reason.empty()) {
      out.reason = std::move(reason);
    }
    return out;
  };
  if (p.established) {
    return decide(Verdict::kAllow, "reply of an accepted connection (conntrack)");
  }
  if (direction == Direction::kIngress && in_any(model.globals.node_addresses, p.source)) {
    return decide(Verdict::kAllow, "from this node's address (host traffic is allowed)");
  }
  bool passed = false;
  for (const std::string& id : out.policies) {
    Outcome o = walk(model, PolicyKind::kPolicy, id, direction, p, out);
    if (o == Outcome::kAllow) {
      return decide(Verdict::kAllow, "");
    }
    if (o == Outcome::kDeny) {
      return decide(Verdict::kDeny, "");
    }
    if (o == Outcome::kPass) {
      passed = true;
      break;
    }
  }
  if (!out.policies.empty() && !passed) {
    return decide(Verdict::kDeny, "no policy matched (dropped)");
  }
  for (const std::string& id : out.profiles) {
    Outcome o = walk(model, PolicyKind::kProfile, id, direction, p, out);
    if (o == Outcome::kAllow) {
      return decide(Verdict::kAllow, "");
    }
    if (o == Outcome::kDeny) {
      return decide(Verdict::kDeny, "");
    }
    if (o == Outcome::kPass) {
      break;
    }
  }
  return decide(Verdict::kDeny, passed ? "passed to the profiles; no profile matched (dropped)"
                                       : "no profile matched (dropped)");
}

TraceResult trace(const Model& model, const TraceEnd& from, const TraceEnd& to,
                  const Packet& packet) {
  TraceResult r;
  r.packet = packet;
  r.from = from.description;
  r.to = to.description;
  r.egress.direction = Direction::kEgress;
  r.ingress.direction = Direction::kIngress;
  if (!from.endpoint_id.empty() && from.endpoint_id == to.endpoint_id) {
    r.self = true;
    r.verdict = Verdict::kAllow;
    r.egress.reason = r.ingress.reason = "a pod reaching itself never leaves it: always allowed";
    r.egress.verdict = r.ingress.verdict = Verdict::kAllow;
    r.egress.endpoint_id = r.ingress.endpoint_id = from.endpoint_id;
    return r;
  }
  auto direction = [&](const TraceEnd& end, Direction d) {
    auto it =
        end.endpoint_id.empty() ? model.endpoints.end() : model.endpoints.find(end.endpoint_id);
    if (it == model.endpoints.end()) {
      DirectionTrace t;
      t.direction = d;
      t.verdict = Verdict::kNotEnforced;
      t.reason = end.endpoint_id.empty() ? "not a workload: no policy applies here"
                                         : "workload not on this node: its node enforces this";
      return t;
    }
    return evaluate(model, it->second, d, packet);
  };
  r.egress = direction(from, Direction::kEgress);
  r.ingress = direction(to, Direction::kIngress);
  r.verdict = (r.egress.verdict == Verdict::kDeny || r.ingress.verdict == Verdict::kDeny)
                  ? Verdict::kDeny
                  : Verdict::kAllow;
  return r;
}

std::string format_trace(const TraceResult& r) {
  std::string out = r.from + " -> " + r.to + ": " + to_string(r.packet) + "\n";
  auto section = [&](const DirectionTrace& t, std::string_view title) {
    out += std::string(title) + " (" + std::string(to_string(t.direction)) + ")";
    if (!t.endpoint_id.empty()) {
      out += " at " + t.endpoint_id;
    }
    out += ": " + std::string(to_string(t.verdict)) + "\n";
    if (!t.policies.empty()) {
      out += "  policies:";
      for (const auto& p : t.policies) {
        out += " " + p;
      }
      out += "\n";
    }
    if (!t.profiles.empty()) {
      out += "  profiles:";
      for (const auto& p : t.profiles) {
        out += " " + p;
      }
      out += "\n";
    }
    for (const RuleHit& h : t.hits) {
      out += "  matched " + std::string(to_string(h.kind)) + " " + h.policy_id + " rule " +
             std::to_string(h.rule_index) + " [" + h.rule_id + "]: " + h.rule + "\n";
    }
    out += "  " + t.reason + "\n";
  };
  section(r.egress, "source");
  section(r.ingress, "destination");
  out += "verdict: " + std::string(to_string(r.verdict));
  if (r.verdict == Verdict::kAllow && !r.self) {
    out += " (replies of the connection are allowed by conntrack)";
  }
  out += "\n";
  return out;
}

}  // namespace brindle::policy
