// CNI ADD/DEL latency of Brindle (brindle-cni -> brindled: IPAM in etcd, endpoint record, pod
// plumbing) against Debian's containernetworking-plugins ptp + host-local, driven identically:
// 200 sequential pods, then a 100-pod burst with 8 in parallel. Also brindled's RSS.
// Runs in a network namespace of its own (the "node"), like the agent tests. Prints figures.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/ipam/store.hpp"
#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_datastore.hpp"

using namespace brindle;
using cni::testing::cni_env;
using cni::testing::run_cni_binary;
using cni::testing::TestPod;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  std::vector<double> ms;
  double pct(double p) const {
    if (ms.empty()) {
      return 0;
    }
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1,
                      static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
  }
};

// Runs one CNI binary invocation and returns its wall time in ms; aborts on failure.
double timed(const std::string& binary, const std::map<std::string, std::string>& env,
             const std::string& config) {
  const auto start = Clock::now();
  const auto r = binary.empty() ? run_cni_binary(env, config)
                                : cni::testing::run_any_cni_binary(binary, env, config);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (r.exit_code != 0) {
    std::cerr << "CNI call failed: " << r.stdout_text << r.stderr_text << "\n";
    std::exit(1);
  }
  return ms;
}

struct Result {
  Stats add, del;
  double burst_seconds = 0;
};

// The same driving for both plugins: `binary` empty = brindle-cni.
Result drive(const std::string& binary, const std::string& config, const std::string& tag) {
  Result result;
  constexpr int kSequential = 200;
  std::vector<std::unique_ptr<TestPod>> pods;
  for (int i = 0; i < kSequential; ++i) {
    pods.push_back(std::make_unique<TestPod>());
  }
  auto env = [&](const std::string& cmd, int i, const TestPod& pod) {
    auto e = cni_env(cmd, tag + "-c" + std::to_string(i), pod.path(), "eth0", "bench",
                     tag + "-" + std::to_string(i));
    e["CNI_PATH"] = "/usr/lib/cni";
    return e;
  };
  for (int i = 0; i < kSequential; ++i) {
    result.add.ms.push_back(timed(binary, env("ADD", i, *pods[i]), config));
  }
  for (int i = 0; i < kSequential; ++i) {
    result.del.ms.push_back(timed(binary, env("DEL", i, *pods[i]), config));
  }
  constexpr int kBurst = 100;
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kBurst; i = next++) {
        timed(binary, env("ADD", 1000 + i, *pods[i]), config);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  result.burst_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int i = 0; i < kBurst; ++i) {
    timed(binary, env("DEL", 1000 + i, *pods[i]), config);
  }
  return result;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

}  // namespace

int main() {
  if (!test::become_node_namespace()) {
    std::cerr << "cannot set up the node namespace\n";
    return 1;
  }
  test::EtcdDatastore etcd;
  test::TempDir dir("bench-cni");
  {
    ipam::Store store(etcd.client());
    model::IPPool pool;
    pool.metadata.name = "pods";
    pool.spec.cidr = model::IpPrefix::parse("198.18.0.0/20");
    store.create(pool);
  }
  const std::string socket = (dir.path() / "run" / "brindled.sock").string();
  const int health = test::free_port();
  const std::string config_file = (dir.path() / "brindle.toml").string();
  std::ofstream(config_file) << etcd.node_config_toml("bench-node") << "\n[control]\nsocket = \""
                             << socket << "\"\n[health]\nlisten = \"127.0.0.1:" << health
                             << "\"\n[metrics]\nlisten = \"\"\n[log]\nlevel = \"info\"\n";
  const std::string log_file = (dir.path() / "brindled.log").string();
  test::Brindled daemon(config_file, log_file);
  for (int i = 0;
       i < 200 && cni::testing::run_shell("curl -sf http://127.0.0.1:" + std::to_string(health) +
                                          "/readyz >/dev/null 2>&1") != 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const long rss_idle = rss_kib(daemon.pid());
  const std::string brindle_config = json{
      {"cniVersion", "1.0.0"},
      {"name", "bench"},
      {"type", "brindle-cni"},
      {"control_socket", socket}}.dump();
  const Result brindle = drive("", brindle_config, "brindle");
  const long rss_after = rss_kib(daemon.pid());

  const std::string ptp_config = json{{"cniVersion", "1.0.0"},
                                      {"name", "bench-ptp"},
                                      {"type", "ptp"},
                                      {"ipMasq", false},
                                      {"ipam",
                                       {{"type", "host-local"},
                                        {"subnet", "198.18.64.0/20"},
                                        {"dataDir", (dir.path() / "host-local").string()}}}}
                                     .dump();
  const Result ptp = drive("/usr/lib/cni/ptp", ptp_config, "ptp");

  std::printf("\nCNI latency, ms (200 sequential pods; burst: 100 pods, 8 in parallel)\n");
  std::printf("%-22s %9s %9s %9s %9s %10s\n", "plugin", "ADD p50", "ADD p99", "DEL p50", "DEL p99",
              "burst s");
  for (const auto& [name, r] :
       {std::pair{"brindle-cni", &brindle}, std::pair{"ptp+host-local", &ptp}}) {
    std::printf("%-22s %9.2f %9.2f %9.2f %9.2f %10.2f\n", name, r->add.pct(50), r->add.pct(99),
                r->del.pct(50), r->del.pct(99), r->burst_seconds);
  }
  std::printf("%-22s %9.2f %9.2f %9.2f %9.2f %10.2f\n", "ratio brindle/ptp",
              brindle.add.pct(50) / ptp.add.pct(50), brindle.add.pct(99) / ptp.add.pct(99),
              brindle.del.pct(50) / ptp.del.pct(50), brindle.del.pct(99) / ptp.del.pct(99),
              brindle.burst_seconds / ptp.burst_seconds);
  std::printf("brindled RSS: idle %ld KiB, after the runs %ld KiB\n", rss_idle, rss_after);
  // Where brindled's ADD time goes: the per-phase figures of its "pod added" log lines.
  std::map<std::string, Stats> phases;
  std::ifstream log(log_file);
  for (std::string line; std::getline(log, line);) {
    if (line.find("msg=\"pod added\"") == std::string::npos) {
      continue;
    }
    for (const char* phase : {"ipam_us", "endpoint_us", "policy_us", "plumbing_us"}) {
      const size_t at = line.find(std::string(phase) + "=");
      if (at != std::string::npos) {
        phases[phase].ms.push_back(std::stod(line.substr(at + std::strlen(phase) + 1)) / 1000.0);
      }
    }
  }
  std::printf("brindled ADD phases, ms (p50 / p99):");
  for (const auto& [phase, stats] : phases) {
    std::printf("  %s %.2f / %.2f", phase.substr(0, phase.size() - 3).c_str(), stats.pct(50),
                stats.pct(99));
  }
  std::printf("\n");
  return 0;
}
