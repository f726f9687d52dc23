// The one-shot modes of brindled: --check-config and --list-plugins.
#pragma once

#include <ostream>

#include "brindle/daemon/command_line.hpp"

namespace brindle::daemon {

// Parses the configuration, opens every configured plugin and lets it validate its section.
// Prints a summary to `out` or the error to `err`. Returns kExitOk or kExitFailure.
int check_config(const CommandLine& cmd, std::ostream& out, std::ostream& err);

// Prints a table of every plugin in the search path to `out`; unusable files go to `err`.
int list_plugins(const CommandLine& cmd, std::ostream& out, std::ostream& err);

}  // namespace brindle::daemon
