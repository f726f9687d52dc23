#include "brindle/cni/protocol.hpp"

#include <arpa/inet.h>

#include <array>

#include "json_access.hpp"

namespace brindle::cni {

using nlohmann::json;

namespace {

constexpr std::array<std::pair<Method, std::string_view>, 5> kMethodNames{{
    {Method::add, "cni.add"},
    {Method::del, "cni.del"},
    {Method::check, "cni.check"},
    {Method::status, "cni.status"},
    {Method::gc, "cni.gc"},
}};

constexpr std::array<std::pair<int, std::string_view>, 17> kErrorNames{{
    {errors::kIncompatibleVersion, "incompatible_version"},
    {errors::kUnsupportedField, "unsupported_field"},
    {errors::kUnknownContainer, "unknown_container"},
    {errors::kInvalidEnvironment, "invalid_environment"},
    {errors::kIoFailure, "io_failure"},
    {errors::kDecodingFailure, "decoding_failure"},
    {errors::kInvalidNetworkConfig, "invalid_network_config"},
    {errors::kTryAgainLater, "try_again_later"},
    {errors::kNotAvailable, "not_available"},
    {errors::kNotAvailableLimitedConnectivity, "not_available_limited_connectivity"},
    {errors::kAddressesExhausted, "addresses_exhausted"},
    {errors::kAddressUnavailable, "address_unavailable"},
    {errors::kPlumbingFailed, "plumbing_failed"},
    {errors::kPolicyFailed, "policy_failed"},
    {errors::kCheckFailed, "check_failed"},
    {errors::kDaemonInternal, "internal"},
    {errors::kProtocolError, "protocol_error"},
}};

// The control server's own error names (docs/control-api.md).
constexpr std::array<std::pair<std::string_view, int>, 7> kControlErrorNames{{
    {"parse_error", errors::kProtocolError},
    {"invalid_request", errors::kProtocolError},
    {"invalid_params", errors::kProtocolError},
    {"request_too_large", errors::kProtocolError},
    {"unknown_method", errors::kProtocolError},
    {"unsupported_version", errors::kIncompatibleVersion},
    {"not_ready", errors::kTryAgainLater},
}};

bool has_attachment(Method method) {
  return method == Method::add || method == Method::del || method == Method::check;
}

json parse_line(std::string_view line, int code, std::string_view what) {
  json parsed = json::parse(line.begin(), line.end(), nullptr, false);
  if (parsed.is_discarded()) {
    throw ProtocolError(code, std::string(what) + ": not valid JSON");
  }
  if (!parsed.is_object()) {
    throw ProtocolError(code, std::string(what) + ": expected a JSON object");
  }
  return parsed;
}

// A CIDR "addr/len" with a valid address of either family.
void check_cidr(const std::string& text, const std::string& where, int code) {
  auto slash = text.find('/');
  std::string address = text.substr(0, slash);
  unsigned char buffer[16];
  int family = inet_pton(AF_INET, address.c_str(), buffer) == 1    ? 4
               : inet_pton(AF_INET6, address.c_str(), buffer) == 1 ? 6
                                                                   : 0;
  bool ok = family != 0 && slash != std::string::npos && slash + 1 < text.size() &&
            text.size() - slash - 1 <= 3;
  if (ok) {
    int length = 0;
    for (char c : text.substr(slash + 1)) {
      if (c < '0' || c > '9') {
        ok = false;
      }
      length = length * 10 + (c - '0');
    }
    ok = ok && length <= (family == 4 ? 32 : 128);
  }
  if (!ok) {
    throw ProtocolError(code, where + ": \"" + text + "\" is not an address with prefix length");
  }
}

void check_ip(const std::string& text, const std::string& where, int code) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, text.c_str(), buffer) != 1 &&
      inet_pton(AF_INET6, text.c_str(), buffer) != 1) {
    throw ProtocolError(code, where + ": \"" + text + "\" is not an IP address");
  }
}

}  // namespace

std::string_view method_name(Method method) {
  for (const auto& [value, name] : kMethodNames) {
    if (value == method) {
      return name;
    }
  }
  return "cni.unknown";
}

std::optional<Method> parse_method(std::string_view name) {
  for (const auto& [value, text] : kMethodNames) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::string_view error_name(int code) {
  for (const auto& [value, name] : kErrorNames) {
    if (value == code) {
      return name;
    }
  }
  return "cni_error";
}

int error_code_from_name(std::string_view name) {
  for (const auto& [value, text] : kErrorNames) {
    if (text == name) {
      return value;
    }
  }
  for (const auto& [text, value] : kControlErrorNames) {
    if (text == name) {
      return value;
    }
  }
  return errors::kDaemonInternal;
}

std::optional<std::string> Params::arg(std::string_view key) const {
  std::optional<std::string> value;
  for (const auto& [k, v] : args) {
    if (k == key) {
      value = v;
    }
  }
  return value;
}

json Params::runtime_config() const {
  if (config.is_object()) {
    auto found = config.find("runtimeConfig");
    if (found != config.end() && found->is_object()) {
      return *found;
    }
  }
  return json::object();
}

std::optional<json> Params::prev_result() const {
  if (config.is_object()) {
    auto found = config.find("prevResult");
    if (found != config.end() && !found->is_null()) {
      return *found;
    }
  }
  return std::nullopt;
}

// --- requests ---------------------------------------------------------------------------------

json encode_params(Method method, const Params& p) {
  json params = {{"cni_version", p.cni_version},
                 {"network_name", p.network_name},
                 {"config", p.config.is_object() ? p.config : json::object()}};
  if (has_attachment(method)) {
    params["container_id"] = p.container_id;
    params["netns"] = p.netns;
    params["ifname"] = p.ifname;
    json args = json::object();
    for (const auto& [key, value] : p.args) {
      args[key] = value;
    }
    params["args"] = std::move(args);
    if (p.mtu) {
      params["mtu"] = *p.mtu;
    }
  }
  if (method == Method::gc) {
    json valid = json::array();
    for (const Attachment& a : p.valid_attachments) {
      valid.push_back({{"container_id", a.container_id}, {"ifname", a.ifname}});
    }
    params["valid_attachments"] = std::move(valid);
  }
  return params;
}

std::string encode_request(const Request& request) {
  json message = {{"version", request.version},
                  {"method", std::string(method_name(request.method))},
                  {"params", encode_params(request.method, request.params)}};
  return message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Params decode_params(Method method, const json& params) {
  using namespace detail;
  constexpr int kBad = errors::kDecodingFailure;
  if (!params.is_object()) {
    throw ProtocolError(kBad, "params: expected an object");
  }
  Params p;
  const std::string where = "params";
  p.cni_version = required_string(params, "cni_version", where, kBad);
  p.network_name = optional_string(params, "network_name", where, kBad).value_or("");
  if (auto found = params.find("config"); found != params.end()) {
    if (!found->is_object()) {
      throw ProtocolError(kBad, "params.config: expected an object");
    }
    p.config = *found;
  }
  if (has_attachment(method)) {
    p.container_id = required_string(params, "container_id", where, kBad);
    p.ifname = required_string(params, "ifname", where, kBad);
    p.netns = optional_string(params, "netns", where, kBad).value_or("");
    if (method != Method::del && p.netns.empty()) {
      throw ProtocolError(errors::kProtocolError,
                          "params.netns: required for " + std::string(method_name(method)));
    }
    if (auto found = params.find("args"); found != params.end() && !found->is_null()) {
      if (!found->is_object()) {
        throw ProtocolError(kBad, "params.args: expected an object");
      }
      for (const auto& [key, value] : found->items()) {
        if (!value.is_string()) {
          throw ProtocolError(kBad, "params.args." + key + ": expected a string");
        }
        p.args.emplace_back(key, value.get<std::string>());
      }
    }
    if (params.contains("mtu") && !params["mtu"].is_null()) {
      p.mtu = static_cast<uint32_t>(required_integer(params, "mtu", where, kBad, 0, 65535));
    }
  }
  if (method == Method::gc) {
    if (auto found = params.find("valid_attachments"); found != params.end()) {
      if (!found->is_array()) {
        throw ProtocolError(kBad, "params.valid_attachments: expected an array");
      }
      for (size_t i = 0; i < found->size(); ++i) {
        const json& entry = (*found)[i];
        std::string entry_where = "params.valid_attachments[" + std::to_string(i) + "]";
        if (!entry.is_object()) {
          throw ProtocolError(kBad, entry_where + ": expected an object");
        }
        p.valid_attachments.push_back(
            Attachment{required_string(entry, "container_id", entry_where, kBad),
                       required_string(entry, "ifname", entry_where, kBad)});
      }
    }
  }
  return p;
}

Request decode_request(std::string_view line) {
  using namespace detail;
  constexpr int kBad = errors::kDecodingFailure;
  json message = parse_line(line, kBad, "request");
  Request request;
  request.version =
      static_cast<int>(required_integer(message, "version", "request", kBad, 0, 1'000'000));
  if (request.version != kProtocolVersion) {
    throw ProtocolError(errors::kIncompatibleVersion,
                        "request: protocol version " + std::to_string(request.version) +
                            " is not supported (supported: " + std::to_string(kProtocolVersion) +
                            ")");
  }
  std::string method = required_string(message, "method", "request", kBad);
  auto parsed_method = parse_method(method);
  if (!parsed_method) {
    throw ProtocolError(errors::kProtocolError, "request.method: unknown method \"" + method +
                                                    "\" (expected cni.add, cni.del, cni.check, "
                                                    "cni.status or cni.gc)");
  }
  request.method = *parsed_method;
  request.params =
      decode_params(request.method, required_object(message, "params", "request", kBad));
  return request;
}

// --- responses --------------------------------------------------------------------------------

json routes_to_json(const std::vector<Route>& routes) {
  json out = json::array();
  for (const Route& r : routes) {
    json entry = {{"dst", r.dst}};
    if (r.gw) {
      entry["gw"] = *r.gw;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

json to_json(const Dns& dns) {
  json out = json::object();
  if (!dns.nameservers.empty()) {
    out["nameservers"] = dns.nameservers;
  }
  if (!dns.domain.empty()) {
    out["domain"] = dns.domain;
  }
  if (!dns.search.empty()) {
    out["search"] = dns.search;
  }
  if (!dns.options.empty()) {
    out["options"] = dns.options;
  }
  return out;
}

json to_json(const Result& result) {
  json interfaces = json::array();
  for (const Interface& i : result.interfaces) {
    json entry = {{"name", i.name}};
    if (!i.mac.empty()) {
      entry["mac"] = i.mac;
    }
    if (!i.sandbox.empty()) {
      entry["sandbox"] = i.sandbox;
    }
    if (i.mtu) {
      entry["mtu"] = *i.mtu;
    }
    interfaces.push_back(std::move(entry));
  }
  json ips = json::array();
  for (const IpConfig& ip : result.ips) {
    json entry = {{"address", ip.address}};
    if (ip.gateway) {
      entry["gateway"] = *ip.gateway;
    }
    if (ip.interface) {
      entry["interface"] = *ip.interface;
    }
    ips.push_back(std::move(entry));
  }
  return {{"interfaces", std::move(interfaces)},
          {"ips", std::move(ips)},
          {"routes", routes_to_json(result.routes)},
          {"dns", to_json(result.dns)}};
}

Dns dns_from_json(const json& value, std::string_view where_view) {
  using namespace detail;
  const std::string where(where_view);
  constexpr int kBad = errors::kProtocolError;
  Dns dns;
  if (value.is_null()) {
    return dns;
  }
  if (!value.is_object()) {
    throw ProtocolError(kBad, where + ": expected an object");
  }
  dns.nameservers = optional_string_list(value, "nameservers", where, kBad);
  dns.domain = optional_string(value, "domain", where, kBad).value_or("");
  dns.search = optional_string_list(value, "search", where, kBad);
  dns.options = optional_string_list(value, "options", where, kBad);
  return dns;
}

Result result_from_json(const json& value) {
  using namespace detail;
  constexpr int kBad = errors::kProtocolError;
  Result result;
  if (value.is_null()) {
    return result;
  }
  if (!value.is_object()) {
    throw ProtocolError(kBad, "result: expected an object");
  }
  if (auto found = value.find("interfaces"); found != value.end()) {
    if (!found->is_array()) {
      throw ProtocolError(kBad, "result.interfaces: expected an array");
    }
    for (size_t i = 0; i < found->size(); ++i) {
      const json& entry = (*found)[i];
      std::string where = "result.interfaces[" + std::to_string(i) + "]";
      if (!entry.is_object()) {
        throw ProtocolError(kBad, where + ": expected an object");
      }
      Interface iface;
      iface.name = required_string(entry, "name", where, kBad);
      iface.mac = optional_string(entry, "mac", where, kBad).value_or("");
      iface.sandbox = optional_string(entry, "sandbox", where, kBad).value_or("");
      if (entry.contains("mtu") && !entry["mtu"].is_null()) {
        iface.mtu = static_cast<uint32_t>(required_integer(entry, "mtu", where, kBad, 0, 65535));
      }
      result.interfaces.push_back(std::move(iface));
    }
  }
  if (auto found = value.find("ips"); found != value.end()) {
    if (!found->is_array()) {
      throw ProtocolError(kBad, "result.ips: expected an array");
    }
    for (size_t i = 0; i < found->size(); ++i) {
      const json& entry = (*found)[i];
      std::string where = "result.ips[" + std::to_string(i) + "]";
      if (!entry.is_object()) {
        throw ProtocolError(kBad, where + ": expected an object");
      }
      IpConfig ip;
      ip.address = required_string(entry, "address", where, kBad);
      check_cidr(ip.address, where + ".address", kBad);
      ip.gateway = optional_string(entry, "gateway", where, kBad);
      if (ip.gateway) {
        check_ip(*ip.gateway, where + ".gateway", kBad);
      }
      if (entry.contains("interface") && !entry["interface"].is_null()) {
        int64_t index = required_integer(entry, "interface", where, kBad, 0, 1 << 20);
        if (static_cast<size_t>(index) >= result.interfaces.size()) {
          throw ProtocolError(kBad, where + ".interface: index " + std::to_string(index) +
                                        " is outside the " +
                                        std::to_string(result.interfaces.size()) + " interfaces");
        }
        ip.interface = static_cast<int>(index);
      }
      result.ips.push_back(std::move(ip));
    }
  }
  if (auto found = value.find("routes"); found != value.end()) {
    if (!found->is_array()) {
      throw ProtocolError(kBad, "result.routes: expected an array");
    }
    for (size_t i = 0; i < found->size(); ++i) {
      const json& entry = (*found)[i];
      std::string where = "result.routes[" + std::to_string(i) + "]";
      if (!entry.is_object()) {
        throw ProtocolError(kBad, where + ": expected an object");
      }
      Route route;
      route.dst = required_string(entry, "dst", where, kBad);
      check_cidr(route.dst, where + ".dst", kBad);
      route.gw = optional_string(entry, "gw", where, kBad);
      if (route.gw) {
        check_ip(*route.gw, where + ".gw", kBad);
      }
      result.routes.push_back(std::move(route));
    }
  }
  if (auto found = value.find("dns"); found != value.end()) {
    result.dns = dns_from_json(*found, "result.dns");
  }
  return result;
}

std::string encode_response(const Response& response) {
  json message;
  if (response.ok) {
    message = {{"ok", true}, {"result", to_json(response.result)}};
  } else {
    json error = {{"code", std::string(error_name(response.error.code))},
                  {"cni_code", response.error.code},
                  {"message", response.error.message}};
    if (!response.error.details.empty()) {
      error["details"] = response.error.details;
    }
    message = {{"ok", false}, {"error", std::move(error)}};
  }
  return message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Response decode_response(std::string_view line) {
  using namespace detail;
  constexpr int kBad = errors::kProtocolError;
  json message = parse_line(line, kBad, "reply");
  auto ok = message.find("ok");
  if (ok == message.end() || !ok->is_boolean()) {
    throw ProtocolError(kBad, "reply.ok: expected true or false");
  }
  if (ok->get<bool>()) {
    auto found = message.find("result");
    return Response::success(found == message.end() ? Result{} : result_from_json(*found));
  }
  const json& error = required_object(message, "error", "reply", kBad);
  int code = errors::kDaemonInternal;
  if (auto cni_code = optional_integer(error, "cni_code", "reply.error", kBad, 1, 999)) {
    code = static_cast<int>(*cni_code);
  } else if (error.contains("code") && error["code"].is_string()) {
    code = error_code_from_name(error["code"].get<std::string>());
  } else {
    code = static_cast<int>(required_integer(error, "code", "reply.error", kBad, 1, 999));
  }
  return Response::failure(code, required_string(error, "message", "reply.error", kBad),
                           optional_string(error, "details", "reply.error", kBad).value_or(""));
}

}  // namespace brindle::cni
