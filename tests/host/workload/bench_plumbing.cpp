// Pod plumbing latency, printed: setup_pod/teardown_pod per pod (p50/p99 over N sequential pods,
// IPv4-only and dual-stack), a burst of pods set up by parallel workers, and the same through the
// brindle-cni binary and a test responder (exec + socket + plumbing, no IPAM or datastore).
//
//   workload_plumbing_bench [pods=200] [burst=100] [parallel=8]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "brindle/netlink/netns.hpp"
#include "brindle/workload/plumbing.hpp"
#include "cni_test_support.hpp"

namespace {

using brindle::netlink::IpPrefix;
using brindle::netlink::ScratchNetns;
using namespace brindle::workload;
using namespace brindle::cni::testing;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Summary {
  double p50 = 0, p99 = 0, mean = 0, max = 0;
};

Summary summarize(std::vector<double> samples) {
  Summary s;
  if (samples.empty()) {
    return s;
  }
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(q * static_cast<double>(samples.size()) + 0.999999);
    return samples[std::min(samples.size(), std::max<size_t>(rank, 1)) - 1];
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = samples.back();
  double total = 0;
  for (double v : samples) {
    total += v;
  }
  s.mean = total / static_cast<double>(samples.size());
  return s;
}

void print_row(const char* what, size_t count, const Summary& s) {
  std::printf("%-44s n=%-4zu p50 %7.3f ms  p99 %7.3f ms  mean %7.3f ms  max %7.3f ms\n", what,
              count, s.p50, s.p99, s.mean, s.max);
}

std::vector<std::unique_ptr<ScratchNetns>> make_pods(int count) {  // NOLINT
  std::vector<std::unique_ptr<ScratchNetns>> pods;
  for (int i = 0; i < count; ++i) {
    pods.push_back(std::make_unique<ScratchNetns>(ScratchNetns::create()));
  }
  return pods;
}

PodIdentity pod_identity_for(int i, const ScratchNetns& netns, const std::string& tag) {
  PodIdentity pod;
  pod.container_id = tag + "-ctr-" + std::to_string(i);
  pod.pod_namespace = "bench";
  pod.pod_name = tag + "-pod-" + std::to_string(i);
  pod.netns_path = netns.path();
  return pod;
}

PodNetworkSpec addresses_for(int i, bool dual_stack) {
  PodNetworkSpec spec;
  spec.addresses.push_back(
      IpPrefix::parse("198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 2)));
  if (dual_stack) {
    spec.addresses.push_back(IpPrefix::parse("2001:db8:" + std::to_string(i) + "::2"));
  }
  spec.mtu = 1450;
  return spec;
}

using Pods = std::vector<std::unique_ptr<ScratchNetns>>;

// Lets the reaper finish and the machine settle so that one phase does not slow the next.
void settle() {
  auto start = Clock::now();
  flush_pending_teardowns();
  std::printf("  (reaper drained in %.1f ms)\n", ms_since(start));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

bool sequential_plumbing(const TestNode& node, const Pods& pods, int count, bool dual_stack,
                         const char* tag) {
  std::vector<double> add, del;
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    setup_pod(pod_identity_for(i, *pods[i], tag), addresses_for(i, dual_stack), node.options());
    add.push_back(ms_since(start));
  }
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    teardown_pod(pod_identity_for(i, *pods[i], tag), node.options());
    del.push_back(ms_since(start));
  }
  std::string label =
      std::string("plumbing setup_pod    (") + (dual_stack ? "dual-stack" : "IPv4") + ")";
  print_row(label.c_str(), add.size(), summarize(add));
  label = std::string("plumbing teardown_pod (") + (dual_stack ? "dual-stack" : "IPv4") + ")";
  print_row(label.c_str(), del.size(), summarize(del));
  settle();
  return list_host_veths(node.options()).empty();
}

// Runs `job(i)` for i in [0, count) on `parallel` workers; returns the wall time in ms.
double run_parallel(int count, int parallel, const std::function<void(int)>& job) {
  std::atomic<int> next{0};
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < parallel; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        job(i);
      }
    });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  return ms_since(start);
}

bool burst_plumbing(const TestNode& node, const Pods& pods, int count, int parallel) {
  double add_ms = run_parallel(count, parallel, [&](int i) {
    setup_pod(pod_identity_for(i, *pods[i], "burst"), addresses_for(i, false), node.options());
  });
  double del_ms = run_parallel(count, parallel, [&](int i) {
    teardown_pod(pod_identity_for(i, *pods[i], "burst"), node.options());
  });
  std::printf(
      "plumbing burst: %d pods, %d in parallel: setup %.1f ms total (%.3f ms/pod), "
      "teardown %.1f ms total\n",
      count, parallel, add_ms, add_ms / count, del_ms);
  settle();
  return list_host_veths(node.options()).empty();
}

std::string cni_config(const TestResponder& responder) {
  return R"({"cniVersion":"1.0.0","name":"bench","type":"brindle-cni","control_socket":")" +
         responder.socket_path().string() + "\"}";
}

bool through_binary(const TestNode& node, const Pods& pods, int count, int burst, int parallel) {
  TempDir dir;
  TestResponder responder(dir.path() / "brindled.sock", node.options());
  std::string config = cni_config(responder);
  for (int i = 0; i < std::max(count, burst); ++i) {
    responder.assign("bin-ctr-" + std::to_string(i), addresses_for(i, false));
  }
  auto env_for = [&](const char* command, int i) {
    return cni_env(command, "bin-ctr-" + std::to_string(i), pods[i]->path(), "eth0", "bench",
                   "bin-pod-" + std::to_string(i));
  };
  bool ok = true;
  std::vector<double> add, del;

  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    ok = run_cni_binary(env_for("ADD", i), config).exit_code == 0 && ok;
    add.push_back(ms_since(start));
  }
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    ok = run_cni_binary(env_for("DEL", i), config).exit_code == 0 && ok;
    del.push_back(ms_since(start));
  }
  print_row("brindle-cni ADD (exec+socket+plumbing, IPv4)", add.size(), summarize(add));
  print_row("brindle-cni DEL (exec+socket+plumbing, IPv4)", del.size(), summarize(del));
  settle();

  std::atomic<bool> burst_ok{true};
  double add_ms = run_parallel(burst, parallel, [&](int i) {
    if (run_cni_binary(env_for("ADD", i), config).exit_code != 0) {
      burst_ok = false;
    }
  });
  double del_ms = run_parallel(burst, parallel, [&](int i) {
    if (run_cni_binary(env_for("DEL", i), config).exit_code != 0) {
      burst_ok = false;
    }
  });
  std::printf("brindle-cni burst: %d pods, %d in parallel: ADD %.1f ms total, DEL %.1f ms total\n",
              burst, parallel, add_ms, del_ms);
  settle();
  return ok && burst_ok && list_host_veths(node.options()).empty();
}

}  // namespace

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 200;
  int burst = argc > 2 ? std::atoi(argv[2]) : 100;
  int parallel = argc > 3 ? std::atoi(argv[3]) : 8;
  if (count <= 0 || count > 60000 || burst <= 0 || burst > 60000 || parallel <= 0) {
    std::fprintf(stderr, "usage: %s [pods=200] [burst=100] [parallel=8]\n", argv[0]);
    return 2;
  }
  try {
    TestNode node;
    // One namespace per pod, created before and kept until the end: creating and dismantling
    // namespaces loads the machine and would distort the figures.
    Pods pods = make_pods(std::max(count, burst));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    bool ok = sequential_plumbing(node, pods, count, false, "v4");
    ok = sequential_plumbing(node, pods, count, true, "dual") && ok;
    ok = burst_plumbing(node, pods, burst, parallel) && ok;
    ok = through_binary(node, pods, count, burst, parallel) && ok;
    if (!ok) {
      std::fprintf(stderr, "benchmark failed: an operation failed or left host veths behind\n");
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "benchmark failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
