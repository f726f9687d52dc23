#include "brindle/daemon/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "brindle/common/log.hpp"

namespace brindle::daemon {
namespace {

// The sd_notify protocol (sd_notify(3), "Standalone implementations"): one datagram with the
// state lines to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, with a leading '@', an
// abstract name. Written here rather than linked from libsystemd, which with its compression
// and crypto libraries is about 1 MB of the daemon's resident memory for this one call.
// Returns 0 when there is no socket to tell, 1 when sent, -errno on failure.
int send_datagram(const std::string& state) {
  const char* address = std::getenv("NOTIFY_SOCKET");
  if (address == nullptr || *address == '\0') {
    return 0;
  }
  const std::string name(address);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if ((name[0] != '/' && name[0] != '@') || name.size() > sizeof(sun.sun_path)) {
    return -EAFNOSUPPORT;  // e.g. systemd's vsock: addresses, for virtual machines
  }
  std::memcpy(sun.sun_path, name.data(), name.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (name[0] == '@') {
    sun.sun_path[0] = '\0';  // abstract: no terminating NUL counted
  } else if (name.size() < sizeof(sun.sun_path)) {
    ++length;
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&sun), length);
  const int error = errno;
  ::close(fd);
  if (sent < 0) {
    return -error;
  }
  return sent == static_cast<ssize_t>(state.size()) ? 1 : -EMSGSIZE;
}

void send(const std::string& state) {
  const int result = send_datagram(state);
  if (result < 0) {
    log::warn("sd_notify failed", {{"state", state},
                                   {"socket", std::getenv("NOTIFY_SOCKET")},
                                   {"error", std::strerror(-result)}});
  } else if (result > 0) {
    log::debug("sd_notify sent", {{"state", state}});
  }
}

}  // namespace

void notify_ready() {
  send("READY=1");
}

void notify_reloading() {
  // systemd >= 253 (Type=notify-reload) wants the monotonic time with RELOADING=1.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ull +
                                  static_cast<unsigned long long>(now.tv_nsec) / 1000ull;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() {
  send("STOPPING=1");
}

void notify_status(std::string_view status) {
  send("STATUS=" + std::string(status));
}

}  // namespace brindle::daemon
