// brindled's memory with the iptables policy plugin at scale (issue 7: "RSS of brindled at 10k
// endpoints / 1k policies <= 60 MB"). A real etcd and the real brindled, in a network namespace of
// its own (a forked child unshares it: the machine's namespace and tables are never touched).
//
// etcd holds the cluster of the policy-iptables benchmark (bench_cluster.hpp): 100 namespace
// Profiles, 1k Kubernetes NetworkPolicies, and --endpoints WorkloadEndpoints on this node. Then:
//   1. brindled starts; time until every endpoint's interface is dispatched in the IPv4 and IPv6
//      filter tables (the kernel is polled with ip(6)tables-legacy-save, so the figure is an upper
//      bound, printed with the poll before it as the lower bound); brindled's VmRSS / VmHWM /
//      RssAnon (from /proc/<pid>/status) once programmed and settled;
//   2. one more pod written to etcd; time until its interface is dispatched; VmRSS / VmHWM again.
//   3. the baseline: the same etcd contents, brindled without a policy plugin (what the agent
//      itself holds), ready and settled.
// Options: --endpoints N (10000), --no-baseline, --hold SECONDS (pause once programmed, printing
// brindled's pid: to look at it with gdb/heaptrack).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_cluster.hpp"
#include "bench_process.hpp"
#include "brindle/common/log.hpp"
#include "brindle/ipam/store.hpp"
#include "brindled_process.hpp"
#include "etcd_datastore.hpp"
#include "etcd_writers.hpp"

using namespace brindle;
using namespace brindle::bench;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kNode = "node-1";  // bench_cluster.hpp's pods are on "node-1"
constexpr const char* kUnderlay = "198.19.0.1/24";
constexpr auto kProgramTimeout = std::chrono::seconds(300);
constexpr auto kSettle = std::chrono::seconds(3);

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Options {
  int endpoints = 10000;
  bool baseline = true;
  int hold_seconds =
      0;  // pause once programmed (brindled's pid printed), e.g. to attach a profiler
};

// The workload interfaces the filter table dispatches ("-i X" / "-o X" of brindle-* chains).
std::set<std::string> dispatched(const char* save_command) {
  std::set<std::string> out;
  const std::string text = output_of(std::string(save_command) + " -t filter 2>/dev/null");
  for (const char* flag : {" -i brn", " -o brn"}) {
    for (size_t at = text.find(flag); at != std::string::npos; at = text.find(flag, at + 1)) {
      const size_t begin = at + 4;
      out.insert(text.substr(begin, text.find(' ', begin) - begin));
    }
  }
  return out;
}

bool all_dispatched(const std::vector<std::string>& interfaces) {
  for (const char* save : {"iptables-legacy-save", "ip6tables-legacy-save"}) {
    const std::set<std::string> have = dispatched(save);
    for (const std::string& i : interfaces) {
      if (have.count(i) == 0) {
        return false;
      }
    }
  }
  return true;
}

// Polls the kernel until every interface is dispatched in both families. Returns the time of the
// last poll that failed (lower bound) and of the one that succeeded (upper bound).
struct Programmed {
  bool done = false;
  Clock::time_point not_yet, yes;
};
Programmed wait_dispatched(const std::vector<std::string>& interfaces, Clock::time_point since,
                           std::chrono::milliseconds interval) {
  Programmed p;
  p.not_yet = since;
  const Clock::time_point deadline = since + kProgramTimeout;
  while (Clock::now() < deadline) {
    const Clock::time_point polled = Clock::now();
    if (all_dispatched(interfaces)) {
      p.done = true;
      p.yes = Clock::now();
      return p;
    }
    p.not_yet = polled;
    std::this_thread::sleep_for(interval);
  }
  return p;
}

struct Memory {
  long rss = -1, hwm = -1, anon = -1, file = -1;  // KiB
};
Memory memory_of(pid_t pid) {
  auto kib = status_kib(pid);
  const auto field = [&](const char* name) { return kib.count(name) != 0 ? kib[name] : -1L; };
  return {field("VmRSS"), field("VmHWM"), field("RssAnon"), field("RssFile")};
}
std::string mb(long kib) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MB", static_cast<double>(kib) / 1024.0);
  return text;
}
std::string describe(const Memory& m) {
  return "VmRSS " + mb(m.rss) + " (anon " + mb(m.anon) + ", file " + mb(m.file) + "), VmHWM " +
         mb(m.hwm);
}

// The cluster in etcd, written by 8 writers.
bool populate(const test::EtcdDatastore& etcd, int endpoints) {
  std::vector<std::function<void(const ipam::Store&)>> writes;
  for (int n = 0; n < kNamespaces; ++n) {
    writes.emplace_back([n](const ipam::Store& s) { s.create(namespace_profile(n)); });
    for (int k = 0; k < 10; ++k) {
      writes.emplace_back([n, k](const ipam::Store& s) { s.create(namespace_policy(n, k)); });
    }
  }
  for (int i = 0; i < endpoints; ++i) {
    writes.emplace_back(
        [i](const ipam::Store& s) { s.create(make_pod(i % kNamespaces, i / kNamespaces)); });
  }
  return write_in_parallel(etcd, 8, writes.size(),
                           [&](const ipam::Store& store, size_t i) { writes[i](store); });
}

int run(const Options& options) {
  if (!test::become_node_namespace(kUnderlay)) {
    return 1;
  }
  test::EtcdDatastore etcd;
  test::TempDir dir("bench-agent-policy");
  {
    const auto connection = etcd.connect("bench-writer");
    model::IPPool pool;
    pool.metadata.name = "pods";
    pool.spec.cidr = model::IpPrefix::parse("198.18.0.0/15");
    pool.spec.nat_outgoing = true;
    ipam::Store(connection->client()).create(pool);
  }
  const Clock::time_point populate_start = Clock::now();
  if (!populate(etcd, options.endpoints)) {
    return 1;
  }
  const double populate_s = ms_between(populate_start, Clock::now()) / 1000.0;
  std::vector<std::string> interfaces;
  for (int i = 0; i < options.endpoints; ++i) {
    interfaces.push_back(make_pod(i % kNamespaces, i / kNamespaces).spec.interface_name);
  }

  const std::string socket = (dir.path() / "run" / "brindled.sock").string();
  const int health = test::free_port();
  const std::string log_file = (dir.path() / "brindled.log").string();
  auto write_config = [&](bool with_policy) {
    const std::string file = (dir.path() / (with_policy ? "policy.toml" : "none.toml")).string();
    std::ofstream(file) << "[node]\nname = \"" << kNode << "\"\nipv4 = \"" << kUnderlay << "\"\n\n"
                        << etcd.config_toml() << "\n[encapsulation]\nplugin = \"none\"\n"
                        << "[workload]\ninterface_prefix = \"brn\"\n"
                        << (with_policy ? "[policy]\nplugin = \"iptables\"\n" : "")
                        << "[control]\nsocket = \"" << socket << "\"\n"
                        << "[health]\nlisten = \"127.0.0.1:" << health << "\"\n"
                        << "[metrics]\nlisten = \"\"\n[log]\nlevel = \"warn\"\n";
    return file;
  };

  std::printf(
      "\n== brindled with the iptables policy plugin: %d endpoints on the node, %d "
      "policies, %d namespaces ==\n",
      options.endpoints, kNamespaces * 10, kNamespaces);
  std::printf(
      "etcd populated with %d WorkloadEndpoints + %d KubernetesNetworkPolicies + %d "
      "Profiles in %.1f s\n",
      options.endpoints, kNamespaces * 10, kNamespaces, populate_s);
  std::fflush(stdout);

  // 1. Start and full programming.
  const Clock::time_point started = Clock::now();
  auto daemon = std::make_unique<test::Brindled>(write_config(true), log_file);
  const Programmed full = wait_dispatched(interfaces, started, std::chrono::milliseconds(200));
  if (!full.done || !daemon->running()) {
    std::cerr << "brindled did not program the endpoints\nbrindled log:\n"
              << test::log_tail(log_file);
    return 1;
  }
  const Memory at_programmed = memory_of(daemon->pid());
  std::this_thread::sleep_for(kSettle);
  const Memory programmed = memory_of(daemon->pid());
  const std::string v4 = output_of("iptables-legacy-save -t filter");
  const long v4_rules =
      static_cast<long>(std::count_if(v4.begin(), v4.end(), [last = '\n'](char c) mutable {
        const bool rule = last == '\n' && c == '-';
        last = c;
        return rule;
      }));
  const long n_sets = std::stol("0" + output_of("ipset list -n | wc -l"));
  std::printf(
      "programmed: all %d interfaces dispatched (IPv4 and IPv6) %.0f-%.0f ms after the "
      "start; IPv4 filter %ld rules, %ld ipsets\n",
      options.endpoints, ms_between(started, full.not_yet), ms_between(started, full.yes), v4_rules,
      n_sets);
  std::printf("brindled once programmed: %s\n", describe(at_programmed).c_str());
  std::printf("brindled %lld s later:    %s\n", static_cast<long long>(kSettle.count()),
              describe(programmed).c_str());
  std::fflush(stdout);
  if (options.hold_seconds > 0) {
    std::printf("holding %d s: brindled is pid %d, log %s\n", options.hold_seconds,
                static_cast<int>(daemon->pid()), log_file.c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(options.hold_seconds));
    std::printf("brindled after the hold:  %s\n", describe(memory_of(daemon->pid())).c_str());
  }

  // 2. One more pod.
  const model::WorkloadEndpoint extra = make_pod(7, options.endpoints / kNamespaces + 1);
  {
    const auto connection = etcd.connect("bench-writer");
    const Clock::time_point written = Clock::now();
    ipam::Store(connection->client()).create(extra);
    const Programmed one =
        wait_dispatched({extra.spec.interface_name}, written, std::chrono::milliseconds(20));
    if (!one.done) {
      std::cerr << "the added pod was not programmed\nbrindled log:\n" << test::log_tail(log_file);
      return 1;
    }
    std::printf("one pod added: dispatched %.0f-%.0f ms after the datastore write\n",
                ms_between(written, one.not_yet), ms_between(written, one.yes));
  }
  const Memory one_pod = memory_of(daemon->pid());
  std::this_thread::sleep_for(kSettle);
  const Memory one_pod_settled = memory_of(daemon->pid());
  std::printf("brindled after the pod:  %s\n", describe(one_pod).c_str());
  std::printf("brindled %lld s later:    %s\n", static_cast<long long>(kSettle.count()),
              describe(one_pod_settled).c_str());
  const bool alive = daemon->running();
  daemon.reset();
  if (!alive) {
    std::cerr << "brindled exited\n" << test::log_tail(log_file);
    return 1;
  }

  // 3. The agent alone.
  Memory baseline;
  if (options.baseline) {
    const Clock::time_point again = Clock::now();
    daemon = std::make_unique<test::Brindled>(write_config(false), log_file);
    if (!test::wait_ready(health, std::chrono::seconds(120))) {
      std::cerr << "brindled (no policy plugin) not ready\n" << test::log_tail(log_file);
      return 1;
    }
    const double ready_ms = ms_between(again, Clock::now());
    std::this_thread::sleep_for(kSettle);
    baseline = memory_of(daemon->pid());
    std::printf("baseline, brindled without a policy plugin (ready in %.0f ms, then %lld s): %s\n",
                ready_ms, static_cast<long long>(kSettle.count()), describe(baseline).c_str());
    daemon.reset();
  }

  const long worst = std::max({programmed.rss, one_pod_settled.rss});
  std::printf(
      "goal (issue 7) brindled VmRSS <= 60 MB at %d endpoints / %d policies: %s (%s; "
      "peak VmHWM %s)\n",
      options.endpoints, kNamespaces * 10, worst <= 60 * 1024 ? "MET" : "NOT MET",
      mb(worst).c_str(), mb(one_pod_settled.hwm).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::logger().set_level(log::Level::warn);  // the datastore plugin loaded in this process
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--endpoints" && i + 1 < argc) {
      options.endpoints = std::clamp(std::stoi(argv[++i]), 1, 50000);
    } else if (flag == "--hold" && i + 1 < argc) {
      options.hold_seconds = std::clamp(std::stoi(argv[++i]), 0, 3600);
    } else if (flag == "--no-baseline") {
      options.baseline = false;
    } else {
      std::cerr << "usage: " << argv[0] << " [--endpoints N] [--no-baseline] [--hold SECONDS]\n";
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::cerr << "agent_policy_bench needs root (network namespaces, iptables)\n";
    return 2;
  }
  return run_forked("agent_policy_bench", [&] { return run(options); });
}
