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

  std::map<std::string, BgpPeerInfo> out;  // by address: one session per peer address
  auto add = [&](BgpPeerInfo p) {
    const std::string key = p.address.to_string();
    if (out.find(key) == out.end()) {
      out.emplace(key, std::move(p));
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
    if (s.peer_ip) {
      add({"peer-" + name, s.node == self ? PeerType::node : PeerType::global, s.peer_ip->ip,
           s.as_number.value_or(global_asn), s.peer_ip->port.value_or(0), name});
    }
    if (!s.peer_selector.empty()) {
      for (const auto& [other_name, other] : nodes) {
        if (other_name == self || !other.spec.ipv4_address || !selects(s.peer_selector, other)) {
          continue;
        }
        const bool client = !state.route_reflector_cluster_id.empty() &&
                            cluster_of(other) != state.route_reflector_cluster_id;
        add({"node-" + other_name, client ? PeerType::rr_client : PeerType::node,
             other.spec.ipv4_address->address(), asn_of(other, global_asn), 0, name});
      }
    }
  }
  if (mesh) {
    for (const auto& [other_name, other] : nodes) {
      if (other_name == self || !other.spec.ipv4_address) {
        continue;
      }
      // Route reflectors mesh only among themselves; clients reach them through BGPPeers.
      if (cluster_of(other).empty() != state.route_reflector_cluster_id.empty()) {
        continue;
      }
      add({"mesh-" + other_name, PeerType::mesh, other.spec.ipv4_address->address(),
           asn_of(other, global_asn), 0, "node-to-node mesh"});
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
