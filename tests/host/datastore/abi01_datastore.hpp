// Test support: the etcd datastore plugin loaded through the host's loader, with the host's
// client seeing its function table as a plugin built against ABI 0.1 provides it (struct_size
// ending before `txn`, as the loader's zero-filled copy of an older table is). That is what
// brindled gets from a datastore plugin without transactions.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "brindle/config/config.hpp"
#include "brindle/datastore/client.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"
#include "etcd_datastore.hpp"

namespace brindle::test {

class Abi01Datastore {
 public:
  Abi01Datastore(const EtcdDatastore& etcd, const std::string& node_name)
      : config_(config::parse_config("[node]\nname = \"" + node_name + "\"\n" + etcd.config_toml(),
                                     "abi01-datastore.toml")) {
    std::vector<std::filesystem::path> search;
    for (const auto& d : config_.plugin_search_path) {
      search.emplace_back(d);
    }
    loader::HostEnvironment environment;
    environment.node.name = node_name;
    plugin_ = std::make_unique<loader::LoadedPlugin>(
        loader::find_plugin(search, loader::PluginKind::datastore, config_.datastore.plugin),
        config_.datastore.section, environment);
    vtable_ = *plugin_->library().datastore();
    // The function pointer stays set: only struct_size says it is not there, as for an old table
    // that the host copied without zero-filling.
    vtable_.struct_size = static_cast<uint32_t>(offsetof(brindle_datastore_vtable_t, txn));
    client_ = std::make_unique<datastore::Client>(&vtable_, plugin_->instance());
  }
  ~Abi01Datastore() { client_.reset(); }
  Abi01Datastore(const Abi01Datastore&) = delete;
  Abi01Datastore& operator=(const Abi01Datastore&) = delete;

  const datastore::Client& client() const { return *client_; }

 private:
  config::Config config_;
  std::unique_ptr<loader::LoadedPlugin> plugin_;
  brindle_datastore_vtable_t vtable_{};
  std::unique_ptr<datastore::Client> client_;
};

}  // namespace brindle::test
