// The iptables policy plugin at scale (issue 7, "Benchmarks"). Everything happens in scratch
// network namespaces; the machine's own tables and sets are never touched.
//
//   1. Programming, for 1k / 5k / 10k local endpoints and 1k policies (100 namespaces x 10
//      Kubernetes NetworkPolicies: pod and namespace selectors, numeric and named ports, endPort,
//      ipBlocks with except, ingress and egress), sent by a real PolicyEngine through the policy
//      C ABI (send_change) to the plugin loaded like the host loads it:
//       - full: the first apply() after in_sync() in a fresh namespace; rule, chain and set counts;
//       - reference: the same state as `ipset save` / `ip(6)tables-legacy-save` text loaded with
//         `ipset restore` and `ip(6)tables-legacy-restore` into another fresh namespace;
//       - incremental: one pod added (engine compute = upsert + take_changes, plugin send and
//         apply), against the kernel's whole-table replace for that size (the saved filter
//         tables plus one rule, restored with ip(6)tables-legacy-restore);
//       - goals: full <= 1.5x reference at 10k, incremental <= 1.2x replace at 10k, engine
//         compute <= 1 ms per pod change at 10k.
//   2. Per packet: two pods behind veths of a node namespace, the plugin programming the node,
//      with 1 policy (only the two pods) vs 1k policies (and 10k endpoints): ping RTT, iperf3
//      throughput and the latency of new TCP connections (each one walks dispatch and policies).
//      Two such labs, measured in alternating rounds, as a crossover (the policies move from one
//      lab to the other halfway), medians and spread of the per-round medians; first, the filter
//      rules a ping actually hits in each configuration (from the rule counters).
//   3. Peak RSS of this process (engine + plugin + the benchmark's own buffers).
//
// Options: --sizes 1000,5000,10000 ('' = per packet only, at 10k)  --rounds 5  --no-traffic
// --traffic-rounds 16  --traffic-pings 500  --traffic-control (both labs with 1 policy: the noise
// floor of the per-packet comparison)
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_cluster.hpp"
#include "brindle/abi.h"
#include "brindle/netlink/netns.hpp"
#include "brindle/policy.h"
#include "brindle/policy/c_abi.hpp"
#include "brindle/policy/engine.hpp"
#include "plugin_library.hpp"

namespace {

using namespace brindle;
using Clock = std::chrono::steady_clock;
using netlink::ScratchNetns;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// ---- shell, inside a namespace (a child forked by a thread that entered it runs there) ------

struct Shell {
  int status = -1;
  std::string output;
};
Shell sh(const std::string& command) {
  Shell result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("popen failed: " + command);
  }
  char buffer[65536];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.output.append(buffer, n);
  }
  const int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}
std::string must(const std::string& command) {
  Shell r = sh(command);
  if (r.status != 0) {
    throw std::runtime_error(command + " failed (" + std::to_string(r.status) + "): " + r.output);
  }
  return std::move(r.output);
}
std::string must_in(const ScratchNetns& ns, const std::string& command) {
  return ns.run([&] { return must(command); });
}
// Wall time of a command run in `ns`, in ms.
double timed_in(const ScratchNetns& ns, const std::string& command) {
  return ns.run([&] {
    const Clock::time_point start = Clock::now();
    must(command);
    return ms_since(start);
  });
}

// ---- the plugin, loaded as the host loads it, with a minimal host services table ------------

struct BenchHost {
  std::string node_name = "node-1";
  std::vector<std::string> warnings;
  std::vector<std::string> metric_names{""};
  std::map<std::string, double> metrics;
  brindle_host_services_t services{};

  static BenchHost& self(brindle_host_context_t* c) { return *reinterpret_cast<BenchHost*>(c); }

  BenchHost() {
    services.struct_size = sizeof(services);
    services.abi_major = BRINDLE_ABI_VERSION_MAJOR;
    services.abi_minor = BRINDLE_ABI_VERSION_MINOR;
    services.context = reinterpret_cast<brindle_host_context_t*>(this);
    services.log = [](brindle_host_context_t* c, brindle_log_level_t level, brindle_str_t m,
                      brindle_str_t f) {
      if (level >= BRINDLE_LOG_WARN) {
        self(c).warnings.push_back(std::string(m.data, m.size) + " " + std::string(f.data, f.size));
      }
    };
    services.log_enabled = [](brindle_host_context_t*, brindle_log_level_t level) {
      return level >= BRINDLE_LOG_WARN ? 1 : 0;
    };
    services.metric_register = [](brindle_host_context_t* c, brindle_metric_type_t,
                                  brindle_str_t name, brindle_str_t) -> uint32_t {
      self(c).metric_names.emplace_back(name.data, name.size);
      return static_cast<uint32_t>(self(c).metric_names.size() - 1);
    };
    services.metric_add = [](brindle_host_context_t* c, uint32_t id, brindle_str_t, double d) {
      self(c).metrics[self(c).metric_names.at(id)] += d;
    };
    services.metric_set = [](brindle_host_context_t* c, uint32_t id, brindle_str_t, double v) {
      self(c).metrics[self(c).metric_names.at(id)] = v;
    };
    services.clock_monotonic_ns = [](brindle_host_context_t*) -> uint64_t {
      return static_cast<uint64_t>(Clock::now().time_since_epoch().count());
    };
    services.clock_realtime_ns = services.clock_monotonic_ns;
    services.config_type = [](brindle_host_context_t*, brindle_str_t p) {
      return p.size == 0 ? BRINDLE_CONFIG_TABLE : BRINDLE_CONFIG_ABSENT;
    };
    services.config_get_string = [](brindle_host_context_t*, brindle_str_t, brindle_str_t*) {
      return BRINDLE_ERR_NOT_FOUND;
    };
    services.config_get_int = [](brindle_host_context_t*, brindle_str_t, int64_t*) {
      return BRINDLE_ERR_NOT_FOUND;
    };
    services.config_get_double = [](brindle_host_context_t*, brindle_str_t, double*) {
      return BRINDLE_ERR_NOT_FOUND;
    };
    services.config_get_bool = [](brindle_host_context_t*, brindle_str_t, int*) {
      return BRINDLE_ERR_NOT_FOUND;
    };
    services.config_size = [](brindle_host_context_t*, brindle_str_t) -> size_t { return 0; };
    services.config_keys = [](brindle_host_context_t*, brindle_str_t p, brindle_str_sink_fn,
                              void*) { return p.size == 0 ? BRINDLE_OK : BRINDLE_ERR_NOT_FOUND; };
    services.config_location = [](brindle_host_context_t*, brindle_str_t, brindle_str_sink_fn sink,
                                  void* user) {
      const std::string where = "bench:1:1";
      sink(user, brindle_str_t{where.data(), where.size()});
    };
    services.node_name = brindle_str_t{node_name.data(), node_name.size()};
    services.request_refresh = [](brindle_host_context_t*) {};
  }
  BenchHost(const BenchHost&) = delete;
  BenchHost& operator=(const BenchHost&) = delete;
};

class Plugin {
 public:
  Plugin() : library_(BRINDLE_POLICY_IPTABLES_PLUGIN) {}
  ~Plugin() { destroy(); }  // before the library goes
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  void create(const ScratchNetns& ns, BenchHost& host) {
    destroy();
    check(ns.run([&] {
      brindle_error_t err{};
      const brindle_status_t s = descriptor_->create(&host.services, &instance_, &err);
      return std::pair{s, std::string(s == BRINDLE_OK ? "" : err.message)};
    }),
          "create");
  }
  void destroy() {
    if (instance_ != nullptr) {
      descriptor_->destroy(instance_);
      instance_ = nullptr;
    }
  }
  void send(const ScratchNetns& ns, const std::vector<policy::Change>& changes) {
    check(ns.run([&] {
      brindle_error_t err{};
      for (const policy::Change& change : changes) {
        const brindle_status_t s = policy::send_change(*vtable_, instance_, change, &err);
        if (s != BRINDLE_OK) {
          return std::pair{s, policy::describe(change) + ": " + err.message};
        }
      }
      return std::pair{BRINDLE_OK, std::string()};
    }),
          "send");
  }
  void in_sync(const ScratchNetns& ns) {
    call(ns, "in_sync", [&](brindle_error_t* e) { return vtable_->in_sync(instance_, e); });
  }
  void apply(const ScratchNetns& ns) {
    call(ns, "apply", [&](brindle_error_t* e) { return vtable_->apply(instance_, e); });
  }
  void refresh(const ScratchNetns& ns) {
    call(ns, "refresh", [&](brindle_error_t* e) { return vtable_->refresh(instance_, e); });
  }

 private:
  template <typename Fn>
  void call(const ScratchNetns& ns, const char* what, Fn&& fn) {
    check(ns.run([&] {
      brindle_error_t err{};
      const brindle_status_t s = fn(&err);
      return std::pair{s, std::string(s == BRINDLE_OK ? "" : err.message)};
    }),
          what);
  }
  static void check(const std::pair<brindle_status_t, std::string>& r, const char* what) {
    if (r.first != BRINDLE_OK) {
      throw std::runtime_error(std::string("plugin ") + what + ": " + r.second);
    }
  }

  test::PluginLibrary library_;
  const brindle_plugin_descriptor_t* descriptor_ = library_.descriptor();
  const brindle_policy_vtable_t* vtable_ = library_.vtable<brindle_policy_vtable_t>();
  brindle_instance_t* instance_ = nullptr;
};

// The cluster (100 namespaces x 10 Kubernetes NetworkPolicies): bench_cluster.hpp.
using namespace brindle::bench;

policy::Globals globals() {
  policy::Globals g;
  g.interface_prefix = "brn";
  g.all_pools = {model::IpPrefix::parse("198.18.0.0/15")};
  g.nat_outgoing_pools = g.all_pools;
  g.node_addresses = {model::IpPrefix::parse("198.19.0.1/32")};
  g.failsafe_inbound = {{policy::kProtoTCP, 22}};
  g.failsafe_outbound = {{policy::kProtoTCP, 2379}};
  return g;
}

// `endpoints` local pods spread evenly over the namespaces, and the 1k policies.
void build(policy::PolicyEngine& engine, int endpoints) {
  engine.set_globals(globals());
  for (int n = 0; n < kNamespaces; ++n) {
    engine.upsert_profile(namespace_profile(n));
    for (int k = 0; k < 10; ++k) {
      engine.upsert_kubernetes_network_policy(namespace_policy(n, k));
    }
  }
  for (int i = 0; i < endpoints; ++i) {
    engine.upsert_workload_endpoint(make_pod(i % kNamespaces, i / kNamespaces));
  }
}

// ---- figures ----------------------------------------------------------------------------------

struct Counts {
  size_t rules = 0;
  size_t chains = 0;  // user chains
  // By kind of chain ("brindle-tw-<hash>" counts as "brindle-tw-"): chains, rules.
  std::map<std::string, std::pair<size_t, size_t>> by_kind;
};
std::string chain_kind(const std::string& chain) {
  const size_t dash = chain.find('-', 8);  // after "brindle-"
  return chain.rfind("brindle-", 0) == 0 && dash != std::string::npos ? chain.substr(0, dash + 1)
                                                                      : chain;
}
Counts count_rules(const std::string& saved) {
  Counts c;
  std::istringstream in(saved);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-A ", 0) == 0) {
      ++c.rules;
      ++c.by_kind[chain_kind(line.substr(3, line.find(' ', 3) - 3))].second;
    } else if (line.rfind(":", 0) == 0 && line.find(" - ") != std::string::npos) {
      ++c.chains;
      ++c.by_kind[chain_kind(line.substr(1, line.find(' ') - 1))].first;
    }
  }
  return c;
}

// The "*filter ... COMMIT" section of iptables-save text, with `extra` added before COMMIT.
std::string filter_section(const std::string& saved, const std::string& extra) {
  const size_t begin = saved.find("*filter");
  const size_t commit = saved.find("\nCOMMIT", begin);
  if (begin == std::string::npos || commit == std::string::npos) {
    throw std::runtime_error("no filter table in the saved text");
  }
  return saved.substr(begin, commit + 1 - begin) + extra + "COMMIT\n";
}

long rss_kb(const char* field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) == 0) {
      return std::stol(line.substr(std::strlen(field)));
    }
  }
  return -1;
}

// Bytes in use in the malloc heap (not what glibc keeps free), in MB.
double heap_mb() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1024.0 * 1024.0);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

struct SizeResult {
  int endpoints = 0;
  double full_apply_ms = 0;
  double reference_ms = 0;
  double incremental_apply_ms = 0;
  double replace_ms = 0;
  double compute_ms = 0;
};

SizeResult run_size(Plugin& plugin, int endpoints, int rounds, const std::string& dir) {
  SizeResult result;
  result.endpoints = endpoints;
  std::printf("\n== %d local endpoints, %d policies ==\n", endpoints, kNamespaces * 10);

  const double heap_start = heap_mb();
  Clock::time_point start = Clock::now();
  policy::PolicyEngine engine({.node_name = "node-1"});
  build(engine, endpoints);
  const double heap_engine = heap_mb() - heap_start;
  std::vector<policy::Change> changes = engine.take_changes();
  const double heap_changes = heap_mb() - heap_start - heap_engine;
  const double engine_full_ms = ms_since(start);
  const policy::EngineStats stats = engine.stats();
  std::printf("engine: full compute %.1f ms, %zu changes; %zu active policies, %zu active ipsets\n",
              engine_full_ms, changes.size(), stats.active_policies, stats.active_ipsets);

  ScratchNetns node = ScratchNetns::create();
  BenchHost host;
  const long rss_engine = rss_kb("VmRSS:");
  plugin.create(node, host);
  start = Clock::now();
  plugin.send(node, changes);
  const double send_ms = ms_since(start);
  changes.clear();
  changes.shrink_to_fit();
  const long rss_sent = rss_kb("VmRSS:");
  const double heap_plugin = heap_mb() - heap_start - heap_engine;
  plugin.in_sync(node);
  start = Clock::now();
  plugin.apply(node);
  result.full_apply_ms = ms_since(start);
  const double heap_applied = heap_mb() - heap_start - heap_engine - heap_plugin;
  std::printf(
      "heap in use (malloc): engine model %.1f MB (+ %.1f MB of changes until sent); plugin "
      "model %.1f MB; kept after the first apply %.1f MB\n",
      heap_engine, heap_changes, heap_plugin, heap_applied);
  if (std::getenv("BRINDLE_BENCH_EXIT_AFTER_APPLY") != nullptr) {
    // For heap profilers: what is still allocated at exit is the steady state (engine + plugin).
    std::fflush(stdout);
    _exit(0);
  }
  std::printf("plugin full programming: send %.1f ms + first apply %.1f ms\n", send_ms,
              result.full_apply_ms);
  std::printf(
      "RSS: %.1f MB with the engine built; plugin model +%.1f MB; after the first apply "
      "+%.1f MB more (peak so far %.1f MB)\n",
      static_cast<double>(rss_engine) / 1024.0, static_cast<double>(rss_sent - rss_engine) / 1024.0,
      static_cast<double>(rss_kb("VmRSS:") - rss_sent) / 1024.0,
      static_cast<double>(rss_kb("VmHWM:")) / 1024.0);

  const std::string sets_file = dir + "/sets";
  const std::string v4_file = dir + "/v4";
  const std::string v6_file = dir + "/v6";
  const std::string v4 = must_in(node, "iptables-legacy-save");
  const std::string v6 = must_in(node, "ip6tables-legacy-save");
  must_in(node, "ipset save > " + sets_file);
  write_file(v4_file, v4);
  write_file(v6_file, v6);
  const Counts c4 = count_rules(v4);
  const Counts c6 = count_rules(v6);
  const std::string set_names = must_in(node, "ipset list -n");
  const size_t n_sets = static_cast<size_t>(std::count(set_names.begin(), set_names.end(), '\n'));
  const std::string saved_sets = must("cat " + sets_file);
  size_t n_members = 0;
  for (size_t at = saved_sets.find("\nadd "); at != std::string::npos;
       at = saved_sets.find("\nadd ", at + 1)) {
    ++n_members;
  }
  std::printf(
      "kernel state: IPv4 %zu rules in %zu chains, IPv6 %zu rules in %zu chains; "
      "%zu ipsets with %zu members\n",
      c4.rules, c4.chains, c6.rules, c6.chains, n_sets, n_members);
  std::printf("IPv4 by chain kind (chains/rules):");
  for (const auto& [kind, n] : c4.by_kind) {
    std::printf(" %s %zu/%zu", kind.c_str(), n.first, n.second);
  }
  std::printf("\n");

  // Reference: the same text loaded by the tools into a fresh namespace.
  ScratchNetns twin = ScratchNetns::create();
  const double t_sets = timed_in(twin, "ipset restore < " + sets_file);
  const double t_v4 = timed_in(twin, "iptables-legacy-restore < " + v4_file);
  const double t_v6 = timed_in(twin, "ip6tables-legacy-restore < " + v6_file);
  result.reference_ms = t_sets + t_v4 + t_v6;
  std::printf("reference restore: ipset %.1f ms + iptables %.1f ms + ip6tables %.1f ms = %.1f ms\n",
              t_sets, t_v4, t_v6, result.reference_ms);
  std::printf("full: apply / reference = %.2f   ((send + apply) / reference = %.2f)\n",
              result.full_apply_ms / result.reference_ms,
              (send_ms + result.full_apply_ms) / result.reference_ms);

  // Incremental: one pod added at a time.
  std::vector<double> compute;
  std::vector<double> send;
  std::vector<double> apply;
  size_t n_changes = 0;
  std::string last_interface;
  for (int r = 0; r < rounds; ++r) {
    const model::WorkloadEndpoint pod = make_pod(r % kNamespaces, 400 + r);
    last_interface = pod.spec.interface_name;
    start = Clock::now();
    engine.upsert_workload_endpoint(pod);
    const std::vector<policy::Change> delta = engine.take_changes();
    compute.push_back(ms_since(start));
    n_changes += delta.size();
    start = Clock::now();
    plugin.send(node, delta);
    send.push_back(ms_since(start));
    start = Clock::now();
    plugin.apply(node);
    apply.push_back(ms_since(start));
  }
  if (must_in(node, "iptables-legacy-save").find(last_interface) == std::string::npos) {
    throw std::runtime_error("the added pod's interface is not dispatched");
  }
  result.compute_ms = median(compute);
  result.incremental_apply_ms = median(apply);

  // Reference: the whole filter tables (IPv4 and IPv6) replaced with one rule more / less.
  const std::string extra = "-A brindle-FORWARD -s 198.19.255.1/32 -j DROP\n";
  write_file(dir + "/v4-plus", filter_section(v4, extra));
  write_file(dir + "/v4-same", filter_section(v4, ""));
  write_file(dir + "/v6-plus",
             filter_section(v6, "-A brindle-FORWARD -s 2001:db8:ff::9/128 -j DROP\n"));
  write_file(dir + "/v6-same", filter_section(v6, ""));
  std::vector<double> replace;
  for (int r = 0; r < rounds; ++r) {
    const std::string which = r % 2 == 0 ? "-plus" : "-same";
    replace.push_back(timed_in(twin, "iptables-legacy-restore < " + dir + "/v4" + which) +
                      timed_in(twin, "ip6tables-legacy-restore < " + dir + "/v6" + which));
  }
  result.replace_ms = median(replace);
  std::printf(
      "incremental, one pod (median of %d, %.1f changes each): engine compute %.3f ms, "
      "send %.3f ms, apply %.1f ms\n",
      rounds, static_cast<double>(n_changes) / rounds, result.compute_ms, median(send),
      result.incremental_apply_ms);
  std::printf("reference whole-table replace (IPv4 + IPv6 filter, one rule more): %.1f ms\n",
              result.replace_ms);
  std::printf("incremental: apply / replace = %.2f\n",
              result.incremental_apply_ms / result.replace_ms);

  start = Clock::now();
  plugin.refresh(node);
  std::printf("refresh (full verify, nothing to repair): %.1f ms; repairs_total %.0f\n",
              ms_since(start), host.metrics["repairs_total"]);
  std::printf("RSS now %ld kB (peak %ld kB)\n", rss_kb("VmRSS:"), rss_kb("VmHWM:"));
  plugin.destroy();
  for (const std::string& w : host.warnings) {
    std::printf("plugin warning: %s\n", w.c_str());
  }
  return result;
}

// ---- per packet --------------------------------------------------------------------------------

// A background command in its own process group, killed on destruction.
class Background {
 public:
  explicit Background(const std::string& command) {
    pid_ = fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      setpgid(0, 0);
      execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid_, pid_);
  }
  ~Background() {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

 private:
  pid_t pid_ = -1;
};

// A node namespace with two pods behind veths: client 198.18.250.1 ("brnperfa"), server
// 198.18.250.2 ("brnperfb"), namespace "perf"; a policy allows the client to the server. The
// plugin programs the node.
class TrafficLab {
 public:
  TrafficLab()
      : node_(ScratchNetns::create_named("bpb-node")),
        client_(ScratchNetns::create_named("bpb-pod")),
        server_(ScratchNetns::create_named("bpb-pod")) {
    must("ip -n " + node_.name() + " link set lo up");
    must("ip netns exec " + node_.name() + " sysctl -qw net.ipv4.ip_forward=1");
    wire(client_, "brnperfa", kClient);
    wire(server_, "brnperfb", kServer);
    iperf_.emplace("ip netns exec " + server_.name() + " iperf3 -s -p 5201");
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~TrafficLab() {
    stop_ = true;
    accept_thread_.join();
    plugin_.destroy();
  }
  TrafficLab(const TrafficLab&) = delete;
  TrafficLab& operator=(const TrafficLab&) = delete;

  // Programs the node with the two pods, plus the cluster of `endpoints` pods and 1k policies.
  // Called again, a new plugin instance replaces the whole state (the first apply after in_sync).
  size_t program(int endpoints) {
    policy::PolicyEngine engine({.node_name = "node-1"});
    if (endpoints > 0) {
      build(engine, endpoints);
    } else {
      engine.set_globals(globals());
    }
    add_pods(engine);
    plugin_.create(node_, host_);
    plugin_.send(node_, engine.take_changes());
    plugin_.in_sync(node_);
    plugin_.apply(node_);
    return count_rules(must_in(node_, "iptables-legacy-save -t filter")).rules;
  }

  struct Figures {
    double ping_ms = 0;      // median RTT
    double ping_low_ms = 0;  // 10th percentile RTT: the path with the least interference
    // Mean of the RTTs below the 90th percentile: ping prints whole microseconds, so a median of
    // ~10 us moves in 10% steps; the mean of 500 resolves fractions, the trim drops load spikes.
    double ping_mean_ms = 0;
    double iperf_gbps = 0;  // one short transfer
    double connect_us = 0;  // median time of a TCP connect (a new flow through the policies)
  };
  Figures measure(int pings) {
    Figures f;
    std::vector<double> rtts;
    std::istringstream ping(must("ip netns exec " + client_.name() + " ping -c " +
                                 std::to_string(pings) + " -i 0.002 " + kServer));
    for (std::string line; std::getline(ping, line);) {
      const size_t at = line.find("time=");
      if (at != std::string::npos) {
        rtts.push_back(std::stod(line.substr(at + 5)));
      }
    }
    f.ping_ms = median(rtts);
    if (!rtts.empty()) {
      std::sort(rtts.begin(), rtts.end());
      f.ping_low_ms = rtts[rtts.size() / 10];
      const size_t kept = std::max<size_t>(1, rtts.size() * 9 / 10);
      double sum = 0;
      for (size_t i = 0; i < kept; ++i) {
        sum += rtts[i];
      }
      f.ping_mean_ms = sum / static_cast<double>(kept);
    }
    f.connect_us = connect_latency_us(300);
    for (int attempt = 0; attempt < 50 && f.iperf_gbps == 0; ++attempt) {
      const Shell r =
          sh("ip netns exec " + client_.name() + " iperf3 -c " + kServer + " -p 5201 -t 1 -f g");
      const size_t receiver = r.output.find("receiver");
      if (r.status != 0 || receiver == std::string::npos) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // not listening yet
        continue;
      }
      std::istringstream words(r.output.substr(r.output.rfind('\n', receiver) + 1,
                                               receiver - r.output.rfind('\n', receiver)));
      std::string previous;
      for (std::string word; words >> word; previous = word) {
        if (word == "Gbits/sec") {
          f.iperf_gbps = std::stod(previous);
        }
      }
    }
    return f;
  }

  // The filter rules a ping (request and reply) passes: counters zeroed, `pings` pings, then
  // every rule whose packet counter moved, as "<packets> <rule>".
  std::vector<std::string> traversed(int pings) {
    must_in(node_, "iptables-legacy -t filter -Z");
    must("ip netns exec " + client_.name() + " ping -q -c " + std::to_string(pings) + " -i 0.002 " +
         kServer);
    std::vector<std::string> out;
    std::istringstream saved(must_in(node_, "iptables-legacy-save -c -t filter"));
    for (std::string line; std::getline(saved, line);) {
      if (line.rfind("[", 0) != 0 || line.rfind("[0:", 0) == 0) {
        continue;
      }
      const size_t close = line.find(']');
      out.push_back(line.substr(1, line.find(':') - 1) + " " + line.substr(close + 2));
    }
    return out;
  }

  static void add_pods(policy::PolicyEngine& engine) {
    model::Profile p;
    p.metadata.name = "kns.perf";
    p.spec.labels_to_apply = {{"kubernetes.io/metadata.name", "perf"}};
    engine.upsert_profile(p);
    for (const auto& [name, address, iface] :
         {std::tuple{"client", kClient, "brnperfa"}, std::tuple{"server", kServer, "brnperfb"}}) {
      model::WorkloadEndpoint w;
      w.metadata.namespace_ = "perf";
      w.metadata.name = name;
      w.metadata.labels = {{"app", name}};
      w.spec.node = "node-1";
      w.spec.orchestrator = "k8s";
      w.spec.pod = name;
      w.spec.interface_name = iface;
      w.spec.ip_networks = {model::IpPrefix::parse(std::string(address) + "/32")};
      w.spec.profiles = {"kns.perf"};
      engine.upsert_workload_endpoint(w);
    }
    model::KubernetesNetworkPolicy allow;
    allow.metadata.namespace_ = "perf";
    allow.metadata.name = "client-to-server";
    allow.spec.pod_selector = labels({{"app", "server"}});
    allow.spec.ingress = {{{pods({{"app", "client"}})}, {}}};
    engine.upsert_kubernetes_network_policy(allow);
  }

 private:
  static constexpr const char* kNode = "198.19.0.1";
  static constexpr const char* kClient = "198.18.250.1";
  static constexpr const char* kServer = "198.18.250.2";

  void wire(const ScratchNetns& pod, const std::string& iface, const std::string& address) {
    const std::string n = "ip -n " + node_.name() + " ";
    const std::string p = "ip -n " + pod.name() + " ";
    must(n + "link add " + iface + " type veth peer name eth0 netns " + pod.name());
    must(n + "link set " + iface + " up");
    must(n + "addr add " + std::string(kNode) + "/32 dev " + iface);
    must(n + "route add " + address + "/32 dev " + iface);
    must(p + "link set lo up");
    must(p + "link set eth0 up");
    must(p + "addr add " + address + "/32 dev eth0");
    must(p + "route add " + kNode + " dev eth0 scope link");
    must(p + "route add default via " + kNode + " dev eth0");
  }

  // A TCP server in the server pod that accepts and closes, until stop_.
  void accept_loop() {
    server_.run([&] {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      const int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(8080);
      inet_pton(AF_INET, kServer, &a.sin_addr);
      if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 512) != 0) {
        std::fprintf(stderr, "connect server: bind/listen failed\n");
        std::abort();
      }
      timeval tv{0, 100000};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      while (!stop_) {
        const int c = accept(fd, nullptr, nullptr);
        if (c >= 0) {
          close(c);
        }
      }
      close(fd);
    });
  }

  double connect_latency_us(int count) {
    return client_.run([&] {
      std::vector<double> times;
      for (int i = 0; i < count; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        const linger l{1, 0};  // RST on close: no TIME_WAIT pile-up
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(8080);
        inet_pton(AF_INET, kServer, &a.sin_addr);
        const Clock::time_point start = Clock::now();
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
          close(fd);
          throw std::runtime_error("connect to the server failed");
        }
        times.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        close(fd);
      }
      return median(times);
    });
  }

  ScratchNetns node_;
  ScratchNetns client_;
  ScratchNetns server_;
  BenchHost host_;
  Plugin plugin_;
  std::optional<Background> iperf_;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
};

// Spread of a set of per-round medians: "median [p10 .. p90]".
std::string spread(std::vector<double> v, double scale, const char* format) {
  if (v.empty()) {
    return "-";
  }
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1)))];
  };
  char text[96];
  std::snprintf(text, sizeof(text), format, median(v) * scale, at(0.1) * scale, at(0.9) * scale);
  return text;
}

// Two labs side by side, measured in alternation (load from elsewhere hits both alike), as a
// crossover: in the first half lab A has 1 policy and lab B 1k policies (and `endpoints` pods),
// in the second half the other way round. A cost of the rules follows the policies from one lab
// to the other; a difference between the labs themselves (placement, interface order) stays with
// its lab and cancels out of the 1k / 1 ratio. Each round: `pings` pings per lab.
void run_traffic(int endpoints, int rounds, int pings, bool control) {
  std::printf(
      "\n== per packet: two pods, 1 policy vs %d policies (%d endpoints), crossover, %d rounds "
      "x %d pings per lab%s ==\n",
      kNamespaces * 10 + 1, endpoints + 2, rounds, pings,
      control ? " -- CONTROL RUN: both labs always have 1 policy" : "");
  TrafficLab lab_a;
  TrafficLab lab_b;
  using F = TrafficLab::Figures;
  // [configuration: 0 = 1 policy, 1 = 1k][lab: 0 = A, 1 = B] -> per-round figures
  std::vector<F> figures[2][2];
  size_t rules[2] = {0, 0};
  const int half = std::max(1, rounds / 2);
  for (int phase = 0; phase < 2; ++phase) {
    TrafficLab& one = phase == 0 ? lab_a : lab_b;
    TrafficLab& many = phase == 0 ? lab_b : lab_a;
    rules[0] = one.program(0);
    rules[1] = many.program(control ? 0 : endpoints);
    if (phase == 0) {
      // Which filter rules a ping passes, in each configuration.
      for (const auto& [name, lab] :
           {std::pair{"1 policy", &one}, std::pair{"1k policies", &many}}) {
        const std::vector<std::string> rules_hit = lab->traversed(100);
        std::printf("filter rules hit by 100 pings (request + reply), %s: %zu\n", name,
                    rules_hit.size());
        for (const std::string& r : rules_hit) {
          std::printf("    %s\n", r.c_str());
        }
      }
      one.measure(50);  // warm both paths
      many.measure(50);
    }
    for (int r = 0; r < half; ++r) {
      const bool one_first = r % 2 == 0;
      for (int k = 0; k < 2; ++k) {
        const bool is_one = (k == 0) == one_first;
        figures[is_one ? 0 : 1][(phase == 0) == is_one ? 0 : 1].push_back(
            (is_one ? one : many).measure(pings));
      }
    }
  }
  const auto values = [&](int config, int lab, double F::*f) {
    std::vector<double> out;
    for (int l = 0; l < 2; ++l) {
      if (lab >= 0 && l != lab) {
        continue;
      }
      for (const F& x : figures[config][l]) {
        out.push_back(x.*f);
      }
    }
    return out;
  };
  std::printf("per-round figures: median [p10 .. p90] of the rounds\n");
  std::printf("%-12s %-5s %-22s %-22s %-22s %-22s %s\n", "", "lab", "ping RTT median us",
              "ping trimmed mean us", "ping RTT p10 us", "iperf3 Gbit/s", "TCP connect us");
  for (int config = 0; config < 2; ++config) {
    for (int lab = -1; lab < 2; ++lab) {
      std::printf(
          "%-12s %-5s %-22s %-22s %-22s %-22s %s\n",
          lab == -1 ? (config == 0 ? "1 policy" : "1k policies") : "",
          lab == -1 ? "both" : (lab == 0 ? "A" : "B"),
          spread(values(config, lab, &F::ping_ms), 1000, "%.1f [%.1f .. %.1f]").c_str(),
          spread(values(config, lab, &F::ping_mean_ms), 1000, "%.2f [%.2f .. %.2f]").c_str(),
          spread(values(config, lab, &F::ping_low_ms), 1000, "%.1f [%.1f .. %.1f]").c_str(),
          spread(values(config, lab, &F::iperf_gbps), 1, "%.2f [%.2f .. %.2f]").c_str(),
          spread(values(config, lab, &F::connect_us), 1, "%.1f [%.1f .. %.1f]").c_str());
    }
  }
  std::printf("filter rules: %zu with 1 policy, %zu with 1k policies\n", rules[0], rules[1]);
  // The ratio per lab (same veths, same namespaces), then the geometric mean of the two labs.
  const auto lab_ratio = [&](int lab, double F::*f) {
    return median(values(1, lab, f)) / median(values(0, lab, f));
  };
  const auto ratio = [&](double F::*f) { return std::sqrt(lab_ratio(0, f) * lab_ratio(1, f)); };
  const double ping_mean = ratio(&F::ping_mean_ms);
  const double iperf = ratio(&F::iperf_gbps);
  const double connect = ratio(&F::connect_us);
  std::printf(
      "1k / 1 policy, per lab then geometric mean: ping RTT trimmed mean %.3fx (A %.3fx, B "
      "%.3fx; median %.2fx, p10 %.2fx), iperf3 throughput %.2fx, TCP connect %.2fx (goal: "
      "within 10%%) -> %s\n",
      ping_mean, lab_ratio(0, &F::ping_mean_ms), lab_ratio(1, &F::ping_mean_ms), ratio(&F::ping_ms),
      ratio(&F::ping_low_ms), iperf, connect,
      ping_mean <= 1.1 && iperf >= 1 / 1.1 && connect <= 1.1 ? "MET" : "NOT MET");
}

std::vector<int> parse_sizes(const std::string& text) {
  std::vector<int> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    out.push_back(std::stoi(item));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes{1000, 5000, 10000};
  int rounds = 5;
  bool traffic = true;
  int traffic_rounds = 16;
  int traffic_pings = 500;
  bool traffic_control = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--sizes" && i + 1 < argc) {
      sizes = parse_sizes(argv[++i]);
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::stoi(argv[++i]));
    } else if (arg == "--traffic-rounds" && i + 1 < argc) {
      traffic_rounds = std::max(1, std::stoi(argv[++i]));
    } else if (arg == "--traffic-pings" && i + 1 < argc) {
      traffic_pings = std::max(10, std::stoi(argv[++i]));
    } else if (arg == "--traffic-control") {
      traffic_control = true;
    } else if (arg == "--no-traffic") {
      traffic = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--sizes 1000,5000,10000] [--rounds 5] [--no-traffic] "
                   "[--traffic-rounds 16] [--traffic-pings 500] [--traffic-control]\n",
                   argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "policy_iptables_bench needs root (network namespaces)\n");
    return 2;
  }
  char dir_template[] = "/tmp/brindle-iptbench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = dir_template;
  int status = 0;
  try {
    Plugin plugin;
    std::vector<SizeResult> results;
    for (const int n : sizes) {
      results.push_back(run_size(plugin, n, rounds, dir));
    }
    std::printf("\n== summary ==\n");
    std::printf("%9s %12s %12s %7s %12s %12s %7s %12s\n", "endpoints", "full ms", "restore ms",
                "ratio", "1-pod ms", "replace ms", "ratio", "compute ms");
    for (const SizeResult& r : results) {
      std::printf("%9d %12.1f %12.1f %7.2f %12.1f %12.1f %7.2f %12.3f\n", r.endpoints,
                  r.full_apply_ms, r.reference_ms, r.full_apply_ms / r.reference_ms,
                  r.incremental_apply_ms, r.replace_ms, r.incremental_apply_ms / r.replace_ms,
                  r.compute_ms);
    }
    const auto largest = std::max_element(
        results.begin(), results.end(),
        [](const SizeResult& a, const SizeResult& b) { return a.endpoints < b.endpoints; });
    if (largest != results.end()) {
      const SizeResult& r = *largest;
      const double full = r.full_apply_ms / r.reference_ms;
      const double incremental = r.incremental_apply_ms / r.replace_ms;
      std::printf(
          "goals at %d endpoints: full %.2fx restore (<= 1.5: %s); incremental %.2fx "
          "replace (<= 1.2: %s); engine compute %.3f ms (<= 1 ms: %s)\n",
          r.endpoints, full, full <= 1.5 ? "MET" : "NOT MET", incremental,
          incremental <= 1.2 ? "MET" : "NOT MET", r.compute_ms,
          r.compute_ms <= 1.0 ? "MET" : "NOT MET");
    }
    if (traffic) {
      run_traffic(sizes.empty() ? 10000 : *std::max_element(sizes.begin(), sizes.end()),
                  traffic_rounds, traffic_pings, traffic_control);
    }
    std::printf(
        "\npeak RSS of this process: %.1f MB (VmHWM; engine + plugin + benchmark "
        "buffers)\n",
        static_cast<double>(rss_kb("VmHWM:")) / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "policy_iptables_bench: %s\n", e.what());
    status = 1;
  }
  sh("rm -rf " + dir);
  return status;
}
