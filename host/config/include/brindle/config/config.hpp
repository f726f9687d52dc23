// brindled's configuration: the TOML file (configs/brindle.toml is the commented example) parsed
// and validated into plain structs. Each plugin's own section is kept as a read-only PluginSection
// that backs the config_* host services; the host does not validate those values, the plugin does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <brindle/abi.h>

namespace brindle::config {

// Every error names "<file>:<line>:<column>: <what was wrong and what was expected>".
class ConfigError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// A read-only view of one plugin's TOML section ([encapsulation.none] etc.) that backs the
// config_* functions of brindle_host_services_t (sdk/include/brindle/abi.h). Paths are relative
// to the section: "vni", "tls.ca_file", "endpoints[1]", "" = the section itself. A key that
// contains a dot or a bracket is written in double quotes: "\"a.b\".c". Immutable, so every
// method may be called from any thread.
class PluginSection {
 public:
  struct Impl;  // the parsed TOML subtree; private to the config library

  explicit PluginSection(std::shared_ptr<const Impl> impl);
  ~PluginSection();
  PluginSection(const PluginSection&) = delete;
  PluginSection& operator=(const PluginSection&) = delete;

  // A whole TOML document as a section, for tests of plugins and of the host services.
  // Throws ConfigError like parse_config.
  static std::shared_ptr<const PluginSection> from_toml(std::string_view toml_text,
                                                        const std::string& file_name);

  // BRINDLE_CONFIG_ABSENT when nothing is at `path` (or `path` is malformed).
  brindle_config_type_t type(std::string_view path) const;
  // Getters return BRINDLE_OK, BRINDLE_ERR_NOT_FOUND (absent) or BRINDLE_ERR_INVALID_ARGUMENT
  // (present with another type, malformed path, null `out`). Integers are not floats.
  // The string is borrowed and lives as long as the section.
  brindle_status_t get_string(std::string_view path, brindle_str_t* out) const;
  brindle_status_t get_int(std::string_view path, int64_t* out) const;
  brindle_status_t get_double(std::string_view path, double* out) const;
  brindle_status_t get_bool(std::string_view path, int* out) const;  // *out is 0 or 1
  // Number of elements of an array or keys of a table; 0 when absent or a scalar.
  size_t size(std::string_view path) const;
  // Calls sink once per key of the table at `path`, in file order. NOT_FOUND when absent,
  // INVALID_ARGUMENT when not a table.
  brindle_status_t keys(std::string_view path, brindle_str_sink_fn sink, void* user) const;
  // "file:line:col" of the value at `path`, or of the section itself when absent.
  std::string location(std::string_view path) const;

 private:
  std::shared_ptr<const Impl> impl_;
};

enum class LogLevel { trace, debug, info, warn, error };

// "trace", "debug", ... as written in the file.
std::string_view to_string(LogLevel level);
// nullopt for anything that is not one of the five names.
std::optional<LogLevel> parse_log_level(std::string_view name);

struct PluginSlot {    // [datastore] / [routing] / [encapsulation] / [policy]
  std::string plugin;  // name as in the plugin descriptor, e.g. "none", "etcd"; empty = slot unused
  std::string path;    // optional explicit .so path (key "path"), else looked up in search paths
  // [<slot>.<plugin>]; an empty table when absent or when the slot is unused; never null.
  std::shared_ptr<const PluginSection> section;
  std::string location;  // "file:line:col" of the `plugin` value, for loader error messages
};

struct NodeConfig {                     // [node]
  std::string name;                     // default: the hostname
  std::optional<std::string> ipv4;      // "198.19.0.1/24" (address with prefix); validated
  std::optional<std::string> ipv6;      // "2001:db8::1/64"; validated
  std::string interface_pattern = "*";  // key "interface": glob used to autodetect the node
                                        // addresses when ipv4/ipv6 are absent; "*" excludes lo
};

struct WorkloadConfig {                      // [workload]: pods on this node
  std::string interface_prefix = "brv";      // host-side veth names: <prefix><11 hex of a hash>
  uint32_t mtu = 0;                          // pod MTU; 0: the underlay's minus the encapsulation's
  uint32_t empty_block_grace_seconds = 300;  // an empty IPAM block is released after this long
  // BIG TCP: pod veths take GSO/GRO packets above 64 KB (up to 196608 bytes, no more than the
  // uplink offers). Only applied with encapsulation none; off by default.
  bool big_tcp = false;
};

struct Config {
  std::string source_file;
  NodeConfig node;
  std::vector<std::string> plugin_search_path;  // [plugins] search_path; default {kPluginDir}
  uint32_t plugin_refresh_seconds = 90;         // [plugins] refresh_interval_seconds; 0: never
  PluginSlot datastore, routing, encapsulation, policy;
  // [routing] secrets_dir: BGP passwords (BGPPeer password.secretKeyRef) are read from
  // <secrets_dir>/<secret name>/<key>, a directory laid out like a Kubernetes Secret volume.
  std::string bgp_secrets_dir = "/etc/brindle/secrets";
  WorkloadConfig workload;
  std::string health_listen = "127.0.0.1:9099";               // [health] listen, "" disables
  std::string metrics_listen = "127.0.0.1:9091";              // [metrics] listen, "" disables
  std::string control_socket = "/run/brindle/brindled.sock";  // [control] socket
  LogLevel log_level = LogLevel::info;                        // [log] level
};

Config load_config(const std::filesystem::path& file);  // throws ConfigError
// Parses text as if read from `file_name` (used in messages). Throws ConfigError.
Config parse_config(std::string_view toml_text, const std::string& file_name);

}  // namespace brindle::config
