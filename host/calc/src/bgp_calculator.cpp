#include "brindle/calc/bgp_calculator.hpp"

#include <algorithm>

#include "brindle/model/selector.hpp"

namespace brindle::calc {
namespace {

constexpr uint32_t kDefaultAsn = 64512;

std::string cluster_of(const model::Node& node) {
  if (node.spec.bgp && node.spec.bgp->route_reflector_cluster_id) {
    return node.spec.bgp->route_reflector_cluster_id->to_string();
  }
  return {};
}

uint32_t asn_of(const model::Node& node, uint32_t global) {
  return node.spec.bgp && node.spec.bgp->as_number ? *node.spec.bgp->as_number : global;
}

bool selects(const std::string& selector, const model::Node& node) {
  return !selector.empty() && model::Selector::parse(selector).matches(node.metadata.labels);
}

}  // namespace

BgpState compute_bgp(const std::string& self, const std::map<std::string, model::Node>& nodes,
                     const std::map<std::string, model::BGPConfiguration>& configurations,
                     const std::map<std::string, model::BGPPeer>& peers) {
  BgpState state;
  uint32_t global_asn = kDefaultAsn;
  bool mesh = true;
  if (auto it = configurations.find("default"); it != configurations.end()) {
    global_asn = it->second.spec.as_number.value_or(kDefaultAsn);
    mesh = it->second.spec.node_to_node_mesh_enabled.value_or(true);
    state.listen_port = it->second.spec.listen_port.value_or(179);
  }
  if (auto it = configurations.find("node." + self); it != configurations.end()) {
    state.listen_port = it->second.spec.listen_port.value_or(state.listen_port);
  }
  auto me = nodes.find(self);
  if (me == nodes.end() || !me->second.spec.ipv4_address) {
    state.local_asn = global_asn;
    return state;  // no IPv4 address: no router id, no sessions
  }
  const model::Node& self_node = me->second;
  state.local_asn = asn_of(self_node, global_asn);
  state.router_id = self_node.spec.ipv4_address->address();
  state.route_reflector_cluster_id = cluster_of(self_node);

  // As in Calico, each family has its own sessions: IPv4 ones between IPv4 addresses carry
  // IPv4 blocks, IPv6 ones between IPv6 addresses carry IPv6 blocks. A node without an IPv6
  // address has no IPv6 sessions (nothing to speak from, nor a next hop to give).
  const bool self_v6 = self_node.spec.ipv6_address.has_value();
  std::map<std::string, BgpPeerInfo> out;  // by address: one session per peer address
  auto add = [&](BgpPeerInfo p) {
    const std::string key = p.address.to_string();
    if (out.find(key) == out.end()) {
      out.emplace(key, std::move(p));
    }
  };
  // Another node's addresses to peer with: IPv4 ("<kind>-<node>") and, when both have one, IPv6
  // ("<kind>6-<node>"; node names cannot make "mesh-" names start with "mesh6-").
  auto add_node = [&](const std::string& kind, const std::string& other_name,
                      const model::Node& other, PeerType type, const std::string& source) {
    const uint32_t asn = asn_of(other, global_asn);
    if (other.spec.ipv4_address) {
      add({kind + "-" + other_name, type, other.spec.ipv4_address->address(), asn, 0, source});
    }
    if (self_v6 && other.spec.ipv6_address) {
      add({kind + "6-" + other_name, type, other.spec.ipv6_address->address(), asn, 0, source});
    }
  };
  // Explicit peers first: they win over the mesh for the same address (their ASN and type).
  for (const auto& [name, peer] : peers) {
    const model::BGPPeerSpec& s = peer.spec;
    const bool applies = (s.node.empty() && s.node_selector.empty()) || s.node == self ||
                         selects(s.node_selector, self_node);
    if (!applies) {
      continue;
    }
    if (s.peer_ip && (s.peer_ip->ip.is_v4() || self_v6)) {
      add({"peer-" + name, s.node == self ? PeerType::node : PeerType::global, s.peer_ip->ip,
           s.as_number.value_or(global_asn), s.peer_ip->port.value_or(0), name});
    }
    if (!s.peer_selector.empty()) {
      for (const auto& [other_name, other] : nodes) {
        if (other_name == self || !selects(s.peer_selector, other)) {
          continue;
        }
        const bool client = !state.route_reflector_cluster_id.empty() &&
                            cluster_of(other) != state.route_reflector_cluster_id;
        add_node("node", other_name, other, client ? PeerType::rr_client : PeerType::node, name);
      }
    }
  }
  if (mesh) {
    for (const auto& [other_name, other] : nodes) {
      if (other_name == self) {
        continue;
      }
      // Route reflectors mesh only among themselves; clients reach them through BGPPeers.
      if (cluster_of(other).empty() != state.route_reflector_cluster_id.empty()) {
        continue;
      }
      add_node("mesh", other_name, other, PeerType::mesh, "node-to-node mesh");
    }
  }
  for (auto& [key, p] : out) {
    state.peers.push_back(std::move(p));
  }
  std::sort(state.peers.begin(), state.peers.end(),
            [](const BgpPeerInfo& a, const BgpPeerInfo& b) { return a.name < b.name; });
  return state;
}

}  // namespace brindle::calc
