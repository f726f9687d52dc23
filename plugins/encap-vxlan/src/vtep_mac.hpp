// This node's VTEP MAC address, derived from the node name so that it survives agent restarts,
// device re-creation and reboots without being stored anywhere.
#pragma once

#include <string_view>

#include "brindle/netlink/types.hpp"

namespace brindle::vxlan {

// FNV-1a (64 bit) of "brindle-vxlan-vtep:<node name>", first six bytes, with the locally
// administered bit set and the multicast bit cleared (so never zero and never a group address).
// Pure and fixed: changing it changes every node's published MAC.
netlink::MacAddress vtep_mac_for_node(std::string_view node_name);

}  // namespace brindle::vxlan
