// The brindled daemon skeleton: one event loop thread (Boost.Asio) that owns the configuration,
// the plugins, the health/metrics HTTP endpoints, the control socket and signal handling.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "brindle/common/log.hpp"
#include "brindle/daemon/control_server.hpp"

namespace brindle::daemon {

struct DaemonOptions {
  std::filesystem::path config_file;
  std::optional<log::Level> log_level;             // overrides [log] level, also across reloads
  std::vector<std::filesystem::path> plugin_dirs;  // searched before [plugins] search_path
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Control API methods; register more before run(). "status", "methods" and "reload" exist.
  MethodTable& control_methods();

  // Loads the configuration and the plugins, starts the endpoints, reports READY=1 and runs the
  // event loop until SIGTERM or SIGINT: then reports STOPPING=1, stops the endpoints, destroys
  // the plugins and unloads them. SIGHUP reloads the configuration. Returns the exit code:
  // kExitOk after a clean stop, kExitFailure when startup fails.
  int run();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace brindle::daemon
