// Test support shared by the policy plugins' tests (policy-iptables, policy-nftables): a policy
// plugin .so opened like the host's loader opens it (with the shared TestHost of tests/support)
// and driven through the policy C ABI by a real PolicyEngine, and a small lab of network
// namespaces: a "node" (the plugin programs its kernel tables; the test acts as the node), pods
// behind veths named with the workload prefix, and an "external" host outside the pools. Servers
// are socat processes that answer with the peer address they saw.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brindle/abi.h"
#include "brindle/netlink/netns.hpp"
#include "brindle/policy.h"
#include "brindle/policy/c_abi.hpp"
#include "brindle/policy/engine.hpp"
#include "plugin_test_host.hpp"

namespace brindle::policy_lab {

using brindle::netlink::ScratchNetns;
using namespace brindle::test;  // NOLINT(google-build-using-namespace): shared test support

// A policy plugin library (.so path) and at most one instance; every call runs on a thread
// inside `ns`.
class PolicyPlugin {
 public:
  explicit PolicyPlugin(const char* path) : library_(path) {}
  ~PolicyPlugin() { destroy(); }  // before the library goes
  PolicyPlugin(const PolicyPlugin&) = delete;
  PolicyPlugin& operator=(const PolicyPlugin&) = delete;

  const brindle_plugin_descriptor_t* descriptor() const { return descriptor_; }

  struct Result {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    std::string message;
  };
  Result create(const ScratchNetns& ns, TestHost& host) {
    destroy();
    return ns.run([&] {
      brindle_error_t err{};
      Result r;
      r.status = descriptor_->create(&host.services, &instance_, &err);
      r.message = r.status == BRINDLE_OK ? "" : err.message;
      return r;
    });
  }
  // An agent restart: the instance goes, the kernel state stays.
  void destroy() {
    if (instance_ != nullptr) {
      descriptor_->destroy(instance_);
      instance_ = nullptr;
    }
  }

  template <typename Call>
  Result call(const ScratchNetns& ns, Call&& body) {
    return ns.run([&] {
      brindle_error_t err{};
      Result r;
      r.status = body(&err);
      r.message = r.status == BRINDLE_OK ? "" : err.message;
      return r;
    });
  }
  // Hands the engine's pending changes to the plugin.
  Result send(const ScratchNetns& ns, policy::PolicyEngine& engine) {
    const std::vector<policy::Change> changes = engine.take_changes();
    return call(ns, [&](brindle_error_t* err) {
      for (const policy::Change& change : changes) {
        const brindle_status_t s = policy::send_change(*vtable_, instance_, change, err);
        if (s != BRINDLE_OK) {
          return s;
        }
      }
      return BRINDLE_OK;
    });
  }
  Result in_sync(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->in_sync(instance_, err); });
  }
  Result apply(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->apply(instance_, err); });
  }
  Result refresh(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->refresh(instance_, err); });
  }
  brindle_instance_t* instance() const { return instance_; }
  const brindle_policy_vtable_t* vtable() const { return vtable_; }

 private:
  PluginLibrary library_;
  const brindle_plugin_descriptor_t* descriptor_ = library_.descriptor();
  const brindle_policy_vtable_t* vtable_ = library_.vtable<brindle_policy_vtable_t>();
  brindle_instance_t* instance_ = nullptr;
};

// A background process (its own process group), stopped on destruction; optionally with pipes
// to its stdin and from its stdout.
class Process {
 public:
  explicit Process(const std::string& command, bool piped = false) {
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    if (piped && (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)) {
      throw std::runtime_error("pipe failed");
    }
    pid_ = fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      setpgid(0, 0);
      if (piped) {
        dup2(in[0], 0);
        dup2(out[1], 1);
      } else {
        const int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
      }
      execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid_, pid_);
    if (piped) {
      close(in[0]);
      close(out[1]);
      stdin_ = in[1];
      stdout_ = out[0];
    }
  }
  ~Process() {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    for (int fd : {stdin_, stdout_}) {
      if (fd >= 0) {
        close(fd);
      }
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool write_line(const std::string& line) {
    const std::string data = line + "\n";
    return ::write(stdin_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }
  // The next line of output, or "" after `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return "";
      }
      pollfd p{stdout_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return "";
      }
      char chunk[256];
      const ssize_t n = ::read(stdout_, chunk, sizeof(chunk));
      if (n <= 0) {
        return "";
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffer_;
};

// The node, pods and an external host. Pod "x/a" has 198.18.1.1 and 2001:db8:1::1 behind the
// node's interface "brnxa" (namespace index 1 for x, 2 for y; pod index 1 for a, 2 for b). The
// namespaces are named "<ns_prefix>-node", "<ns_prefix>-pod...", "<ns_prefix>-ext...".
class Lab {
 public:
  static constexpr const char* kNode4 = "198.19.0.1";
  static constexpr const char* kNode6 = "2001:db8:ff::1";
  static constexpr const char* kExternalNode4 = "198.19.1.1";
  static constexpr const char* kExternal4 = "198.19.1.2";

  explicit Lab(std::string ns_prefix)
      : ns_prefix_(std::move(ns_prefix)), node(ScratchNetns::create_named(ns_prefix_ + "-node")) {
    must("ip -n " + node.name() + " link set lo up");
    must("ip netns exec " + node.name() +
         " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
  }

  static std::string pod_ip(const std::string& pod, int family = 4) {
    const int n = pod[0] - 'x' + 1;
    const int p = pod[2] - 'a' + 1;
    return family == 4 ? "198.18." + std::to_string(n) + "." + std::to_string(p)
                       : "2001:db8:" + std::to_string(n) + "::" + std::to_string(p);
  }
  static std::string interface(const std::string& pod) {
    return std::string("brn") + pod[0] + pod[2];
  }

  // A pod namespace wired to the node through `interface` (default: the pod's own).
  const ScratchNetns& add_pod(const std::string& pod, std::string iface = {}, std::string ip4 = {},
                              std::string ip6 = {}) {
    iface = iface.empty() ? interface(pod) : iface;
    ip4 = ip4.empty() ? pod_ip(pod) : ip4;
    ip6 = ip6.empty() ? pod_ip(pod, 6) : ip6;
    const ScratchNetns& ns =
        pods.emplace(pod, ScratchNetns::create_named(ns_prefix_ + "-pod")).first->second;
    const std::string n = "ip -n " + node.name() + " ";
    const std::string p = "ip -n " + ns.name() + " ";
    must(n + "link add " + iface + " type veth peer name eth0 netns " + ns.name());
    must(n + "link set " + iface + " up");
    must(n + "addr add " + kNode4 + "/32 dev " + iface);
    must(n + "-6 addr add " + kNode6 + "/128 dev " + iface + " nodad");
    must(n + "route add " + ip4 + "/32 dev " + iface);
    must(n + "-6 route add " + ip6 + "/128 dev " + iface);
    must(p + "link set lo up");
    must(p + "link set eth0 up");
    must(p + "addr add " + ip4 + "/32 dev eth0");
    must(p + "-6 addr add " + ip6 + "/128 dev eth0 nodad");
    must(p + "route add " + kNode4 + " dev eth0 scope link");
    must(p + "route add default via " + kNode4 + " dev eth0");
    must(p + "-6 route add " + kNode6 + " dev eth0");
    must(p + "-6 route add default via " + kNode6 + " dev eth0");
    // Resolve the neighbours now: the first forwarded IPv6 packets to an unresolved neighbour
    // are discarded, longer than a probe waits.
    must("ip netns exec " + node.name() + " ping -c1 -W2 " + ip4 + " && ip netns exec " +
         node.name() + " ping -6 -c1 -W2 " + ip6);
    return ns;
  }

  // An external host on a plain (non-workload) interface of the node, with no route to the pods.
  void add_external() {
    external.emplace(ScratchNetns::create_named(ns_prefix_ + "-ext"));
    const std::string n = "ip -n " + node.name() + " ";
    const std::string e = "ip -n " + external->name() + " ";
    must(n + "link add ext0 type veth peer name eth0 netns " + external->name());
    must(n + "addr add " + kExternalNode4 + "/24 dev ext0");
    must(n + "link set ext0 up");
    must(e + "link set lo up");
    must(e + "addr add " + kExternal4 + "/24 dev eth0");
    must(e + "link set eth0 up");
  }

  // Servers answering with the peer address: TCP 80 and 81, UDP 80, over IPv4 and IPv6.
  void serve(const ScratchNetns& ns) {
    const std::string run = "ip netns exec " + ns.name() + " socat ";
    const std::string reply = " SYSTEM:'echo \"$SOCAT_PEERADDR\"'";
    for (const char* listen : {"TCP4-LISTEN:80", "TCP4-LISTEN:81", "TCP6-LISTEN:80,ipv6only=1",
                               "TCP6-LISTEN:81,ipv6only=1"}) {
      servers.push_back(std::make_unique<Process>(run + listen + ",reuseaddr,fork" + reply));
    }
    // UDP: read the datagram first, so that socat never writes to an exited script.
    servers.push_back(std::make_unique<Process>(
        run + "UDP4-RECVFROM:80,fork SYSTEM:'read -r line; echo \"$SOCAT_PEERADDR\"'"));
    servers.push_back(std::make_unique<Process>(run + "TCP4-LISTEN:90,reuseaddr,fork EXEC:cat"));
    wait_listening(ns, "-lnt", 5);
    wait_listening(ns, "-lnu", 1);
  }

  static void wait_listening(const ScratchNetns& ns, const std::string& flags, size_t count) {
    for (int i = 0; i < 100; ++i) {
      const Shell r = sh("ip netns exec " + ns.name() + " ss -H " + flags);
      size_t lines = 0;
      for (char c : r.output) {
        lines += c == '\n' ? 1 : 0;
      }
      if (lines >= count) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "servers did not start in " << ns.name();
  }

  // The peer address the server at `address` saw, or "" when the connection failed.
  static std::string probe(const ScratchNetns& from, const std::string& address, int port,
                           const std::string& protocol = "tcp") {
    const bool v6 = address.find(':') != std::string::npos;
    const std::string target = v6 ? "[" + address + "]" : address;
    std::string command = "ip netns exec " + from.name() + " timeout 3 socat -t1 -T1 - ";
    if (protocol == "tcp") {
      command += std::string(v6 ? "TCP6:" : "TCP4:") + target + ":" + std::to_string(port) +
                 ",connect-timeout=0.7 </dev/null";
    } else {
      command = "echo probe | " + command + (v6 ? "UDP6:" : "UDP4:") + target + ":" +
                std::to_string(port);
    }
    std::string out = sh(command).output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
      out.pop_back();
    }
    // socat's own complaints are not answers.
    return contains(out, "socat[") ? "" : out;
  }
  bool reach(const std::string& from, const std::string& to, int port = 80,
             const std::string& protocol = "tcp", int family = 4) const {
    return !probe(pods.at(from), pod_ip(to, family), port, protocol).empty();
  }
  bool node_reaches(const std::string& to, int port = 80) const {
    return !probe(node, pod_ip(to), port).empty();
  }

  const std::string& ns_prefix() const { return ns_prefix_; }
  // The prefix of a shell command run in the node's namespace.
  std::string in_node() const { return "ip netns exec " + node.name() + " "; }

 private:
  std::string ns_prefix_;  // first: the namespaces below are named after it

 public:
  ScratchNetns node;
  std::map<std::string, ScratchNetns> pods;
  std::optional<ScratchNetns> external;
  std::vector<std::unique_ptr<Process>> servers;  // destroyed before the namespaces
};

}  // namespace brindle::policy_lab
