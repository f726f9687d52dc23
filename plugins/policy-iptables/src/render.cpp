// Rendering of the policy model into chains: see render.hpp and README.md for the layout.
#include "render.hpp"

#include <netinet/in.h>

#include <cstdio>

namespace brindle::policy_iptables {
namespace {

using xt::Rule;

const std::string kForward = "brindle-FORWARD";
const std::string kInput = "brindle-INPUT";
const std::string kOutput = "brindle-OUTPUT";
const std::string kFromDispatch = "brindle-from-wl-dispatch";
const std::string kToDispatch = "brindle-to-wl-dispatch";
const std::string kPostrouting = "brindle-POSTROUTING";
const std::string kNatOutgoing = "brindle-nat-outgoing";

constexpr uint8_t kIcmp = IPPROTO_ICMP;
constexpr uint8_t kIcmp6 = IPPROTO_ICMPV6;

Rule with_target(Rule rule, xt::Target target) {
  rule.target = std::move(target);
  return rule;
}

std::vector<IpPrefix> of_family(const std::vector<IpPrefix>& prefixes, int family) {
  std::vector<IpPrefix> out;
  for (const IpPrefix& p : prefixes) {
    if (p.family() == family) {
      out.push_back(p);
    }
  }
  return out;
}

// Splits port ranges into multiport matches of at most 15 slots.
std::vector<xt::PortMatch> port_matches(const std::vector<PortRange>& ranges, bool source,
                                        bool invert) {
  std::vector<xt::PortMatch> out;
  size_t slots = xt::kMaxPortSlots;
  for (const PortRange& r : ranges) {
    const size_t need = r.first == r.last ? 1 : 2;
    if (slots + need > xt::kMaxPortSlots) {
      out.push_back({source, invert, {}});
      slots = 0;
    }
    out.back().ranges.push_back({r.first, r.last});
    slots += need;
  }
  return out;
}

// One way a side can satisfy its port criterion: a port list or a named-port set.
struct PortAlternative {
  std::optional<xt::PortMatch> ports;
  std::optional<xt::SetMatch> named_ports;
};

struct SideRendering {
  bool impossible = false;  // can never match in this family: the rule is left out
  std::optional<IpPrefix> address;
  bool address_invert = false;
  std::vector<xt::SetMatch> sets;
  std::vector<xt::PortMatch> not_ports;
  std::vector<PortAlternative> alternatives;  // empty: no port criterion
};

class Renderer {
 public:
  Renderer(const ModelView& model, xt::Family family, const Options& options)
      : model_(model), family_(static_cast<int>(family)), options_(options) {}

  Rendered run() {
    render_filter();
    render_nat();
    return std::move(out_);
  }

 private:
  std::string prefix_wildcard() const { return model_.globals.interface_prefix + "+"; }
  bool has_prefix() const { return !model_.globals.interface_prefix.empty(); }

  std::string internal_set(const std::vector<IpPrefix>& nets) {
    InternalSet set;
    set.family = family_;
    for (const IpPrefix& n : nets) {
      for (std::string& text : ipset::member_texts(n, ipset::SetType::kNet, 0, 0)) {
        set.members.insert(std::move(text));
      }
    }
    std::string key = std::to_string(family_);
    for (const std::string& m : set.members) {
      key += " " + m;
    }
    const std::string name = "brindle-i-" + short_hash(key);
    out_.internal_sets.emplace(name, std::move(set));
    return name;
  }

  SideRendering side(const RuleMatch& m, bool source, uint8_t protocol) {
    SideRendering out;
    const std::vector<IpPrefix> nets = of_family(m.nets, family_);
    const std::vector<IpPrefix> not_nets = of_family(m.not_nets, family_);
    if (!m.nets.empty() && nets.empty()) {
      out.impossible = true;
      return out;
    }
    if (nets.size() == 1) {
      out.address = nets.front();
    } else if (nets.size() > 1) {
      out.sets.push_back({internal_set(nets), 1, source, false});
    }
    if (!not_nets.empty()) {
      if (!out.address && not_nets.size() == 1) {
        out.address = not_nets.front();
        out.address_invert = true;
      } else {
        out.sets.push_back({internal_set(not_nets), 1, source, true});
      }
    }
    for (const std::string& id : m.ipsets) {
      const auto it = model_.sets.find(id);
      if (it == model_.sets.end() || it->second.family != family_) {
        out.impossible = true;  // an unknown set is empty; a set of the other family too
        return out;
      }
      out.sets.push_back({it->second.kernel_name, dimensions(it->second), source, false});
    }
    for (const std::string& id : m.not_ipsets) {
      const auto it = model_.sets.find(id);
      if (it != model_.sets.end() && it->second.family == family_) {
        out.sets.push_back({it->second.kernel_name, dimensions(it->second), source, true});
      }
    }
    const bool ports_usable = protocol_has_ports(protocol);
    if (!m.not_ports.empty()) {
      if (!ports_usable) {
        out.impossible = true;
        return out;
      }
      out.not_ports = port_matches(m.not_ports, source, true);
    }
    if (!m.ports.empty() && ports_usable) {
      for (xt::PortMatch& p : port_matches(m.ports, source, false)) {
        out.alternatives.push_back({std::move(p), std::nullopt});
      }
    }
    for (const std::string& id : m.named_port_ipsets) {
      const auto it = model_.sets.find(id);
      if (it != model_.sets.end() && it->second.family == family_) {
        out.alternatives.push_back(
            {std::nullopt, xt::SetMatch{it->second.kernel_name, 2, source, false}});
      }
    }
    if ((!m.ports.empty() || !m.named_port_ipsets.empty()) && out.alternatives.empty()) {
      out.impossible = true;
    }
    return out;
  }

  static uint8_t dimensions(const SetInfo& set) { return set.type == ipset::SetType::kNet ? 1 : 2; }

  static void apply_side(Rule& rule, const SideRendering& side, bool source) {
    if (side.address) {
      (source ? rule.source : rule.destination) = side.address;
      (source ? rule.source_invert : rule.destination_invert) = side.address_invert;
    }
    rule.sets.insert(rule.sets.end(), side.sets.begin(), side.sets.end());
    rule.ports.insert(rule.ports.end(), side.not_ports.begin(), side.not_ports.end());
  }
  static void apply_alternative(Rule& rule, const PortAlternative* alt) {
    if (alt == nullptr) {
      return;
    }
    if (alt->ports) {
      rule.ports.push_back(*alt->ports);
    }
    if (alt->named_ports) {
      rule.sets.push_back(*alt->named_ports);
    }
  }

  // One model rule as iptables rules appended to `chain` (none when it cannot match here).
  void render_rule(const brindle::Rule& r, std::vector<Rule>& chain) {
    if (r.ip_version != 0 && r.ip_version != family_) {
      return;
    }
    if ((r.protocol == kIcmp && family_ == 6) || (r.protocol == kIcmp6 && family_ == 4)) {
      return;
    }
    Rule base;
    if (r.protocol != 0) {
      if (r.not_protocol == r.protocol) {
        return;  // "tcp and not tcp"
      }
      base.protocol = r.protocol;
    } else if (r.not_protocol != 0) {
      base.protocol = r.not_protocol;
      base.protocol_invert = true;
    }
    const uint8_t ports_protocol = base.protocol_invert ? 0 : base.protocol;
    const SideRendering src = side(r.source, true, ports_protocol);
    const SideRendering dst = side(r.destination, false, ports_protocol);
    if (src.impossible || dst.impossible) {
      return;
    }
    apply_side(base, src, true);
    apply_side(base, dst, false);
    if ((r.protocol == kIcmp || r.protocol == kIcmp6) && r.icmp_type >= 0) {
      base.icmp = xt::IcmpMatch{static_cast<uint8_t>(r.icmp_type), r.icmp_code};
    }
    base.comment = "rule " + r.id;

    std::vector<Rule> expansions;
    const size_t n_src = std::max<size_t>(1, src.alternatives.size());
    const size_t n_dst = std::max<size_t>(1, dst.alternatives.size());
    for (size_t i = 0; i < n_src; ++i) {
      for (size_t j = 0; j < n_dst; ++j) {
        Rule rule = base;
        apply_alternative(rule, src.alternatives.empty() ? nullptr : &src.alternatives[i]);
        apply_alternative(rule, dst.alternatives.empty() ? nullptr : &dst.alternatives[j]);
        expansions.push_back(std::move(rule));
      }
    }
    switch (r.action) {
      case BRINDLE_ACTION_ALLOW:
        for (Rule& e : expansions) {
          chain.push_back(
              with_target(std::move(e), xt::SetMark{options_.accept_mark, options_.accept_mark}));
        }
        chain.push_back(return_if(options_.accept_mark));
        break;
      case BRINDLE_ACTION_PASS:
        for (Rule& e : expansions) {
          chain.push_back(
              with_target(std::move(e), xt::SetMark{options_.pass_mark, options_.pass_mark}));
        }
        chain.push_back(return_if(options_.pass_mark));
        break;
      case BRINDLE_ACTION_DENY:
        for (Rule& e : expansions) {
          chain.push_back(with_target(std::move(e), xt::Verdict::kDrop));
        }
        break;
      case BRINDLE_ACTION_LOG: {
        std::string prefix = r.log_prefix.empty() ? "brindle " : r.log_prefix;
        prefix.resize(std::min<size_t>(prefix.size(), 29));
        for (Rule& e : expansions) {
          chain.push_back(with_target(std::move(e), xt::Log{prefix}));
        }
        break;
      }
    }
  }

  static Rule return_if(uint32_t bit) {
    Rule rule;
    rule.mark = xt::MarkMatch{bit, bit};
    rule.target = xt::Verdict::kReturn;
    return rule;
  }

  void render_policy_chains(const std::map<std::string, Policy>& policies,
                            brindle_policy_kind_t kind, const std::set<std::string>& used) {
    for (const auto& [id, policy] : policies) {
      if (!used.contains(id)) {
        continue;  // rendered only while an endpoint uses it
      }
      for (const bool ingress : {true, false}) {
        std::vector<Rule>& chain = out_.filter.chains[policy_chain(kind, id, ingress)];
        for (const brindle::Rule& r : ingress ? policy.ingress : policy.egress) {
          render_rule(r, chain);
        }
      }
    }
  }

  // The per-endpoint chain of one direction: policies in order, then profiles.
  std::vector<Rule> endpoint_rules(const Endpoint& e, bool ingress) {
    std::vector<Rule> chain;
    const uint32_t both = options_.accept_mark | options_.pass_mark;
    chain.push_back(with_target(Rule{}, xt::SetMark{0, both}));
    if (ingress) {
      for (const IpPrefix& node : of_family(model_.globals.node_addresses, family_)) {
        Rule rule;
        rule.source = node;
        rule.comment = "from this node";
        chain.push_back(rule);  // ACCEPT
      }
    }
    const std::vector<std::string>& policies = ingress ? e.ingress_policies : e.egress_policies;
    auto jump_unless_passed = [&](const std::string& target, bool known) {
      Rule rule;
      rule.mark = xt::MarkMatch{0, options_.pass_mark};
      if (known) {
        rule.target = xt::Jump{target, false};
      } else {
        rule.comment = "missing " + target;  // fail closed until it arrives
        rule.target = xt::Verdict::kDrop;
      }
      chain.push_back(rule);
      chain.push_back(return_if(options_.accept_mark));
    };
    if (!policies.empty()) {
      for (const std::string& id : policies) {
        jump_unless_passed(policy_chain(BRINDLE_POLICY_KIND_POLICY, id, ingress),
                           model_.policies.contains(id));
      }
      Rule drop;
      drop.mark = xt::MarkMatch{0, options_.pass_mark};
      drop.comment = "no policy allowed";
      drop.target = xt::Verdict::kDrop;
      chain.push_back(drop);
      chain.push_back(with_target(Rule{}, xt::SetMark{0, options_.pass_mark}));
    }
    for (const std::string& id : e.profiles) {
      jump_unless_passed(policy_chain(BRINDLE_POLICY_KIND_PROFILE, id, ingress),
                         model_.profiles.contains(id));
    }
    Rule drop;
    drop.comment = "no profile allowed";
    drop.target = xt::Verdict::kDrop;
    chain.push_back(drop);
    return chain;
  }

  // Established/related accepted, invalid dropped, on traffic from (in) or to (out) workloads.
  void conntrack_rules(std::vector<Rule>& chain, bool from_workload) {
    for (const xt::CtState state : {xt::CtState::kEstablishedRelated, xt::CtState::kInvalid}) {
      Rule rule;
      (from_workload ? rule.in_interface : rule.out_interface) = prefix_wildcard();
      rule.ct_state = state;
      rule.target = state == xt::CtState::kInvalid ? xt::Verdict::kDrop : xt::Verdict::kAccept;
      chain.push_back(rule);
    }
  }

  // IPv6 neighbour discovery and MLD between the node and its pods are never policy's business.
  void neighbour_discovery(std::vector<Rule>& chain, bool from_workload) {
    if (family_ != 6) {
      return;
    }
    for (const int type : {130, 131, 132, 133, 134, 135, 136, 143}) {
      Rule rule;
      (from_workload ? rule.in_interface : rule.out_interface) = prefix_wildcard();
      rule.protocol = kIcmp6;
      rule.icmp = xt::IcmpMatch{static_cast<uint8_t>(type), -1};
      chain.push_back(rule);
    }
  }

  void failsafe(std::vector<Rule>& chain, const std::vector<ProtoPort>& ports, bool inbound) {
    for (const ProtoPort& p : ports) {
      if (!protocol_has_ports(p.protocol)) {
        continue;
      }
      Rule rule;
      (inbound ? rule.in_interface : rule.out_interface) = prefix_wildcard();
      rule.protocol = p.protocol;
      rule.ports.push_back({false, false, {{p.port, p.port}}});
      rule.comment = "failsafe";
      chain.push_back(rule);
    }
  }

  void render_filter() {
    TableRules& filter = out_.filter;
    filter.builtin_jumps = {{"INPUT", kInput}, {"FORWARD", kForward}, {"OUTPUT", kOutput}};
    std::vector<Rule>& forward = filter.chains[kForward];
    std::vector<Rule>& input = filter.chains[kInput];
    std::vector<Rule>& output = filter.chains[kOutput];
    std::vector<Rule>& from_dispatch = filter.chains[kFromDispatch];
    std::vector<Rule>& to_dispatch = filter.chains[kToDispatch];
    if (!has_prefix()) {
      return;  // no workload interfaces known yet
    }
    const std::string wildcard = prefix_wildcard();
    Rule from_wl;
    from_wl.in_interface = wildcard;
    Rule to_wl;
    to_wl.out_interface = wildcard;

    conntrack_rules(forward, true);
    conntrack_rules(forward, false);
    forward.push_back(with_target(from_wl, xt::Jump{kFromDispatch, false}));
    forward.push_back(with_target(to_wl, xt::Jump{kToDispatch, false}));
    forward.push_back(from_wl);  // ACCEPT: both directions' policies allowed it
    forward.push_back(to_wl);

    failsafe(input, model_.globals.failsafe_inbound, true);
    neighbour_discovery(input, true);
    conntrack_rules(input, true);
    input.push_back(with_target(from_wl, xt::Jump{kFromDispatch, false}));
    input.push_back(from_wl);

    failsafe(output, model_.globals.failsafe_outbound, false);
    neighbour_discovery(output, false);
    conntrack_rules(output, false);
    output.push_back(with_target(to_wl, xt::Jump{kToDispatch, false}));
    output.push_back(to_wl);

    std::set<std::string> used_policies;
    std::set<std::string> used_profiles;
    std::set<std::string> interfaces;
    for (const auto& [id, e] : model_.endpoints) {
      if (e.interface.rfind(model_.globals.interface_prefix, 0) != 0 || e.interface.size() >= 16 ||
          !interfaces.insert(e.interface).second) {
        continue;  // not a workload interface (or a duplicate): never dispatched
      }
      Rule from;
      from.in_interface = e.interface;
      from_dispatch.push_back(
          with_target(from, xt::Jump{endpoint_chain(e.interface, false), true}));
      Rule to;
      to.out_interface = e.interface;
      to_dispatch.push_back(with_target(to, xt::Jump{endpoint_chain(e.interface, true), true}));
      filter.chains[endpoint_chain(e.interface, true)] = endpoint_rules(e, true);
      filter.chains[endpoint_chain(e.interface, false)] = endpoint_rules(e, false);
      used_policies.insert(e.ingress_policies.begin(), e.ingress_policies.end());
      used_policies.insert(e.egress_policies.begin(), e.egress_policies.end());
      used_profiles.insert(e.profiles.begin(), e.profiles.end());
    }
    for (auto* dispatch : {&from_dispatch, &to_dispatch}) {
      Rule drop;
      drop.comment = "unknown workload interface";
      drop.target = xt::Verdict::kDrop;
      dispatch->push_back(drop);
    }
    render_policy_chains(model_.policies, BRINDLE_POLICY_KIND_POLICY, used_policies);
    render_policy_chains(model_.profiles, BRINDLE_POLICY_KIND_PROFILE, used_profiles);
  }

  void render_nat() {
    TableRules& nat = out_.nat;
    nat.builtin_jumps = {{"POSTROUTING", kPostrouting}};
    std::vector<Rule>& postrouting = nat.chains[kPostrouting];
    std::vector<Rule>& outgoing = nat.chains[kNatOutgoing];
    for (const IpPrefix& pool : of_family(model_.globals.nat_outgoing_pools, family_)) {
      Rule rule;
      rule.source = pool;
      rule.target = xt::Jump{kNatOutgoing, false};
      postrouting.push_back(rule);
    }
    // Pool traffic to any pool stays unmasqueraded; the rest leaves with the node's address.
    for (const IpPrefix& pool : of_family(model_.globals.all_pools, family_)) {
      Rule rule;
      rule.destination = pool;
      rule.target = xt::Verdict::kReturn;
      outgoing.push_back(rule);
    }
    Rule masquerade;
    masquerade.target = xt::Masquerade{};
    outgoing.push_back(masquerade);
  }

  const ModelView& model_;
  int family_;
  const Options& options_;
  Rendered out_;
};

}  // namespace

bool protocol_has_ports(uint8_t protocol) {
  return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP ||
         protocol == IPPROTO_UDPLITE || protocol == IPPROTO_DCCP;
}

std::string short_hash(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

std::string set_kernel_name(std::string_view id) {
  const std::string readable = "brindle-s-" + std::string(id);
  return readable.size() <= ipset::kMaxSetName ? readable : "brindle-h-" + short_hash(id);
}

std::string temporary_set_name(std::string_view kernel_name) {
  return "brindle-t-" + short_hash(kernel_name);
}

std::string policy_chain(brindle_policy_kind_t kind, std::string_view id, bool ingress) {
  const bool profile = kind == BRINDLE_POLICY_KIND_PROFILE;
  return std::string(profile ? (ingress ? "brindle-pri-" : "brindle-pro-")
                             : (ingress ? "brindle-pi-" : "brindle-po-")) +
         short_hash(id);
}

std::string endpoint_chain(std::string_view interface, bool ingress) {
  return std::string(ingress ? "brindle-tw-" : "brindle-fw-") + std::string(interface);
}

Rendered render(const ModelView& model, xt::Family family, const Options& options) {
  return Renderer(model, family, options).run();
}

}  // namespace brindle::policy_iptables
