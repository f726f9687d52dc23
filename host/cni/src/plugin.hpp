// The brindle-cni command: validates the runtime's environment and network configuration,
// answers VERSION itself and forwards everything else to brindled.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace brindle::cni {

// Reads one environment variable (std::getenv in the binary).
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

struct Outcome {
  int exit_code = 0;
  std::string stdout_text;  // the result or the error object, or empty
};

// Runs one CNI invocation. Logs go to brindle::log (stderr, plus the configured log file).
Outcome run_plugin(const EnvLookup& env, std::string_view stdin_text);

}  // namespace brindle::cni
