// sd_notify written without libsystemd: the datagram reaches a path socket and an abstract one
// ('@' name), nothing is sent without NOTIFY_SOCKET, and addresses it cannot use are refused
// without harm.
#include "brindle/daemon/notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace brindle::daemon {
namespace {

namespace fs = std::filesystem;

// A datagram socket bound to `name` (a path, or '@' + an abstract name).
class Listener {
 public:
  explicit Listener(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, name.data(), name.size());
    if (name[0] == '@') {
      sun.sun_path[0] = '\0';
    }
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&sun), length) == 0;
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  bool bound() const { return bound_; }
  // The next datagram within `ms`, if one comes.
  std::optional<std::string> receive(int ms = 1000) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) {
      return std::nullopt;
    }
    char buffer[512];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n < 0 ? std::nullopt : std::optional<std::string>(std::string(buffer, n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

class NotifyTest : public ::testing::Test {
 protected:
  void TearDown() override { ::unsetenv("NOTIFY_SOCKET"); }
};

TEST_F(NotifyTest, ReachesAPathSocket) {
  const fs::path path = fs::temp_directory_path() / ("brindle-notify-" + std::to_string(getpid()));
  fs::remove(path);
  Listener listener(path.string());
  ASSERT_TRUE(listener.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  notify_ready();
  EXPECT_EQ(listener.receive(), "READY=1");
  notify_status("3 plugins");
  EXPECT_EQ(listener.receive(), "STATUS=3 plugins");
  notify_reloading();
  const auto reloading = listener.receive();
  ASSERT_TRUE(reloading);
  EXPECT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  EXPECT_GT(std::stoull(reloading->substr(reloading->find('=', 12) + 1)), 0u);
  notify_stopping();
  EXPECT_EQ(listener.receive(), "STOPPING=1");
  fs::remove(path);
}

TEST_F(NotifyTest, ReachesAnAbstractSocket) {
  const std::string name = "@brindle-notify-test-" + std::to_string(getpid());
  Listener listener(name);
  ASSERT_TRUE(listener.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  notify_ready();
  EXPECT_EQ(listener.receive(), "READY=1");
}

TEST_F(NotifyTest, SendsNothingWithoutASocketAndSurvivesBadAddresses) {
  const std::string name = "@brindle-notify-test-unset-" + std::to_string(getpid());
  Listener listener(name);
  ASSERT_TRUE(listener.bound());
  ::unsetenv("NOTIFY_SOCKET");
  notify_ready();
  ::setenv("NOTIFY_SOCKET", "", 1);
  notify_ready();
  // Neither a path nor an abstract name (systemd's vsock form), a path too long for sun_path,
  // and a path nobody listens on: each is logged and ignored.
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  notify_ready();
  ::setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);
  notify_ready();
  ::setenv("NOTIFY_SOCKET", "/nonexistent/brindle-notify.sock", 1);
  notify_ready();
  EXPECT_FALSE(listener.receive(200));
}

}  // namespace
}  // namespace brindle::daemon
