#include "brindle/model/ip.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace brindle::model {

std::string_view family_name(IpFamily family) {
  return family == IpFamily::kV4 ? "IPv4" : "IPv6";
}

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family_ = IpFamily::kV4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::from_bytes(IpFamily family, const uint8_t* bytes) {
  IpAddress a;
  a.family_ = family;
  std::memcpy(a.bytes_.data(), bytes, family == IpFamily::kV4 ? 4 : 16);
  return a;
}

std::optional<IpAddress> IpAddress::try_parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short, anything longer is invalid.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    a.family_ = IpFamily::kV4;
    if (inet_pton(AF_INET, buf, a.bytes_.data()) != 1) {
      return std::nullopt;
    }
  } else {
    a.family_ = IpFamily::kV6;
    if (inet_pton(AF_INET6, buf, a.bytes_.data()) != 1) {
      return std::nullopt;
    }
  }
  return a;
}

IpAddress IpAddress::parse(std::string_view text) {
  auto a = try_parse(text);
  if (!a) {
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a valid IP address");
  }
  return *a;
}

bool IpAddress::bit(int index) const {
  return (bytes_[static_cast<size_t>(index / 8)] >> (7 - index % 8)) & 1;
}

std::optional<IpAddress> IpAddress::plus(uint64_t offset) const {
  IpAddress out = *this;
  size_t last = is_v4() ? 3 : 15;
  uint64_t carry = offset;
  for (size_t i = last + 1; i-- > 0 && carry != 0;) {
    uint64_t sum = out.bytes_[i] + (carry & 0xff);
    out.bytes_[i] = static_cast<uint8_t>(sum);
    carry = (carry >> 8) + (sum >> 8);
  }
  if (carry != 0) {
    return std::nullopt;
  }
  return out;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  const char* r = inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return r ? std::string(r) : std::string();
}

IpPrefix::IpPrefix(IpAddress address, int prefix_length)
    : address_(address), prefix_length_(prefix_length) {
  if (prefix_length < 0 || prefix_length > address.bit_length()) {
    throw std::invalid_argument("prefix length " + std::to_string(prefix_length) +
                                " is out of range for an " +
                                std::string(family_name(address.family())) + " address");
  }
}

std::optional<IpPrefix> IpPrefix::try_parse(std::string_view text, std::string* why) {
  auto fail = [&](std::string message) -> std::optional<IpPrefix> {
    if (why) {
      *why = std::move(message);
    }
    return std::nullopt;
  };
  const std::string quoted = "\"" + std::string(text) + "\"";
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return fail(quoted + " is not a CIDR: expected <address>/<prefix length>");
  }
  auto address = IpAddress::try_parse(text.substr(0, slash));
  if (!address) {
    return fail(quoted + " is not a valid CIDR: \"" + std::string(text.substr(0, slash)) +
                "\" is not an IP address");
  }
  std::string_view len_text = text.substr(slash + 1);
  int len = -1;
  bool digits_only =
      !len_text.empty() && len_text.size() <= 3 &&
      std::all_of(len_text.begin(), len_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits_only) {
    std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  }
  if (!digits_only || len > address->bit_length() || (len_text.size() > 1 && len_text[0] == '0')) {
    return fail(quoted + " is not a valid CIDR: the prefix length must be a number from 0 to " +
                std::to_string(address->bit_length()) + " for an " +
                std::string(family_name(address->family())) + " address");
  }
  return IpPrefix(*address, len);
}

IpPrefix IpPrefix::parse(std::string_view text) {
  std::string why;
  auto p = try_parse(text, &why);
  if (!p) {
    throw std::invalid_argument(why);
  }
  return *p;
}

IpPrefix IpPrefix::parse_address_or_prefix(std::string_view text) {
  if (text.find('/') == std::string_view::npos) {
    return host(IpAddress::parse(text));
  }
  return parse(text);
}

IpPrefix IpPrefix::host(const IpAddress& address) {
  return IpPrefix(address, address.bit_length());
}

IpPrefix IpPrefix::masked() const {
  std::array<uint8_t, 16> bytes = address_.bytes();
  int bits = address_.bit_length();
  for (int i = prefix_length_; i < bits; ++i) {
    bytes[static_cast<size_t>(i / 8)] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
  }
  return IpPrefix(IpAddress::from_bytes(address_.family(), bytes.data()), prefix_length_);
}

uint64_t IpPrefix::size() const {
  int bits = host_bits();
  if (bits >= 64) {
    return std::numeric_limits<uint64_t>::max();
  }
  return uint64_t{1} << bits;
}

bool IpPrefix::contains(const IpAddress& address) const {
  if (address.family() != family()) {
    return false;
  }
  for (int i = 0; i < prefix_length_; ++i) {
    if (address.bit(i) != address_.bit(i)) {
      return false;
    }
  }
  return true;
}

bool IpPrefix::contains(const IpPrefix& other) const {
  return other.family() == family() && other.prefix_length_ >= prefix_length_ &&
         contains(other.address_);
}

bool IpPrefix::overlaps(const IpPrefix& other) const {
  return contains(other) || other.contains(*this);
}

std::optional<uint64_t> IpPrefix::ordinal_of(const IpAddress& address) const {
  if (!contains(address) || host_bits() > 64) {
    return std::nullopt;
  }
  uint64_t ordinal = 0;
  for (int i = prefix_length_; i < address.bit_length(); ++i) {
    ordinal = (ordinal << 1) | (address.bit(i) ? 1u : 0u);
  }
  return ordinal;
}

std::optional<IpAddress> IpPrefix::address_at(uint64_t ordinal) const {
  if (host_bits() < 64 && ordinal >= (uint64_t{1} << host_bits())) {
    return std::nullopt;
  }
  return network().plus(ordinal);
}

std::string IpPrefix::to_string() const {
  return address_.to_string() + "/" + std::to_string(prefix_length_);
}

brindle_ip_prefix_t IpPrefix::to_c() const {
  brindle_ip_prefix_t c{};
  c.family = static_cast<uint8_t>(family());
  c.prefix_len = static_cast<uint8_t>(prefix_length_);
  std::memcpy(c.addr, address_.bytes().data(), 16);
  return c;
}

IpPrefix IpPrefix::from_c(const brindle_ip_prefix_t& c) {
  if (c.family != 4 && c.family != 6) {
    throw std::invalid_argument("brindle_ip_prefix_t has invalid family " +
                                std::to_string(c.family));
  }
  auto family = c.family == 4 ? IpFamily::kV4 : IpFamily::kV6;
  return IpPrefix(IpAddress::from_bytes(family, c.addr), c.prefix_len);
}

std::optional<MacAddress> MacAddress::try_parse(std::string_view text) {
  if (text.size() != 17) {
    return std::nullopt;
  }
  char separator = text[2];
  if (separator != ':' && separator != '-') {
    return std::nullopt;
  }
  std::array<uint8_t, 6> bytes{};
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != separator) {
      return std::nullopt;
    }
    unsigned value = 0;
    const char* first = text.data() + i * 3;
    auto r = std::from_chars(first, first + 2, value, 16);
    if (r.ec != std::errc() || r.ptr != first + 2) {
      return std::nullopt;
    }
    bytes[i] = static_cast<uint8_t>(value);
  }
  return MacAddress(bytes);
}

MacAddress MacAddress::parse(std::string_view text) {
  auto m = try_parse(text);
  if (!m) {
    throw std::invalid_argument("\"" + std::string(text) +
                                "\" is not a valid MAC address (expected six hex bytes like "
                                "ee:ee:ee:ee:ee:ee)");
  }
  return *m;
}

bool MacAddress::is_zero() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](uint8_t b) { return b == 0; });
}

std::string MacAddress::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(17);
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0) {
      out.push_back(':');
    }
    out.push_back(kHex[bytes_[i] >> 4]);
    out.push_back(kHex[bytes_[i] & 0x0f]);
  }
  return out;
}

brindle_mac_t MacAddress::to_c() const {
  brindle_mac_t c{};
  std::memcpy(c.bytes, bytes_.data(), 6);
  return c;
}

}  // namespace brindle::model
