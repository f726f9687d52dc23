// Helpers of the CNI tests and benchmarks: scratch "node" and "pod" namespaces, a tiny stand-in
// for brindled's cni.* handling (no IPAM: the test hands out the addresses) and a runner for the
// brindle-cni binary.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "brindle/cni/protocol.hpp"
#include "brindle/netlink/netns.hpp"
#include "brindle/workload/plumbing.hpp"

namespace brindle::cni::testing {

// Runs a shell command line; returns its exit status (-1 when it could not run).
int run_shell(const std::string& command_line);
// Runs a shell command line and returns its standard output.
std::string shell_output(const std::string& command_line);
// Command output without trailing blanks on each line and without the last line break (what
// `ip route show` prints, made comparable to a literal).
std::string trimmed_lines(const std::string& output);

// A "node": a named network namespace ("brt-cni-XXXXXXXX") with an uplink veth pair
// (198.19.0.1/24 and 2001:db8:ff::1/64 on brt-up0), default routes over it and forwarding on,
// as a real node has. Removed on destruction.
class TestNode {
 public:
  TestNode();
  const std::string& name() const { return netns_.name(); }
  int fd() const { return netns_.fd(); }
  workload::PlumbingOptions options() const;
  static constexpr const char* kAddressV4 = "198.19.0.1";
  static constexpr const char* kAddressV6 = "2001:db8:ff::1";

 private:
  netlink::ScratchNetns netns_;
};

// A pod's network namespace, registered under /run/netns like a runtime's.
class TestPod {
 public:
  TestPod() : netns_(netlink::ScratchNetns::create_named("brt-cni")) {}
  const std::string& name() const { return netns_.name(); }
  std::string path() const { return "/run/netns/" + netns_.name(); }
  int fd() const { return netns_.fd(); }

 private:
  netlink::ScratchNetns netns_;
};

// A temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Serves cni.* requests on a unix socket the way brindled does, with workload plumbing into the
// given node namespace and the addresses the test assigned to each container ID.
class TestResponder {
 public:
  TestResponder(std::filesystem::path socket_path, workload::PlumbingOptions options);
  ~TestResponder();
  TestResponder(const TestResponder&) = delete;
  TestResponder& operator=(const TestResponder&) = delete;

  const std::filesystem::path& socket_path() const { return socket_path_; }
  void assign(const std::string& container_id, workload::PodNetworkSpec network);
  void set_ready(bool ready) { ready_ = ready; }

  std::vector<Request> requests() const;  // every request decoded so far
  size_t endpoint_count() const;

 private:
  struct Endpoint {
    workload::PodIdentity pod;
    workload::PodNetworkSpec network;
  };
  void serve();
  void handle_connection(int fd);
  Response handle(const Request& request);

  std::filesystem::path socket_path_;
  workload::PlumbingOptions options_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> ready_{true};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::map<std::string, workload::PodNetworkSpec> assignments_;
  std::map<std::string, Endpoint> endpoints_;
  std::vector<Request> requests_;
  std::vector<std::thread> workers_;
  std::thread server_;
};

struct PluginRun {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs the brindle-cni binary with exactly `env` as its environment and `stdin_text` on stdin.
PluginRun run_cni_binary(const std::map<std::string, std::string>& env,
                         const std::string& stdin_text);
// The same for another CNI plugin binary (e.g. Debian's ptp, for comparisons).
PluginRun run_any_cni_binary(const std::string& binary_path,
                             const std::map<std::string, std::string>& env,
                             const std::string& stdin_text);

// The environment of one invocation for a Kubernetes pod.
std::map<std::string, std::string> cni_env(const std::string& command,
                                           const std::string& container_id,
                                           const std::string& netns, const std::string& ifname,
                                           const std::string& pod_namespace,
                                           const std::string& pod_name);

}  // namespace brindle::cni::testing
