// One long-lived thread for the plugin's transient bulk work: libiptc's table images (read,
// edited and committed whole: tens of MB at 10k endpoints), libipset batches and the rules
// rendered for them. glibc gives the thread a malloc arena of its own, so none of that memory is
// interleaved with the plugin's (and the host's) long-lived state: once a job has freed it, the
// arena is empty again and malloc_trim() returns it to the system. Done on the calling thread it
// left ~17 MB of free but unreturnable holes in brindled's main heap (10k endpoints, 1k policies).
//
// Jobs must not create long-lived state (they return what the caller keeps, and the caller
// copies it), and the caller is blocked while a job runs, so a job may read the caller's state.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace brindle::policy_iptables {

class Worker {
 public:
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs `job` on the worker thread in the calling thread's network namespace (libiptc and
  // libipset act in the namespace of the thread calling them), waits for it and rethrows what
  // it threw. Then the freed memory of every arena goes back to the system.
  void run(const std::function<void()>& job);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  const std::function<void()>* job_ = nullptr;  // set: a job is pending
  int netns_fd_ = -1;                           // the caller's network namespace
  bool done_ = false;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once the rest is initialised
};

}  // namespace brindle::policy_iptables
