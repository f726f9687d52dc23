#include "vtep_mac.hpp"

#include <array>
#include <cstdint>

namespace brindle::vxlan {

netlink::MacAddress vtep_mac_for_node(std::string_view node_name) {
  constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
  constexpr uint64_t kFnvPrime = 0x100000001b3ull;
  constexpr std::string_view kDomain = "brindle-vxlan-vtep:";
  uint64_t hash = kFnvOffset;
  for (std::string_view part : {kDomain, node_name}) {
    for (const char c : part) {
      hash ^= static_cast<uint8_t>(c);
      hash *= kFnvPrime;
    }
  }
  std::array<uint8_t, 6> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>(hash >> (56 - 8 * i));
  }
  bytes[0] = static_cast<uint8_t>((bytes[0] & 0xfc) | 0x02);  // locally administered, unicast
  return netlink::MacAddress(bytes);
}

}  // namespace brindle::vxlan
