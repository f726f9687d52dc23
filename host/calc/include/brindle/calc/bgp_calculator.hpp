// The BGP part of the calculation: this node's BGP settings and its peers, from the Node
// resources, BGPConfiguration ("default" and "node.<name>") and BGPPeer resources. Pure.
//
// Dual stack as in Calico: sessions are per family. IPv4 sessions (to IPv4 addresses, names
// "mesh-<node>", "node-<node>") carry IPv4 blocks; IPv6 sessions (to IPv6 addresses, names
// "mesh6-<node>", "node6-<node>") carry IPv6 blocks, and exist only when this node has an IPv6
// address. The router id is this node's IPv4 address; a node without one has no sessions.
//
//  - node-to-node mesh (nodeToNodeMeshEnabled, default true): every other node with an address of
//    the family, except that route reflectors (nodes with a routeReflectorClusterID) are meshed
//    only with each other and reach their clients through BGPPeers;
//  - BGPPeer that applies to this node (no node/nodeSelector: every node; `node`; `nodeSelector`):
//    peerIP -> one peer (global, or node when it names this node; an IPv6 peerIP only when this
//    node has an IPv6 address); peerSelector -> every selected node other than this one (one
//    peer per shared family); when this node is a route reflector and the selected node is not
//    in the same cluster, the session is a reflector-client session.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "brindle/model/kinds.hpp"

namespace brindle::calc {

enum class PeerType { mesh, global, node, rr_client };

struct BgpPeerInfo {
  std::string name;  // stable: the BIRD protocol name is derived from it
  PeerType type = PeerType::mesh;
  model::IpAddress address;
  uint32_t asn = 0;
  uint16_t port = 0;   // 0: 179
  std::string source;  // the BGPPeer name, or "node-to-node mesh"
  bool operator==(const BgpPeerInfo&) const = default;
};

struct BgpState {
  uint32_t local_asn = 64512;
  std::optional<model::IpAddress> router_id;  // this node's IPv4 address
  uint16_t listen_port = 179;
  std::string route_reflector_cluster_id;
  std::vector<BgpPeerInfo> peers;  // sorted by name
  bool operator==(const BgpState&) const = default;
};

BgpState compute_bgp(const std::string& self, const std::map<std::string, model::Node>& nodes,
                     const std::map<std::string, model::BGPConfiguration>& configurations,
                     const std::map<std::string, model::BGPPeer>& peers);

}  // namespace brindle::calc
