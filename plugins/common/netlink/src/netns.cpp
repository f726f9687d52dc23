#include "brindle/netlink/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <system_error>

namespace brindle::netlink {
namespace {

constexpr const char* kNetnsDir = "/run/netns";

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

std::string random_suffix() {
  // Seeded once per thread: std::random_device costs a CPUID (a VM exit) or a syscall each time.
  thread_local std::mt19937 generator{std::random_device{}()};
  std::uniform_int_distribution<uint32_t> distribution;
  char buffer[9];
  std::snprintf(buffer, sizeof(buffer), "%08x", distribution(generator));
  return buffer;
}

// A new network namespace, created on a short-lived thread so the caller's thread never moves.
NetnsFd unshare_new_netns() {
  return run_in_netns(NetnsFd::current().get(), [] {
    if (unshare(CLONE_NEWNET) != 0) {
      throw_errno(errno, "unshare(CLONE_NEWNET)");
    }
    return NetnsFd::current();
  });
}

// As `ip netns add` prepares it: /run/netns a shared mount point of its own. Otherwise the first
// `ip netns add` after a namespace is mounted here bind-mounts /run/netns over itself, hiding that
// mount, which can then no longer be unmounted by its path (a namespace left behind).
void prepare_netns_dir() {
  if (mkdir(kNetnsDir, 0755) != 0 && errno != EEXIST) {
    throw_errno(errno, std::string("create ") + kNetnsDir);
  }
  bool made_mount_point = false;
  while (mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || made_mount_point) {
      throw_errno(errno, std::string("make ") + kNetnsDir + " a shared mount");
    }
    if (mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
      throw_errno(errno, std::string("bind-mount ") + kNetnsDir + " on itself");
    }
    made_mount_point = true;
  }
}

}  // namespace

NetnsFd& NetnsFd::operator=(NetnsFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

NetnsFd::~NetnsFd() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

NetnsFd NetnsFd::open(std::string_view name_or_path) {
  std::string path = name_or_path.find('/') == std::string_view::npos
                         ? std::string(kNetnsDir) + "/" + std::string(name_or_path)
                         : std::string(name_or_path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(errno, "open network namespace " + path);
  }
  return NetnsFd(fd);
}

NetnsFd NetnsFd::current() {
  return open("/proc/thread-self/ns/net");
}

NetnsGuard::NetnsGuard(int netns_fd) : original_(NetnsFd::current()) {
  if (setns(netns_fd, CLONE_NEWNET) != 0) {
    throw_errno(errno, "setns(CLONE_NEWNET)");
  }
}

NetnsGuard::~NetnsGuard() {
  if (setns(original_.get(), CLONE_NEWNET) != 0) {
    // A thread left in the wrong namespace would silently program the wrong network.
    std::perror("brindle: cannot return to the original network namespace");
    std::abort();
  }
}

ScratchNetns ScratchNetns::create() {
  return ScratchNetns(unshare_new_netns(), {});
}

ScratchNetns ScratchNetns::create_named(std::string_view prefix) {
  NetnsFd fd = unshare_new_netns();
  prepare_netns_dir();
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = std::string(prefix) + "-" + random_suffix();
    std::string path = std::string(kNetnsDir) + "/" + name;
    int file = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (file < 0) {
      if (errno == EEXIST) {
        continue;
      }
      throw_errno(errno, "create " + path);
    }
    close(file);
    // Same as `ip netns add`: the namespace file is a bind mount of the namespace.
    std::string source = "/proc/self/fd/" + std::to_string(fd.get());
    if (mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
      int error = errno;
      unlink(path.c_str());
      throw_errno(error, "bind-mount network namespace on " + path);
    }
    return ScratchNetns(std::move(fd), name);
  }
  throw_errno(EEXIST, "pick a free network namespace name under " + std::string(kNetnsDir));
}

ScratchNetns::~ScratchNetns() {
  if (!name_.empty()) {
    std::string path = std::string(kNetnsDir) + "/" + name_;
    umount2(path.c_str(), MNT_DETACH);
    unlink(path.c_str());
  }
}

std::string ScratchNetns::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd());
}

}  // namespace brindle::netlink
