#include "client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace brindle::cni {
namespace {

constexpr size_t kMaxReplyBytes = 4 << 20;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int error) {
  return std::strerror(error);
}

// Milliseconds left until `deadline`, at least 0.
int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX));
}

void wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline,
              const std::string& path) {
  for (;;) {
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, remaining_ms(deadline));
    if (ready > 0) {
      return;
    }
    if (ready == 0) {
      throw TransportError(TransportError::Kind::timeout,
                           "brindled did not answer on " + path + " in time");
    }
    if (errno != EINTR) {
      throw TransportError(TransportError::Kind::io, "poll " + path + ": " + errno_text(errno));
    }
  }
}

}  // namespace

std::string exchange_with_daemon(const std::string& path, std::string_view request_line,
                                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    throw TransportError(TransportError::Kind::unreachable,
                         "control socket path \"" + path + "\" is empty or longer than " +
                             std::to_string(sizeof(address.sun_path) - 1) + " bytes");
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  Socket socket_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (socket_fd.get() < 0) {
    throw TransportError(TransportError::Kind::io, "socket: " + errno_text(errno));
  }
  // A unix stream connect completes at once or fails (EAGAIN: the listen backlog is full).
  while (connect(socket_fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) !=
         0) {
    int error = errno;
    if (error == EINTR) {
      continue;
    }
    if (error == EAGAIN && remaining_ms(deadline) > 0) {
      usleep(2000);
      continue;
    }
    throw TransportError(TransportError::Kind::unreachable,
                         "cannot connect to brindled at " + path + ": " + errno_text(error));
  }

  size_t sent = 0;
  while (sent < request_line.size()) {
    ssize_t n =
        send(socket_fd.get(), request_line.data() + sent, request_line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      wait_for(socket_fd.get(), POLLOUT, deadline, path);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      int error = errno;
      throw TransportError(error == EPIPE || error == ECONNRESET ? TransportError::Kind::closed
                                                                 : TransportError::Kind::io,
                           "send request to " + path + ": " + errno_text(error));
    }
  }

  std::string reply;
  char buffer[16384];
  for (;;) {
    ssize_t n = recv(socket_fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      reply.append(buffer, static_cast<size_t>(n));
      if (size_t newline = reply.find('\n'); newline != std::string::npos) {
        reply.resize(newline);
        return reply;
      }
      if (reply.size() > kMaxReplyBytes) {
        throw TransportError(
            TransportError::Kind::io,
            "reply from " + path + " exceeds " + std::to_string(kMaxReplyBytes) + " bytes");
      }
    } else if (n == 0) {
      throw TransportError(TransportError::Kind::closed,
                           "brindled closed the connection on " + path + " without answering");
    } else if (errno == EAGAIN) {
      wait_for(socket_fd.get(), POLLIN, deadline, path);
    } else if (errno != EINTR) {
      int error = errno;
      throw TransportError(
          error == ECONNRESET ? TransportError::Kind::closed : TransportError::Kind::io,
          "read reply from " + path + ": " + errno_text(error));
    }
  }
}

}  // namespace brindle::cni
