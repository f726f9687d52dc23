// Renders a complete BIRD 2 configuration from the routing state the host hands over.
#pragma once

#include <brindle/sdk.hpp>

#include <map>
#include <string>
#include <vector>

namespace brindle::bgp {

// Names of the fixed protocols in the rendered configuration (status and tests refer to them).
// BIRD 2 protocols other than BGP carry one channel, so each exists once per family: the IPv6
// one has the same name with a "6" suffix (brindle_blocks6, brindle_tunnels6, brindle_kernel6).
inline constexpr const char* kStaticProtocol = "brindle_blocks";
inline constexpr const char* kTunnelProtocol = "brindle_tunnels";
inline constexpr const char* kKernelProtocol = "brindle_kernel";
inline constexpr const char* kIpv6Suffix = "6";

struct BirdInputs {
  BgpSettings settings;
  std::vector<BgpPeer> peers;
  std::vector<RoutingPool> pools;
  std::vector<Route> local_blocks;  // LOCAL_BLOCK routes of this node
  IpPrefix node_address;            // router id fallback; its prefix is the local subnet
  IpPrefix node_address6;           // the node's IPv6 address: source of IPv6 sessions
  std::string log_file;             // empty: log to stderr
  // REMOTE_BLOCK routes as the host formed them. Those of VXLAN pools are installed as given
  // (protocol static brindle_tunnels): BGP does not carry the tunnel address they go through.
  // The others are learned over BGP and ignored here.
  std::vector<Route> remote_blocks;
};

struct RenderedConfig {
  std::string text;
  // BIRD protocol name -> the peer it was rendered from.
  std::map<std::string, BgpPeer> peers_by_protocol;
};

// The BIRD protocol name for a peer: letters, digits and '_' only, unique within `taken`.
std::string protocol_name(const BgpPeer& peer);

// Throws Error(BRINDLE_ERR_INVALID_ARGUMENT) naming the offending peer/pool/setting.
RenderedConfig render_bird_config(const BirdInputs& inputs);

}  // namespace brindle::bgp
