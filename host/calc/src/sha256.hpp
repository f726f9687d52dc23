// SHA-256 (FIPS 180-4), for the hash router id of nodes without an IPv4 address. Private to calc.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace brindle::calc::detail {

std::array<uint8_t, 32> sha256(std::string_view data);

}  // namespace brindle::calc::detail
