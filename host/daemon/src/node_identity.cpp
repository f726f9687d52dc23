#include "brindle/daemon/node_identity.hpp"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <map>
#include <stdexcept>

namespace brindle::daemon {
namespace {

uint8_t prefix_length(const uint8_t* mask, std::size_t bytes) {
  int bits = 0;
  for (std::size_t i = 0; i < bytes; ++i) {
    bits += std::popcount(static_cast<unsigned>(mask[i]));
  }
  return static_cast<uint8_t>(bits);
}

bool usable_v4(const uint8_t* a) {
  return a[0] != 127 && !(a[0] == 169 && a[1] == 254) && a[0] != 0;
}

bool usable_v6(const uint8_t* a) {
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const bool link_local = a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
  const bool multicast = a[0] == 0xff;
  return !link_local && !multicast && std::memcmp(a, kLoopback, 16) != 0;
}

struct Detected {
  std::optional<strings::IpPrefix> ipv4;
  std::optional<strings::IpPrefix> ipv6;
};

Detected detect(const std::string& pattern) {
  Detected found;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return found;
  }
  // Interfaces by name so the choice does not depend on kernel enumeration order.
  std::map<std::string, std::vector<const ifaddrs*>> by_name;
  for (const ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr || ifa->ifa_netmask == nullptr) {
      continue;
    }
    if ((ifa->ifa_flags & IFF_LOOPBACK) != 0 && pattern == "*") {
      continue;
    }
    if (fnmatch(pattern.c_str(), ifa->ifa_name, 0) != 0) {
      continue;
    }
    by_name[ifa->ifa_name].push_back(ifa);
  }
  for (const auto& [name, addresses] : by_name) {
    for (const ifaddrs* ifa : addresses) {
      if (ifa->ifa_addr->sa_family == AF_INET && !found.ipv4) {
        const auto* addr = reinterpret_cast<const sockaddr_in*>(ifa->ifa_addr);
        const auto* mask = reinterpret_cast<const sockaddr_in*>(ifa->ifa_netmask);
        strings::IpPrefix prefix;
        prefix.family = 4;
        std::memcpy(prefix.bytes, &addr->sin_addr, 4);
        prefix.prefix_len = prefix_length(reinterpret_cast<const uint8_t*>(&mask->sin_addr), 4);
        if (usable_v4(prefix.bytes)) {
          found.ipv4 = prefix;
        }
      } else if (ifa->ifa_addr->sa_family == AF_INET6 && !found.ipv6) {
        const auto* addr = reinterpret_cast<const sockaddr_in6*>(ifa->ifa_addr);
        const auto* mask = reinterpret_cast<const sockaddr_in6*>(ifa->ifa_netmask);
        strings::IpPrefix prefix;
        prefix.family = 6;
        std::memcpy(prefix.bytes, &addr->sin6_addr, 16);
        prefix.prefix_len = prefix_length(reinterpret_cast<const uint8_t*>(&mask->sin6_addr), 16);
        if (usable_v6(prefix.bytes)) {
          found.ipv6 = prefix;
        }
      }
    }
  }
  freeifaddrs(list);
  return found;
}

std::optional<strings::IpPrefix> configured(const std::optional<std::string>& text, uint8_t family,
                                            const char* key) {
  if (!text) {
    return std::nullopt;
  }
  auto prefix = strings::parse_ip_prefix(*text);
  if (!prefix || prefix->family != family) {
    throw std::runtime_error(std::string("[node] ") + key + " \"" + *text + "\" is not an IPv" +
                             std::to_string(family) + " address with prefix length");
  }
  return prefix;
}

}  // namespace

loader::NodeIdentity resolve_node_identity(const config::NodeConfig& node) {
  loader::NodeIdentity identity;
  identity.name = node.name;
  if (identity.name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) {
      identity.name = host;
    }
  }
  identity.ipv4 = configured(node.ipv4, 4, "ipv4");
  identity.ipv6 = configured(node.ipv6, 6, "ipv6");
  if (!identity.ipv4 || !identity.ipv6) {
    const Detected detected =
        detect(node.interface_pattern.empty() ? std::string("*") : node.interface_pattern);
    if (!identity.ipv4) {
      identity.ipv4 = detected.ipv4;
    }
    if (!identity.ipv6) {
      identity.ipv6 = detected.ipv6;
    }
  }
  return identity;
}

}  // namespace brindle::daemon
