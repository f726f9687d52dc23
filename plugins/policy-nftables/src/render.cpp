// Rendering of the policy model into one nftables table: see render.hpp and README.md.
#include "render.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <tuple>

namespace brindle::policy_nftables {
namespace {

constexpr uint8_t kIcmp = IPPROTO_ICMP;
constexpr uint8_t kIcmp6 = IPPROTO_ICMPV6;

const std::string kFromDispatch = "from-wl-dispatch";
const std::string kToDispatch = "to-wl-dispatch";
const std::string kFromEndpoints = "from-wl-endpoints";  // verdict map: iifname -> endpoint chain
const std::string kToEndpoints = "to-wl-endpoints";
const std::string kNatOutgoing = "nat-outgoing";

std::string hex(uint32_t value) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", value);
  return buf;
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// Text for a comment or log prefix: what nft cannot quote becomes '_'.
std::string sanitized(std::string_view text, size_t limit) {
  std::string out(text.substr(0, limit));
  for (char& c : out) {
    if (!quotable(std::string_view(&c, 1))) {
      c = '_';
    }
  }
  return out;
}

std::string comment(std::string_view text) {
  return "comment " + quoted(sanitized(text, 127));
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : std::string(separator)) + item;
  }
  return out;
}

// "x" or "{ x, y }": nft's anonymous set syntax, braces only when needed.
std::string one_or_set(const std::vector<std::string>& items) {
  return items.size() == 1 ? items.front() : "{ " + join(items, ", ") + " }";
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

std::vector<std::string> prefix_texts(const std::vector<IpPrefix>& prefixes) {
  std::vector<IpSetMember> members;
  for (const IpPrefix& p : prefixes) {
    members.push_back({p, 0, 0});
  }
  std::vector<std::string> out;
  for (const IpSetMember& m : canonical_members(std::move(members))) {
    out.push_back(m.net.to_string());
  }
  return out;
}

std::string port_set(const std::vector<PortRange>& ranges) {
  std::vector<std::string> items;
  for (const PortRange& r : canonical_ports(ranges)) {
    items.push_back(r.first == r.last ? std::to_string(r.first)
                                      : std::to_string(r.first) + "-" + std::to_string(r.last));
  }
  return one_or_set(items);
}

// "ip saddr", "ip6 daddr".
std::string address_field(int family, bool source) {
  return std::string(family == 4 ? "ip " : "ip6 ") + (source ? "saddr" : "daddr");
}
std::string port_field(bool source) {
  return source ? "th sport" : "th dport";
}

// The key a set is looked up with from one side of a packet.
std::string set_key(const ModelSet& set, bool source) {
  const std::string address = address_field(set.family, source);
  return set.type == BRINDLE_IPSET_NET_PORT ? address + " . meta l4proto . " + port_field(source)
                                            : address;
}

std::string wildcard(const PolicyGlobals& globals) {
  return quoted(globals.interface_prefix + "*");
}

// One way a side can satisfy its port criterion: a port list or a named-port set.
using PortAlternative = std::string;

struct SideRendering {
  bool impossible = false;  // can never match in this family: the rule is left out
  std::vector<std::string> matches;
  std::vector<PortAlternative> alternatives;  // empty: no port criterion
};

// True when a rule can only be rendered per address family (it names addresses or families).
bool family_specific(const Rule& r) {
  if (r.ip_version != 0 || r.protocol == kIcmp || r.protocol == kIcmp6) {
    return true;
  }
  for (const RuleMatch* m : {&r.source, &r.destination}) {
    if (!m->nets.empty() || !m->not_nets.empty() || !m->ipsets.empty() || !m->not_ipsets.empty() ||
        !m->named_port_ipsets.empty()) {
      return true;
    }
  }
  return false;
}

// The rules of one policy direction.
class PolicyRenderer {
 public:
  PolicyRenderer(const ModelView& model, const Options& options)
      : model_(model), options_(options) {}

  // One model rule as nft rules appended to `chain`: per family when it names addresses (family
  // 0: one rule for both), with one rule per port alternative.
  void render_rule(const Rule& r, std::vector<std::string>& chain) const {
    if (!family_specific(r)) {
      render_in_family(r, 0, chain);
      return;
    }
    for (const int family : {4, 6}) {
      if (family == 6 && !options_.ipv6) {
        continue;
      }
      render_in_family(r, family, chain);
    }
  }

 private:
  void render_in_family(const Rule& r, int family, std::vector<std::string>& chain) const {
    if (r.ip_version != 0 && r.ip_version != family) {
      return;
    }
    if ((r.protocol == kIcmp && family != 4) || (r.protocol == kIcmp6 && family != 6)) {
      return;
    }
    std::vector<std::string> base;
    if (family != 0) {
      base.emplace_back(family == 4 ? "meta nfproto ipv4" : "meta nfproto ipv6");
    }
    uint8_t ports_protocol = 0;
    if (r.protocol != 0) {
      if (r.not_protocol == r.protocol) {
        return;  // "tcp and not tcp"
      }
      base.push_back("meta l4proto " + std::to_string(r.protocol));
      ports_protocol = r.protocol;
    } else if (r.not_protocol != 0) {
      base.push_back("meta l4proto != " + std::to_string(r.not_protocol));
    }
    const SideRendering src = side(r.source, true, family, ports_protocol);
    const SideRendering dst = side(r.destination, false, family, ports_protocol);
    if (src.impossible || dst.impossible) {
      return;
    }
    base.insert(base.end(), src.matches.begin(), src.matches.end());
    base.insert(base.end(), dst.matches.begin(), dst.matches.end());
    if ((r.protocol == kIcmp || r.protocol == kIcmp6) && r.icmp_type >= 0) {
      const std::string icmp = r.protocol == kIcmp ? "icmp" : "icmpv6";
      base.push_back(icmp + " type " + std::to_string(r.icmp_type));
      if (r.icmp_code >= 0) {
        base.push_back(icmp + " code " + std::to_string(r.icmp_code));
      }
    }

    std::string action;
    switch (r.action) {
      case BRINDLE_ACTION_ALLOW:
        // The mark tells the endpoint chain a rule matched (falling off a chain returns too).
        action = "meta mark set meta mark or " + hex(options_.accept_mark) + " return";
        break;
      case BRINDLE_ACTION_PASS:
        action = "meta mark set meta mark or " + hex(options_.pass_mark) + " return";
        break;
      case BRINDLE_ACTION_DENY:
        action = "drop";
        break;
      case BRINDLE_ACTION_LOG:
        action =
            "log prefix " + quoted(sanitized(r.log_prefix.empty() ? "brindle " : r.log_prefix, 29));
        break;
    }
    action += " " + comment("rule " + r.id);

    const size_t n_src = std::max<size_t>(1, src.alternatives.size());
    const size_t n_dst = std::max<size_t>(1, dst.alternatives.size());
    for (size_t i = 0; i < n_src; ++i) {
      for (size_t j = 0; j < n_dst; ++j) {
        std::vector<std::string> rule = base;
        if (!src.alternatives.empty()) {
          rule.push_back(src.alternatives[i]);
        }
        if (!dst.alternatives.empty()) {
          rule.push_back(dst.alternatives[j]);
        }
        rule.push_back(action);
        chain.push_back(join(rule, " "));
      }
    }
  }

  SideRendering side(const RuleMatch& m, bool source, int family, uint8_t protocol) const {
    SideRendering out;
    if (family != 0) {
      const std::string field = address_field(family, source);
      const std::vector<IpPrefix> nets = of_family(m.nets, family);
      const std::vector<IpPrefix> not_nets = of_family(m.not_nets, family);
      if (!m.nets.empty() && nets.empty()) {
        out.impossible = true;
        return out;
      }
      if (!nets.empty()) {
        out.matches.push_back(field + " " + one_or_set(prefix_texts(nets)));
      }
      if (!not_nets.empty()) {
        out.matches.push_back(field + " != " + one_or_set(prefix_texts(not_nets)));
      }
      for (const std::string& id : m.ipsets) {
        const ModelSet* set = model_.find_set(id);
        if (set == nullptr || set->family != family) {
          out.impossible = true;  // an unknown set is empty; a set of the other family too
          return out;
        }
        out.matches.push_back(set_key(*set, source) + " @" + set->kernel_name);
      }
      for (const std::string& id : m.not_ipsets) {
        const ModelSet* set = model_.find_set(id);
        if (set != nullptr && set->family == family) {
          out.matches.push_back(set_key(*set, source) + " != @" + set->kernel_name);
        }
      }
    }
    const bool ports_usable = protocol_has_ports(protocol);
    if (!m.not_ports.empty()) {
      if (!ports_usable) {
        out.impossible = true;
        return out;
      }
      out.matches.push_back(port_field(source) + " != " + port_set(m.not_ports));
    }
    if (!m.ports.empty() && ports_usable) {
      out.alternatives.push_back(port_field(source) + " " + port_set(m.ports));
    }
    for (const std::string& id : m.named_port_ipsets) {
      const ModelSet* set = model_.find_set(id);
      if (family != 0 && set != nullptr && set->family == family) {
        out.alternatives.push_back(address_field(family, source) + " . meta l4proto . " +
                                   port_field(source) + " @" + set->kernel_name);
      }
    }
    if ((!m.ports.empty() || !m.named_port_ipsets.empty()) && out.alternatives.empty()) {
      out.impossible = true;
    }
    return out;
  }

  const ModelView& model_;
  const Options& options_;
};

// Established/related accepted, invalid dropped, on traffic from (iifname) or to (oifname)
// workloads.
void conntrack_rules(const PolicyGlobals& globals, std::vector<std::string>& chain,
                     bool from_workload) {
  const std::string iface =
      std::string(from_workload ? "iifname " : "oifname ") + wildcard(globals);
  chain.push_back(iface + " ct state established,related accept");
  chain.push_back(iface + " ct state invalid drop");
}

// IPv6 neighbour discovery and MLD between the node and its pods are never policy's business.
void neighbour_discovery(const PolicyGlobals& globals, const Options& options,
                         std::vector<std::string>& chain, bool from_workload) {
  if (!options.ipv6) {
    return;
  }
  chain.push_back(std::string(from_workload ? "iifname " : "oifname ") + wildcard(globals) +
                  " icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 143 } accept");
}

void failsafe(const PolicyGlobals& globals, std::vector<std::string>& chain,
              const std::vector<ProtoPort>& ports, bool inbound) {
  for (const ProtoPort& p : ports) {
    if (!protocol_has_ports(p.protocol)) {
      continue;
    }
    chain.push_back(std::string(inbound ? "iifname " : "oifname ") + wildcard(globals) +
                    " meta l4proto " + std::to_string(p.protocol) + " th dport " +
                    std::to_string(p.port) + " accept " + comment("failsafe"));
  }
}

// With ipv6 = false IPv6 traffic is not this table's business (returning from a base chain
// applies its accept policy).
void ipv4_only(const Options& options, std::vector<std::string>& chain) {
  if (!options.ipv6) {
    chain.emplace_back("meta nfproto ipv6 return");
  }
}

std::string priority(std::string_view base, int offset) {
  if (offset == 0) {
    return std::string(base);
  }
  return std::string(base) + (offset < 0 ? " - " : " + ") + std::to_string(std::abs(offset));
}

void chain_block(std::string& out, const std::string& name, const std::string& header,
                 const std::vector<std::string>& rules) {
  out += "  chain " + name + " {\n";
  if (!header.empty()) {
    out += "    " + header + "\n";
  }
  for (const std::string& rule : rules) {
    out += "    " + rule + "\n";
  }
  out += "  }\n";
}

}  // namespace

std::string TableRenderer::mark_test(uint32_t bit, bool set) const {
  return "meta mark and " + hex(bit) + " == " + hex(set ? bit : 0);
}

std::vector<std::string> TableRenderer::policy_chain(const Policy& policy, bool ingress) const {
  std::vector<std::string> chain;
  PolicyRenderer renderer(model_, options_);
  for (const Rule& r : ingress ? policy.ingress : policy.egress) {
    renderer.render_rule(r, chain);
  }
  return chain;
}

// Policies in order, then profiles; traffic from this node is allowed first (ingress).
std::vector<std::string> TableRenderer::endpoint_chain(const EndpointChainKey& key) const {
  std::vector<std::string> chain;
  const uint32_t both = options_.accept_mark | options_.pass_mark;
  chain.push_back("meta mark set meta mark and " + hex(~both));
  if (key.ingress) {
    for (const IpPrefix& node : model_.globals.node_addresses) {
      if (node.family() == 6 && !options_.ipv6) {
        continue;
      }
      chain.push_back(address_field(node.family(), true) + " " + node.network().to_string() +
                      " accept " + comment("from this node"));
    }
  }
  auto jump_unless_passed = [&](brindle_policy_kind_t kind, const std::string& id) {
    const std::string target = policy_chain_name(kind, id, key.ingress);
    if (model_.has_policy(kind, id)) {
      chain.push_back(mark_test(options_.pass_mark, false) + " jump " + target);
    } else {  // fail closed until it arrives
      chain.push_back(mark_test(options_.pass_mark, false) + " drop " +
                      comment("missing " + target));
    }
    chain.push_back(mark_test(options_.accept_mark, true) + " return");
  };
  if (!key.policies.empty()) {
    for (const std::string& id : key.policies) {
      jump_unless_passed(BRINDLE_POLICY_KIND_POLICY, id);
    }
    chain.push_back(mark_test(options_.pass_mark, false) + " drop " + comment("no policy allowed"));
    chain.push_back("meta mark set meta mark and " + hex(~options_.pass_mark));
  }
  for (const std::string& id : key.profiles) {
    jump_unless_passed(BRINDLE_POLICY_KIND_PROFILE, id);
  }
  chain.push_back("drop " + comment("no profile allowed"));
  return chain;
}

std::vector<std::string> TableRenderer::forward_chain() const {
  std::vector<std::string> chain;
  const PolicyGlobals& globals = model_.globals;
  ipv4_only(options_, chain);
  if (globals.interface_prefix.empty()) {
    return chain;  // no workload interfaces known yet
  }
  conntrack_rules(globals, chain, true);
  conntrack_rules(globals, chain, false);
  chain.push_back("iifname " + wildcard(globals) + " jump " + kFromDispatch);
  chain.push_back("oifname " + wildcard(globals) + " jump " + kToDispatch);
  // Both directions' policies allowed it.
  chain.push_back("iifname " + wildcard(globals) + " accept");
  chain.push_back("oifname " + wildcard(globals) + " accept");
  return chain;
}

std::vector<std::string> TableRenderer::input_chain() const {
  std::vector<std::string> chain;
  const PolicyGlobals& globals = model_.globals;
  ipv4_only(options_, chain);
  if (globals.interface_prefix.empty()) {
    return chain;
  }
  failsafe(globals, chain, globals.failsafe_inbound, true);
  neighbour_discovery(globals, options_, chain, true);
  conntrack_rules(globals, chain, true);
  chain.push_back("iifname " + wildcard(globals) + " jump " + kFromDispatch);
  chain.push_back("iifname " + wildcard(globals) + " accept");
  return chain;
}

std::vector<std::string> TableRenderer::output_chain() const {
  std::vector<std::string> chain;
  const PolicyGlobals& globals = model_.globals;
  ipv4_only(options_, chain);
  if (globals.interface_prefix.empty()) {
    return chain;
  }
  failsafe(globals, chain, globals.failsafe_outbound, false);
  neighbour_discovery(globals, options_, chain, false);
  conntrack_rules(globals, chain, false);
  chain.push_back("oifname " + wildcard(globals) + " jump " + kToDispatch);
  chain.push_back("oifname " + wildcard(globals) + " accept");
  return chain;
}

std::string TableRenderer::set_block(const ModelSet& set) const {
  const std::string address_type = set.family == 4 ? "ipv4_addr" : "ipv6_addr";
  const bool net_port = set.type == BRINDLE_IPSET_NET_PORT;
  std::string out = "  set " + set.kernel_name + " {\n    type " + address_type +
                    (net_port ? " . inet_proto . inet_service" : "") + "\n    flags interval\n";
  std::vector<std::string> elements;
  elements.reserve(set.members.size());
  for (const IpSetMember& m : set.members) {
    elements.push_back(net_port ? m.net.to_string() + " . " + std::to_string(m.protocol) + " . " +
                                      std::to_string(m.port)
                                : m.net.to_string());
  }
  if (!elements.empty()) {
    out += "    elements = { " + join(elements, ", ") + " }\n";
  }
  return out + "  }\n";
}

std::string TableRenderer::table_block(const TableModel& table) const {
  std::string out = "table " + std::string(kTableFamily) + " " + std::string(kTableName) + " {\n";
  // Declared before what refers to them: sets, policy chains, endpoint chains, the dispatch maps
  // and chains, then the base chains.
  for (const ModelSet* set : table.sets) {
    out += set_block(*set);
  }
  for (const Policy* policy : table.policies) {
    for (const bool ingress : {true, false}) {
      chain_block(out, policy_chain_name(policy->kind, policy->id, ingress),
                  comment(std::string(policy->kind == BRINDLE_POLICY_KIND_PROFILE ? "profile "
                                                                                  : "policy ") +
                          policy->id + (ingress ? " ingress" : " egress")),
                  policy_chain(*policy, ingress));
    }
  }
  for (const EndpointChainKey& key : table.endpoint_chains) {
    chain_block(out, key.chain_name(), "", endpoint_chain(key));
  }
  for (const bool ingress : {true, false}) {
    std::vector<std::string> elements;
    for (const DispatchEntry& e : table.dispatch) {
      elements.push_back(quoted(e.interface) + " : goto " + (ingress ? e.to_chain : e.from_chain));
    }
    out += "  map " + (ingress ? kToEndpoints : kFromEndpoints) + " {\n    type ifname : verdict\n";
    if (!elements.empty()) {
      out += "    elements = { " + join(elements, ", ") + " }\n";
    }
    out += "  }\n";
    chain_block(out, ingress ? kToDispatch : kFromDispatch, "",
                {std::string(ingress ? "oifname" : "iifname") + " vmap @" +
                     (ingress ? kToEndpoints : kFromEndpoints),
                 "drop " + comment("unknown workload interface")});
  }

  // NAT outgoing: pool traffic to anywhere but a pool leaves with the node's address.
  std::vector<std::string> outgoing;
  std::vector<std::string> postrouting;
  for (const int family : {4, 6}) {
    if (family == 6 && !options_.ipv6) {
      continue;
    }
    for (const IpPrefix& pool : of_family(model_.globals.all_pools, family)) {
      outgoing.push_back(address_field(family, false) + " " + pool.network().to_string() +
                         " return");
    }
    for (const IpPrefix& pool : of_family(model_.globals.nat_outgoing_pools, family)) {
      postrouting.push_back(address_field(family, true) + " " + pool.network().to_string() +
                            " jump " + kNatOutgoing);
    }
  }
  outgoing.emplace_back("masquerade");
  chain_block(out, kNatOutgoing, "", outgoing);

  const int offset = options_.priority_offset;
  chain_block(
      out, "forward",
      "type filter hook forward priority " + priority("filter", offset) + "; policy accept;",
      forward_chain());
  chain_block(out, "input",
              "type filter hook input priority " + priority("filter", offset) + "; policy accept;",
              input_chain());
  chain_block(out, "output",
              "type filter hook output priority " + priority("filter", offset) + "; policy accept;",
              output_chain());
  chain_block(
      out, "postrouting",
      "type nat hook postrouting priority " + priority("srcnat", offset) + "; policy accept;",
      postrouting);
  return out + "}\n";
}

std::string TableRenderer::replace_script(const TableModel& table) const {
  const std::string name = std::string(kTableFamily) + " " + std::string(kTableName);
  return "add table " + name + "\ndelete table " + name + "\n" + table_block(table);
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
  return std::string(ingress ? "tw-" : "fw-") + short_hash(text);
}

std::vector<IpSetMember> canonical_members(std::vector<IpSetMember> members) {
  for (IpSetMember& m : members) {
    m.net = m.net.network();
  }
  auto key = [](const IpSetMember& m) { return std::tie(m.protocol, m.port); };
  std::sort(members.begin(), members.end(), [&](const IpSetMember& a, const IpSetMember& b) {
    return key(a) != key(b) ? key(a) < key(b) : a.net < b.net;
  });
  // Prefixes are nested or disjoint, and sorted by start then length: a member inside any kept
  // one is inside the last kept one of its (protocol, port).
  std::vector<IpSetMember> out;
  for (const IpSetMember& m : members) {
    if (!out.empty() && key(out.back()) == key(m) && out.back().net.contains(m.net)) {
      continue;
    }
    out.push_back(m);
  }
  return out;
}

std::vector<PortRange> canonical_ports(std::vector<PortRange> ranges) {
  for (PortRange& r : ranges) {
    if (r.first > r.last) {
      std::swap(r.first, r.last);
    }
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const PortRange& a, const PortRange& b) { return a.first < b.first; });
  std::vector<PortRange> out;
  for (const PortRange& r : ranges) {
    if (!out.empty() && static_cast<int>(r.first) <= static_cast<int>(out.back().last) + 1) {
      out.back().last = std::max(out.back().last, r.last);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

bool quotable(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

std::string set_kernel_name(std::string_view id) {
  constexpr size_t kReadableMax = 64;  // nft allows 255; shorter names keep listings readable
  return id.size() <= kReadableMax ? "s-" + std::string(id) : "h-" + short_hash(id);
}

std::string policy_chain_name(brindle_policy_kind_t kind, std::string_view id, bool ingress) {
  const bool profile = kind == BRINDLE_POLICY_KIND_PROFILE;
  return std::string(profile ? (ingress ? "pri-" : "pro-") : (ingress ? "pi-" : "po-")) +
         short_hash(id);
}

}  // namespace brindle::policy_nftables
