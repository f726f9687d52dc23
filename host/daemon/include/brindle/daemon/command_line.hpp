// brindled's command line (Boost.Program_options).
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "brindle/common/log.hpp"

namespace brindle::daemon {

// Exit codes, also listed in --help.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // bad configuration, a plugin refused, cannot listen
inline constexpr int kExitUsage = 2;    // bad command line

enum class Mode { run, check_config, list_plugins, version, help };

struct CommandLine {
  Mode mode = Mode::run;
  std::filesystem::path config_file;  // build_info::kDefaultConfig unless --config
  bool config_given = false;          // --config was passed explicitly
  std::optional<log::Level> log_level;
  std::vector<std::filesystem::path> plugin_dirs;  // --plugin-dir, searched before the config's
};

class CommandLineError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// Throws CommandLineError with a message meant for the user.
CommandLine parse_command_line(int argc, const char* const* argv);

// The complete --help text.
std::string help_text();

}  // namespace brindle::daemon
