// The BGP part of the calculation: this node's BGP settings and its peers, from the Node
// resources, BGPConfiguration ("default" and "node.<name>") and BGPPeer resources. Pure but for
// the secret lookup the caller passes (BGP passwords).
//
// Dual stack as in Calico: sessions are per family. IPv4 sessions (to IPv4 addresses, names
// "mesh-<node>", "node-<node>") carry IPv4 blocks; IPv6 sessions (to IPv6 addresses, names
// "mesh6-<node>", "node6-<node>") carry IPv6 blocks, and exist only when this node has an IPv6
// address. The router id is this node's IPv4 address. An IPv6-only node (Calico's "hash" router
// id) gets one derived from its name (hash_router_id) and IPv6 sessions only; a node without any
// address has no sessions.
//
//  - node-to-node mesh (nodeToNodeMeshEnabled, default true): every other node with an address of
//    the family, except that route reflectors (nodes with a routeReflectorClusterID) are meshed
//    only with each other and reach their clients through BGPPeers;
//  - BGPPeer that applies to this node (no node/nodeSelector: every node; `node`; `nodeSelector`):
//    peerIP -> one peer (global, or node when it names this node; a peerIP only when this node
//    has an address of its family); peerSelector -> every selected node other than this one (one
//    peer per shared family); when this node is a route reflector and the selected node is not
//    in the same cluster, the session is a reflector-client session.
//
// Passwords: a BGPPeer's password (a secret reference) is looked up through `secrets` once per
// compute_bgp and applies to every session that BGPPeer gives. When it cannot be resolved (no
// secret, no key, unreadable, or a value BIRD or TCP MD5 cannot take: check_bgp_password), the
// sessions are withheld (BgpState::withheld_peers, with the reason), never started without it;
// their address is not meshed either. The other peers are not affected.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "brindle/calc/bgp_secrets.hpp"
#include "brindle/model/kinds.hpp"

namespace brindle::calc {

enum class PeerType { mesh, global, node, rr_client };

struct BgpPeerInfo {
  std::string name;  // stable: the BIRD protocol name is derived from it
  PeerType type = PeerType::mesh;
  model::IpAddress address;
  uint32_t asn = 0;
  uint16_t port = 0;     // 0: 179
  std::string source;    // the BGPPeer name, or "node-to-node mesh"
  std::string password;  // TCP MD5 password from the BGPPeer's secret; empty: none
  std::string error;     // withheld peers only: why there is no session
  bool operator==(const BgpPeerInfo&) const = default;
};

struct BgpState {
  uint32_t local_asn = 64512;
  std::optional<model::IpAddress> router_id;  // IPv4 address, or hash_router_id (IPv6 only)
  uint16_t listen_port = 179;
  std::string route_reflector_cluster_id;
  std::vector<BgpPeerInfo> peers;  // sorted by name
  // Sessions that must not start: their password could not be resolved (`error` says why).
  std::vector<BgpPeerInfo> withheld_peers;  // sorted by name
  bool operator==(const BgpState&) const = default;
};

BgpState compute_bgp(const std::string& self, const std::map<std::string, model::Node>& nodes,
                     const std::map<std::string, model::BGPConfiguration>& configurations,
                     const std::map<std::string, model::BGPPeer>& peers,
                     const SecretLookup& secrets = {});

// Calico's "hash" router id: the first 4 bytes of SHA-256(node name) as an IPv4 address, the
// first byte lowered by 32 when above 223 (no multicast or class E ids); never 0.0.0.0.
model::IpAddress hash_router_id(const std::string& node_name);

}  // namespace brindle::calc
