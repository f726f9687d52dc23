// [workload] big_tcp: which GSO/GRO limits the pods' veths get (PlumbingOptions::veth_gso).
//
// BIG TCP (GSO/GRO packets above 64 KB; IPv4: Linux >= 6.3, IPv6: >= 5.19) only pays off when
// every device on the path takes such packets: with pods at 196608 and an uplink at 65536 the
// node segments in software (far slower than without BIG TCP), and tunnels (VXLAN, IPIP) do not
// carry them. So the pods get min(196608, what the uplink offers), per limit, and nothing at all
// with a tunnelling encapsulation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "brindle/netlink/netlink.hpp"

namespace brindle::workload {

inline constexpr uint32_t kBigTcpMaxSize = 196608;    // what Cilium uses too
inline constexpr uint32_t kLegacyGsoMaxSize = 65536;  // GSO_LEGACY_MAX_SIZE

// Each member: min(kBigTcpMaxSize, the uplink's) when the uplink's is above 65536, else 0 (the
// pods keep the kernel default).
netlink::GsoLimits big_tcp_limits(const netlink::GsoLimits& uplink);

struct BigTcpRequest {
  bool enabled = false;         // [workload] big_tcp
  std::string encapsulation{};  // the encapsulation plugin's name; "" when there is none
  // The node's uplink (the device that carries its address, as the agent finds it for the MTU);
  // nullopt when none was found.
  std::optional<netlink::LinkInfo> uplink{};
};

struct BigTcpChoice {
  netlink::GsoLimits veth_gso{};  // for PlumbingOptions::veth_gso; empty: nothing is raised
  std::string uplink{};           // the uplink device's name, when found
  std::string reason{};           // why nothing (or not everything) is raised; "" otherwise
};

// Decides, and logs the outcome once: a warning when BIG TCP is asked for with a tunnelling
// encapsulation (it is not applied), info when the uplink offers no more than 64 KB or cannot be
// found, info with the sizes when applied. Nothing is logged when it is not enabled. Never throws.
BigTcpChoice choose_big_tcp(const BigTcpRequest& request);

}  // namespace brindle::workload
