// Test support: brindled as a child process of the test, stopped with SIGTERM (SIGKILL if it
// hangs) on destruction, its output in a log file.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace brindle::test {

class Brindled {
 public:
  Brindled(const std::string& config_file, const std::string& log_file) {
    pid_ = fork();
    if (pid_ == 0) {
      // Dies with the test process even when the test crashes before its destructors run.
      // PDEATHSIG follows the creating *thread*: construct this only on a long-lived thread.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(BRINDLED_PATH, BRINDLED_PATH, "--config", config_file.c_str(), "--plugin-dir",
            BRINDLE_PLUGIN_DIR, static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Brindled() { stop(); }
  int stop() {
    if (pid_ <= 0) {
      return status_;
    }
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
};

// Moves the calling process into a network namespace of its own that looks like a node: lo up,
// an uplink veth brt-up0 with 198.19.0.1/24 and a default route (proxy ARP for pods needs one).
// Call first thing in main(), before any thread exists. Returns false on failure.
inline bool become_node_namespace() {
  if (unshare(CLONE_NEWNET) != 0) {
    perror("unshare(CLONE_NEWNET)");
    return false;
  }
  return std::system(
             "ip link set lo up && ip link add brt-up0 type veth peer name brt-up1 && "
             "ip link set brt-up0 up && ip link set brt-up1 up && "
             "ip addr add 198.19.0.1/24 dev brt-up0 && "
             "ip route add default via 198.19.0.2 dev brt-up0") == 0;
}

}  // namespace brindle::test
