#include "brindle/daemon/command_line.hpp"

#include <sstream>

#include <boost/program_options.hpp>

#include "brindle/build_info.hpp"

namespace brindle::daemon {
namespace po = boost::program_options;

namespace {

po::options_description options() {
  po::options_description desc("Options", 100, 50);
  desc.add_options()  //
      ("config,c", po::value<std::string>()->value_name("FILE"),
       ("configuration file (default: " + std::string(build_info::kDefaultConfig) + ")")
           .c_str())  //
      ("check-config",
       "parse the configuration, load each configured plugin and let it validate its own "
       "section, then exit: 0 when valid, 1 with the error otherwise")  //
      ("list-plugins",
       "list every plugin found in the plugin search path (name, kind, version, ABI, file) and "
       "exit; files that are not usable plugins are reported on stderr")  //
      ("plugin-dir", po::value<std::vector<std::string>>()->value_name("DIR")->composing(),
       "search DIR for plugins before the configuration's [plugins] search_path (repeatable); "
       "also used by --list-plugins and --check-config")  //
      ("log-level", po::value<std::string>()->value_name("LEVEL"),
       "trace, debug, info, warn or error; overrides [log] level of the configuration")  //
      ("version,V", "print the version and the plugin ABI version, then exit")           //
      ("help,h", "print this help, then exit");
  return desc;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  po::variables_map vm;
  try {
    // No positional arguments: an empty description makes stray words an error.
    po::store(po::command_line_parser(argc, argv)
                  .options(options())
                  .positional(po::positional_options_description())
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw CommandLineError(e.what());
  }
  CommandLine cmd;
  int modes = 0;
  if (vm.count("help") != 0) {
    cmd.mode = Mode::help;
    return cmd;  // --help wins over everything, even when combined with other modes
  }
  if (vm.count("version") != 0) {
    cmd.mode = Mode::version;
    ++modes;
  }
  if (vm.count("check-config") != 0) {
    cmd.mode = Mode::check_config;
    ++modes;
  }
  if (vm.count("list-plugins") != 0) {
    cmd.mode = Mode::list_plugins;
    ++modes;
  }
  if (modes > 1) {
    throw CommandLineError("--version, --check-config and --list-plugins exclude each other");
  }
  cmd.config_given = vm.count("config") != 0;
  cmd.config_file =
      cmd.config_given ? vm["config"].as<std::string>() : std::string(build_info::kDefaultConfig);
  if (cmd.config_file.empty()) {
    throw CommandLineError("--config needs a file name");
  }
  if (vm.count("log-level") != 0) {
    const std::string level = vm["log-level"].as<std::string>();
    cmd.log_level = log::parse_level(level);
    if (!cmd.log_level) {
      throw CommandLineError("--log-level: \"" + level +
                             "\" is not one of trace, debug, info, warn, error");
    }
  }
  if (vm.count("plugin-dir") != 0) {
    for (const std::string& dir : vm["plugin-dir"].as<std::vector<std::string>>()) {
      if (dir.empty()) {
        throw CommandLineError("--plugin-dir needs a directory");
      }
      cmd.plugin_dirs.emplace_back(dir);
    }
  }
  return cmd;
}

std::string help_text() {
  std::ostringstream out;
  out << "Usage: brindled [--config FILE] [--log-level LEVEL] [--plugin-dir DIR]...\n"
         "       brindled --check-config [--config FILE] [--plugin-dir DIR]...\n"
         "       brindled --list-plugins [--config FILE] [--plugin-dir DIR]...\n"
         "       brindled --version | --help\n"
         "\n"
         "brindled is the Brindle node networking agent. It loads the datastore, routing,\n"
         "encapsulation and policy plugins named in its configuration and keeps this node's\n"
         "dataplane in sync with the cluster.\n"
         "\n"
      << options()
      << "\n"
         "Plugin search path: the --plugin-dir directories, then [plugins] search_path of the\n"
         "configuration (default "
      << build_info::kPluginDir
      << ").\n"
         "With --list-plugins and no --config, a missing default configuration file is not an\n"
         "error: the default search path is used.\n"
         "\n"
         "While running:\n"
         "  SIGTERM, SIGINT  stop gracefully: plugins are destroyed, then unloaded\n"
         "  SIGHUP           reload the configuration; if it is invalid the error is logged and\n"
         "                   the running configuration stays in effect\n"
         "  [health] listen  serves GET /livez and /readyz (default 127.0.0.1:9099)\n"
         "  [metrics] listen serves GET /metrics in Prometheus text format (default\n"
         "                   127.0.0.1:9091)\n"
         "  [control] socket a unix socket (directory 0700, socket 0600) speaking newline-\n"
         "                   delimited JSON, e.g. {\"version\":1,\"method\":\"status\"}\n"
         "                   (default /run/brindle/brindled.sock)\n"
         "  Logs go to stderr as logfmt records (level=info msg=\"...\" key=value), without\n"
         "  timestamps when stderr is the systemd journal. Readiness is reported with\n"
         "  sd_notify (Type=notify; READY=1, RELOADING=1, STOPPING=1).\n"
         "\n"
         "Exit status: 0 success, 1 invalid configuration or runtime failure, 2 bad usage.\n";
  return out.str();
}

}  // namespace brindle::daemon
