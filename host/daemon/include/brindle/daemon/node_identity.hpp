// This node's name and underlay addresses, from [node] or detected from the interfaces.
#pragma once

#include <string>
#include <string_view>

#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"

namespace brindle::daemon {

// Uses [node] name (or the hostname) and ipv4/ipv6 when given; an absent address is taken from
// the first interface (by name) matching interface_pattern that has a global address ("*" skips
// loopback interfaces). Only reads the interfaces. Throws std::runtime_error for an unusable
// configured address.
loader::NodeIdentity resolve_node_identity(const config::NodeConfig& node);

}  // namespace brindle::daemon
