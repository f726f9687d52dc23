// CNI ADD/DEL latency of Brindle (brindle-cni -> brindled: IPAM in etcd, endpoint record, pod
// plumbing) against Debian's containernetworking-plugins ptp + host-local, driven identically:
// 200 sequential pods, then a 100-pod burst with 8 in parallel. Also brindled's RSS (idle, and
// with 1000 pods), and IPAM alone: allocations per second per node with 3 agents racing on one
// etcd. Runs in a network namespace of its own (the "node"), like the agent tests. Prints figures.
//
//   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DBRINDLE_BENCH=ON
//   cmake --build build-rel --target bench_cni && build-rel/tests/bench/cni/bench_cni
// BENCH_CNI_BRINDLE_ONLY=1 stops after brindle-cni's runs (to profile them, e.g. perf record -a).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/ipam/ipam.hpp"
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

// The first exception of a set of threads, rethrown after they are joined.
class FirstError {
 public:
  template <typename Work>
  auto guard(Work work) {
    return [this, work] {
      try {
        work();
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) {
          error_ = std::current_exception();
        }
      }
    };
  }
  void rethrow() const {
    if (error_) {
      std::rethrow_exception(error_);
    }
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

struct Timing {
  double wall_ms = 0;
  double exchange_ms = -1;  // brindle-cni's own figure for its request to brindled, if logged
};

// Runs one CNI binary invocation and returns its wall time in ms; aborts on failure.
Timing timed(const std::string& binary, const std::map<std::string, std::string>& env,
             const std::string& config) {
  const auto start = Clock::now();
  const auto r = binary.empty() ? run_cni_binary(env, config)
                                : cni::testing::run_any_cni_binary(binary, env, config);
  Timing t;
  t.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (r.exit_code != 0) {
    // Thrown, not exit(): the pods (named network namespaces) and brindled are then cleaned up.
    throw std::runtime_error("CNI call failed: " + r.stdout_text + r.stderr_text);
  }
  // brindle-cni logs `msg="CNI request done" ... ms=<exchange>` on stderr.
  if (const size_t at = r.stderr_text.find(" ms="); at != std::string::npos) {
    t.exchange_ms = std::stod(r.stderr_text.substr(at + 4));
  }
  return t;
}

// CPU time (user + system, all threads) a process has used so far, in ms; -1 if unknown.
double cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t after_comm = stat.rfind(')');
  if (after_comm == std::string::npos) {
    return -1;
  }
  std::istringstream fields(stat.substr(after_comm + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) {  // utime, stime
      ticks += std::stod(field);
    }
  }
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The CPU the daemons spent on the sequential ADDs and DELs, per pod (ms): brindled's and
// etcd's share of what one ADD/DEL costs the machine, beside its latency.
struct CpuPerPod {
  double brindled_add = 0, etcd_add = 0, brindled_del = 0, etcd_del = 0;
};

struct Result {
  CpuPerPod cpu;
  Stats add, del;
  Stats add_exchange, del_exchange;  // brindle-cni only: its request to brindled
  double burst_seconds = 0;
};

// The same driving for both plugins: `binary` empty = brindle-cni.
// `daemons` = {brindled, etcd}: their CPU is measured over the sequential runs.
// BENCH_CNI_PERF_FIFO=<perf's control fifo> BENCH_CNI_PERF_PHASE=add|del: brindle-cni's
// sequential ADDs or DELs alone are profiled, e.g.
//   mkfifo ctl ack; perf record -a -g -D -1 --control fifo:ctl,ack -- env BENCH_CNI_PERF_FIFO=ctl
//   ..
void perf_control(const std::string& tag, const char* phase, const char* command) {
  const char* fifo = std::getenv("BENCH_CNI_PERF_FIFO");
  const char* wanted = std::getenv("BENCH_CNI_PERF_PHASE");
  if (fifo == nullptr || tag != "brindle" || wanted == nullptr || std::strcmp(wanted, phase) != 0) {
    return;
  }
  std::ofstream(fifo) << command << "\n" << std::flush;
}

Result drive(const std::string& binary, const std::string& config, const std::string& tag,
             std::pair<pid_t, pid_t> daemons) {
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
  auto record = [](const Timing& t, Stats& wall, Stats& exchange) {
    wall.ms.push_back(t.wall_ms);
    if (t.exchange_ms >= 0) {
      exchange.ms.push_back(t.exchange_ms);
    }
  };
  auto cpu_of_daemons = [&] { return std::pair{cpu_ms(daemons.first), cpu_ms(daemons.second)}; };
  const auto before_add = cpu_of_daemons();
  perf_control(tag, "add", "enable");
  for (int i = 0; i < kSequential; ++i) {
    record(timed(binary, env("ADD", i, *pods[i]), config), result.add, result.add_exchange);
  }
  perf_control(tag, "add", "disable");
  const auto before_del = cpu_of_daemons();
  perf_control(tag, "del", "enable");
  for (int i = 0; i < kSequential; ++i) {
    record(timed(binary, env("DEL", i, *pods[i]), config), result.del, result.del_exchange);
  }
  perf_control(tag, "del", "disable");
  const auto after_del = cpu_of_daemons();
  result.cpu = {(before_del.first - before_add.first) / kSequential,
                (before_del.second - before_add.second) / kSequential,
                (after_del.first - before_del.first) / kSequential,
                (after_del.second - before_del.second) / kSequential};
  constexpr int kBurst = 100;
  std::atomic<int> next{0};
  const auto start = Clock::now();
  FirstError burst_errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back(burst_errors.guard([&] {
      for (int i = next++; i < kBurst; i = next++) {
        timed(binary, env("ADD", 1000 + i, *pods[i]), config);
      }
    }));
  }
  for (auto& t : threads) {
    t.join();
  }
  burst_errors.rethrow();
  result.burst_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int i = 0; i < kBurst; ++i) {
    timed(binary, env("DEL", 1000 + i, *pods[i]), config);
  }
  return result;
}

// A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM"), -1 if absent.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stol(line.substr(field.size() + 1));
    }
  }
  return -1;
}

struct Memory {
  long rss = -1, hwm = -1;
};
Memory memory_of(pid_t pid) {
  return {status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")};
}

// brindled with 1000 pods (added 8 in parallel): its memory with them all present.
Memory memory_with_pods(pid_t daemon, const std::string& config) {
  constexpr int kPods = 1000;
  std::vector<std::unique_ptr<TestPod>> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<TestPod>());
  }
  auto env = [&](const std::string& cmd, int i) {
    auto e = cni_env(cmd, "rss-c" + std::to_string(i), pods[i]->path(), "eth0", "bench",
                     "rss-" + std::to_string(i));
    e["CNI_PATH"] = "/usr/lib/cni";
    return e;
  };
  auto in_parallel = [&](const std::string& cmd) {
    std::atomic<int> next{0};
    FirstError errors;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back(errors.guard([&] {
        for (int i = next++; i < kPods; i = next++) {
          timed("", env(cmd, i), config);
        }
      }));
    }
    for (auto& t : threads) {
      t.join();
    }
    errors.rethrow();
  };
  in_parallel("ADD");
  const Memory with_pods = memory_of(daemon);
  in_parallel("DEL");
  return with_pods;
}

// IPAM alone: `kNodes` agents (each its own datastore connection, as separate nodes have)
// allocate one address per request at the same time from one pool (`pool_cidr`, one per run) on
// one etcd. Every request carries what an agent knows from its synced copy (pools, IPAM config,
// its own blocks). With `block_copies`, also the copy of each block as this agent last wrote it,
// as brindled keeps them (an allocation is then one write); without, each allocation reads its
// block and writes it with the handle.
struct IpamRace {
  double per_node_per_second = 0;
  Stats latency;
  double txns_per_allocation = 0, reads_per_allocation = 0;  // as etcd counted them
};

IpamRace ipam_race(test::EtcdDatastore& etcd, const std::string& cidr, bool block_copies) {
  constexpr int kNodes = 3;
  constexpr int kPerNode = 300;
  const model::IpPrefix pool_cidr = model::IpPrefix::parse(cidr);
  model::IPPool pool;
  pool.metadata.name = "ipam-race-" + std::string(block_copies ? "copies" : "reads");
  pool.spec.cidr = pool_cidr;
  ipam::Store(etcd.client()).create(pool);
  std::vector<std::unique_ptr<test::DatastoreConnection>> connections;
  for (int n = 0; n < kNodes; ++n) {
    connections.push_back(etcd.connect("race-" + std::to_string(n)));
  }
  std::vector<Stats> latencies(kNodes);
  std::vector<double> seconds(kNodes);
  const long txns_before = etcd.cluster().member(0).kv_requests("Txn");
  const long reads_before = etcd.cluster().member(0).kv_requests("Range");
  std::vector<std::thread> nodes;
  for (int n = 0; n < kNodes; ++n) {
    nodes.emplace_back([&, n] {
      const std::string node = "race-" + std::to_string(n);
      ipam::Ipam ipam(connections[n]->client());
      std::set<model::IpPrefix> own_blocks;
      std::map<model::IpPrefix, ipam::Versioned<model::IPAMBlockSpec>> copies;
      const auto start = Clock::now();
      for (int i = 0; i < kPerNode; ++i) {
        ipam::AssignRequest r;
        r.handle_id = pool.metadata.name + "." + node + "-" + std::to_string(i);  // new per race
        r.node = node;
        r.attributes = {{"node", node}};
        r.node_labels = model::Labels{};
        r.pools_v4 = {pool_cidr};
        r.known_pools = std::vector<model::IPPool>{pool};
        r.known_config = model::IPAMConfigSpec{};
        r.known_own_blocks = std::vector<model::IpPrefix>(own_blocks.begin(), own_blocks.end());
        if (block_copies) {
          // As brindled passes them: the copies of the blocks that can still serve the request.
          r.known_blocks.emplace();
          for (const auto& [block, copy] : copies) {
            if (!copy.doc.spec.unallocated.empty()) {
              r.known_blocks->emplace(block, copy);
            }
          }
        }
        const auto t0 = Clock::now();
        const model::IpPrefix got = ipam.auto_assign(r).v4.at(0);
        latencies[n].ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        own_blocks.insert(got.masked());
        for (const auto& [block, written] : ipam.written_blocks()) {
          copies[block] = written.now;
        }
      }
      seconds[n] = std::chrono::duration<double>(Clock::now() - start).count();
    });
  }
  for (auto& t : nodes) {
    t.join();
  }
  IpamRace race;
  race.txns_per_allocation =
      static_cast<double>(etcd.cluster().member(0).kv_requests("Txn") - txns_before) /
      (kNodes * kPerNode);
  race.reads_per_allocation =
      static_cast<double>(etcd.cluster().member(0).kv_requests("Range") - reads_before) /
      (kNodes * kPerNode);
  for (int n = 0; n < kNodes; ++n) {
    race.per_node_per_second += kPerNode / seconds[n] / kNodes;
    race.latency.ms.insert(race.latency.ms.end(), latencies[n].ms.begin(), latencies[n].ms.end());
  }
  // Every address once.
  std::set<model::IpAddress> distinct;
  size_t allocated = 0;
  for (const auto& b : ipam::Store(etcd.client()).list<model::IPAMBlockSpec>()) {
    if (!pool_cidr.contains(b.doc.spec.cidr)) {
      continue;
    }
    for (size_t o = 0; o < b.doc.spec.allocations.size(); ++o) {
      if (b.doc.spec.allocations[o]) {
        ++allocated;
        distinct.insert(*b.doc.spec.cidr.masked().address_at(o));
      }
    }
  }
  if (allocated != kNodes * kPerNode || distinct.size() != allocated) {
    throw std::runtime_error("IPAM race: " + std::to_string(allocated) + " allocations, " +
                             std::to_string(distinct.size()) + " distinct; expected " +
                             std::to_string(kNodes * kPerNode));
  }
  return race;
}

// The floor under ADD's IPAM phase: one etcd write (a small create, as the allocation's
// transaction is one round trip with one fsync), 200 in a row through the same datastore plugin.
Stats etcd_write_floor(test::EtcdDatastore& etcd) {
  Stats latency;
  const ipam::Store store(etcd.client());
  for (int i = 0; i < 200; ++i) {
    model::IPAMHandle handle;
    handle.metadata.name = "floor." + std::to_string(i);
    handle.spec.handle_id = handle.metadata.name;
    const auto t0 = Clock::now();
    store.create(handle);
    latency.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return latency;
}

// The floor under every CNI call's wall time: spawning a program that does nothing (/bin/true),
// the same way the CNI calls are spawned (posix_spawn with stdin/stdout/stderr pipes). This VM's
// process start varies several-fold from day to day, and no plugin a runtime executes can answer
// faster than this.
Stats spawn_floor() {
  Stats latency;
  for (int i = 0; i < 200; ++i) {
    latency.ms.push_back(timed("/bin/true", {}, "").wall_ms);
  }
  return latency;
}

// Prints the p50/p99 of the `fields` (microseconds) of brindled's log lines msg="<message>" for
// the 200 sequential pods ("bench/brindle-<0..199>": the burst and the 1000 pods run in parallel,
// which is not what the phases are meant to show).
void print_phases(const std::string& log_file, const char* command, const std::string& message,
                  const std::vector<std::string>& fields) {
  std::map<std::string, Stats> phases;
  std::ifstream log(log_file);
  for (std::string line; std::getline(log, line);) {
    if (line.find("msg=\"" + message + "\"") == std::string::npos) {
      continue;
    }
    const size_t pod_at = line.find("bench/brindle-");
    if (pod_at == std::string::npos ||
        std::stoi(line.substr(pod_at + std::strlen("bench/brindle-"))) >= 200) {
      continue;
    }
    for (const std::string& field : fields) {
      const size_t at = line.find(" " + field + "=");
      if (at != std::string::npos) {
        phases[field].ms.push_back(std::stod(line.substr(at + field.size() + 2)) / 1000.0);
      }
    }
  }
  std::printf("brindled %s phases of the sequential pods, ms (p50 / p99):", command);
  for (const std::string& field : fields) {
    std::printf("  %s %.2f / %.2f", field.substr(0, field.size() - 3).c_str(),
                phases[field].pct(50), phases[field].pct(99));
  }
  std::printf("\n");
}

// How fast the machine is at the moment (this VM's speed varies by a third from minute to
// minute with its host's load): ms for a fixed amount of plain CPU work, lower is faster. Printed
// beside the figures so that runs can be compared.
double calibration_ms() {
  json doc;
  for (int i = 0; i < 64; ++i) {
    doc["attributes"].push_back({{"handle_id", "k8s-pod-network." + std::string(64, 'a')},
                                 {"secondary", {{"namespace", "default"}, {"pod", "p"}}}});
  }
  const std::string text = doc.dump();
  const auto start = Clock::now();
  size_t sink = 0;
  for (int i = 0; i < 300; ++i) {
    sink += json::parse(text).size();
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return sink > 0 ? ms : 0;
}

}  // namespace

namespace {

int run() {
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
  // IPAM alone first, with nothing else at work on the machine, on an etcd of its own (what the
  // races leave behind must not be part of brindled's datastore).
  IpamRace race_reads, race;
  {
    test::EtcdDatastore race_etcd;
    race_reads = ipam_race(race_etcd, "198.18.128.0/18", false);
    race = ipam_race(race_etcd, "198.18.192.0/18", true);
  }
  const std::string log_file = (dir.path() / "brindled.log").string();
  test::Brindled daemon(config_file, log_file);
  for (int i = 0;
       i < 200 && cni::testing::run_shell("curl -sf http://127.0.0.1:" + std::to_string(health) +
                                          "/readyz >/dev/null 2>&1") != 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const Memory idle = memory_of(daemon.pid());
  const std::string brindle_config = json{
      {"cniVersion", "1.0.0"},
      {"name", "bench"},
      {"type", "brindle-cni"},
      {"control_socket", socket}}.dump();
  const double calibration_before = calibration_ms();
  const std::pair daemons{daemon.pid(), etcd.cluster().member(0).pid()};
  const Result brindle = drive("", brindle_config, "brindle", daemons);
  if (std::getenv("BENCH_CNI_BRINDLE_ONLY") != nullptr) {  // for profiling brindled alone
    std::printf(
        "brindle-cni ADD p50 %.2f ms, DEL p50 %.2f ms; CPU per pod, ms: ADD brindled %.2f + etcd "
        "%.2f, DEL brindled %.2f + etcd %.2f; calibration %.1f ms\n",
        brindle.add.pct(50), brindle.del.pct(50), brindle.cpu.brindled_add, brindle.cpu.etcd_add,
        brindle.cpu.brindled_del, brindle.cpu.etcd_del, calibration_before);
    return 0;
  }
  const Memory after_runs = memory_of(daemon.pid());
  const Memory with_1k = memory_with_pods(daemon.pid(), brindle_config);

  const std::string ptp_config = json{{"cniVersion", "1.0.0"},
                                      {"name", "bench-ptp"},
                                      {"type", "ptp"},
                                      {"ipMasq", false},
                                      {"ipam",
                                       {{"type", "host-local"},
                                        {"subnet", "198.18.64.0/20"},
                                        {"dataDir", (dir.path() / "host-local").string()}}}}
                                     .dump();
  const Result ptp = drive("/usr/lib/cni/ptp", ptp_config, "ptp", daemons);
  const Stats floor = etcd_write_floor(etcd);
  const Stats spawn = spawn_floor();

  const double calibration_after = calibration_ms();
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
  std::printf(
      "spawning a program that does nothing (/bin/true) the same way, the floor under every wall "
      "time above, ms: p50 %.2f, p99 %.2f\n",
      spawn.pct(50), spawn.pct(99));
  std::printf(
      "brindle-cni's request to brindled (socket round trip + daemon), ms p50 / p99: ADD %.2f / "
      "%.2f, DEL %.2f / %.2f (the rest of the wall time is spawning and running brindle-cni)\n",
      brindle.add_exchange.pct(50), brindle.add_exchange.pct(99), brindle.del_exchange.pct(50),
      brindle.del_exchange.pct(99));
  std::printf(
      "brindled memory, KiB (VmRSS / VmHWM): idle %ld / %ld, after the runs %ld / %ld, "
      "with 1000 pods %ld / %ld\n",
      idle.rss, idle.hwm, after_runs.rss, after_runs.hwm, with_1k.rss, with_1k.hwm);
  std::printf(
      "IPAM alone, 3 agents racing on one etcd: %.0f allocations/s per node, "
      "p50 %.2f ms, p99 %.2f ms, etcd requests per allocation %.2f txn + %.2f read (each agent "
      "with its copies of its blocks, as brindled keeps them); reading each block first: %.0f "
      "allocations/s per node, p50 %.2f ms, p99 %.2f ms, %.2f txn + %.2f read\n",
      race.per_node_per_second, race.latency.pct(50), race.latency.pct(99),
      race.txns_per_allocation, race.reads_per_allocation, race_reads.per_node_per_second,
      race_reads.latency.pct(50), race_reads.latency.pct(99), race_reads.txns_per_allocation,
      race_reads.reads_per_allocation);
  std::printf("one etcd write alone (the floor of the IPAM phase): p50 %.2f ms, p99 %.2f ms\n",
              floor.pct(50), floor.pct(99));
  // Where brindled's time goes: the per-phase figures of its "pod added" / "pod removed" lines.
  print_phases(log_file, "ADD", "pod added",
               {"ipam_us", "endpoint_us", "policy_us", "pair_wait_us", "plumbing_us"});
  print_phases(log_file, "DEL", "pod removed", {"release_us", "teardown_wait_us"});
  std::printf(
      "machine speed (a fixed amount of CPU work; lower is faster, compare runs by it): %.1f ms "
      "before the runs, %.1f ms after\n",
      calibration_before, calibration_after);
  std::printf(
      "CPU per sequential pod, ms: ADD brindled %.2f + etcd %.2f, DEL brindled %.2f + etcd %.2f "
      "(with ptp+host-local the same daemons, idle: %.2f + %.2f)\n",
      brindle.cpu.brindled_add, brindle.cpu.etcd_add, brindle.cpu.brindled_del,
      brindle.cpu.etcd_del, ptp.cpu.brindled_add + ptp.cpu.brindled_del,
      ptp.cpu.etcd_add + ptp.cpu.etcd_del);
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << "bench_cni: " << e.what() << "\n";
    return 1;
  }
}
