#include "brindle/netlink/types.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace brindle::netlink {

std::optional<IpPrefix> IpPrefix::try_parse(std::string_view text) {
  std::string_view address_text = text;
  std::optional<unsigned> length;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    address_text = text.substr(0, slash);
    std::string_view length_text = text.substr(slash + 1);
    unsigned value = 0;
    auto [end, ec] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), value);
    if (ec != std::errc{} || end != length_text.data() + length_text.size() ||
        length_text.empty()) {
      return std::nullopt;
    }
    length = value;
  }
  if (address_text.empty() || address_text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  std::string address(address_text);
  IpPrefix result;
  if (inet_pton(AF_INET, address.c_str(), result.bytes_.data()) == 1) {
    result.family_ = 4;
  } else if (inet_pton(AF_INET6, address.c_str(), result.bytes_.data()) == 1) {
    result.family_ = 6;
  } else {
    return std::nullopt;
  }
  unsigned max_len = result.max_prefix_len();
  if (length && *length > max_len) {
    return std::nullopt;
  }
  result.prefix_len_ = static_cast<uint8_t>(length.value_or(max_len));
  return result;
}

IpPrefix IpPrefix::parse(std::string_view text) {
  if (auto result = try_parse(text)) {
    return *result;
  }
  throw std::invalid_argument("invalid IP address or prefix \"" + std::string(text) +
                              "\" (expected e.g. 198.18.0.0/26 or 2001:db8::1)");
}

IpPrefix IpPrefix::from_bytes(int family, const uint8_t* bytes, uint8_t prefix_len) {
  IpPrefix result;
  if (family != 4 && family != 6) {
    throw std::invalid_argument("IP family must be 4 or 6");
  }
  result.family_ = static_cast<uint8_t>(family);
  if (prefix_len > result.max_prefix_len()) {
    throw std::invalid_argument("prefix length " + std::to_string(prefix_len) +
                                " too long for IPv" + std::to_string(family));
  }
  std::memcpy(result.bytes_.data(), bytes, result.byte_size());
  result.prefix_len_ = prefix_len;
  return result;
}

IpPrefix IpPrefix::from_abi(const brindle_ip_prefix_t& prefix) {
  if (prefix.family == 0) {
    return {};
  }
  return from_bytes(prefix.family, prefix.addr, prefix.prefix_len);
}

brindle_ip_prefix_t IpPrefix::to_abi() const {
  brindle_ip_prefix_t out{};
  out.family = family_;
  out.prefix_len = prefix_len_;
  std::memcpy(out.addr, bytes_.data(), byte_size());
  return out;
}

IpPrefix IpPrefix::with_prefix_len(uint8_t len) const {
  IpPrefix result = *this;
  if (len > max_prefix_len()) {
    throw std::invalid_argument("prefix length " + std::to_string(len) + " too long for " +
                                to_string());
  }
  result.prefix_len_ = len;
  return result;
}

IpPrefix IpPrefix::network() const {
  IpPrefix result = *this;
  for (size_t bit = prefix_len_; bit < byte_size() * 8; ++bit) {
    result.bytes_[bit / 8] = static_cast<uint8_t>(result.bytes_[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  return result;
}

bool IpPrefix::contains(const IpPrefix& other) const {
  if (empty() || other.family_ != family_) {
    return false;
  }
  return other.with_prefix_len(prefix_len_).network().bytes_ == network().bytes_;
}

std::string IpPrefix::to_string(bool omit_full_len) const {
  if (empty()) {
    return "<none>";
  }
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_ == 4 ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof(buffer));
  std::string text(buffer);
  if (!(omit_full_len && prefix_len_ == max_prefix_len())) {
    text += '/';
    text += std::to_string(prefix_len_);
  }
  return text;
}

MacAddress MacAddress::parse(std::string_view text) {
  std::array<uint8_t, 6> bytes{};
  bool valid = text.size() == 17;
  for (size_t i = 0; valid && i < 6; ++i) {
    std::string_view part = text.substr(i * 3, 2);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + 2, value, 16);
    valid = ec == std::errc{} && end == part.data() + 2 && (i == 5 || text[i * 3 + 2] == ':');
    bytes[i] = static_cast<uint8_t>(value);
  }
  if (!valid) {
    throw std::invalid_argument("invalid MAC address \"" + std::string(text) +
                                "\" (expected e.g. 66:42:00:aa:bb:cc)");
  }
  return MacAddress(bytes);
}

MacAddress MacAddress::from_abi(const brindle_mac_t& mac) {
  std::array<uint8_t, 6> bytes{};
  std::memcpy(bytes.data(), mac.bytes, 6);
  return MacAddress(bytes);
}

brindle_mac_t MacAddress::to_abi() const {
  brindle_mac_t out{};
  std::memcpy(out.bytes, bytes_.data(), 6);
  return out;
}

bool MacAddress::is_zero() const {
  for (uint8_t b : bytes_) {
    if (b != 0) {
      return false;
    }
  }
  return true;
}

std::string MacAddress::to_string() const {
  char buffer[18];
  std::snprintf(buffer, sizeof(buffer), "%02x:%02x:%02x:%02x:%02x:%02x", bytes_[0], bytes_[1],
                bytes_[2], bytes_[3], bytes_[4], bytes_[5]);
  return buffer;
}

}  // namespace brindle::netlink
