// The policy engine's steady-state heap at the agent benchmark's scale (issue 7: brindled <= 60 MB
// at 10k endpoints / 1k policies): the cluster of bench_cluster.hpp (100 namespaces, 1k
// Kubernetes NetworkPolicies, 10k pods, all on this node) fed to one PolicyEngine as brindled
// does, the change stream taken and dropped, then the live heap bytes the engine holds (glibc
// mallinfo2: allocated bytes, without allocator overhead) and after one more pod.
// Options: --endpoints N (10000), --hold SECONDS (pause once built), --keep (exit with the engine
// alive and before one more pod: under heaptrack, its "leaks" are then the engine's live heap).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "bench_cluster.hpp"
#include "brindle/policy/engine.hpp"

namespace {

size_t heap_bytes() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

double mb(size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace brindle;
  int endpoints = 10000;
  int hold_seconds = 0;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--endpoints") == 0 && i + 1 < argc) {
      endpoints = std::clamp(std::atoi(argv[++i]), 1, 50000);
    } else if (std::strcmp(argv[i], "--hold") == 0 && i + 1 < argc) {
      hold_seconds = std::clamp(std::atoi(argv[++i]), 0, 3600);
    } else if (std::strcmp(argv[i], "--keep") == 0) {
      keep = true;
    } else {
      std::fprintf(stderr, "usage: %s [--endpoints N] [--hold SECONDS] [--keep]\n", argv[0]);
      return 2;
    }
  }
  const size_t before = heap_bytes();
  auto engine = std::make_unique<policy::PolicyEngine>(policy::EngineConfig{"node-1", false});
  const auto start = std::chrono::steady_clock::now();
  size_t changes = 0;
  for (int n = 0; n < bench::kNamespaces; ++n) {
    engine->upsert_profile(bench::namespace_profile(n));
    for (int k = 0; k < 10; ++k) {
      engine->upsert_kubernetes_network_policy(bench::namespace_policy(n, k));
    }
  }
  for (int i = 0; i < endpoints; ++i) {
    engine->upsert_workload_endpoint(
        bench::make_pod(i % bench::kNamespaces, i / bench::kNamespaces));
  }
  changes += engine->take_changes().size();
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const size_t built = heap_bytes();
  const policy::EngineStats stats = engine->stats();
  std::printf(
      "policy engine, %d endpoints (%zu local) / %zu policies and profiles, %zu selections, %zu "
      "ipsets: built in %.0f ms (%zu changes)\n",
      endpoints, stats.local_endpoints, stats.policies, stats.selections, stats.ipsets, build_ms,
      changes);
  std::printf("engine heap once built: %.2f MB (%zu bytes)\n", mb(built - before), built - before);
  std::fflush(stdout);
  if (hold_seconds > 0) {
    std::printf("holding %d s: pid %d\n", hold_seconds, static_cast<int>(getpid()));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(hold_seconds));
  }
  if (keep) {
    (void)engine.release();  // deliberately never freed: what heaptrack reports as leaked
    return 0;
  }
  engine->upsert_workload_endpoint(bench::make_pod(7, endpoints / bench::kNamespaces + 1));
  engine->take_changes();
  const size_t one_more = heap_bytes();
  std::printf("engine heap after one more pod: %.2f MB (%zu bytes)\n", mb(one_more - before),
              one_more - before);
  engine.reset();
  std::printf("left after destruction: %zd bytes\n",
              static_cast<ssize_t>(heap_bytes()) - static_cast<ssize_t>(before));
  return 0;
}
