#include "brindle/daemon/plugin_set.hpp"

#include <utility>

namespace brindle::daemon {
namespace fs = std::filesystem;
using loader::PluginKind;

const config::PluginSlot& slot_of(const config::Config& config, PluginKind kind) {
  switch (kind) {
    case PluginKind::datastore:
      return config.datastore;
    case PluginKind::routing:
      return config.routing;
    case PluginKind::encapsulation:
      return config.encapsulation;
    case PluginKind::policy:
      return config.policy;
  }
  return config.datastore;
}

namespace {

fs::path config_relative(const config::Config& config, const fs::path& path) {
  if (path.is_absolute() || config.source_file.empty()) {
    return path;
  }
  return fs::path(config.source_file).parent_path() / path;
}

SlotError slot_error(const config::Config& config, PluginKind kind, const loader::LoadError& e) {
  const config::PluginSlot& slot = slot_of(config, kind);
  std::string where = slot.location.empty() ? config.source_file : slot.location;
  std::string message = where.empty() ? std::string() : where + ": ";
  message += std::string(loader::kind_name(kind)) + " plugin \"" + slot.plugin + "\": " + e.what();
  return SlotError(kind, e.code(), message, e.plugin_status());
}

loader::PluginLibrary open_slot(const config::Config& config, PluginKind kind,
                                const std::vector<fs::path>& search_path) {
  const config::PluginSlot& slot = slot_of(config, kind);
  try {
    if (!slot.path.empty()) {
      return loader::open_plugin(config_relative(config, slot.path),
                                 loader::Expectation{kind, slot.plugin});
    }
    return loader::find_plugin(search_path, kind, slot.plugin);
  } catch (const loader::LoadError& e) {
    throw slot_error(config, kind, e);
  }
}

}  // namespace

std::vector<fs::path> plugin_search_path(const config::Config& config,
                                         const std::vector<fs::path>& extra_dirs) {
  std::vector<fs::path> dirs(extra_dirs.begin(), extra_dirs.end());
  for (const std::string& dir : config.plugin_search_path) {
    dirs.push_back(config_relative(config, dir));
  }
  return dirs;
}

std::vector<CheckedPlugin> check_plugins(const config::Config& config,
                                         const std::vector<fs::path>& extra_dirs,
                                         const loader::HostEnvironment& environment) {
  const std::vector<fs::path> search_path = plugin_search_path(config, extra_dirs);
  std::vector<CheckedPlugin> checked;
  for (PluginKind kind : loader::kAllKinds) {
    const config::PluginSlot& slot = slot_of(config, kind);
    if (slot.plugin.empty()) {
      continue;
    }
    loader::PluginLibrary library = open_slot(config, kind, search_path);
    try {
      loader::validate_plugin_config(library, slot.section, environment);
    } catch (const loader::LoadError& e) {
      throw slot_error(config, kind, e);
    }
    checked.push_back({kind, library.info()});
  }
  return checked;
}

PluginSet::PluginSet(const config::Config& config, const std::vector<fs::path>& extra_dirs,
                     const loader::HostEnvironment& environment) {
  const std::vector<fs::path> search_path = plugin_search_path(config, extra_dirs);
  try {
    for (PluginKind kind : loader::kAllKinds) {
      const config::PluginSlot& slot = slot_of(config, kind);
      if (slot.plugin.empty()) {
        continue;
      }
      loader::PluginLibrary library = open_slot(config, kind, search_path);
      try {
        plugins_.push_back(
            std::make_unique<loader::LoadedPlugin>(std::move(library), slot.section, environment));
      } catch (const loader::LoadError& e) {
        throw slot_error(config, kind, e);
      }
    }
  } catch (...) {
    clear();
    throw;
  }
}

PluginSet::~PluginSet() {
  clear();
}
PluginSet::PluginSet(PluginSet&&) noexcept = default;
PluginSet& PluginSet::operator=(PluginSet&& other) noexcept {
  if (this != &other) {
    clear();
    plugins_ = std::move(other.plugins_);
  }
  return *this;
}

loader::LoadedPlugin* PluginSet::get(PluginKind kind) const {
  for (const auto& plugin : plugins_) {
    if (plugin->info().kind == kind) {
      return plugin.get();
    }
  }
  return nullptr;
}

std::vector<const loader::LoadedPlugin*> PluginSet::all() const {
  std::vector<const loader::LoadedPlugin*> out;
  for (const auto& plugin : plugins_) {
    out.push_back(plugin.get());
  }
  return out;
}

void PluginSet::clear() {
  while (!plugins_.empty()) {
    plugins_.pop_back();  // reverse slot order; each destroys its instance, then unloads
  }
}

}  // namespace brindle::daemon
