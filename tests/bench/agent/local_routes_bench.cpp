// Full resync of the pods' host routes with 1k local workload interfaces (issue 5: <= 100 ms).
//
// In a forked child's own network namespace (the machine's is never touched): 1k veth pairs whose
// host sides `brv<11 hex>` are up in the node namespace and whose peers live in a second, empty
// namespace (a sleeping child's), one pod address each (198.18.0.0/22; --dual-stack: plus
// 2001:db8:1::/112).
//   1. The reconciler alone (workload::HostRouteReconciler), as the agent runs it:
//      - first programming: 1k routes added and every veth's sysctls written;
//      - restart, 0 drift: a new reconciler; periodic refresh (or endpoint change): the same one;
//      - both with 100 routes missing (deleted just before): 100 routes added.
//      Time of reconcile(): link dump + ARP table dump + route dump + diff of routes and sysctls
//      + one batch of route changes.
//   2. brindled itself: etcd with the 1k WorkloadEndpoints, brindled started (0 drift), then
//      stopped, 100 routes deleted, started again; the resync's own duration from its log record
//      ("local routes resynced ... duration_us=") and the kernel checked afterwards.
// Options: --interfaces N (1000), --rounds N (20), --dual-stack.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.hpp"
#include "brindle/common/log.hpp"
#include "brindle/ipam/store.hpp"
#include "brindle/model/kinds.hpp"
#include "brindle/netlink/netlink.hpp"
#include "brindle/workload/host_routes.hpp"
#include "brindled_process.hpp"
#include "etcd_datastore.hpp"
#include "etcd_writers.hpp"
#include "samples.hpp"

using namespace brindle;
using namespace brindle::bench;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSelf = "bench-node";
constexpr const char* kUnderlay = "198.19.0.1/20";
constexpr int kMissing = 100;

struct Options {
  int interfaces = 1000;
  int rounds = 20;
  bool dual_stack = false;
};

std::string veth_name(int i) {
  char name[16];
  std::snprintf(name, sizeof(name), "brv%011x", static_cast<unsigned>(i) * 2654435761u);
  return name;
}

netlink::IpPrefix address_v4(int i) {
  return netlink::IpPrefix::parse("198.18." + std::to_string(i / 256) + "." +
                                  std::to_string(i % 256) + "/32");
}

netlink::IpPrefix address_v6(int i) {
  char text[64];
  std::snprintf(text, sizeof(text), "2001:db8:1::%x/128", static_cast<unsigned>(i) + 1);
  return netlink::IpPrefix::parse(text);
}

double ms_of(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

void print_row(const std::string& name, const Samples& s, const std::string& note = {}) {
  std::printf("  %-48s %5zu %8.2f %8.2f %8.2f  %s\n", name.c_str(), s.ms.size(), s.pct(50),
              s.pct(90), s.max(), note.c_str());
}

// Deletes the host routes of `count` pods (spread over the range) in one batch.
bool delete_routes(const std::vector<workload::LocalEndpoint>& endpoints, int count) {
  netlink::Netlink nl;
  std::vector<netlink::RouteChange> changes;
  const size_t step = std::max<size_t>(1, endpoints.size() / static_cast<size_t>(count));
  for (size_t i = 0; i < endpoints.size() && changes.size() < static_cast<size_t>(count);
       i += step) {
    netlink::RouteSpec route;
    route.destination = endpoints[i].addresses.front();
    route.protocol = workload::kDefaultRouteProtocol;
    changes.push_back({netlink::RouteOp::remove, route});
  }
  for (const netlink::ChangeResult& r : nl.apply_routes(changes)) {
    if (!r.ok()) {
      std::cerr << "delete route: " << r.message << "\n";
      return false;
    }
  }
  return true;
}

bool expect(const workload::HostRouteReport& r, size_t verified, size_t added,
            const std::string& what) {
  if (!r.errors.empty() || r.routes_verified != verified || r.routes_added != added ||
      r.routes_fixed != 0 || r.routes_removed != 0) {
    std::cerr << what << ": unexpected result: verified " << r.routes_verified << " added "
              << r.routes_added << " fixed " << r.routes_fixed << " removed " << r.routes_removed
              << " errors " << r.errors.size() << (r.errors.empty() ? "" : ": " + r.errors[0])
              << "\n";
    return false;
  }
  return true;
}

size_t count_pod_routes() {
  netlink::Netlink nl;
  netlink::RouteFilter filter;
  filter.protocol = workload::kDefaultRouteProtocol;
  filter.table = netlink::kMainTable;
  return nl.routes(filter).size();
}

// Starts brindled, waits for its first local route resync, returns that record (empty on failure).
std::map<std::string, std::string> resync_with_brindled(const std::string& config_file,
                                                        const std::string& log_file,
                                                        double* wall_ms) {
  const Clock::time_point started = Clock::now();
  test::Brindled daemon(config_file, log_file);
  std::map<std::string, std::string> record;
  for (int i = 0; i < 600 && record.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    record = test::last_log_record(log_file, "local routes resynced");
    if (!daemon.running()) {
      break;
    }
  }
  *wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (record.empty()) {
    std::cerr << "no resync record; brindled log:\n" << test::log_tail(log_file);
  }
  daemon.stop();
  return record;
}

int run(const Options& options) {
  if (!test::become_node_namespace(kUnderlay, false)) {
    return 1;
  }
  // The peers' namespace: a child that sleeps in a namespace of its own until we exit.
  const pid_t pods = fork();
  if (pods == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNET) != 0) {
      _exit(1);
    }
    pause();
    _exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it unshare

  const int n = options.interfaces;
  std::vector<workload::LocalEndpoint> endpoints;
  {
    const std::string batch = "/tmp/brt-local-routes-bench-" + std::to_string(getpid());
    std::ofstream out(batch);
    for (int i = 0; i < n; ++i) {
      workload::LocalEndpoint e;
      e.interface_name = veth_name(i);
      e.addresses.push_back(address_v4(i));
      if (options.dual_stack) {
        e.addresses.push_back(address_v6(i));
      }
      out << "link add " << e.interface_name << " type veth peer name p" << i << " netns " << pods
          << "\nlink set " << e.interface_name << " up\n";
      endpoints.push_back(std::move(e));
    }
    out.close();
    const Clock::time_point t = Clock::now();
    const bool ok = sh("ip -batch " + batch);
    std::remove(batch.c_str());
    if (!ok) {
      return 1;
    }
    std::printf("local route resync, %d workload interfaces (%s): %d veth pairs made in %.1f s\n",
                n, options.dual_stack ? "IPv4 + IPv6" : "IPv4", n,
                std::chrono::duration<double>(Clock::now() - t).count());
  }
  const size_t routes = endpoints.size() * (options.dual_stack ? 2 : 1);
  const size_t sysctls_each = options.dual_stack ? 7 : 3;

  // 1. The reconciler alone.
  std::printf("\n  %-48s %5s %8s %8s %8s\n", "reconcile() [ms]", "runs", "p50", "p90", "max");
  {
    workload::HostRouteReconciler first;
    const workload::HostRouteReport r = first.reconcile(endpoints);
    if (!expect(r, 0, routes, "first programming")) {
      return 1;
    }
    Samples s{{ms_of(r.elapsed)}};
    print_row("first programming (routes + sysctls written)", s,
              std::to_string(r.routes_added) + " routes, " + std::to_string(r.sysctls_fixed) +
                  " sysctls");
  }
  Samples restart, refresh, restart_missing, refresh_missing;
  workload::HostRouteReconciler steady;
  if (!expect(steady.reconcile(endpoints), routes, 0, "warm-up")) {
    return 1;
  }
  for (int round = 0; round < options.rounds; ++round) {
    workload::HostRouteReconciler fresh;  // a restarted agent
    workload::HostRouteReport r = fresh.reconcile(endpoints);
    if (!expect(r, routes, 0, "restart, 0 drift") || r.sysctls_checked != n * sysctls_each) {
      return 1;
    }
    restart.ms.push_back(ms_of(r.elapsed));
    r = steady.reconcile(endpoints);
    if (!expect(r, routes, 0, "refresh, 0 drift") || r.sysctls_checked != n * sysctls_each) {
      return 1;
    }
    refresh.ms.push_back(ms_of(r.elapsed));

    if (!delete_routes(endpoints, kMissing)) {
      return 1;
    }
    workload::HostRouteReconciler fresh2;
    r = fresh2.reconcile(endpoints);
    if (!expect(r, routes - kMissing, kMissing, "restart, 100 missing")) {
      return 1;
    }
    restart_missing.ms.push_back(ms_of(r.elapsed));
    if (!delete_routes(endpoints, kMissing)) {
      return 1;
    }
    r = steady.reconcile(endpoints);
    if (!expect(r, routes - kMissing, kMissing, "refresh, 100 missing")) {
      return 1;
    }
    refresh_missing.ms.push_back(ms_of(r.elapsed));
  }
  print_row("restart resync, 0 drift", restart);
  print_row("restart resync, 100 routes missing", restart_missing);
  print_row("periodic refresh / endpoint change, 0 drift", refresh);
  print_row("periodic refresh / endpoint change, 100 missing", refresh_missing);

  // 2. brindled: the same interfaces, their endpoints in etcd.
  test::EtcdDatastore etcd;
  test::TempDir dir("bench-local-routes");
  {
    const Clock::time_point t = Clock::now();
    const bool written =
        write_in_parallel(etcd, 4, endpoints.size(), [&](const ipam::Store& store, size_t i) {
          model::WorkloadEndpoint wep;
          wep.metadata.name = "bench--node-k8s-pod" + std::to_string(i) + "-eth0";
          wep.metadata.namespace_ = "default";
          wep.spec.node = kSelf;
          wep.spec.orchestrator = "k8s";
          wep.spec.pod = "pod" + std::to_string(i);
          wep.spec.container_id = "container" + std::to_string(i);
          wep.spec.interface_name = endpoints[i].interface_name;
          for (const netlink::IpPrefix& a : endpoints[i].addresses) {
            wep.spec.ip_networks.push_back(model::IpPrefix::parse(a.to_string()));
          }
          store.create(wep);
        });
    if (!written) {
      return 1;
    }
    std::printf("\nbrindled with %d WorkloadEndpoints in etcd (written in %.1f s):\n", n,
                std::chrono::duration<double>(Clock::now() - t).count());
  }
  const std::string config_file = (dir.path() / "brindle.toml").string();
  const std::string log_file = (dir.path() / "brindled.log").string();
  std::ofstream(config_file) << "[node]\nname = \"" << kSelf << "\"\nipv4 = \"" << kUnderlay
                             << "\"\n\n"
                             << etcd.config_toml() << "\n[control]\nsocket = \""
                             << (dir.path() / "run" / "brindled.sock").string() << "\"\n"
                             << "[health]\nlisten = \"127.0.0.1:" << test::free_port() << "\"\n"
                             << "[metrics]\nlisten = \"\"\n[log]\nlevel = \"info\"\n";
  std::printf("  %-48s %10s %8s %8s %8s\n", "", "resync ms", "verified", "added", "start ms");
  for (const bool drift : {false, true}) {
    if (drift && !delete_routes(endpoints, kMissing)) {
      return 1;
    }
    double wall_ms = 0;
    auto record = resync_with_brindled(config_file, log_file, &wall_ms);
    if (record.empty()) {
      return 1;
    }
    const std::string want_added = drift ? std::to_string(kMissing) : "0";
    if (record["added"] != want_added || record["errors"] != "0" || count_pod_routes() != routes) {
      std::cerr << "brindled resync: added " << record["added"] << " (want " << want_added
                << "), errors " << record["errors"] << ", " << count_pod_routes() << " routes\n"
                << test::log_tail(log_file);
      return 1;
    }
    std::printf("  %-48s %10.2f %8s %8s %8.0f\n",
                drift ? "brindled start, 100 routes missing" : "brindled start, 0 drift",
                std::stod(record["duration_us"]) / 1000.0, record["verified"].c_str(),
                record["added"].c_str(), wall_ms);
  }
  std::printf("  goal (issue 5): full resync with 1k local interfaces <= 100 ms\n");
  kill(pods, SIGKILL);
  waitpid(pods, nullptr, 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::logger().set_level(log::Level::warn);
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--dual-stack") {
      options.dual_stack = true;
    } else if (flag == "--interfaces" && i + 1 < argc) {
      options.interfaces = std::clamp(std::stoi(argv[++i]), 1, 1000);
    } else if (flag == "--rounds" && i + 1 < argc) {
      options.rounds = std::max(1, std::stoi(argv[++i]));
    } else {
      std::cerr << "usage: " << argv[0]
                << " [--interfaces N (<= 1000)] [--rounds N] [--dual-stack]\n";
      return 2;
    }
  }
  return run_forked("local routes bench", [&] { return run(options); });
}
