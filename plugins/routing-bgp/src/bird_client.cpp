#include "bird_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace brindle::bgp {

BirdClient::BirdClient(const std::string& socket_path, std::chrono::milliseconds timeout)
    : path_(socket_path), timeout_(timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(),
                            "BIRD control socket path too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(e, std::generic_category(),
                            "cannot connect to BIRD control socket " + socket_path);
  }
  BirdReplyParser parser;
  while (!parser.feed(read_line())) {
  }
  const BirdReply hello = parser.take();
  if (hello.final_code != 1 || hello.lines.empty()) {
    throw BirdReplyError("BIRD control socket " + path_ + ": unexpected greeting " +
                         quote_line(hello.lines.empty() ? "" : hello.lines.back().text));
  }
  greeting_ = hello.lines.back().text;
}

BirdClient::BirdClient(BirdClient&& other) noexcept
    : path_(std::move(other.path_)),
      timeout_(other.timeout_),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      greeting_(std::move(other.greeting_)) {}

BirdClient::~BirdClient() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::string BirdClient::read_line() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    const size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    if (buffer_.size() > kMaxBirdLine) {
      throw BirdReplyError("BIRD control socket " + path_ + ": line longer than " +
                           std::to_string(kMaxBirdLine) + " bytes: " + quote_line(buffer_));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready == 0) {
      throw std::system_error(ETIMEDOUT, std::generic_category(),
                              "BIRD control socket " + path_ + ": no reply");
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::system_error(errno, std::generic_category(),
                              "BIRD control socket " + path_ + ": read");
    }
    if (n == 0) {
      throw std::system_error(ECONNRESET, std::generic_category(),
                              "BIRD control socket " + path_ + ": closed in the middle of a reply");
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

BirdReply BirdClient::command(std::string_view command) {
  if (command.find('\n') != std::string_view::npos) {
    throw BirdReplyError("BIRD command contains a newline: " + quote_line(command));
  }
  std::string out(command);
  out += '\n';
  size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::system_error(errno, std::generic_category(),
                              "BIRD control socket " + path_ + ": write");
    }
    sent += static_cast<size_t>(n);
  }
  BirdReplyParser parser;
  while (!parser.feed(read_line())) {
  }
  return parser.take();
}

}  // namespace brindle::bgp
