#include "brindle/daemon/cli.hpp"

#include <algorithm>
#include <iomanip>
#include <system_error>
#include <vector>

#include "brindle/build_info.hpp"
#include "brindle/common/strings.hpp"
#include "brindle/config/config.hpp"
#include "brindle/daemon/node_identity.hpp"
#include "brindle/daemon/plugin_set.hpp"
#include "brindle/loader/plugin_library.hpp"

namespace brindle::daemon {
namespace fs = std::filesystem;

namespace {

// Settings the daemon would only trip over when it starts listening.
void check_endpoints(const config::Config& config) {
  for (const auto& [table, listen] :
       {std::pair<const char*, const std::string&>{"[health] listen", config.health_listen},
        std::pair<const char*, const std::string&>{"[metrics] listen", config.metrics_listen}}) {
    if (!listen.empty() && !strings::parse_host_port(listen)) {
      throw std::runtime_error(config.source_file + ": " + table + " \"" + listen +
                               "\" is not HOST:PORT (e.g. 127.0.0.1:9099 or [::1]:9099)");
    }
  }
  if (!fs::path(config.control_socket).is_absolute()) {
    throw std::runtime_error(config.source_file + ": [control] socket \"" + config.control_socket +
                             "\" must be an absolute path");
  }
}

std::string abi_text(uint16_t major, uint16_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    out << line << '\n';
  }
}

}  // namespace

int check_config(const CommandLine& cmd, std::ostream& out, std::ostream& err) {
  try {
    const config::Config config = config::load_config(cmd.config_file);
    check_endpoints(config);
    loader::HostEnvironment environment;  // no metrics registry: validation has no side effects
    environment.node = resolve_node_identity(config.node);
    const std::vector<CheckedPlugin> plugins = check_plugins(config, cmd.plugin_dirs, environment);
    out << "configuration " << cmd.config_file.string() << " is valid\n";
    std::vector<std::vector<std::string>> rows;
    for (const CheckedPlugin& plugin : plugins) {
      rows.push_back({"  " + std::string(loader::kind_name(plugin.kind)), plugin.info.name,
                      plugin.info.version, plugin.info.path.string()});
    }
    if (rows.empty()) {
      out << "  (no plugins configured)\n";
    }
    print_table(out, rows);
    return kExitOk;
  } catch (const std::exception& e) {
    err << "brindled: " << e.what() << '\n';
    return kExitFailure;
  }
}

int list_plugins(const CommandLine& cmd, std::ostream& out, std::ostream& err) {
  std::vector<fs::path> search_path;
  try {
    std::error_code ec;
    if (cmd.config_given || fs::exists(cmd.config_file, ec)) {
      search_path = plugin_search_path(config::load_config(cmd.config_file), cmd.plugin_dirs);
    } else {
      search_path = cmd.plugin_dirs;
      search_path.emplace_back(build_info::kPluginDir);
    }
  } catch (const std::exception& e) {
    err << "brindled: " << e.what() << '\n';
    return kExitFailure;
  }
  const loader::ScanResult scan = loader::scan_plugins(search_path);
  for (const loader::ScanProblem& problem : scan.problems) {
    err << "brindled: skipped: " << problem.message << '\n';
  }
  std::string dirs;
  for (const fs::path& dir : search_path) {
    dirs += (dirs.empty() ? "" : ", ") + dir.string();
  }
  if (scan.plugins.empty()) {
    out << "no plugins found in " << dirs << '\n';
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "KIND", "VERSION", "ABI", "PATH"}};
  for (const loader::PluginInfo& info : scan.plugins) {
    rows.push_back({info.name, std::string(loader::kind_name(info.kind)), info.version,
                    abi_text(info.abi_major, info.abi_minor), info.path.string()});
  }
  print_table(out, rows);
  return kExitOk;
}

}  // namespace brindle::daemon
