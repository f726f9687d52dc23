// The binary's side of the control socket: connect, send one request line, read one reply line.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

namespace brindle::cni {

class TransportError : public std::runtime_error {
 public:
  enum class Kind {
    unreachable,  // no socket, nobody listening, permission denied
    timeout,      // no complete reply in time
    closed,       // the daemon closed the connection without a complete reply
    io,           // another read/write failure
  };
  TransportError(Kind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Sends `request_line` (ending in '\n') to the unix socket `path` and returns the reply line
// without its '\n'. The whole exchange is bounded by `timeout`.
std::string exchange_with_daemon(const std::string& path, std::string_view request_line,
                                 std::chrono::milliseconds timeout);

}  // namespace brindle::cni
