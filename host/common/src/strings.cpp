#include "brindle/common/strings.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace brindle::strings {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void append_escaped_control(std::string& out, unsigned char c) {
  switch (c) {
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\x";
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xf];
  }
}

bool is_plain_logfmt(std::string_view value) {
  if (value.empty()) {
    return false;
  }
  for (unsigned char c : value) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string logfmt_value(std::string_view value) {
  if (is_plain_logfmt(value)) {
    return std::string(value);
  }
  std::string out;
  out.reserve(value.size() + 2);
  out += '"';
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < ' ' || c == 0x7f) {
      append_escaped_control(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string escape_control(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c < ' ' && c != '\t') || c == 0x7f) {
      append_escaped_control(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

std::string bounded_c_string(const char* text, std::size_t capacity) {
  if (text == nullptr) {
    return {};
  }
  const void* end = std::memchr(text, '\0', capacity);
  const std::size_t size =
      end == nullptr ? capacity : static_cast<std::size_t>(static_cast<const char*>(end) - text);
  return std::string(text, size);
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort result;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    result.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return std::nullopt;  // none, or an IPv6 address without brackets
    }
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (result.host.empty() || port_text.empty()) {
    return std::nullopt;
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  result.port = static_cast<uint16_t>(port);
  return result;
}

std::string format_host_port(const HostPort& host_port) {
  if (host_port.host.find(':') != std::string::npos) {
    return "[" + host_port.host + "]:" + std::to_string(host_port.port);
  }
  return host_port.host + ":" + std::to_string(host_port.port);
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view text) {
  IpPrefix result;
  std::string address(text);
  std::optional<unsigned> prefix_len;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    address = std::string(text.substr(0, slash));
    const std::string_view len_text = text.substr(slash + 1);
    unsigned len = 0;
    const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (len_text.empty() || ec != std::errc() || end != len_text.data() + len_text.size()) {
      return std::nullopt;
    }
    prefix_len = len;
  }
  if (inet_pton(AF_INET, address.c_str(), result.bytes) == 1) {
    result.family = 4;
  } else if (inet_pton(AF_INET6, address.c_str(), result.bytes) == 1) {
    result.family = 6;
  } else {
    return std::nullopt;
  }
  const unsigned max_len = result.family == 4 ? 32 : 128;
  const unsigned len = prefix_len.value_or(max_len);
  if (len > max_len) {
    return std::nullopt;
  }
  result.prefix_len = static_cast<uint8_t>(len);
  return result;
}

std::string format_ip_prefix(const IpPrefix& prefix) {
  char buffer[INET6_ADDRSTRLEN] = {};
  const int af = prefix.family == 4 ? AF_INET : AF_INET6;
  if (prefix.family != 4 && prefix.family != 6) {
    return {};
  }
  if (inet_ntop(af, prefix.bytes, buffer, sizeof(buffer)) == nullptr) {
    return {};
  }
  return std::string(buffer) + "/" + std::to_string(prefix.prefix_len);
}

std::string sanitize_identifier(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      c = '_';
    }
  }
  return out;
}

}  // namespace brindle::strings
