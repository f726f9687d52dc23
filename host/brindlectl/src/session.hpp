// A brindlectl session: the configuration, and the datastore plugin named in it, loaded in this
// process exactly as brindled loads it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brindle/config/config.hpp"
#include "brindle/datastore/client.hpp"
#include "brindle/loader/loaded_plugin.hpp"

namespace brindle::ctl {

struct SessionOptions {
  std::filesystem::path config_file;
  std::vector<std::filesystem::path> extra_plugin_dirs;
};

class Session {
 public:
  // Throws config::ConfigError, loader::LoadError, std::runtime_error.
  explicit Session(const SessionOptions& options);
  ~Session();

  const config::Config& config() const { return config_; }
  const datastore::Client& client() const { return *client_; }

 private:
  config::Config config_;
  std::unique_ptr<loader::LoadedPlugin> plugin_;
  std::unique_ptr<datastore::Client> client_;
};

}  // namespace brindle::ctl
