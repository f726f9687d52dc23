#include "brindle/config/config.hpp"

#include <arpa/inet.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <system_error>
#include <utility>

#include "brindle/build_info.hpp"
#include "plugin_section_impl.hpp"
#include "toml_document.hpp"

namespace brindle::config {
namespace {

using detail::quote;
using detail::Value;

constexpr std::array<std::string_view, 5> kLogLevelNames = {"trace", "debug", "info", "warn",
                                                            "error"};
constexpr std::string_view kTopLevelTables =
    "[node], [plugins], [datastore], [routing], [encapsulation], [policy], [workload], [health], "
    "[metrics], [control] or [log]";

std::string_view describe_type(const Value& value) {
  switch (value.type()) {
    case toml::value_t::string:
      return "a string";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      return "nothing";
    default:
      return "a date/time";
  }
}

std::string join(std::initializer_list<std::string_view> words) {
  std::string joined;
  for (const std::string_view word : words) {
    if (!joined.empty()) {
      joined += ", ";
    }
    joined += word;
  }
  return joined;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// "198.19.0.1/24" or "2001:db8::1/64": an address of `family` and a prefix length that fits it.
bool is_address_with_prefix(std::string_view text, int family) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return false;
  }
  const std::string address(text.substr(0, slash));
  const std::string_view prefix = text.substr(slash + 1);
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(family, address.c_str(), bytes.data()) != 1) {
    return false;
  }
  if (!all_digits(prefix) || prefix.size() > 3) {
    return false;
  }
  unsigned length = 0;
  std::from_chars(prefix.data(), prefix.data() + prefix.size(), length);
  return length >= 1 && length <= (family == AF_INET ? 32u : 128u);
}

// "127.0.0.1:9099" or "[::1]:9099".
bool is_listen_address(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (!all_digits(port) || port.size() > 5) {
    return false;
  }
  unsigned port_number = 0;
  std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port_number == 0 || port_number > 65535) {
    return false;
  }
  std::array<unsigned char, 16> bytes{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    return inet_pton(AF_INET6, std::string(host).c_str(), bytes.data()) == 1;
  }
  return inet_pton(AF_INET, std::string(host).c_str(), bytes.data()) == 1;
}

// A Kubernetes node name: an RFC 1123 DNS subdomain.
bool is_node_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '.'; });
}

bool is_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

// Walks the parsed document and fills a Config, failing at the first problem with its location.
class ConfigReader {
 public:
  explicit ConfigReader(std::string file_name) : file_name_(std::move(file_name)) {}

  Config read(const Value& root) {
    Config config;
    config.source_file = file_name_;
    config.plugin_search_path = {build_info::kPluginDir};
    bool node_seen = false;
    for (const auto& [key, value] : root.as_table()) {
      if (key == "node") {
        read_node(table_value(value, "[node]"), config.node);
        node_seen = true;
      } else if (key == "plugins") {
        read_plugins(table_value(value, "[plugins]"), config);
      } else if (key == "datastore") {
        config.datastore = read_slot(table_value(value, "[datastore]"), key);
      } else if (key == "routing") {
        config.routing = read_slot(table_value(value, "[routing]"), key, {"secrets_dir"});
        read_routing_host_keys(value, config);
      } else if (key == "encapsulation") {
        config.encapsulation = read_slot(table_value(value, "[encapsulation]"), key);
      } else if (key == "policy") {
        config.policy = read_slot(table_value(value, "[policy]"), key);
      } else if (key == "health") {
        config.health_listen =
            read_listen(table_value(value, "[health]"), "[health]", config.health_listen);
      } else if (key == "metrics") {
        config.metrics_listen =
            read_listen(table_value(value, "[metrics]"), "[metrics]", config.metrics_listen);
      } else if (key == "control") {
        read_control(table_value(value, "[control]"), config);
      } else if (key == "workload") {
        read_workload(table_value(value, "[workload]"), config.workload);
      } else if (key == "log") {
        read_log(table_value(value, "[log]"), config);
      } else if (value.is_table()) {
        fail(value,
             "unknown table [" + key_text(key) + "]; expected " + std::string(kTopLevelTables));
      } else {
        fail(value, "unknown top-level key " + quote(key) +
                        "; settings belong in a table: " + std::string(kTopLevelTables));
      }
    }
    if (!node_seen) {
      config.node.name = default_node_name(root);
    }
    // Unused slots still get an (empty) section so that nobody dereferences a null pointer.
    for (PluginSlot* slot :
         {&config.datastore, &config.routing, &config.encapsulation, &config.policy}) {
      if (slot->section) {
        continue;
      }
      auto empty = std::make_shared<PluginSection::Impl>();
      empty->root = Value(detail::Table{});
      empty->fallback_location = file_name_ + ":1:1";
      slot->section = std::make_shared<const PluginSection>(std::move(empty));
    }
    return config;
  }

 private:
  [[noreturn]] void fail(const Value& where, const std::string& message) const {
    throw ConfigError(detail::location_of(where, file_name_ + ":1:1") + ": " + message);
  }

  // A key as it would be written inside [...] in a message.
  static std::string key_text(std::string_view key) {
    const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
    });
    return bare ? std::string(key) : quote(key);
  }

  const Value& table_value(const Value& value, std::string_view name) const {
    if (!value.is_table()) {
      fail(value,
           std::string(name) + " must be a table, found " + std::string(describe_type(value)));
    }
    return value;
  }

  void reject_unknown_keys(const Value& table, std::string_view table_name,
                           std::initializer_list<std::string_view> allowed) const {
    for (const auto& [key, value] : table.as_table()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        fail(value, "unknown key " + quote(key) + " in " + std::string(table_name) +
                        "; expected one of: " + join(allowed));
      }
    }
  }

  const Value* find(const Value& table, const std::string& key) const {
    const auto& entries = table.as_table();
    const auto found = entries.find(key);
    return found == entries.end() ? nullptr : &found->second;
  }

  // The string at `key`, or nullopt when absent; any other type is an error.
  std::optional<std::string> string_at(const Value& table, std::string_view table_name,
                                       const std::string& key) const {
    const Value* value = find(table, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_string()) {
      fail(*value, std::string(table_name) + " " + key + " must be a string, found " +
                       std::string(describe_type(*value)));
    }
    return value->as_string().str;
  }

  std::optional<bool> bool_at(const Value& table, std::string_view table_name,
                              const std::string& key) const {
    const Value* value = find(table, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_boolean()) {
      fail(*value, std::string(table_name) + " " + key + " must be true or false, found " +
                       std::string(describe_type(*value)));
    }
    return value->as_boolean();
  }

  std::string default_node_name(const Value& where) const {
    std::array<char, 256> buffer{};
    if (gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') {
      fail(where, std::string("[node] name is not set and the hostname cannot be read (") +
                      std::generic_category().message(errno) + "); set name in [node]");
    }
    std::string name(buffer.data());
    // Kubernetes node names are lowercase; hostnames are case-insensitive.
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return name;
  }

  void read_node(const Value& table, NodeConfig& node) const {
    reject_unknown_keys(table, "[node]", {"name", "ipv4", "ipv6", "interface"});
    if (auto name = string_at(table, "[node]", "name")) {
      if (!is_node_name(*name)) {
        fail(*find(table, "name"),
             "invalid [node] name " + quote(*name) +
                 ": expected a DNS name (lowercase letters, digits, '-' and '.', starting and "
                 "ending with a letter or digit, at most 253 characters)");
      }
      node.name = std::move(*name);
    } else {
      node.name = default_node_name(table);
    }
    if (auto ipv4 = string_at(table, "[node]", "ipv4")) {
      if (!is_address_with_prefix(*ipv4, AF_INET)) {
        fail(*find(table, "ipv4"), "invalid [node] ipv4 " + quote(*ipv4) +
                                       ": expected an IPv4 address with a prefix length "
                                       "1-32, e.g. \"198.19.0.1/24\"");
      }
      node.ipv4 = std::move(*ipv4);
    }
    if (auto ipv6 = string_at(table, "[node]", "ipv6")) {
      if (!is_address_with_prefix(*ipv6, AF_INET6)) {
        fail(*find(table, "ipv6"), "invalid [node] ipv6 " + quote(*ipv6) +
                                       ": expected an IPv6 address with a prefix length "
                                       "1-128, e.g. \"2001:db8::1/64\"");
      }
      node.ipv6 = std::move(*ipv6);
    }
    if (auto pattern = string_at(table, "[node]", "interface")) {
      if (pattern->empty()) {
        fail(*find(table, "interface"),
             "[node] interface must not be empty: expected a glob such as \"eth*\"");
      }
      node.interface_pattern = std::move(*pattern);
    }
  }

  void read_plugins(const Value& table, Config& config) const {
    reject_unknown_keys(table, "[plugins]", {"search_path", "refresh_interval_seconds"});
    if (auto seconds = int_at(table, "[plugins]", "refresh_interval_seconds", 0, 86400)) {
      config.plugin_refresh_seconds = static_cast<uint32_t>(*seconds);
    }
    const Value* paths = find(table, "search_path");
    if (paths == nullptr) {
      return;
    }
    if (!paths->is_array()) {
      fail(*paths, "[plugins] search_path must be an array of directory paths, found " +
                       std::string(describe_type(*paths)));
    }
    config.plugin_search_path.clear();
    std::size_t index = 0;
    for (const Value& entry : paths->as_array()) {
      const std::string field = "[plugins] search_path[" + std::to_string(index++) + "]";
      if (!entry.is_string()) {
        fail(entry, field + " must be a string, found " + std::string(describe_type(entry)));
      }
      if (entry.as_string().str.empty()) {
        fail(entry, field + " must not be empty: expected a directory path");
      }
      config.plugin_search_path.push_back(entry.as_string().str);
    }
  }

  // `host_keys`: keys of the slot's table that the host itself reads (not the plugin's).
  PluginSlot read_slot(const Value& table, const std::string& slot_name,
                       std::initializer_list<std::string_view> host_keys = {}) const {
    const std::string table_name = "[" + slot_name + "]";
    const Value* plugin = find(table, "plugin");
    if (plugin == nullptr) {
      fail(table, "missing required key \"plugin\" in " + table_name +
                      ": expected the name of the " + slot_name + " plugin, e.g. plugin = \"" +
                      example_plugin(slot_name) + "\"");
    }
    PluginSlot slot;
    slot.plugin = *string_at(table, table_name, "plugin");
    slot.location = detail::location_of(*plugin, file_name_ + ":1:1");
    if (!is_plugin_name(slot.plugin)) {
      fail(*plugin, "invalid " + table_name + " plugin " + quote(slot.plugin) +
                        ": expected a plugin name (letters, digits, '-', '_' or '.'), e.g. \"" +
                        example_plugin(slot_name) + "\"");
    }
    if (auto path = string_at(table, table_name, "path")) {
      if (path->empty()) {
        fail(*find(table, "path"), table_name +
                                       " path must not be empty: expected the path of the "
                                       "plugin's shared object, or no path key");
      }
      slot.path = std::move(*path);
    }

    auto section = std::make_shared<PluginSection::Impl>();
    section->root = Value(detail::Table{});
    section->fallback_location = detail::location_of(table, slot.location);
    for (const auto& [key, value] : table.as_table()) {
      if (key == "plugin" || key == "path" ||
          std::find(host_keys.begin(), host_keys.end(), key) != host_keys.end()) {
        continue;
      }
      if (key == slot.plugin) {
        if (!value.is_table()) {
          fail(value, "[" + slot_name + "." + key_text(key) + "] must be a table, found " +
                          std::string(describe_type(value)));
        }
        section->root = value;
      } else if (value.is_table()) {
        fail(value, "section [" + slot_name + "." + key_text(key) +
                        "] does not match plugin = " + quote(slot.plugin) + "; expected [" +
                        slot_name + "." + key_text(slot.plugin) + "]");
      } else {
        std::string expected = "plugin, path";
        for (const std::string_view host_key : host_keys) {
          expected += ", " + std::string(host_key);
        }
        fail(value, "unknown key " + quote(key) + " in " + table_name + "; expected one of: " +
                        expected + ", [" + slot_name + "." + key_text(slot.plugin) + "]");
      }
    }
    slot.section = std::make_shared<const PluginSection>(std::move(section));
    return slot;
  }

  static std::string example_plugin(std::string_view slot_name) {
    if (slot_name == "datastore") {
      return "etcd";
    }
    if (slot_name == "routing") {
      return "static";
    }
    if (slot_name == "encapsulation") {
      return "none";
    }
    return "iptables";
  }

  std::string read_listen(const Value& table, std::string_view table_name,
                          const std::string& current) const {
    reject_unknown_keys(table, table_name, {"listen"});
    auto listen = string_at(table, table_name, "listen");
    if (!listen) {
      return current;
    }
    if (!listen->empty() && !is_listen_address(*listen)) {
      fail(*find(table, "listen"),
           "invalid " + std::string(table_name) + " listen " + quote(*listen) +
               ": expected \"<IPv4>:<port>\" or \"[<IPv6>]:<port>\" such as \"" + current +
               "\", or \"\" to disable");
    }
    return *listen;
  }

  // [routing] keys of the host: where BGP passwords (BGPPeer secret references) are read from.
  void read_routing_host_keys(const Value& table, Config& config) const {
    auto dir = string_at(table, "[routing]", "secrets_dir");
    if (!dir) {
      return;
    }
    if (dir->empty() || dir->front() != '/' || dir->find('\0') != std::string::npos) {
      fail(*find(table, "secrets_dir"),
           "invalid [routing] secrets_dir " + quote(*dir) +
               ": expected the absolute path of a directory laid out like a Kubernetes Secret "
               "volume (<secrets_dir>/<secret name>/<key>), e.g. \"/etc/brindle/secrets\"");
    }
    config.bgp_secrets_dir = std::move(*dir);
  }

  void read_control(const Value& table, Config& config) const {
    reject_unknown_keys(table, "[control]", {"socket"});
    auto socket = string_at(table, "[control]", "socket");
    if (!socket) {
      return;
    }
    constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
    if (socket->empty() || socket->front() != '/' || socket->size() > kMaxSocketPath) {
      fail(*find(table, "socket"), "invalid [control] socket " + quote(*socket) +
                                       ": expected an absolute path of at most " +
                                       std::to_string(kMaxSocketPath) + " bytes");
    }
    config.control_socket = std::move(*socket);
  }

  std::optional<int64_t> int_at(const Value& table, std::string_view table_name,
                                const std::string& key, int64_t min, int64_t max) const {
    const Value* value = find(table, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_integer()) {
      fail(*value, std::string(table_name) + " " + key + " must be an integer, found " +
                       std::string(describe_type(*value)));
    }
    const int64_t v = value->as_integer();
    if (v < min || v > max) {
      fail(*value, std::string(table_name) + " " + key + " must be between " + std::to_string(min) +
                       " and " + std::to_string(max) + ", found " + std::to_string(v));
    }
    return v;
  }

  void read_workload(const Value& table, WorkloadConfig& workload) const {
    reject_unknown_keys(table, "[workload]",
                        {"interface_prefix", "mtu", "empty_block_grace_seconds", "big_tcp"});
    if (auto prefix = string_at(table, "[workload]", "interface_prefix")) {
      const bool valid =
          !prefix->empty() && prefix->size() <= 4 &&
          std::all_of(prefix->begin(), prefix->end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
          });
      if (!valid) {
        fail(*find(table, "interface_prefix"),
             "invalid [workload] interface_prefix " + quote(*prefix) +
                 ": expected 1 to 4 characters of [A-Za-z0-9_-] (the rest of the 15-character "
                 "interface name is a hash)");
      }
      workload.interface_prefix = std::move(*prefix);
    }
    if (auto mtu = int_at(table, "[workload]", "mtu", 0, 65535)) {
      if (*mtu != 0 && *mtu < 576) {
        fail(*find(table, "mtu"), "[workload] mtu must be 0 (automatic) or at least 576");
      }
      workload.mtu = static_cast<uint32_t>(*mtu);
    }
    if (auto grace =
            int_at(table, "[workload]", "empty_block_grace_seconds", 0, int64_t{86400} * 7)) {
      workload.empty_block_grace_seconds = static_cast<uint32_t>(*grace);
    }
    if (auto big_tcp = bool_at(table, "[workload]", "big_tcp")) {
      workload.big_tcp = *big_tcp;
    }
  }

  void read_log(const Value& table, Config& config) const {
    reject_unknown_keys(table, "[log]", {"level"});
    auto level = string_at(table, "[log]", "level");
    if (!level) {
      return;
    }
    const auto parsed = parse_log_level(*level);
    if (!parsed) {
      fail(*find(table, "level"), "invalid [log] level " + quote(*level) +
                                      ": expected one of trace, debug, info, warn, error");
    }
    config.log_level = *parsed;
  }

  std::string file_name_;
};

}  // namespace

std::string_view to_string(LogLevel level) {
  const auto index = static_cast<std::size_t>(level);
  return index < kLogLevelNames.size() ? kLogLevelNames[index] : "info";
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < kLogLevelNames.size(); ++i) {
    if (kLogLevelNames[i] == name) {
      return static_cast<LogLevel>(i);
    }
  }
  return std::nullopt;
}

Config parse_config(std::string_view toml_text, const std::string& file_name) {
  const Value document = detail::parse_document(toml_text, file_name);
  return ConfigReader(file_name).read(document);
}

Config load_config(const std::filesystem::path& file) {
  const std::string file_name = file.string();
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) {
    throw ConfigError(file_name + ":1:1: cannot read the configuration file: it is a directory");
  }
  std::ifstream stream(file, std::ios::binary);
  if (!stream) {
    throw ConfigError(file_name + ":1:1: cannot read the configuration file: " +
                      std::generic_category().message(errno));
  }
  std::string text;
  std::array<char, std::size_t{64} * 1024> chunk{};
  while (stream.read(chunk.data(), chunk.size()) || stream.gcount() > 0) {
    text.append(chunk.data(), static_cast<std::size_t>(stream.gcount()));
    // Stop early on something that is clearly not a config (e.g. /dev/zero).
    if (text.size() > detail::kMaxConfigBytes) {
      break;
    }
  }
  if (stream.bad()) {
    throw ConfigError(file_name + ":1:1: cannot read the configuration file: " +
                      std::generic_category().message(errno));
  }
  return parse_config(text, file_name);
}

}  // namespace brindle::config
