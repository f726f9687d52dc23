// The plugins a configuration asks for: looked up, checked, validated, created and destroyed as a
// set, in slot order (datastore, routing, encapsulation, policy; destroyed in reverse).
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"

namespace brindle::daemon {

// A plugin failure in the context of its configuration slot:
// "<file:line:col>: encapsulation plugin \"none\": <the loader's message>".
class SlotError : public std::runtime_error {
 public:
  SlotError(loader::PluginKind kind, loader::LoadErrorCode code, const std::string& message,
            brindle_status_t plugin_status = BRINDLE_OK)
      : std::runtime_error(message), kind_(kind), code_(code), plugin_status_(plugin_status) {}
  loader::PluginKind kind() const { return kind_; }
  loader::LoadErrorCode code() const { return code_; }
  brindle_status_t plugin_status() const { return plugin_status_; }
  // The plugin could not be created for now (something it needs is unreachable or timed out):
  // worth trying again, unlike a refused configuration or a broken library.
  bool transient() const {
    return code_ == loader::LoadErrorCode::create_failed &&
           (plugin_status_ == BRINDLE_ERR_UNAVAILABLE || plugin_status_ == BRINDLE_ERR_TIMEOUT);
  }

 private:
  loader::PluginKind kind_;
  loader::LoadErrorCode code_;
  brindle_status_t plugin_status_;
};

const config::PluginSlot& slot_of(const config::Config& config, loader::PluginKind kind);

// `extra_dirs` first, then the configuration's search path. Relative entries (and relative slot
// paths) are taken relative to the configuration file's directory.
std::vector<std::filesystem::path> plugin_search_path(
    const config::Config& config, const std::vector<std::filesystem::path>& extra_dirs);

// Opens every configured slot's library and runs its configuration validation (no instance
// stays behind). Throws SlotError for the first slot that fails.
struct CheckedPlugin {
  loader::PluginKind kind = loader::PluginKind::datastore;
  loader::PluginInfo info;
};
std::vector<CheckedPlugin> check_plugins(const config::Config& config,
                                         const std::vector<std::filesystem::path>& extra_dirs,
                                         const loader::HostEnvironment& environment);

class PluginSet {
 public:
  PluginSet() = default;
  // Opens and creates every configured plugin. Throws SlotError; plugins created before the
  // failing one are destroyed again.
  PluginSet(const config::Config& config, const std::vector<std::filesystem::path>& extra_dirs,
            const loader::HostEnvironment& environment);
  ~PluginSet();
  PluginSet(PluginSet&&) noexcept;
  PluginSet& operator=(PluginSet&&) noexcept;

  // nullptr when the slot is unused.
  loader::LoadedPlugin* get(loader::PluginKind kind) const;
  // In slot order.
  std::vector<const loader::LoadedPlugin*> all() const;
  bool empty() const { return plugins_.empty(); }
  // Destroys the plugins (reverse slot order), then unloads them.
  void clear();

 private:
  std::vector<std::unique_ptr<loader::LoadedPlugin>> plugins_;  // slot order
};

}  // namespace brindle::daemon
