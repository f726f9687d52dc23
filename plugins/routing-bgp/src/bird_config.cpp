#include "bird_config.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace brindle::bgp {
namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "routing bgp: " + message);
}

const char* type_prefix(brindle_bgp_peer_type_t type) {
  switch (type) {
    case BRINDLE_BGP_PEER_MESH:
      return "Mesh_";
    case BRINDLE_BGP_PEER_GLOBAL:
      return "Global_";
    case BRINDLE_BGP_PEER_NODE:
      return "Node_";
    case BRINDLE_BGP_PEER_RR_CLIENT:
      return "RRClient_";
  }
  return "Peer_";
}

// A BIRD string literal. BIRD's lexer has no escapes (a backslash is literal), so a double quote
// or a control character cannot be written and is refused.
std::string quoted(const std::string& value, const std::string& what) {
  for (const char c : value) {
    if (c == '"' || static_cast<unsigned char>(c) < 0x20) {
      invalid(what + " contains a double quote or a control character, which BIRD cannot read");
    }
  }
  return "\"" + value + "\"";
}

// "[ 198.18.0.0/18+, 198.18.64.0/18+ ]" or "" when empty (BIRD rejects empty sets).
std::string prefix_set(const std::vector<IpPrefix>& prefixes, bool or_longer) {
  if (prefixes.empty()) {
    return {};
  }
  std::string out = "[ ";
  for (size_t i = 0; i < prefixes.size(); ++i) {
    out += (i == 0 ? "" : ", ") + prefixes[i].network().to_string() + (or_longer ? "+" : "");
  }
  return out + " ]";
}

// `net ~ <set>` or `false` for an empty set.
std::string net_in(const std::vector<IpPrefix>& prefixes, bool or_longer = true) {
  const std::string set = prefix_set(prefixes, or_longer);
  return set.empty() ? "false" : "net ~ " + set;
}

bool valid_interface_name(const std::string& name) {
  if (name.empty() || name.size() > 15) {
    return false;
  }
  for (const char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

// A route reflector cluster id: dotted IPv4 or a 32-bit number.
std::string cluster_id(const std::string& id) {
  if (!id.empty() &&
      std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      id.size() <= 10 && std::stoull(id) <= 0xffffffffULL) {
    return id;
  }
  try {
    const IpPrefix p = IpPrefix::parse(id);
    if (p.family() == 4 && p.prefix_len() == 32 && id.find('/') == std::string::npos) {
      return p.address_string();
    }
  } catch (const Error&) {
  }
  invalid("route reflector cluster id \"" + id + "\" is neither an IPv4 address nor a number");
}

}  // namespace

std::string protocol_name(const BgpPeer& peer) {
  std::string base = peer.name.empty() ? peer.address.address_string() : peer.name;
  std::string out = type_prefix(peer.type);
  for (const char c : base) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return out.substr(0, 64);
}

namespace {

// What the configuration holds for one address family (BIRD's ipv4 or ipv6 channels).
struct FamilyState {
  int family = 4;
  std::string suffix;     // appended to protocol and filter names: "" or "6"
  std::string channel;    // "ipv4" or "ipv6"
  IpPrefix node_address;  // the node's address of the family (session source, subnet)
  std::vector<IpPrefix> all_pools, vxlan_pools, exportable_pools;
  std::vector<IpPrefix> blackholes, exported_blocks;
  std::vector<const Route*> tunnel_routes;  // other nodes' blocks of VXLAN pools, as formed
};

// The family's protocols and filters: blackholes and advertisement of this node's blocks, the
// host's VXLAN routes, import/export filters and the kernel protocol for the family's table.
void render_family(std::ostringstream& c, const FamilyState& f, const BirdInputs& in) {
  const std::string& x = f.suffix;
  const std::string blocks = kStaticProtocol + x;
  const std::string tunnels = kTunnelProtocol + x;
  c << "# ---- " << (f.family == 4 ? "IPv4" : "IPv6") << " ----\n\n";
  c << "# This node's blocks: blackholes in the kernel, advertised to peers.\n";
  c << "protocol static " << blocks << " {\n  " << f.channel << ";\n";
  for (const IpPrefix& b : f.blackholes) {
    c << "  route " << b.to_string() << " blackhole;\n";
  }
  c << "}\n\n";

  // Other nodes' blocks of VXLAN pools, as the host formed them (through the tunnel device to
  // the remote tunnel address, or direct within the subnet for CrossSubnet).
  c << "# Other nodes' blocks of VXLAN pools, in the form the encapsulation dictates (BGP does\n"
       "# not carry the tunnel address; their BGP routes are not installed).\n";
  c << "protocol static " << tunnels << " {\n  " << f.channel << ";\n";
  for (const Route* r : f.tunnel_routes) {
    if (!r->gateway.valid() || r->gateway.family() != f.family) {
      invalid("route to " + r->destination.to_string() + " (VXLAN pool \"" + r->pool +
              "\") has no " + (f.family == 4 ? "IPv4" : "IPv6") + " gateway");
    }
    c << "  route " << r->destination.network().to_string() << " via "
      << r->gateway.address_string();
    if (!r->device.empty()) {
      if (!valid_interface_name(r->device)) {
        invalid("route to " + r->destination.to_string() + " has an invalid device \"" + r->device +
                "\"");
      }
      c << "%'" << r->device << "'";
    }
    if ((r->flags & BRINDLE_ROUTE_ONLINK) != 0) {
      c << " onlink";
    }
    c << ";\n";
  }
  c << "}\n\n";

  if (f.family == 4) {
    c << "# Routes learned from peers: only blocks of known pools. IPIP pools are carried by the\n"
         "# tunnel device: onlink, the device, then the gateway, in that order.\n";
  } else {
    c << "# Routes learned from peers: only blocks of known pools (IPIP is IPv4 only).\n";
  }
  c << "filter brindle_import" << x << " {\n";
  c << "  if !(" << net_in(f.all_pools) << ") then reject;\n";
  for (const RoutingPool& p : in.pools) {
    // The model refuses ipipMode on IPv6 pools (IPIP carries IPv4 only).
    if (f.family != 4 || p.cidr.family() != 4 || p.encap != BRINDLE_ENCAP_IPIP ||
        p.mode == BRINDLE_POOL_MODE_NEVER) {
      continue;
    }
    if (!valid_interface_name(p.tunnel_device)) {
      invalid("IPIP pool \"" + p.name + "\" has no valid tunnel device (got \"" + p.tunnel_device +
              "\")");
    }
    c << "  if net ~ " << prefix_set({p.cidr}, true);
    if (p.mode == BRINDLE_POOL_MODE_CROSS_SUBNET) {
      if (!f.node_address.valid()) {
        invalid("IPIP pool \"" + p.name + "\" is CrossSubnet but the node has no IPv4 subnet");
      }
      c << " && !(bgp_next_hop ~ " << f.node_address.network().to_string() << ")";
    }
    c << " then {\n    onlink = true;\n    ifname = \"" << p.tunnel_device
      << "\";\n    gw = bgp_next_hop;\n  }\n";
  }
  c << "  accept;\n}\n\n";

  c << "# To peers: this node's blocks of pools that allow export.\n";
  c << "filter brindle_export" << x << " {\n";
  c << "  if proto = \"" << blocks << "\" && " << net_in(f.exported_blocks, false)
    << " then accept;\n  reject;\n}\n\n";
  c << "# To route reflector clients: also the blocks learned from other peers.\n";
  c << "filter brindle_export_reflect" << x << " {\n";
  c << "  if proto = \"" << blocks << "\" && " << net_in(f.exported_blocks, false)
    << " then accept;\n";
  c << "  if source = RTS_BGP && " << net_in(f.exportable_pools) << " then accept;\n";
  c << "  reject;\n}\n\n";

  c << "# Into the kernel: our blackholes, VXLAN pools' blocks as the host formed them, and\n"
       "# learned blocks of the other pools.\n";
  c << "filter brindle_kernel_export" << x << " {\n";
  c << "  if proto = \"" << blocks << "\" then accept;\n";
  c << "  if proto = \"" << tunnels << "\" then accept;\n";
  c << "  if source != RTS_BGP then reject;\n";
  if (!f.vxlan_pools.empty()) {
    c << "  if " << net_in(f.vxlan_pools) << " then reject;\n";
  }
  c << "  if " << net_in(f.all_pools) << " then accept;\n";
  c << "  reject;\n}\n\n";

  // Both kernel protocols use BIRD's route protocol number (`proto bird`): at start they remove
  // such routes of their table that they do not export, and withdraw theirs when they go.
  c << "protocol kernel " << kKernelProtocol << x << " {\n";
  c << "  " << f.channel << " {\n    import none;\n    export filter brindle_kernel_export" << x
    << ";\n  };\n";
  c << "  learn off;\n  merge paths off;\n  graceful restart on;\n  scan time 10;\n}\n\n";
}

void render_template(std::ostringstream& c, const FamilyState& f, const BgpSettings& s) {
  c << "template bgp brindle_peer" << f.suffix << " {\n";
  // The node's address as the source: sessions come from the address peers know us by (and
  // BFD over iBGP needs an explicit local address).
  c << "  local";
  if (f.node_address.valid()) {
    c << " " << f.node_address.address_string();
  }
  if (s.listen_port != 0 && s.listen_port != 179) {
    c << " port " << s.listen_port;
  }
  c << " as " << s.local_asn << ";\n";
  if (s.graceful_restart_seconds > 0) {
    c << "  graceful restart on;\n  graceful restart time " << s.graceful_restart_seconds << ";\n";
  } else {
    c << "  graceful restart off;\n";
  }
  if (s.bfd) {
    c << "  bfd on;\n";
  }
  c << "  " << f.channel << " {\n    import filter brindle_import" << f.suffix
    << ";\n    export filter brindle_export" << f.suffix << ";\n  };\n";
  c << "}\n";
}

}  // namespace

RenderedConfig render_bird_config(const BirdInputs& in) {
  RenderedConfig result;
  std::ostringstream c;
  const BgpSettings& s = in.settings;

  // The router id is 32 bits also for IPv6 sessions (as in Calico, the node's IPv4 address).
  IpPrefix router_id = s.router_id.valid() ? s.router_id : in.node_address;
  if (!router_id.valid() || router_id.family() != 4) {
    invalid("no IPv4 router id: set the node's IPv4 address or BGP router id");
  }
  if (s.local_asn == 0) {
    invalid("local AS number 0 is not valid");
  }

  FamilyState v4, v6;
  v4.family = 4;
  v4.channel = "ipv4";
  v6.family = 6;
  v6.suffix = kIpv6Suffix;
  v6.channel = "ipv6";
  if (in.node_address.valid() && in.node_address.family() == 4) {
    v4.node_address = in.node_address;
  }
  if (in.node_address6.valid() && in.node_address6.family() == 6) {
    v6.node_address = in.node_address6;
  }
  const auto family_of = [&](const IpPrefix& p) -> FamilyState& {
    return p.family() == 4 ? v4 : v6;
  };

  // Pools by role and family.
  std::set<std::string> no_export_pools, vxlan_pool_names;
  for (const RoutingPool& p : in.pools) {
    if (!p.cidr.valid()) {
      invalid("pool \"" + p.name + "\" has no CIDR");
    }
    FamilyState& f = family_of(p.cidr);
    f.all_pools.push_back(p.cidr);
    if (p.encap == BRINDLE_ENCAP_VXLAN) {
      f.vxlan_pools.push_back(p.cidr);
      vxlan_pool_names.insert(p.name);
    }
    if ((p.flags & BRINDLE_POOL_NO_EXPORT) != 0) {
      no_export_pools.insert(p.name);
    } else {
      f.exportable_pools.push_back(p.cidr);
    }
  }
  for (const Route& r : in.local_blocks) {
    if (!r.destination.valid()) {
      continue;
    }
    FamilyState& f = family_of(r.destination);
    f.blackholes.push_back(r.destination.network());
    const bool pool_no_export = no_export_pools.count(r.pool) != 0;
    if ((r.flags & BRINDLE_ROUTE_NO_EXPORT) == 0 && !pool_no_export) {
      f.exported_blocks.push_back(r.destination.network());
    }
  }
  for (const Route& r : in.remote_blocks) {
    if (r.destination.valid() &&
        (r.encap == BRINDLE_ENCAP_VXLAN || vxlan_pool_names.count(r.pool) != 0)) {
      family_of(r.destination).tunnel_routes.push_back(&r);
    }
  }

  c << "# Generated by brindle (routing-bgp plugin). Do not edit: rewritten on every change.\n";
  if (!in.log_file.empty()) {
    c << "log " << quoted(in.log_file, "log file") << " all;\n";
  } else {
    c << "log stderr all;\n";
  }
  c << "router id " << router_id.address_string() << ";\n";
  c << "timeformat protocol iso long ms;\n\n";

  c << "protocol device {\n  scan time 10;\n}\n\n";
  // Interface routes resolve iBGP next hops (gateway recursive), in both families.
  c << "protocol direct brindle_direct {\n  ipv4;\n  ipv6;\n"
       "  interface -\"cali*\", -\"tunl*\", -\"vxlan*\", -\"brindle*\", \"*\";\n}\n\n";

  render_family(c, v4, in);
  render_family(c, v6, in);

  // As in Calico, each family has its own sessions: IPv4 routes over sessions to IPv4 peer
  // addresses, IPv6 routes over sessions to IPv6 peer addresses (next hop: the node's address
  // of that family).
  c << "# ---- BGP sessions ----\n\n";
  render_template(c, v4, s);
  c << "\n";
  render_template(c, v6, s);
  if (s.bfd) {
    c << "\nprotocol bfd brindle_bfd {\n}\n";
  }

  const bool reflector = !s.route_reflector_cluster_id.empty();
  std::set<std::string> taken;
  for (const BgpPeer& peer : in.peers) {
    if (!peer.address.valid()) {
      invalid("peer \"" + peer.name + "\" has no address");
    }
    if (peer.type == BRINDLE_BGP_PEER_MESH && reflector) {
      continue;  // a route reflector peers with its clients, not the mesh
    }
    const FamilyState& f = family_of(peer.address);
    std::string name = protocol_name(peer);
    for (int i = 2; taken.count(name) != 0; ++i) {
      name = protocol_name(peer) + "_" + std::to_string(i);
    }
    taken.insert(name);
    const uint32_t asn = peer.asn != 0 ? peer.asn : s.local_asn;
    c << "\n# " << (peer.source.empty() ? peer.name : peer.source) << "\n";
    c << "protocol bgp " << name << " from brindle_peer" << f.suffix << " {\n";
    c << "  neighbor " << peer.address.address_string();
    if (peer.port != 0 && peer.port != 179) {
      c << " port " << peer.port;
    }
    c << " as " << asn << ";\n";
    if (!peer.password.empty()) {
      c << "  password " << quoted(peer.password, "password of peer " + peer.name) << ";\n";
    }
    if (peer.type == BRINDLE_BGP_PEER_RR_CLIENT) {
      if (!reflector) {
        invalid("peer \"" + peer.name +
                "\" is a route reflector client but this node has no cluster id");
      }
      c << "  rr client;\n  rr cluster id " << cluster_id(s.route_reflector_cluster_id) << ";\n";
      c << "  " << f.channel << " {\n    import filter brindle_import" << f.suffix
        << ";\n    export filter brindle_export_reflect" << f.suffix << ";\n  };\n";
    }
    c << "}\n";
    result.peers_by_protocol[name] = peer;
  }
  result.text = c.str();
  return result;
}

}  // namespace brindle::bgp
