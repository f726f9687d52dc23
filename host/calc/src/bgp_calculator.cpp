#include "brindle/calc/bgp_calculator.hpp"

#include <algorithm>
#include <array>

#include "brindle/model/selector.hpp"
#include "sha256.hpp"

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

// The password of a BGPPeer, or why it cannot be used (`error`).
SecretValue resolve_password(const std::string& peer_name, const model::BGPPeerSpec& spec,
                             const SecretLookup& secrets) {
  if (!spec.password || !spec.password->secret_key_ref) {
    return {};
  }
  const model::SecretKeySelector& ref = *spec.password->secret_key_ref;
  const std::string what = "password of BGPPeer \"" + peer_name + "\"";
  if (!secrets) {
    return {{}, what + ": no secrets source configured"};
  }
  SecretValue v = secrets(ref);
  if (v.error.empty()) {
    if (std::string why = check_bgp_password(v.value); !why.empty()) {
      v = {{}, "secret \"" + ref.name + "\" key \"" + ref.key + "\" " + why};
    }
  }
  if (!v.error.empty()) {
    v.value.clear();
    v.error = what + ": " + v.error;
  }
  return v;
}

}  // namespace

model::IpAddress hash_router_id(const std::string& node_name) {
  const std::array<uint8_t, 32> digest = detail::sha256(node_name);
  std::array<uint8_t, 4> id = {digest[0], digest[1], digest[2], digest[3]};
  if (id[0] > 223) {
    id[0] = static_cast<uint8_t>(id[0] - 32);
  }
  if (id == std::array<uint8_t, 4>{}) {
    id[3] = 1;  // BIRD refuses router id 0
  }
  return model::IpAddress::from_bytes(model::IpFamily::kV4, id.data());
}

BgpState compute_bgp(const std::string& self, const std::map<std::string, model::Node>& nodes,
                     const std::map<std::string, model::BGPConfiguration>& configurations,
                     const std::map<std::string, model::BGPPeer>& peers,
                     const SecretLookup& secrets) {
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
  if (me == nodes.end() || (!me->second.spec.ipv4_address && !me->second.spec.ipv6_address)) {
    state.local_asn = global_asn;
    return state;  // no address: nothing to speak from, no sessions
  }
  const model::Node& self_node = me->second;
  state.local_asn = asn_of(self_node, global_asn);
  // The router id is 32 bits whatever the family; an IPv6-only node derives it from its name,
  // as Calico does with CALICO_ROUTER_ID=hash.
  state.router_id =
      self_node.spec.ipv4_address ? self_node.spec.ipv4_address->address() : hash_router_id(self);
  state.route_reflector_cluster_id = cluster_of(self_node);

  // As in Calico, each family has its own sessions: IPv4 ones between IPv4 addresses carry
  // IPv4 blocks, IPv6 ones between IPv6 addresses carry IPv6 blocks. A node without an address
  // of a family has no sessions of that family (nothing to speak from, nor a next hop to give).
  const bool self_v4 = self_node.spec.ipv4_address.has_value();
  const bool self_v6 = self_node.spec.ipv6_address.has_value();
  // By address: one session per peer address. A withheld peer (password unresolved) keeps its
  // address too, so that no other (unauthenticated) session to it is started instead.
  std::map<std::string, BgpPeerInfo> out;
  auto add = [&](BgpPeerInfo p) {
    const std::string key = p.address.to_string();
    if (out.find(key) == out.end()) {
      out.emplace(key, std::move(p));
    }
  };
  // Another node's addresses to peer with: IPv4 ("<kind>-<node>") and, when both have one, IPv6
  // ("<kind>6-<node>"; node names cannot make "mesh-" names start with "mesh6-").
  auto add_node = [&](const std::string& kind, const std::string& other_name,
                      const model::Node& other, PeerType type, const std::string& source,
                      const SecretValue& password) {
    const uint32_t asn = asn_of(other, global_asn);
    if (self_v4 && other.spec.ipv4_address) {
      add({kind + "-" + other_name, type, other.spec.ipv4_address->address(), asn, 0, source,
           password.value, password.error});
    }
    if (self_v6 && other.spec.ipv6_address) {
      add({kind + "6-" + other_name, type, other.spec.ipv6_address->address(), asn, 0, source,
           password.value, password.error});
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
    const SecretValue password = resolve_password(name, s, secrets);
    if (s.peer_ip && (s.peer_ip->ip.is_v4() ? self_v4 : self_v6)) {
      add({"peer-" + name, s.node == self ? PeerType::node : PeerType::global, s.peer_ip->ip,
           s.as_number.value_or(global_asn), s.peer_ip->port.value_or(0), name, password.value,
           password.error});
    }
    if (!s.peer_selector.empty()) {
      for (const auto& [other_name, other] : nodes) {
        if (other_name == self || !selects(s.peer_selector, other)) {
          continue;
        }
        const bool client = !state.route_reflector_cluster_id.empty() &&
                            cluster_of(other) != state.route_reflector_cluster_id;
        add_node("node", other_name, other, client ? PeerType::rr_client : PeerType::node, name,
                 password);
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
      add_node("mesh", other_name, other, PeerType::mesh, "node-to-node mesh", {});
    }
  }
  for (auto& [key, p] : out) {
    (p.error.empty() ? state.peers : state.withheld_peers).push_back(std::move(p));
  }
  const auto by_name = [](const BgpPeerInfo& a, const BgpPeerInfo& b) { return a.name < b.name; };
  std::sort(state.peers.begin(), state.peers.end(), by_name);
  std::sort(state.withheld_peers.begin(), state.withheld_peers.end(), by_name);
  return state;
}

}  // namespace brindle::calc
