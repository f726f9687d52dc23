// Test support: a real etcd cluster plus the datastore-etcd plugin loaded through the host's own
// loader, exactly as brindled and brindlectl load it. Each connect() is a separate plugin instance,
// as a separate agent would have.
#pragma once

#include <memory>
#include <string>

#include "brindle/config/config.hpp"
#include "brindle/datastore/client.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"
#include "etcd_harness.h"

namespace brindle::test {

// The datastore plugin a brindle.toml names, loaded from its [plugins] search_path with its
// [datastore] section, as brindled loads it. `file_name` names the configuration in errors.
class DatastorePlugin {
 public:
  DatastorePlugin(const std::string& toml, const std::string& node_name,
                  const std::string& file_name = "test-datastore.toml");
  DatastorePlugin(const DatastorePlugin&) = delete;
  DatastorePlugin& operator=(const DatastorePlugin&) = delete;

  // The plugin's own function table and instance (for a client, or a wrapped copy of the table).
  const brindle_datastore_vtable_t* vtable() const { return plugin_->library().datastore(); }
  brindle_instance_t* instance() const { return plugin_->instance(); }

 private:
  config::Config config_;
  std::unique_ptr<loader::LoadedPlugin> plugin_;
};

class DatastoreConnection {
 public:
  DatastoreConnection(const std::string& toml, const std::string& node_name);
  ~DatastoreConnection();
  const datastore::Client& client() const { return *client_; }

 private:
  DatastorePlugin plugin_;
  std::unique_ptr<datastore::Client> client_;
};

class EtcdDatastore {
 public:
  explicit EtcdDatastore(EtcdOptions options = {});

  EtcdCluster& cluster() { return cluster_; }
  // The [plugins] + [datastore] part of a brindle.toml pointing at this cluster.
  std::string config_toml() const;
  // A brindle.toml for a node (with `extra` appended), for brindled/brindlectl processes.
  std::string node_config_toml(const std::string& node_name, const std::string& extra = {}) const;
  std::unique_ptr<DatastoreConnection> connect(const std::string& node_name = "test-node") const;
  // The default connection.
  const datastore::Client& client();

  static std::string plugin_dir();  // where the build puts plugins

 private:
  EtcdCluster cluster_;
  std::unique_ptr<DatastoreConnection> default_;
};

}  // namespace brindle::test
