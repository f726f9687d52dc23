// See worker.hpp.
#include "worker.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <brindle/sdk.hpp>

#include <cerrno>
#include <cstring>
#include <string>

namespace brindle::policy_iptables {
namespace {

struct NetnsId {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const NetnsId&) const = default;
};

NetnsId netns_of(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    throw Error(BRINDLE_ERR_INTERNAL,
                std::string("worker: fstat of a network namespace: ") + std::strerror(errno));
  }
  return {st.st_dev, st.st_ino};
}

}  // namespace

Worker::Worker() : thread_([this] { loop(); }) {}

Worker::~Worker() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Worker::run(const std::function<void()>& job) {
  const int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(BRINDLE_ERR_INTERNAL,
                std::string("worker: open /proc/thread-self/ns/net: ") + std::strerror(errno));
  }
  std::exception_ptr failure;
  {
    std::unique_lock lock(mutex_);
    job_ = &job;
    netns_fd_ = fd;
    done_ = false;
    wake_.notify_all();
    wake_.wait(lock, [this] { return done_; });
    failure = std::move(failure_);
    failure_ = nullptr;
  }
  close(fd);
  if (failure) {
    std::rethrow_exception(failure);
  }
}

void Worker::loop() {
  pthread_setname_np(pthread_self(), "brindle-iptc");
  // The namespace it starts in (its creator's): a setns() only when a caller is elsewhere.
  NetnsId current;
  bool known = false;
  if (const int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC); own >= 0) {
    try {
      current = netns_of(own);
      known = true;
    } catch (const Error&) {
      // unknown: the first job enters its caller's namespace
    }
    close(own);
  }
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stop_ || job_ != nullptr; });
    if (stop_) {
      return;
    }
    try {
      const NetnsId wanted = netns_of(netns_fd_);
      if (!known || !(wanted == current)) {
        if (setns(netns_fd_, CLONE_NEWNET) != 0) {
          known = false;
          throw Error(BRINDLE_ERR_PERMISSION,
                      std::string("worker: setns to the caller's network namespace: ") +
                          std::strerror(errno));
        }
        current = wanted;
        known = true;
      }
      (*job_)();
    } catch (...) {
      failure_ = std::current_exception();
    }
    // What the job freed (all of this thread's arena, and the holes it left elsewhere).
    malloc_trim(0);
    job_ = nullptr;
    done_ = true;
    wake_.notify_all();
  }
}

}  // namespace brindle::policy_iptables
