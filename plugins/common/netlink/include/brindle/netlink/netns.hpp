// Network namespace helpers: act inside a namespace without disturbing the rest of the process.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

namespace brindle::netlink {

// An owned file descriptor referring to a network namespace.
class NetnsFd {
 public:
  NetnsFd() = default;
  explicit NetnsFd(int fd) : fd_(fd) {}
  NetnsFd(NetnsFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  NetnsFd& operator=(NetnsFd&& other) noexcept;
  NetnsFd(const NetnsFd&) = delete;
  NetnsFd& operator=(const NetnsFd&) = delete;
  ~NetnsFd();

  // Opens "/run/netns/<name>" (as `ip netns add` creates) or, when `name_or_path` contains a
  // '/', that path ("/proc/<pid>/ns/net"). Throws std::system_error naming the path.
  static NetnsFd open(std::string_view name_or_path);
  // The calling thread's current network namespace.
  static NetnsFd current();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Moves the calling thread into a network namespace and back on destruction. Not movable: it
// belongs to the thread that created it. Throws std::system_error if setns() fails.
class NetnsGuard {
 public:
  explicit NetnsGuard(int netns_fd);
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  ~NetnsGuard();

 private:
  NetnsFd original_;
};

// Runs `fn` on a fresh thread inside the namespace and returns its result; exceptions thrown by
// `fn` (or by entering the namespace) are rethrown in the caller.
template <typename Fn>
auto run_in_netns(int netns_fd, Fn&& fn) -> std::invoke_result_t<Fn&> {
  using Result = std::invoke_result_t<Fn&>;
  std::exception_ptr failure;
  if constexpr (std::is_void_v<Result>) {
    std::thread worker([&] {
      try {
        NetnsGuard guard(netns_fd);
        fn();
      } catch (...) {
        failure = std::current_exception();
      }
    });
    worker.join();
    if (failure) {
      std::rethrow_exception(failure);
    }
  } else {
    std::optional<Result> result;
    std::thread worker([&] {
      try {
        NetnsGuard guard(netns_fd);
        result.emplace(fn());
      } catch (...) {
        failure = std::current_exception();
      }
    });
    worker.join();
    if (failure) {
      std::rethrow_exception(failure);
    }
    return std::move(*result);
  }
}

// A fresh, empty network namespace (only `lo`, down) for tests and benchmarks, removed when the
// object is destroyed.
//  - create(): anonymous, kept alive only by our file descriptor, so nothing is left behind even
//    if the process dies.
//  - create_named(prefix): also registered as /run/netns/<prefix>-<random> (through
//    `ip netns add`) so that external tools can use it (`ip -n <name> ...`); deleted with
//    `ip netns del` on destruction.
class ScratchNetns {
 public:
  static ScratchNetns create();
  static ScratchNetns create_named(std::string_view prefix = "brt");

  ScratchNetns(ScratchNetns&& other) noexcept
      : fd_(std::move(other.fd_)), name_(std::exchange(other.name_, {})) {}
  ScratchNetns& operator=(ScratchNetns&&) = delete;
  ScratchNetns(const ScratchNetns&) = delete;
  ScratchNetns& operator=(const ScratchNetns&) = delete;
  ~ScratchNetns();

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }  // "" when anonymous
  // A path usable with `nsenter --net=<path>` while this object lives.
  std::string path() const;

  template <typename Fn>
  auto run(Fn&& fn) const {
    return run_in_netns(fd(), std::forward<Fn>(fn));
  }

 private:
  ScratchNetns(NetnsFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  NetnsFd fd_;
  std::string name_;
};

}  // namespace brindle::netlink
