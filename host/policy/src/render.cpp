#include "render.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "brindle/policy/engine.hpp"

namespace brindle::policy::detail {

using model::IpFamily;
using model::IpPrefix;
using model::Selector;

uint64_t stable_hash(std::string_view text) {
  // FNV-1a, then a murmur3 finaliser to spread the bits.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::string hex16(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[value & 0xf];
    value >>= 4;
  }
  return out;
}

namespace {

std::string sized(const std::string& text) {
  return "(" + std::to_string(text.size()) + ")" + text;
}

int family_number(IpFamily f) {
  return f == IpFamily::kV4 ? 4 : 6;
}

IpFamily family_of(int version) {
  return version == 6 ? IpFamily::kV6 : IpFamily::kV4;
}

}  // namespace

std::string SelectionSpec::descriptor() const {
  std::string d = flavor == Flavor::kPods ? "pods" : "eps";
  switch (scope) {
    case ScopeKind::kNamespace:
      d += "|ns=" + sized(namespace_);
      break;
    case ScopeKind::kNamespaceSelector:
      d += "|nss=" + sized(namespace_selector.to_string());
      break;
    case ScopeKind::kAll:
      d += "|all";
      break;
  }
  return d + "|" + selector.to_string();
}

std::string SetSpec::descriptor() const {
  std::string d = type == IpSetType::kNet ? std::string("net")
                                          : "port=" + port_name + "/" + std::to_string(protocol);
  return d + "|v" + std::to_string(family_number(family)) + "|" + selection.descriptor();
}

std::string SetSpec::id() const {
  return std::string(type == IpSetType::kNet ? "n" : "p") + std::to_string(family_number(family)) +
         "-" + hex16(stable_hash(descriptor()));
}

std::string kubernetes_policy_id(std::string_view ns, std::string_view name) {
  return "knp." + std::string(ns) + "." + std::string(name);
}
std::string network_policy_id(std::string_view ns, std::string_view name) {
  return "np." + std::string(ns) + "." + std::string(name);
}
std::string global_network_policy_id(std::string_view name) {
  return "gnp." + std::string(name);
}
bool is_namespace_profile(std::string_view profile) {
  return profile.size() > 4 && profile.substr(0, 4) == "kns.";
}

namespace {

// Where a Brindle rule's selectors look when they name no namespace.
struct BrindleScope {
  bool namespaced = false;
  std::string namespace_;
};

SelectionSpec all_pods() {
  return {Flavor::kPods, ScopeKind::kAll, "", Selector::all(), Selector::all()};
}

class Planner {
 public:
  Planner(PolicyKind kind, std::string id, std::string resource) : resource_(std::move(resource)) {
    plan.policy.kind = kind;
    plan.policy.id = std::move(id);
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw PolicyError(resource_ + ": " + field + ": " + message);
  }

  Selector parse(const std::string& field, const std::string& text) const {
    try {
      return Selector::parse(text);
    } catch (const std::invalid_argument& e) {
      fail(field, e.what());
    }
  }

  Selector from_label_selector(const std::string& field, const model::LabelSelector& s) const {
    try {
      return Selector::from_label_selector(s);
    } catch (const std::invalid_argument& e) {
      fail(field, e.what());
    }
  }

  std::string set(const SelectionSpec& selection, int version) {
    return use({selection, IpSetType::kNet, family_of(version), "", 0});
  }

  std::string named_set(const SelectionSpec& selection, int version, const std::string& name,
                        uint8_t protocol) {
    return use({selection, IpSetType::kNetPort, family_of(version), name, protocol});
  }

  void add(bool ingress, Rule rule) {
    const std::string content = std::string(ingress ? "in|" : "out|") + describe(rule);
    const int occurrence = occurrences_[content]++;
    rule.id = hex16(stable_hash(std::string(to_string(plan.policy.kind)) + "|" + plan.policy.id +
                                "|" + content + "#" + std::to_string(occurrence)));
    (ingress ? plan.policy.ingress : plan.policy.egress).push_back(std::move(rule));
  }

  void warn(const std::string& field, const std::string& message) {
    plan.warnings.push_back(field + ": " + message);
  }

  PolicyPlan finish() {
    for (auto& [id, spec] : sets_) {
      plan.sets.push_back(std::move(spec));
    }
    return std::move(plan);
  }

  PolicyPlan plan;

 private:
  std::string use(SetSpec spec) {
    std::string id = spec.id();
    sets_.emplace(id, std::move(spec));
    return id;
  }

  std::string resource_;
  std::map<std::string, SetSpec> sets_;
  std::map<std::string, int> occurrences_;
};

std::vector<IpPrefix> of_family(const std::vector<IpPrefix>& nets, int version) {
  std::vector<IpPrefix> out;
  for (const auto& n : nets) {
    if (version == 0 || family_number(n.family()) == version) {
      out.push_back(n.masked());
    }
  }
  return out;
}

// ---- Brindle rules -------------------------------------------------------------------------

struct SidePlan {
  std::optional<SelectionSpec> selection;
  std::optional<SelectionSpec> not_selection;
  SelectionSpec named_selection = all_pods();
  std::vector<IpPrefix> nets;
  std::vector<IpPrefix> not_nets;
  std::vector<PortRange> ports;
  std::vector<PortRange> not_ports;
  std::vector<std::string> port_names;

  bool family_specific() const {
    return selection || not_selection || !port_names.empty() || !nets.empty() || !not_nets.empty();
  }
};

SidePlan plan_side(Planner& pl, const model::EntityRule& e, const BrindleScope& scope,
                   const std::string& field) {
  SidePlan s;
  if (!e.selector.empty() || !e.namespace_selector.empty()) {
    SelectionSpec sel;
    sel.flavor = Flavor::kEndpointsAndSets;
    sel.selector = pl.parse(field + ".selector", e.selector);
    if (!e.namespace_selector.empty()) {
      sel.scope = ScopeKind::kNamespaceSelector;
      sel.namespace_selector = pl.parse(field + ".namespaceSelector", e.namespace_selector);
    } else if (scope.namespaced) {
      sel.scope = ScopeKind::kNamespace;
      sel.namespace_ = scope.namespace_;
    } else {
      sel.scope = ScopeKind::kAll;
    }
    s.named_selection = sel;
    s.selection = std::move(sel);
  }
  if (!e.not_selector.empty()) {
    SelectionSpec sel;
    sel.flavor = Flavor::kEndpointsAndSets;
    sel.scope = ScopeKind::kAll;
    sel.selector = pl.parse(field + ".notSelector", e.not_selector);
    s.not_selection = std::move(sel);
  }
  s.nets = e.nets;
  s.not_nets = e.not_nets;
  for (size_t i = 0; i < e.ports.size(); ++i) {
    const model::RulePort& p = e.ports[i];
    if (p.is_named()) {
      s.port_names.push_back(p.name);
    } else {
      if (p.first > p.last || p.first == 0) {
        pl.fail(field + ".ports[" + std::to_string(i) + "]", "invalid port range");
      }
      s.ports.push_back({p.first, p.last});
    }
  }
  for (size_t i = 0; i < e.not_ports.size(); ++i) {
    const model::RulePort& p = e.not_ports[i];
    if (p.is_named()) {
      pl.warn(field + ".notPorts[" + std::to_string(i) + "]",
              "named ports in notPorts cannot be expressed: criterion dropped");
      continue;
    }
    if (p.first > p.last || p.first == 0) {
      pl.fail(field + ".notPorts[" + std::to_string(i) + "]", "invalid port range");
    }
    s.not_ports.push_back({p.first, p.last});
  }
  return s;
}

RuleMatch build_side(Planner& pl, const SidePlan& s, int version, uint8_t protocol) {
  RuleMatch m;
  m.nets = of_family(s.nets, version);
  m.not_nets = of_family(s.not_nets, version);
  if (s.selection) {
    m.ipsets.push_back(pl.set(*s.selection, version));
  }
  if (s.not_selection) {
    m.not_ipsets.push_back(pl.set(*s.not_selection, version));
  }
  m.ports = s.ports;
  m.not_ports = s.not_ports;
  for (const std::string& name : s.port_names) {
    m.named_port_ipsets.push_back(pl.named_set(s.named_selection, version, name, protocol));
  }
  return m;
}

std::set<int> families_of(const std::vector<IpPrefix>& nets) {
  std::set<int> out;
  for (const auto& n : nets) {
    out.insert(family_number(n.family()));
  }
  return out;
}

bool has_named(const std::vector<model::RulePort>& ports) {
  return std::any_of(ports.begin(), ports.end(), [](const auto& p) { return p.is_named(); });
}

void plan_brindle_rule(Planner& pl, bool ingress, const model::Rule& r, const BrindleScope& scope,
                       const std::string& field) {
  const bool permissive =
      r.action == model::RuleAction::kAllow || r.action == model::RuleAction::kPass;
  // Negations the model cannot carry: leaving out an Allow/Pass rule or the negation of a
  // Deny/Log rule errs on the side of dropping.
  const bool unsupported =
      r.not_icmp.has_value() || has_named(r.source.not_ports) || has_named(r.destination.not_ports);
  if (unsupported && permissive) {
    pl.warn(field, "notICMP and named ports in notPorts cannot be expressed: rule left out");
    return;
  }
  if (r.not_icmp) {
    pl.warn(field + ".notICMP", "cannot be expressed: criterion dropped");
  }
  const uint8_t protocol = r.protocol ? r.protocol->number : 0;
  const SidePlan src = plan_side(pl, r.source, scope, field + ".source");
  const SidePlan dst = plan_side(pl, r.destination, scope, field + ".destination");
  if ((!src.port_names.empty() || !dst.port_names.empty()) && !protocol_has_ports(protocol)) {
    pl.fail(field, "named ports need the rule's protocol to be TCP, UDP, SCTP or UDPLite");
  }

  std::set<int> families{4, 6};
  auto restrict_to = [&](const std::set<int>& allowed) {
    std::set<int> out;
    for (int f : families) {
      if (allowed.count(f) != 0) {
        out.insert(f);
      }
    }
    families = out;
  };
  if (r.ip_version) {
    restrict_to({*r.ip_version});
  }
  if (protocol == kProtoICMP) {
    restrict_to({4});
  } else if (protocol == kProtoICMPv6) {
    restrict_to({6});
  }
  if (!src.nets.empty()) {
    restrict_to(families_of(src.nets));
  }
  if (!dst.nets.empty()) {
    restrict_to(families_of(dst.nets));
  }
  std::vector<int> versions;
  if (src.family_specific() || dst.family_specific()) {
    versions.assign(families.begin(), families.end());  // nothing left: the rule never matches
  } else {
    versions.push_back(0);
  }
  for (int version : versions) {
    Rule out;
    switch (r.action) {
      case model::RuleAction::kAllow:
        out.action = Action::kAllow;
        break;
      case model::RuleAction::kDeny:
        out.action = Action::kDeny;
        break;
      case model::RuleAction::kPass:
        out.action = Action::kPass;
        break;
      case model::RuleAction::kLog:
        out.action = Action::kLog;
        out.log_prefix = pl.plan.policy.id;
        break;
    }
    out.ip_version = static_cast<uint8_t>(version != 0 ? version : r.ip_version.value_or(0));
    out.protocol = protocol;
    out.not_protocol = r.not_protocol ? r.not_protocol->number : 0;
    if (r.icmp) {
      out.icmp_type = static_cast<int16_t>(r.icmp->type.value_or(-1));
      out.icmp_code = static_cast<int16_t>(r.icmp->code.value_or(-1));
    }
    RuleMatch s = build_side(pl, src, version, protocol);
    RuleMatch d = build_side(pl, dst, version, protocol);
    if (!s.empty()) {
      out.source = std::move(s);
    }
    if (!d.empty()) {
      out.destination = std::move(d);
    }
    pl.add(ingress, std::move(out));
  }
}

std::pair<bool, bool> brindle_types(const std::vector<model::PolicyType>& types, bool has_ingress,
                                    bool has_egress) {
  if (types.empty()) {  // as validation infers them
    if (has_egress && !has_ingress) {
      return {false, true};
    }
    return {true, has_egress};
  }
  bool in = std::find(types.begin(), types.end(), model::PolicyType::kIngress) != types.end();
  bool out = std::find(types.begin(), types.end(), model::PolicyType::kEgress) != types.end();
  return {in, out};
}

void plan_brindle_rules(Planner& pl, const std::vector<model::Rule>& ingress,
                        const std::vector<model::Rule>& egress, bool do_ingress, bool do_egress,
                        const BrindleScope& scope) {
  if (do_ingress) {
    for (size_t i = 0; i < ingress.size(); ++i) {
      plan_brindle_rule(pl, true, ingress[i], scope, "spec.ingress[" + std::to_string(i) + "]");
    }
  }
  if (do_egress) {
    for (size_t i = 0; i < egress.size(); ++i) {
      plan_brindle_rule(pl, false, egress[i], scope, "spec.egress[" + std::to_string(i) + "]");
    }
  }
}

// ---- Kubernetes rules ----------------------------------------------------------------------

struct K8sPeer {
  std::optional<SelectionSpec> selection;
  std::optional<IpPrefix> cidr;
  std::vector<IpPrefix> except;
};

struct PortGroup {
  uint8_t protocol = 0;  // 0: every protocol (a rule without ports)
  bool all_ports = false;
  std::vector<PortRange> ranges;
  std::vector<std::string> names;
};

K8sPeer plan_peer(Planner& pl, const model::K8sNetworkPolicyPeer& peer, const std::string& ns,
                  const std::string& field) {
  K8sPeer out;
  if (peer.ip_block) {
    if (peer.pod_selector || peer.namespace_selector) {
      pl.fail(field, "ipBlock cannot be combined with podSelector or namespaceSelector");
    }
    out.cidr = peer.ip_block->cidr.masked();
    for (const auto& e : peer.ip_block->except) {
      if (e.family() == out.cidr->family()) {
        out.except.push_back(e.masked());
      }
    }
    return out;
  }
  if (!peer.pod_selector && !peer.namespace_selector) {
    pl.fail(field, "a peer needs podSelector, namespaceSelector or ipBlock");
  }
  SelectionSpec sel;
  sel.flavor = Flavor::kPods;
  sel.selector = peer.pod_selector
                     ? pl.from_label_selector(field + ".podSelector", *peer.pod_selector)
                     : Selector::all();
  if (peer.namespace_selector) {
    Selector ns_sel =
        pl.from_label_selector(field + ".namespaceSelector", *peer.namespace_selector);
    if (ns_sel.is_all()) {
      sel.scope = ScopeKind::kAll;  // every namespace's pods (not other addresses)
    } else {
      sel.scope = ScopeKind::kNamespaceSelector;
      sel.namespace_selector = std::move(ns_sel);
    }
  } else {
    sel.scope = ScopeKind::kNamespace;
    sel.namespace_ = ns;
  }
  out.selection = std::move(sel);
  return out;
}

std::vector<PortGroup> plan_ports(Planner& pl,
                                  const std::vector<model::K8sNetworkPolicyPort>& ports,
                                  const std::string& field) {
  if (ports.empty()) {
    return {PortGroup{0, true, {}, {}}};
  }
  std::vector<PortGroup> groups;
  for (size_t i = 0; i < ports.size(); ++i) {
    const auto& p = ports[i];
    const std::string where = field + ".ports[" + std::to_string(i) + "]";
    const uint8_t protocol = model::ip_protocol_number(p.protocol);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const PortGroup& g) { return g.protocol == protocol; });
    if (it == groups.end()) {
      groups.push_back(PortGroup{protocol, false, {}, {}});
      it = groups.end() - 1;
    }
    if (!p.port) {
      if (p.end_port) {
        pl.fail(where + ".endPort", "endPort needs a numeric port");
      }
      it->all_ports = true;
    } else if (const auto* number = std::get_if<int32_t>(&*p.port)) {
      const int32_t end = p.end_port.value_or(*number);
      if (*number < 1 || *number > 65535) {
        pl.fail(where + ".port", "must be between 1 and 65535");
      }
      if (end < *number || end > 65535) {
        pl.fail(where + ".endPort", "must be between port and 65535");
      }
      it->ranges.push_back({static_cast<uint16_t>(*number), static_cast<uint16_t>(end)});
    } else {
      if (p.end_port) {
        pl.fail(where + ".endPort", "endPort needs a numeric port");
      }
      it->names.push_back(std::get<std::string>(*p.port));
    }
  }
  for (PortGroup& g : groups) {
    if (g.all_ports) {
      g.ranges.clear();
      g.names.clear();
    }
    std::sort(g.names.begin(), g.names.end());
    g.names.erase(std::unique(g.names.begin(), g.names.end()), g.names.end());
  }
  return groups;
}

// One Kubernetes rule: (any peer) AND (any port), as one Allow rule per peer, protocol and family.
void plan_k8s_rule(Planner& pl, bool ingress, const std::vector<model::K8sNetworkPolicyPeer>& peers,
                   const std::vector<model::K8sNetworkPolicyPort>& ports, const std::string& ns,
                   const SelectionSpec& target, const std::string& field) {
  std::vector<std::optional<K8sPeer>> planned;
  if (peers.empty()) {
    planned.emplace_back();  // from/to everywhere
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    planned.emplace_back(plan_peer(
        pl, peers[i], ns, field + (ingress ? ".from[" : ".to[") + std::to_string(i) + "]"));
  }
  const std::vector<PortGroup> groups = plan_ports(pl, ports, field);
  for (const auto& peer : planned) {
    for (const PortGroup& g : groups) {
      std::vector<int> versions;
      if (peer && peer->cidr) {
        versions.push_back(family_number(peer->cidr->family()));
      } else if (peer || !g.names.empty()) {
        versions = {4, 6};
      } else {
        versions.push_back(0);
      }
      // Ingress: the named port is the selected pod's; egress: the destination pod's (a pod the
      // peer selects, or any pod when the peer is not a pod selector).
      const SelectionSpec named_selection =
          ingress ? target : (peer && peer->selection ? *peer->selection : all_pods());
      for (int version : versions) {
        Rule r;
        r.action = Action::kAllow;
        r.ip_version = static_cast<uint8_t>(version);
        r.protocol = g.protocol;
        RuleMatch peer_match;
        if (peer && peer->cidr) {
          peer_match.nets.push_back(*peer->cidr);
          peer_match.not_nets = peer->except;
        } else if (peer) {
          peer_match.ipsets.push_back(pl.set(*peer->selection, version));
        }
        RuleMatch port_match;
        port_match.ports = g.ranges;
        for (const std::string& name : g.names) {
          port_match.named_port_ipsets.push_back(
              pl.named_set(named_selection, version, name, g.protocol));
        }
        if (ingress) {
          if (!peer_match.empty()) {
            r.source = std::move(peer_match);
          }
          if (!port_match.empty()) {
            r.destination = std::move(port_match);
          }
        } else {
          peer_match.ports = std::move(port_match.ports);
          peer_match.named_port_ipsets = std::move(port_match.named_port_ipsets);
          if (!peer_match.empty()) {
            r.destination = std::move(peer_match);
          }
        }
        pl.add(ingress, std::move(r));
      }
    }
  }
}

}  // namespace

PolicyPlan plan_kubernetes(const model::KubernetesNetworkPolicy& policy) {
  const std::string& ns = policy.metadata.namespace_;
  const std::string& name = policy.metadata.name;
  Planner pl(PolicyKind::kPolicy, kubernetes_policy_id(ns, name),
             "KubernetesNetworkPolicy " + ns + "/" + name);
  const auto& s = policy.spec;
  SelectionSpec target;
  target.flavor = Flavor::kPods;
  target.scope = ScopeKind::kNamespace;
  target.namespace_ = ns;
  target.selector = pl.from_label_selector("spec.podSelector", s.pod_selector);
  if (s.policy_types.empty()) {  // upstream defaulting
    pl.plan.ingress = true;
    pl.plan.egress = !s.egress.empty();
  } else {
    for (model::PolicyType t : s.policy_types) {
      (t == model::PolicyType::kIngress ? pl.plan.ingress : pl.plan.egress) = true;
    }
  }
  if (pl.plan.ingress) {
    for (size_t i = 0; i < s.ingress.size(); ++i) {
      plan_k8s_rule(pl, true, s.ingress[i].from, s.ingress[i].ports, ns, target,
                    "spec.ingress[" + std::to_string(i) + "]");
    }
  }
  if (pl.plan.egress) {
    for (size_t i = 0; i < s.egress.size(); ++i) {
      plan_k8s_rule(pl, false, s.egress[i].to, s.egress[i].ports, ns, target,
                    "spec.egress[" + std::to_string(i) + "]");
    }
  }
  pl.plan.order = kKubernetesPolicyOrder;
  pl.plan.target = std::move(target);
  return pl.finish();
}

PolicyPlan plan_network_policy(const model::NetworkPolicy& policy) {
  const std::string& ns = policy.metadata.namespace_;
  const std::string& name = policy.metadata.name;
  Planner pl(PolicyKind::kPolicy, network_policy_id(ns, name), "NetworkPolicy " + ns + "/" + name);
  const auto& s = policy.spec;
  SelectionSpec target;
  target.flavor = Flavor::kEndpointsAndSets;
  target.scope = ScopeKind::kNamespace;
  target.namespace_ = ns;
  target.selector = pl.parse("spec.selector", s.selector);
  std::tie(pl.plan.ingress, pl.plan.egress) =
      brindle_types(s.types, !s.ingress.empty(), !s.egress.empty());
  plan_brindle_rules(pl, s.ingress, s.egress, pl.plan.ingress, pl.plan.egress, {true, ns});
  pl.plan.order = s.order.value_or(std::numeric_limits<double>::infinity());
  pl.plan.target = std::move(target);
  return pl.finish();
}

PolicyPlan plan_global_network_policy(const model::GlobalNetworkPolicy& policy) {
  const std::string& name = policy.metadata.name;
  Planner pl(PolicyKind::kPolicy, global_network_policy_id(name), "GlobalNetworkPolicy " + name);
  const auto& s = policy.spec;
  SelectionSpec target;
  target.flavor = Flavor::kEndpointsAndSets;
  target.selector = pl.parse("spec.selector", s.selector);
  if (s.namespace_selector.empty()) {
    target.scope = ScopeKind::kAll;
  } else {
    target.scope = ScopeKind::kNamespaceSelector;
    target.namespace_selector = pl.parse("spec.namespaceSelector", s.namespace_selector);
  }
  std::tie(pl.plan.ingress, pl.plan.egress) =
      brindle_types(s.types, !s.ingress.empty(), !s.egress.empty());
  plan_brindle_rules(pl, s.ingress, s.egress, pl.plan.ingress, pl.plan.egress, {false, ""});
  pl.plan.order = s.order.value_or(std::numeric_limits<double>::infinity());
  pl.plan.target = std::move(target);
  return pl.finish();
}

PolicyPlan plan_profile(const std::string& name, const model::ProfileSpec* spec) {
  Planner pl(PolicyKind::kProfile, name, "Profile " + name);
  static const std::vector<model::Rule> kNone;
  static const std::vector<model::Rule> kAllowAll{model::Rule{}};  // action Allow, no criteria
  const bool namespace_default = is_namespace_profile(name);
  auto rules = [&](const std::vector<model::Rule>* r) -> const std::vector<model::Rule>& {
    if (r != nullptr && !r->empty()) {
      return *r;
    }
    return namespace_default ? kAllowAll : kNone;
  };
  plan_brindle_rules(pl, rules(spec ? &spec->ingress : nullptr),
                     rules(spec ? &spec->egress : nullptr), true, true, {false, ""});
  return pl.finish();
}

}  // namespace brindle::policy::detail
