// brindle-cni: the CNI plugin executable (see docs/cni.md). Thin on purpose: everything but VERSION
// is answered by brindled over its control socket.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "plugin.hpp"

namespace {

std::string read_stdin() {
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n > 0) {
      text.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return text;  // a read error leaves what was read; decoding reports the problem
    }
  }
}

bool write_stdout(const std::string& text) {
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = write(STDOUT_FILENO, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main() {
  std::string input = read_stdin();
  brindle::cni::Outcome outcome = brindle::cni::run_plugin(
      [](const char* name) -> std::optional<std::string> {
        const char* value = std::getenv(name);
        if (value == nullptr) {
          return std::nullopt;
        }
        return std::string(value);
      },
      input);
  if (!write_stdout(outcome.stdout_text) && outcome.exit_code == 0) {
    return 1;
  }
  return outcome.exit_code;
}
