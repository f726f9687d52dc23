// SHA-1 (FIPS 180-4), only to derive interface names; not for anything security related.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace brindle::workload::detail {

std::array<uint8_t, 20> sha1(std::string_view data);
std::string sha1_hex(std::string_view data);

}  // namespace brindle::workload::detail
