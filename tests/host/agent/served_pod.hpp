// Pods that answer TCP and probes of them, for the agent tests that check policy on real traffic.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "cni_test_support.hpp"

namespace brindle::test {

inline constexpr int kPort = 8080;

// A pod with a TCP listener that answers "ok" to every connection. The listener runs in the pod's
// namespace from the start, before the pod has an interface.
struct ServedPod {
  cni::testing::TestPod pod;
  std::string address;
  pid_t listener = -1;
  ServedPod() {
    listener = fork();
    if (listener == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const std::string ns = pod.name();
      execlp("ip", "ip", "netns", "exec", ns.c_str(), "socat", "-T2",
             ("TCP-LISTEN:" + std::to_string(kPort) + ",fork,reuseaddr").c_str(), "SYSTEM:echo ok",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    // Listening before the test goes on: a probe must never race the listener's start.
    for (int i = 0;
         i < 100 && cni::testing::run_shell("ip netns exec " + pod.name() + " ss -Hltn 'sport = :" +
                                            std::to_string(kPort) + "' | grep -q .") != 0;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ServedPod() {
    if (listener > 0) {
      kill(listener, SIGKILL);
      waitpid(listener, nullptr, 0);
    }
  }
  ServedPod(const ServedPod&) = delete;
  ServedPod& operator=(const ServedPod&) = delete;
};

// One TCP connection attempt from `from` to address:kPort, answered within a short timeout.
inline bool connects(const cni::testing::TestPod& from, const std::string& address) {
  return cni::testing::run_shell("ip netns exec " + from.name() + " socat -T1 - TCP:" + address +
                                 ":" + std::to_string(kPort) +
                                 ",connect-timeout=0.3 </dev/null 2>/dev/null | grep -q ok") == 0;
}

// Polls until connects() == expected (policy changes arrive through the datastore watch).
inline bool eventually(const cni::testing::TestPod& from, const std::string& address,
                       bool expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (connects(from, address) == expected) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace brindle::test
