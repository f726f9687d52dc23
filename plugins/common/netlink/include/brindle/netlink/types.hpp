// Value types of the netlink adapter: IP prefixes and MAC addresses, independent of libnl.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "brindle/abi.h"

namespace brindle::netlink {

// An IPv4 or IPv6 address with a prefix length ("198.18.0.0/26", "2001:db8::1/64"). A plain
// address is a prefix of full length (32 or 128). Bytes are in network order; unused bytes are 0.
class IpPrefix {
 public:
  IpPrefix() = default;  // family 0: "no address"

  // Accepts "addr" (full length) or "addr/len". Throws std::invalid_argument naming the text.
  static IpPrefix parse(std::string_view text);
  // Like parse() but returns std::nullopt instead of throwing.
  static std::optional<IpPrefix> try_parse(std::string_view text);
  static IpPrefix from_bytes(int family, const uint8_t* bytes, uint8_t prefix_len);
  static IpPrefix from_abi(const brindle_ip_prefix_t& prefix);

  brindle_ip_prefix_t to_abi() const;

  bool empty() const { return family_ == 0; }
  int family() const { return family_; }  // 4, 6 or 0
  bool is_v4() const { return family_ == 4; }
  bool is_v6() const { return family_ == 6; }
  uint8_t prefix_len() const { return prefix_len_; }
  uint8_t max_prefix_len() const { return family_ == 4 ? 32 : family_ == 6 ? 128 : 0; }
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  size_t byte_size() const { return family_ == 4 ? 4 : family_ == 6 ? 16 : 0; }

  // The same address with another prefix length (host bits kept).
  IpPrefix with_prefix_len(uint8_t len) const;
  // The address alone, as a full-length prefix ("198.19.0.1/24" -> "198.19.0.1/32").
  IpPrefix address() const { return with_prefix_len(max_prefix_len()); }
  // Host bits cleared ("198.19.0.1/24" -> "198.19.0.0/24").
  IpPrefix network() const;
  // True if `other`'s address lies inside this prefix (same family).
  bool contains(const IpPrefix& other) const;

  // "198.18.0.0/26"; full-length prefixes print without "/len" when `omit_full_len` is set.
  std::string to_string(bool omit_full_len = false) const;

  friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;

 private:
  uint8_t family_ = 0;
  uint8_t prefix_len_ = 0;
  std::array<uint8_t, 16> bytes_{};
};

class MacAddress {
 public:
  MacAddress() = default;
  explicit MacAddress(const std::array<uint8_t, 6>& bytes) : bytes_(bytes) {}

  // Accepts "aa:bb:cc:dd:ee:ff" (case-insensitive). Throws std::invalid_argument.
  static MacAddress parse(std::string_view text);
  static MacAddress from_abi(const brindle_mac_t& mac);
  brindle_mac_t to_abi() const;

  const std::array<uint8_t, 6>& bytes() const { return bytes_; }
  bool is_zero() const;
  std::string to_string() const;  // lower case "aa:bb:cc:dd:ee:ff"

  friend auto operator<=>(const MacAddress&, const MacAddress&) = default;
  friend bool operator==(const MacAddress&, const MacAddress&) = default;

 private:
  std::array<uint8_t, 6> bytes_{};
};

}  // namespace brindle::netlink
