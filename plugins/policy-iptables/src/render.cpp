// Rendering of the policy model into chains: see render.hpp and README.md for the layout.
#include "render.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>

namespace brindle::policy_iptables {
namespace {

using xt::Rule;

const std::string kFromDispatch = "brindle-from-wl-dispatch";
const std::string kToDispatch = "brindle-to-wl-dispatch";

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

Rule return_if(uint32_t bit) {
  Rule rule;
  rule.mark = xt::MarkMatch{bit, bit};
  rule.target = xt::Verdict::kReturn;
  return rule;
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

uint8_t dimensions(const SetInfo& set) {
  return set.type == ipset::SetType::kNet ? 1 : 2;
}

// The rules of one policy direction, with the internal sets they need.
class PolicyRenderer {
 public:
  PolicyRenderer(const ModelView& model, int family, const Options& options, InternalSets& internal)
      : model_(model), family_(family), options_(options), internal_(internal) {}

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

 private:
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
    std::string name = "brindle-i-" + short_hash(key);
    internal_.emplace(name, std::move(set));
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
      const SetInfo* set = model_.find_set(id);
      if (set == nullptr || set->family != family_) {
        out.impossible = true;  // an unknown set is empty; a set of the other family too
        return out;
      }
      out.sets.push_back({set->kernel_name, dimensions(*set), source, false});
    }
    for (const std::string& id : m.not_ipsets) {
      const SetInfo* set = model_.find_set(id);
      if (set != nullptr && set->family == family_) {
        out.sets.push_back({set->kernel_name, dimensions(*set), source, true});
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
      const SetInfo* set = model_.find_set(id);
      if (set != nullptr && set->family == family_) {
        out.alternatives.push_back(
            {std::nullopt, xt::SetMatch{set->kernel_name, 2, source, false}});
      }
    }
    if ((!m.ports.empty() || !m.named_port_ipsets.empty()) && out.alternatives.empty()) {
      out.impossible = true;
    }
    return out;
  }

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

  const ModelView& model_;
  int family_;
  const Options& options_;
  InternalSets& internal_;
};

std::string prefix_wildcard(const PolicyGlobals& globals) {
  return globals.interface_prefix + "+";
}

// Established/related accepted, invalid dropped, on traffic from (in) or to (out) workloads.
void conntrack_rules(const PolicyGlobals& globals, std::vector<Rule>& chain, bool from_workload) {
  for (const xt::CtState state : {xt::CtState::kEstablishedRelated, xt::CtState::kInvalid}) {
    Rule rule;
    (from_workload ? rule.in_interface : rule.out_interface) = prefix_wildcard(globals);
    rule.ct_state = state;
    rule.target = state == xt::CtState::kInvalid ? xt::Verdict::kDrop : xt::Verdict::kAccept;
    chain.push_back(rule);
  }
}

// IPv6 neighbour discovery and MLD between the node and its pods are never policy's business.
void neighbour_discovery(const PolicyGlobals& globals, int family, std::vector<Rule>& chain,
                         bool from_workload) {
  if (family != 6) {
    return;
  }
  for (const int type : {130, 131, 132, 133, 134, 135, 136, 143}) {
    Rule rule;
    (from_workload ? rule.in_interface : rule.out_interface) = prefix_wildcard(globals);
    rule.protocol = kIcmp6;
    rule.icmp = xt::IcmpMatch{static_cast<uint8_t>(type), -1};
    chain.push_back(rule);
  }
}

void failsafe(const PolicyGlobals& globals, std::vector<Rule>& chain,
              const std::vector<ProtoPort>& ports, bool inbound) {
  for (const ProtoPort& p : ports) {
    if (!protocol_has_ports(p.protocol)) {
      continue;
    }
    Rule rule;
    (inbound ? rule.in_interface : rule.out_interface) = prefix_wildcard(globals);
    rule.protocol = p.protocol;
    rule.ports.push_back({false, false, {{p.port, p.port}}});
    rule.comment = "failsafe";
    chain.push_back(rule);
  }
}

}  // namespace

std::vector<xt::Rule> ChainRenderer::fixed_chain(const std::string& name) const {
  std::vector<Rule> chain;
  const PolicyGlobals& globals = model_.globals;
  if (globals.interface_prefix.empty()) {
    return chain;  // no workload interfaces known yet
  }
  Rule from_wl;
  from_wl.in_interface = prefix_wildcard(globals);
  Rule to_wl;
  to_wl.out_interface = prefix_wildcard(globals);
  if (name == kForwardChain) {
    conntrack_rules(globals, chain, true);
    conntrack_rules(globals, chain, false);
    chain.push_back(with_target(from_wl, xt::Jump{kFromDispatch, false}));
    chain.push_back(with_target(to_wl, xt::Jump{kToDispatch, false}));
    chain.push_back(from_wl);  // ACCEPT: both directions' policies allowed it
    chain.push_back(to_wl);
  } else if (name == kInputChain) {
    failsafe(globals, chain, globals.failsafe_inbound, true);
    neighbour_discovery(globals, family_, chain, true);
    conntrack_rules(globals, chain, true);
    chain.push_back(with_target(from_wl, xt::Jump{kFromDispatch, false}));
    chain.push_back(from_wl);
  } else if (name == kOutputChain) {
    failsafe(globals, chain, globals.failsafe_outbound, false);
    neighbour_discovery(globals, family_, chain, false);
    conntrack_rules(globals, chain, false);
    chain.push_back(with_target(to_wl, xt::Jump{kToDispatch, false}));
    chain.push_back(to_wl);
  }
  return chain;
}

std::vector<std::pair<std::string, std::string>> ChainRenderer::filter_builtin_jumps() {
  return {{"INPUT", kInputChain}, {"FORWARD", kForwardChain}, {"OUTPUT", kOutputChain}};
}

std::vector<std::pair<std::string, std::string>> ChainRenderer::nat_builtin_jumps() {
  return {{"POSTROUTING", kPostroutingChain}};
}

std::map<std::string, std::vector<xt::Rule>> ChainRenderer::nat_chains() const {
  std::map<std::string, std::vector<Rule>> chains;
  std::vector<Rule>& postrouting = chains[kPostroutingChain];
  std::vector<Rule>& outgoing = chains[kNatOutgoingChain];
  for (const IpPrefix& pool : of_family(model_.globals.nat_outgoing_pools, family_)) {
    Rule rule;
    rule.source = pool;
    rule.target = xt::Jump{kNatOutgoingChain, false};
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
  return chains;
}

std::vector<xt::Rule> ChainRenderer::policy_chain(const Policy& policy, bool ingress,
                                                  InternalSets& internal) const {
  std::vector<Rule> chain;
  PolicyRenderer renderer(model_, family_, options_, internal);
  for (const brindle::Rule& r : ingress ? policy.ingress : policy.egress) {
    renderer.render_rule(r, chain);
  }
  return chain;
}

// Policies in order, then profiles; traffic from this node is allowed first (ingress).
std::vector<xt::Rule> ChainRenderer::endpoint_chain(const EndpointChainKey& key) const {
  std::vector<Rule> chain;
  const uint32_t both = options_.accept_mark | options_.pass_mark;
  chain.push_back(with_target(Rule{}, xt::SetMark{0, both}));
  if (key.ingress) {
    for (const IpPrefix& node : of_family(model_.globals.node_addresses, family_)) {
      Rule rule;
      rule.source = node;
      rule.comment = "from this node";
      chain.push_back(rule);  // ACCEPT
    }
  }
  auto jump_unless_passed = [&](brindle_policy_kind_t kind, const std::string& id) {
    const std::string target = policy_chain_name(kind, id, key.ingress);
    Rule rule;
    rule.mark = xt::MarkMatch{0, options_.pass_mark};
    if (model_.has_policy(kind, id)) {
      rule.target = xt::Jump{target, false};
    } else {
      rule.comment = "missing " + target;  // fail closed until it arrives
      rule.target = xt::Verdict::kDrop;
    }
    chain.push_back(rule);
    chain.push_back(return_if(options_.accept_mark));
  };
  if (!key.policies.empty()) {
    for (const std::string& id : key.policies) {
      jump_unless_passed(BRINDLE_POLICY_KIND_POLICY, id);
    }
    Rule drop;
    drop.mark = xt::MarkMatch{0, options_.pass_mark};
    drop.comment = "no policy allowed";
    drop.target = xt::Verdict::kDrop;
    chain.push_back(drop);
    chain.push_back(with_target(Rule{}, xt::SetMark{0, options_.pass_mark}));
  }
  for (const std::string& id : key.profiles) {
    jump_unless_passed(BRINDLE_POLICY_KIND_PROFILE, id);
  }
  Rule drop;
  drop.comment = "no profile allowed";
  drop.target = xt::Verdict::kDrop;
  chain.push_back(drop);
  return chain;
}

std::vector<xt::Rule> ChainRenderer::dispatch_chain(const std::vector<DispatchEntry>& entries,
                                                    bool ingress) const {
  std::vector<Rule> chain;
  chain.reserve(entries.size() + 1);
  for (const DispatchEntry& e : entries) {
    Rule rule;
    (ingress ? rule.out_interface : rule.in_interface) = e.match;
    rule.target = xt::Jump{ingress ? e.to_chain : e.from_chain, true};
    chain.push_back(std::move(rule));
  }
  Rule drop;
  drop.comment = "unknown workload interface";
  drop.target = xt::Verdict::kDrop;
  chain.push_back(drop);
  return chain;
}

std::string EndpointChainKey::chain_name() const {
  std::string text = ingress ? "in|" : "out|";
  for (const std::string& id : policies) {
    text += id + ",";
  }
  text += "|";
  for (const std::string& id : profiles) {
    text += id + ",";
  }
  return std::string(ingress ? "brindle-tw-" : "brindle-fw-") + short_hash(text);
}

uint64_t fingerprint(const std::vector<xt::Rule>& rules) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a over the rules' text, one line each
  for (const xt::Rule& rule : rules) {
    for (const char c : xt::describe(rule) + "\n") {
      hash ^= static_cast<uint8_t>(c);
      hash *= 0x100000001b3ull;
    }
  }
  return hash;
}

std::string set_kernel_name(std::string_view id) {
  const std::string readable = "brindle-s-" + std::string(id);
  return readable.size() <= ipset::kMaxSetName ? readable : "brindle-h-" + short_hash(id);
}

std::string temporary_set_name(std::string_view kernel_name) {
  return "brindle-t-" + short_hash(kernel_name);
}

std::string policy_chain_name(brindle_policy_kind_t kind, std::string_view id, bool ingress) {
  const bool profile = kind == BRINDLE_POLICY_KIND_PROFILE;
  return std::string(profile ? (ingress ? "brindle-pri-" : "brindle-pro-")
                             : (ingress ? "brindle-pi-" : "brindle-po-")) +
         short_hash(id);
}

std::string dispatch_chain_name(std::string_view prefix, bool root, bool ingress) {
  if (root) {
    return ingress ? kToDispatch : kFromDispatch;
  }
  return std::string(ingress ? "brindle-twd-" : "brindle-fwd-") + std::string(prefix);
}

}  // namespace brindle::policy_iptables
