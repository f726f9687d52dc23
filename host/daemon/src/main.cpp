// brindled: the Brindle node networking agent.
#include <iostream>

#include "brindle/abi.h"
#include "brindle/build_info.hpp"
#include "brindle/common/log.hpp"
#include "brindle/daemon/cli.hpp"
#include "brindle/daemon/command_line.hpp"
#include "brindle/daemon/daemon.hpp"

int main(int argc, char** argv) {
  using namespace brindle;
  daemon::CommandLine cmd;
  try {
    cmd = daemon::parse_command_line(argc, argv);
  } catch (const daemon::CommandLineError& e) {
    std::cerr << "brindled: " << e.what() << "\nTry 'brindled --help'.\n";
    return daemon::kExitUsage;
  }
  switch (cmd.mode) {
    case daemon::Mode::help:
      std::cout << daemon::help_text();
      return daemon::kExitOk;
    case daemon::Mode::version:
      std::cout << "brindled " << build_info::kVersion << " (plugin ABI "
                << BRINDLE_ABI_VERSION_MAJOR << "." << BRINDLE_ABI_VERSION_MINOR << ")\n";
      return daemon::kExitOk;
    case daemon::Mode::check_config:
      // Only problems are logged in the one-shot modes; results go to stdout.
      log::logger().set_level(cmd.log_level.value_or(log::Level::warn));
      return daemon::check_config(cmd, std::cout, std::cerr);
    case daemon::Mode::list_plugins:
      log::logger().set_level(cmd.log_level.value_or(log::Level::warn));
      return daemon::list_plugins(cmd, std::cout, std::cerr);
    case daemon::Mode::run:
      break;
  }
  try {
    daemon::Daemon brindled(daemon::DaemonOptions{cmd.config_file, cmd.log_level, cmd.plugin_dirs});
    return brindled.run();
  } catch (const std::exception& e) {
    log::error("brindled failed", {{"error", e.what()}});
    return daemon::kExitFailure;
  }
}
