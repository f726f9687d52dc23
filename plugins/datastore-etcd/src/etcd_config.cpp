#include "etcd_config.h"

#include <charconv>

#include "key_layout.h"

namespace brindle::etcd {
namespace {

// Splits "[scheme://]host:port" and checks it; returns "host:port".
std::string parse_endpoint(const Config& config, const std::string& path, const std::string& text,
                           std::string* scheme) {
  std::string_view rest = text;
  scheme->clear();
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    *scheme = std::string(rest.substr(0, sep));
    if (*scheme != "http" && *scheme != "https") {
      config.fail(path, "scheme must be http:// or https://, got \"" + text + "\"");
    }
    rest.remove_prefix(sep + 3);
  }
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    config.fail(path, "must be host:port, got \"" + text + "\"");
  }
  const std::string_view host = rest.substr(0, colon);
  const std::string_view port = rest.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    config.fail(path, "port must be 1..65535, got \"" + text + "\"");
  }
  if (host.find_first_of("/ ") != std::string_view::npos ||
      (host.find(':') != std::string_view::npos && host.front() != '[')) {
    config.fail(path, "bad host in \"" + text + "\" (IPv6 addresses go in brackets)");
  }
  return std::string(rest);
}

}  // namespace

EtcdConfig EtcdConfig::parse(const Config& config) {
  config.allow_only("", {"endpoints", "prefix", "dial_timeout_ms", "request_timeout_ms", "tls",
                         "username", "password", "list_page_size"});
  EtcdConfig out;

  std::vector<std::string> schemes;
  const std::vector<std::string> endpoints = config.string_array("endpoints");
  if (config.has("endpoints") && endpoints.empty()) {
    config.fail("endpoints", "must list at least one endpoint");
  }
  for (size_t i = 0; i < endpoints.size(); ++i) {
    std::string scheme;
    out.endpoints.push_back(
        parse_endpoint(config, "endpoints[" + std::to_string(i) + "]", endpoints[i], &scheme));
    schemes.push_back(scheme);
  }
  if (out.endpoints.empty()) {
    out.endpoints.emplace_back("127.0.0.1:2379");  // http or https as the tls section says
    schemes.emplace_back("");
  }

  out.prefix = config.string_or("prefix", KeyLayout::kDefaultPrefix);
  if (out.prefix.empty() || out.prefix.front() != '/') {
    config.fail("prefix", "must start with '/', got \"" + out.prefix + "\"");
  }
  if (out.prefix.back() != '/') {
    out.prefix.push_back('/');
  }
  out.dial_timeout_ms = config.int_or("dial_timeout_ms", out.dial_timeout_ms, 1, 600000);
  out.request_timeout_ms = config.int_or("request_timeout_ms", out.request_timeout_ms, 1, 3600000);
  out.list_page_size = config.int_or("list_page_size", out.list_page_size, 1, 100000);

  const brindle_config_type_t tls_type = config.type("tls");
  if (tls_type != BRINDLE_CONFIG_ABSENT) {
    if (tls_type != BRINDLE_CONFIG_TABLE) {
      config.fail("tls", "must be a table with ca_file, cert_file, key_file");
    }
    config.allow_only("tls", {"ca_file", "cert_file", "key_file"});
    out.tls = true;
    out.ca_file = config.string_or("tls.ca_file", "");
    out.cert_file = config.string_or("tls.cert_file", "");
    out.key_file = config.string_or("tls.key_file", "");
    if (out.cert_file.empty() != out.key_file.empty()) {
      config.fail(out.cert_file.empty() ? "tls.key_file" : "tls.cert_file",
                  "cert_file and key_file must be given together");
    }
  }
  for (size_t i = 0; i < schemes.size(); ++i) {
    if (schemes[i] == "https") {
      out.tls = true;
    }
  }
  if (out.tls) {
    for (size_t i = 0; i < schemes.size(); ++i) {
      if (schemes[i] == "http") {
        config.fail("endpoints[" + std::to_string(i) + "]",
                    "is http:// but TLS is configured (tls section or an https:// endpoint)");
      }
    }
  }

  out.username = config.string_or("username", "");
  out.password = config.string_or("password", "");
  if (out.username.empty() && config.has("password")) {
    config.fail("password", "is set but username is not");
  }
  if (config.has("username") && out.username.empty()) {
    config.fail("username", "must not be empty");
  }
  return out;
}

}  // namespace brindle::etcd
