// IP addresses, prefixes (CIDRs) and MAC addresses as small value types.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "brindle/abi.h"

namespace brindle::model {

enum class IpFamily : uint8_t { kV4 = 4, kV6 = 6 };

// "IPv4" / "IPv6", for messages.
std::string_view family_name(IpFamily family);

// An IPv4 or IPv6 address. Bytes are in network order; IPv4 uses bytes_[0..3], the rest is zero.
class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0

  static IpAddress v4(uint32_t host_order);
  static IpAddress from_bytes(IpFamily family, const uint8_t* bytes);
  // Accepts dotted-quad IPv4 and any RFC 4291 IPv6 text; no zone ids, no leading zeros in IPv4.
  static std::optional<IpAddress> try_parse(std::string_view text);
  // Throws std::invalid_argument with a message naming the text.
  static IpAddress parse(std::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  int bit_length() const { return is_v4() ? 32 : 128; }
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  // Value of bit `index` counted from the most significant bit.
  bool bit(int index) const;

  // The address `offset` places after this one; nullopt when it would leave the family's range.
  std::optional<IpAddress> plus(uint64_t offset) const;

  // IPv4 dotted quad, IPv6 in RFC 5952 form (lowercase, longest zero run compressed).
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend std::strong_ordering operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length. The address may have host bits set (an interface address such
// as 198.19.0.1/24); callers that need a network check has_host_bits() or use masked().
class IpPrefix {
 public:
  IpPrefix() = default;  // 0.0.0.0/0
  // Throws std::invalid_argument when prefix_length exceeds the family's bit length.
  IpPrefix(IpAddress address, int prefix_length);

  // "198.18.0.0/16", "2001:db8::/32". The prefix length is required.
  static std::optional<IpPrefix> try_parse(std::string_view text, std::string* why = nullptr);
  static IpPrefix parse(std::string_view text);  // throws std::invalid_argument
  // Like parse(), but a bare address means a host prefix (/32 or /128).
  static IpPrefix parse_address_or_prefix(std::string_view text);
  static IpPrefix host(const IpAddress& address);

  const IpAddress& address() const { return address_; }
  int prefix_length() const { return prefix_length_; }
  IpFamily family() const { return address_.family(); }
  bool is_v4() const { return address_.is_v4(); }
  int host_bits() const { return address_.bit_length() - prefix_length_; }
  bool is_host() const { return host_bits() == 0; }

  IpPrefix masked() const;  // host bits cleared
  bool has_host_bits() const { return masked().address_ != address_; }
  IpAddress network() const { return masked().address_; }
  // Number of addresses, saturated at UINT64_MAX for very large IPv6 prefixes.
  uint64_t size() const;

  bool contains(const IpAddress& address) const;
  bool contains(const IpPrefix& other) const;  // other lies entirely inside this prefix
  bool overlaps(const IpPrefix& other) const;

  // Index of `address` inside this prefix's network, or nullopt if outside.
  std::optional<uint64_t> ordinal_of(const IpAddress& address) const;
  // The network address plus `ordinal`, or nullopt if outside the prefix.
  std::optional<IpAddress> address_at(uint64_t ordinal) const;

  std::string to_string() const;  // "<address>/<len>", the address as stored (host bits kept)

  brindle_ip_prefix_t to_c() const;
  static IpPrefix from_c(const brindle_ip_prefix_t& c);  // throws std::invalid_argument

  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
  friend std::strong_ordering operator<=>(const IpPrefix&, const IpPrefix&) = default;

 private:
  IpAddress address_;
  int prefix_length_ = 0;
};

class MacAddress {
 public:
  MacAddress() = default;
  explicit MacAddress(const std::array<uint8_t, 6>& bytes) : bytes_(bytes) {}
  // "ee:ee:ee:ee:ee:ee" (colons or dashes, either case).
  static std::optional<MacAddress> try_parse(std::string_view text);
  static MacAddress parse(std::string_view text);  // throws std::invalid_argument

  const std::array<uint8_t, 6>& bytes() const { return bytes_; }
  bool is_multicast() const { return (bytes_[0] & 0x01) != 0; }
  bool is_zero() const;
  std::string to_string() const;  // lowercase with colons
  brindle_mac_t to_c() const;

  friend bool operator==(const MacAddress&, const MacAddress&) = default;
  friend std::strong_ordering operator<=>(const MacAddress&, const MacAddress&) = default;

 private:
  std::array<uint8_t, 6> bytes_{};
};

}  // namespace brindle::model
