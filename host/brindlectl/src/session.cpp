#include "session.hpp"

#include <stdexcept>

#include "brindle/loader/plugin_library.hpp"

namespace brindle::ctl {

Session::Session(const SessionOptions& options)
    : config_(config::load_config(options.config_file)) {
  const config::PluginSlot& slot = config_.datastore;
  if (slot.plugin.empty()) {
    throw std::runtime_error(options.config_file.string() +
                             ": no [datastore] plugin is configured; brindlectl needs one");
  }
  std::vector<std::filesystem::path> search(options.extra_plugin_dirs.begin(),
                                            options.extra_plugin_dirs.end());
  for (const std::string& dir : config_.plugin_search_path) {
    search.emplace_back(dir);
  }
  loader::PluginLibrary library =
      slot.path.empty()
          ? loader::find_plugin(search, loader::PluginKind::datastore, slot.plugin)
          : loader::open_plugin(slot.path, {loader::PluginKind::datastore, slot.plugin});
  loader::HostEnvironment environment;
  environment.node.name = config_.node.name;
  plugin_ = std::make_unique<loader::LoadedPlugin>(std::move(library), slot.section, environment);
  client_ =
      std::make_unique<datastore::Client>(plugin_->library().datastore(), plugin_->instance());
}

// The client refers to the plugin instance: it goes first, then the plugin (instance, then
// library).
Session::~Session() {
  client_.reset();
}

}  // namespace brindle::ctl
