// Small string utilities shared by the host parts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace brindle::strings {

// A logfmt value: returned as is when it is a plain token, else in double quotes with `"`, `\`
// and control characters escaped. The empty string becomes "".
std::string logfmt_value(std::string_view value);

// Replaces CR/LF (and other control characters except tab) with escapes so that text from
// outside (plugins, requests) cannot break one record into several lines.
std::string escape_control(std::string_view text);

std::string_view trim(std::string_view text);

// Copies a C string of at most `capacity` bytes (for example brindle_error_t::message, which a
// plugin might forget to terminate).
std::string bounded_c_string(const char* text, std::size_t capacity);

// "127.0.0.1:9099", "[::1]:9099", "localhost:80". The port must be 0..65535.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);
std::string format_host_port(const HostPort& host_port);

// An address with prefix length, "198.19.0.1/24" or "2001:db8::1/64" (a bare address gets the
// full-length prefix). `family` is 4 or 6, `bytes` in network order (IPv4 uses the first 4).
struct IpPrefix {
  uint8_t family = 0;
  uint8_t prefix_len = 0;
  uint8_t bytes[16] = {};
};
std::optional<IpPrefix> parse_ip_prefix(std::string_view text);
std::string format_ip_prefix(const IpPrefix& prefix);

// Replaces every character outside [A-Za-z0-9_] with '_' (for Prometheus metric names).
std::string sanitize_identifier(std::string_view text);

}  // namespace brindle::strings
