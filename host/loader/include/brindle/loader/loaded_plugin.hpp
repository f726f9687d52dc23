// A created plugin instance with the host services table it was given, and the checks that
// run a plugin's own configuration validation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <brindle/brindle.h>

#include "brindle/common/metrics.hpp"
#include "brindle/common/strings.hpp"
#include "brindle/config/config.hpp"
#include "brindle/loader/plugin_library.hpp"

namespace brindle::loader {

// This node as the host resolved it; handed to plugins in brindle_host_services_t.
struct NodeIdentity {
  std::string name;
  std::optional<strings::IpPrefix> ipv4;
  std::optional<strings::IpPrefix> ipv6;
};

// What the host offers every plugin through its services table.
struct HostEnvironment {
  // Where plugin metrics go (names prefixed "brindle_<short kind>_<plugin>_"); null: metric
  // registration fails with id 0 (e.g. for --check-config).
  metrics::Registry* metrics = nullptr;
  NodeIdentity node;
  // Called (from any plugin thread) when a plugin asks for its refresh hook to be called soon.
  // Must be thread-safe and must not call into the plugin itself. May be empty.
  std::function<void(PluginKind)> request_refresh;
};

// The brindle_host_context_t behind one plugin's brindle_host_services_t. Owns what the table
// lends out (node name, configuration section) so that it stays valid until destroy() returns.
class HostContext {
 public:
  HostContext(PluginInfo plugin, std::shared_ptr<const config::PluginSection> section,
              HostEnvironment environment);
  ~HostContext();
  HostContext(const HostContext&) = delete;
  HostContext& operator=(const HostContext&) = delete;

  const brindle_host_services_t* services() const { return &services_; }
  const PluginInfo& plugin() const { return plugin_; }
  // "encap/none": the value of the plugin= field of its log records.
  const std::string& log_name() const { return log_name_; }

  struct Access;  // the C callbacks

 private:
  PluginInfo plugin_;
  std::string log_name_;
  std::string metric_prefix_;
  std::shared_ptr<const config::PluginSection> section_;  // may be null: an empty section
  HostEnvironment environment_;
  brindle_host_services_t services_{};
  struct OwnedMetrics;
  std::unique_ptr<OwnedMetrics> owned_metrics_;
};

// A plugin library plus one instance created from it. The instance is destroyed (and the services
// table it was given released) before the library is unloaded, whatever way this object dies.
class LoadedPlugin {
 public:
  // Calls create(). Throws LoadError: create_failed with the plugin's code and message, or
  // plugin_threw when create() throws.
  LoadedPlugin(PluginLibrary library, std::shared_ptr<const config::PluginSection> section,
               HostEnvironment environment);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const PluginInfo& info() const { return library_.info(); }
  const PluginLibrary& library() const { return library_; }
  brindle_instance_t* instance() const { return instance_; }

  // Calls the kind's refresh hook (routing, encapsulation, policy; datastore has none).
  // Returns an error message, or nullopt on success or when the kind has no refresh hook.
  std::optional<std::string> refresh();

 private:
  PluginLibrary library_;                 // destroyed last
  std::unique_ptr<HostContext> context_;  // destroyed after the instance
  brindle_instance_t* instance_ = nullptr;
  bool created_ = false;
};

// Runs the plugin's validate_config() against `section`, or, when it is NULL (allowed when
// create() has no side effects), creates and destroys an instance. Throws LoadError
// (validate_failed with the plugin's code and message, or plugin_threw).
void validate_plugin_config(const PluginLibrary& library,
                            std::shared_ptr<const config::PluginSection> section,
                            const HostEnvironment& environment);

}  // namespace brindle::loader
