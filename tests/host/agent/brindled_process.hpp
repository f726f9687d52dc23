// Test support: brindled as a child process of the test, stopped with SIGTERM (SIGKILL if it
// hangs) on destruction, its output in a log file; the node namespace it runs in, its readiness
// and its log records (for the agent tests and the agent benchmarks).
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
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <regex>
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
// an uplink veth brt-up0 with `underlay` (default 198.19.0.1/24) and, unless `default_route` is
// false, a default route over it (proxy ARP for pods needs one). Call first thing in main() (or
// in a forked child), before any thread exists. Returns false on failure.
inline bool become_node_namespace(const std::string& underlay = "198.19.0.1/24",
                                  bool default_route = true) {
  if (unshare(CLONE_NEWNET) != 0) {
    perror("unshare(CLONE_NEWNET)");
    return false;
  }
  const std::string command =
      "ip link set lo up && ip link add brt-up0 type veth peer name brt-up1 && "
      "ip link set brt-up0 up && ip link set brt-up1 up && ip addr add " +
      underlay + " dev brt-up0" +
      (default_route ? " && ip route add default via 198.19.0.2 dev brt-up0" : "");
  if (std::system(command.c_str()) != 0) {
    std::cerr << "failed: " << command << "\n";
    return false;
  }
  return true;
}

// The last `max_chars` characters of a (log) file.
inline std::string log_tail(const std::string& file, size_t max_chars = 3000) {
  std::ifstream in(file);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  return all.size() > max_chars ? all.substr(all.size() - max_chars) : all;
}

// The numeric fields (`name=123`) of the last record with msg="<message>" in brindled's log;
// empty when there is none.
inline std::map<std::string, std::string> last_log_record(const std::string& log_file,
                                                          const std::string& message) {
  std::ifstream in(log_file);
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.find("msg=\"" + message + "\"") != std::string::npos) {
      found = line;
    }
  }
  std::map<std::string, std::string> fields;
  static const std::regex kField(R"(([a-z_]+)=([0-9]+))");
  for (std::sregex_iterator it(found.begin(), found.end(), kField), end; it != end; ++it) {
    fields[(*it)[1]] = (*it)[2];
  }
  return fields;
}

// Polls brindled's /readyz on 127.0.0.1:<health_port> until it answers or `timeout` passes.
inline bool wait_ready(int health_port, std::chrono::milliseconds timeout) {
  const std::string command =
      "curl -sf http://127.0.0.1:" + std::to_string(health_port) + "/readyz >/dev/null 2>&1";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::system(command.c_str()) == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace brindle::test
