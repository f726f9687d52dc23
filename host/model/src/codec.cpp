#include "codec.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace brindle::model {

// ---- messages ------------------------------------------------------------------------------

std::string describe_json(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return j.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "the number " + j.dump();
    case json::value_t::string:
      return "the string " + j.dump();
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a mapping";
    default:
      return "a value of another type";
  }
}

void throw_type_error(const std::string& path, std::string_view expected, const json& got) {
  std::string message = "must be " + std::string(expected) + ", got " + describe_json(got);
  if (expected == "a string" && (got.is_number() || got.is_boolean())) {
    message += " (quote it: \"" + got.dump() + "\")";
  }
  throw ValidationError(path, message);
}

std::string join_names(const std::vector<std::string_view>& names, std::string_view last_sep) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += i + 1 == names.size() ? std::string(last_sep) : std::string(", ");
    }
    out += names[i];
  }
  return out;
}

void throw_enum_error(const std::string& path, const std::vector<std::string_view>& names,
                      const json& got) {
  std::string message =
      "must be one of " + join_names(names, " or ") + ", got " + describe_json(got);
  if (got.is_string()) {
    const auto& text = got.get_ref<const std::string&>();
    for (auto name : names) {
      if (std::equal(text.begin(), text.end(), name.begin(), name.end(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        message += " (names are case-sensitive: write " + std::string(name) + ")";
      }
    }
  }
  throw ValidationError(path, message);
}

// ---- decoding ------------------------------------------------------------------------------

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      bool same = std::tolower(a[i - 1]) == std::tolower(b[j - 1]);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

const std::string& require_string(const json& j, const std::string& path) {
  if (!j.is_string()) {
    throw_type_error(path, "a string", j);
  }
  return j.get_ref<const std::string&>();
}

}  // namespace

void ObjectDecoder::finish() const {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) {
      continue;
    }
    std::string message = "unknown field";
    std::string_view best;
    size_t best_distance = 3;
    for (auto name : known_) {
      size_t d = edit_distance(key, name);
      if (d < best_distance) {
        best_distance = d;
        best = name;
      }
    }
    if (!best.empty()) {
      message += " (did you mean " + std::string(best) + "?)";
    } else if (!known_.empty()) {
      message += " (known fields: " + join_names(known_, ", ") + ")";
    }
    throw ValidationError(path_join(path_, key), message);
  }
}

int64_t decode_integer(const json& j, const std::string& path, int64_t min, int64_t max) {
  auto range_error = [&]() {
    throw ValidationError(path, "must be an integer from " + std::to_string(min) + " to " +
                                    std::to_string(max) + ", got " + j.dump());
  };
  if (j.is_number_unsigned()) {
    auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(max)) {
      range_error();
    }
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) {
    auto v = j.get<int64_t>();
    if (v < min || v > max) {
      range_error();
    }
    return v;
  }
  throw_type_error(path, "an integer", j);
}

void decode_value(const json& j, const std::string& path, std::string& out, unsigned) {
  out = require_string(j, path);
}

void decode_value(const json& j, const std::string& path, bool& out, unsigned) {
  if (!j.is_boolean()) {
    throw_type_error(path, "true or false", j);
  }
  out = j.get<bool>();
}

void decode_value(const json& j, const std::string& path, double& out, unsigned) {
  if (!j.is_number()) {
    throw_type_error(path, "a number", j);
  }
  out = j.get<double>();
  if (!std::isfinite(out)) {
    throw ValidationError(path, "must be a finite number");
  }
}

void decode_value(const json& j, const std::string& path, IpPrefix& out, unsigned flags) {
  const std::string& text = require_string(j, path);
  if ((flags & kBareAddress) && text.find('/') == std::string::npos) {
    auto address = IpAddress::try_parse(text);
    if (!address) {
      throw ValidationError(path, "\"" + text + "\" is not a valid IP address or CIDR");
    }
    out = IpPrefix::host(*address);
    return;
  }
  std::string why;
  auto prefix = IpPrefix::try_parse(text, &why);
  if (!prefix) {
    throw ValidationError(path, why);
  }
  out = *prefix;
}

void decode_value(const json& j, const std::string& path, IpAddress& out, unsigned) {
  const std::string& text = require_string(j, path);
  auto address = IpAddress::try_parse(text);
  if (!address) {
    throw ValidationError(path, "\"" + text + "\" is not a valid IP address");
  }
  out = *address;
}

void decode_value(const json& j, const std::string& path, MacAddress& out, unsigned) {
  const std::string& text = require_string(j, path);
  auto mac = MacAddress::try_parse(text);
  if (!mac) {
    throw ValidationError(path, "\"" + text +
                                    "\" is not a valid MAC address (expected six hex bytes "
                                    "like ee:ee:ee:ee:ee:ee)");
  }
  out = *mac;
}

void decode_value(const json& j, const std::string& path, Duration& out, unsigned) {
  const std::string& text = require_string(j, path);
  auto d = Duration::try_parse(text);
  if (!d) {
    throw ValidationError(path, "\"" + text +
                                    "\" is not a valid duration (expected e.g. 90s, 1m30s, "
                                    "500ms, 2h)");
  }
  out = *d;
}

void decode_value(const json& j, const std::string& path, IntOrString& out, unsigned) {
  if (j.is_string()) {
    out = j.get<std::string>();
  } else if (j.is_number_integer()) {
    out = static_cast<int32_t>(decode_integer(j, path, std::numeric_limits<int32_t>::min(),
                                              std::numeric_limits<int32_t>::max()));
  } else {
    throw_type_error(path, "a port number or a port name", j);
  }
}

namespace {

struct ProtocolName {
  std::string_view name;
  uint8_t number;
};
constexpr std::array<ProtocolName, 6> kProtocolNames{{
    {"TCP", 6},
    {"UDP", 17},
    {"ICMP", 1},
    {"ICMPv6", 58},
    {"SCTP", 132},
    {"UDPLite", 136},
}};

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

std::optional<uint16_t> parse_port_number(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  unsigned value = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

void decode_value(const json& j, const std::string& path, RuleProtocol& out, unsigned) {
  if (j.is_number_integer()) {
    out.number = static_cast<uint8_t>(decode_integer(j, path, 1, 255));
    return;
  }
  if (j.is_string()) {
    const auto& text = j.get_ref<const std::string&>();
    for (const auto& p : kProtocolNames) {
      if (iequals(text, p.name)) {
        out.number = p.number;
        return;
      }
    }
  }
  throw ValidationError(path,
                        "must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a protocol number from "
                        "1 to 255, got " +
                            describe_json(j));
}

void decode_value(const json& j, const std::string& path, RulePort& out, unsigned) {
  out = RulePort{};
  if (j.is_number_integer()) {
    out.first = out.last = static_cast<uint16_t>(decode_integer(j, path, 1, 65535));
    return;
  }
  if (!j.is_string()) {
    throw_type_error(path, "a port number, a range \"first:last\" or a port name", j);
  }
  const auto& text = j.get_ref<const std::string&>();
  if (auto colon = text.find(':'); colon != std::string::npos) {
    auto first = parse_port_number(std::string_view(text).substr(0, colon));
    auto last = parse_port_number(std::string_view(text).substr(colon + 1));
    if (!first || !last) {
      throw ValidationError(path, "\"" + text +
                                      "\" is not a valid port range: expected first:last with "
                                      "ports from 1 to 65535");
    }
    if (*first > *last) {
      throw ValidationError(path, "\"" + text +
                                      "\" is not a valid port range: the first port must not "
                                      "be greater than the last");
    }
    out.first = *first;
    out.last = *last;
    return;
  }
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto port = parse_port_number(text);
    if (!port) {
      throw ValidationError(path, "\"" + text + "\" is not a port from 1 to 65535");
    }
    out.first = out.last = *port;
    return;
  }
  if (std::string why = check_port_name(text); !why.empty()) {
    throw ValidationError(path, "\"" + text + "\" is not a valid port name: " + why);
  }
  out.name = text;
}

void decode_value(const json& j, const std::string& path, PeerAddress& out, unsigned) {
  const std::string& text = require_string(j, path);
  auto peer = PeerAddress::try_parse(text);
  if (!peer) {
    throw ValidationError(path, "\"" + text +
                                    "\" is not a valid peer address (expected an IP address, "
                                    "<IPv4>:<port> or [<IPv6>]:<port>)");
  }
  out = *peer;
}

// ---- encoding ------------------------------------------------------------------------------

json encode_value(const std::string& v) {
  return json(v);
}
json encode_value(bool v) {
  return json(v);
}
json encode_value(double v) {
  // Whole numbers print as integers ("order: 100", not 100.0).
  constexpr double kExact = 9007199254740992.0;  // 2^53
  if (std::floor(v) == v && std::fabs(v) < kExact) {
    return json(static_cast<int64_t>(v));
  }
  return json(v);
}
json encode_value(const IpPrefix& v) {
  return json(v.to_string());
}
json encode_value(const IpAddress& v) {
  return json(v.to_string());
}
json encode_value(const MacAddress& v) {
  return json(v.to_string());
}
json encode_value(const Duration& v) {
  return json(v.to_string());
}
json encode_value(const IntOrString& v) {
  if (const auto* number = std::get_if<int32_t>(&v)) {
    return json(*number);
  }
  return json(std::get<std::string>(v));
}
json encode_value(const RuleProtocol& v) {
  for (const auto& p : kProtocolNames) {
    if (p.number == v.number) {
      return json(std::string(p.name));
    }
  }
  return json(v.number);
}
json encode_value(const RulePort& v) {
  if (v.is_named()) {
    return json(v.name);
  }
  if (v.first == v.last) {
    return json(v.first);
  }
  return json(std::to_string(v.first) + ":" + std::to_string(v.last));
}
json encode_value(const PeerAddress& v) {
  return json(v.to_string());
}

bool is_empty_json(const json& j) {
  return j.is_null() || ((j.is_array() || j.is_object()) && j.empty()) ||
         (j.is_string() && j.get_ref<const std::string&>().empty());
}

// ---- value types declared in kinds.hpp -----------------------------------------------------

std::optional<Duration> Duration::try_parse(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  if (text == "0") {
    return Duration{};
  }
  constexpr double kMaxMs = 10.0 * 365 * 24 * 3600 * 1000;  // ten years is plenty for intervals
  double total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) {
      ++pos;
    }
    std::string_view number = text.substr(start, pos - start);
    if (number.empty() || number.front() == '.' || number.back() == '.' ||
        std::count(number.begin(), number.end(), '.') > 1 || number.size() > 15) {
      return std::nullopt;
    }
    double value = 0;
    auto r = std::from_chars(number.data(), number.data() + number.size(), value);
    if (r.ec != std::errc()) {
      return std::nullopt;
    }
    size_t unit_start = pos;
    while (pos < text.size() && text[pos] >= 'a' && text[pos] <= 'z') {
      ++pos;
    }
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    double scale = 0;
    if (unit == "h") {
      scale = 3600e3;
    } else if (unit == "m") {
      scale = 60e3;
    } else if (unit == "s") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1;
    } else {
      return std::nullopt;
    }
    total_ms += value * scale;
    if (total_ms > kMaxMs) {
      return std::nullopt;
    }
  }
  return Duration{std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)))};
}

std::string Duration::to_string() const {
  int64_t ms = value.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  auto part = [&](int64_t unit_ms, const char* unit) {
    if (ms >= unit_ms) {
      out += std::to_string(ms / unit_ms) + unit;
      ms %= unit_ms;
    }
  };
  part(3600000, "h");
  part(60000, "m");
  part(1000, "s");
  part(1, "ms");
  return out;
}

std::optional<PeerAddress> PeerAddress::try_parse(std::string_view text) {
  PeerAddress out;
  std::string_view host = text;
  std::optional<std::string_view> port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return std::nullopt;
    }
    port = rest.substr(1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto ip = IpAddress::try_parse(host);
  if (!ip) {
    return std::nullopt;
  }
  if (text.front() == '[' && ip->is_v4()) {
    return std::nullopt;
  }
  out.ip = *ip;
  if (port) {
    auto number = parse_port_number(*port);
    if (!number) {
      return std::nullopt;
    }
    out.port = *number;
  }
  return out;
}

std::string PeerAddress::to_string() const {
  if (!port) {
    return ip.to_string();
  }
  if (ip.is_v4()) {
    return ip.to_string() + ":" + std::to_string(*port);
  }
  return "[" + ip.to_string() + "]:" + std::to_string(*port);
}

bool RuleProtocol::has_ports() const {
  return number == 6 || number == 17 || number == 132 || number == 136;
}

std::string_view to_string(PortProtocol protocol) {
  return enum_name(protocol);
}
std::string_view to_string(PolicyType type) {
  return enum_name(type);
}
std::string_view to_string(EncapsulationMode mode) {
  return enum_name(mode);
}
std::string_view to_string(AllowedUse use) {
  return enum_name(use);
}
std::string_view to_string(AffinityState state) {
  return enum_name(state);
}
std::string_view to_string(RuleAction action) {
  return enum_name(action);
}
std::string_view to_string(LogLevel level) {
  return enum_name(level);
}

uint8_t ip_protocol_number(PortProtocol protocol) {
  switch (protocol) {
    case PortProtocol::kTCP:
      return 6;
    case PortProtocol::kUDP:
      return 17;
    case PortProtocol::kSCTP:
      return 132;
  }
  return 0;
}

// ---- validation helpers --------------------------------------------------------------------

namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

}  // namespace

std::string check_dns_label(std::string_view name) {
  if (name.empty()) {
    return "must not be empty";
  }
  if (name.size() > 63) {
    return "must be at most 63 characters";
  }
  bool chars_ok =
      std::all_of(name.begin(), name.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
  if (!chars_ok || !is_lower_alnum(name.front()) || !is_lower_alnum(name.back())) {
    return "must consist of lower-case letters, digits and '-', and start and end with a letter "
           "or digit";
  }
  return {};
}

std::string check_dns_subdomain(std::string_view name) {
  if (name.empty()) {
    return "must not be empty";
  }
  if (name.size() > 253) {
    return "must be at most 253 characters";
  }
  bool chars_ok = std::all_of(name.begin(), name.end(),
                              [](char c) { return is_lower_alnum(c) || c == '-' || c == '.'; });
  bool parts_ok = true;
  size_t start = 0;
  while (chars_ok && parts_ok) {
    size_t dot = name.find('.', start);
    std::string_view part = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    parts_ok = !part.empty() && is_lower_alnum(part.front()) && is_lower_alnum(part.back());
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  if (!chars_ok || !parts_ok) {
    return "must consist of lower-case letters, digits, '-' and '.', and start and end with a "
           "letter or digit";
  }
  return {};
}

namespace {
// Label names and values: [A-Za-z0-9] at both ends, [-A-Za-z0-9_.] inside, at most 63.
std::string check_label_name_part(std::string_view name, const char* what) {
  if (name.size() > 63) {
    return std::string(what) + " must be at most 63 characters";
  }
  bool inner_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '_' || c == '.';
  });
  if (!inner_ok || (!name.empty() && (!is_alnum(name.front()) || !is_alnum(name.back())))) {
    return std::string(what) +
           " must consist of letters, digits, '-', '_' and '.', and start and end with a letter "
           "or digit";
  }
  return {};
}
}  // namespace

std::string check_label_key(std::string_view key) {
  std::string_view name = key;
  if (size_t slash = key.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    if (std::string why = check_dns_subdomain(prefix); !why.empty()) {
      return "the prefix \"" + std::string(prefix) + "\" " + why;
    }
    name = key.substr(slash + 1);
  }
  if (name.empty()) {
    return "the name part must not be empty";
  }
  return check_label_name_part(name, "the name part");
}

std::string check_label_value(std::string_view value) {
  return check_label_name_part(value, "the value");
}

std::string check_port_name(std::string_view name) {
  if (name.empty() || name.size() > 15) {
    return "must be 1 to 15 characters";
  }
  bool chars_ok =
      std::all_of(name.begin(), name.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
  if (!chars_ok) {
    return "must consist of lower-case letters, digits and '-'";
  }
  if (std::none_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    return "must contain at least one letter";
  }
  if (name.front() == '-' || name.back() == '-' || name.find("--") != std::string_view::npos) {
    return "must not start or end with '-' or contain \"--\"";
  }
  return {};
}

namespace {
template <class Map>
void validate_label_map(const Map& labels, const std::string& path) {
  for (const auto& [key, value] : labels) {
    std::string entry = path_join(path, key);
    if (std::string why = check_label_key(key); !why.empty()) {
      throw ValidationError(entry, "invalid label key: " + why);
    }
    if (std::string why = check_label_value(value); !why.empty()) {
      throw ValidationError(entry, "invalid label value \"" + value + "\": " + why);
    }
  }
}
}  // namespace

void validate_labels(const std::map<std::string, std::string, std::less<>>& labels,
                     const std::string& path) {
  validate_label_map(labels, path);
}

void validate_labels(const std::map<std::string, std::string>& labels, const std::string& path) {
  validate_label_map(labels, path);
}

void validate_selector(const std::string& selector, const std::string& path) {
  try {
    Selector::parse(selector);
  } catch (const SelectorError& e) {
    throw ValidationError(path, e.what());
  }
}

void require_network(const IpPrefix& prefix, const std::string& path) {
  if (prefix.has_host_bits()) {
    throw ValidationError(path, "\"" + prefix.to_string() + "\" has host bits set; did you mean " +
                                    prefix.masked().to_string() + "?");
  }
}

void require_family(const IpPrefix& prefix, IpFamily family, const std::string& path) {
  if (prefix.family() != family) {
    throw ValidationError(path, "\"" + prefix.to_string() + "\" must be an " +
                                    std::string(family_name(family)) + " CIDR");
  }
}

void require_family(const IpAddress& address, IpFamily family, const std::string& path) {
  if (address.family() != family) {
    throw ValidationError(path, "\"" + address.to_string() + "\" must be an " +
                                    std::string(family_name(family)) + " address");
  }
}

}  // namespace brindle::model
