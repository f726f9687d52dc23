#include "etcd_datastore.hpp"

#include "brindle/loader/plugin_library.hpp"

namespace brindle::test {

DatastorePlugin::DatastorePlugin(const std::string& toml, const std::string& node_name,
                                 const std::string& file_name)
    : config_(config::parse_config(toml, file_name)) {
  std::vector<std::filesystem::path> search;
  for (const auto& d : config_.plugin_search_path) {
    search.emplace_back(d);
  }
  loader::HostEnvironment environment;
  environment.node.name = node_name;
  plugin_ = std::make_unique<loader::LoadedPlugin>(
      loader::find_plugin(search, loader::PluginKind::datastore, config_.datastore.plugin),
      config_.datastore.section, environment);
}

DatastoreConnection::DatastoreConnection(const std::string& toml, const std::string& node_name)
    : plugin_(toml, node_name),
      client_(std::make_unique<datastore::Client>(plugin_.vtable(), plugin_.instance())) {}

DatastoreConnection::~DatastoreConnection() {
  client_.reset();
}

EtcdDatastore::EtcdDatastore(EtcdOptions options) : cluster_(options) {}

std::string EtcdDatastore::plugin_dir() {
  return BRINDLE_TEST_PLUGIN_DIR;
}

std::string EtcdDatastore::config_toml() const {
  std::string endpoints;
  for (const auto& e : cluster_.endpoints()) {
    endpoints += (endpoints.empty() ? "\"" : ", \"") + e + "\"";
  }
  return "[plugins]\nsearch_path = [\"" + plugin_dir() +
         "\"]\n\n[datastore]\nplugin = \"etcd\"\n[datastore.etcd]\nendpoints = [" + endpoints +
         "]\n";
}

std::string EtcdDatastore::node_config_toml(const std::string& node_name,
                                            const std::string& extra) const {
  return "[node]\nname = \"" + node_name + "\"\n\n" + config_toml() + "\n" + extra;
}

std::unique_ptr<DatastoreConnection> EtcdDatastore::connect(const std::string& node_name) const {
  return std::make_unique<DatastoreConnection>(
      "[node]\nname = \"" + node_name + "\"\n" + config_toml(), node_name);
}

const datastore::Client& EtcdDatastore::client() {
  if (!default_) {
    default_ = connect();
  }
  return default_->client();
}

}  // namespace brindle::test
