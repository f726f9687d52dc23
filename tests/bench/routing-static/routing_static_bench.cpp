// Route programming through the routing-static plugin: 10k routes into a scratch network
// namespace through the plugin's apply() (loaded by the host's loader, driven through the C ABI),
// with iproute2's `ip -batch` of the same routes timed in the same run as the reference, and full
// resyncs (in_sync + apply by a new instance) with the 10k routes already in the kernel.
// Setup (namespace, plugin instance, and for BM_PluginApply the update) is not timed; each
// iteration starts from a fresh namespace and checks the kernel afterwards.
// The "routes/s" counter is the figure to read.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"
#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"
#include "brindle/routing.h"

namespace {

namespace nl = brindle::netlink;
using brindle::loader::LoadedPlugin;

constexpr int kRoutes = 10000;
constexpr int kDrift = 1000;        // per kind of difference in BM_PluginResyncWithDrift
constexpr uint8_t kProtocol = 202;  // the plugin's default

std::string destination(int i, int first_octet = 0) {
  // 10k /30 blocks in 198.18.0.0/16 (64 per /24; /26 blocks would not fit the test range).
  return "198.18." + std::to_string(first_octet + i / 64) + "." + std::to_string((i % 64) * 4) +
         "/30";
}

// The 10k remote block routes via a neighbour on the namespace's underlay veth, as ABI structs
// (pointing into `node`, which lives as long as the program).
struct RouteSet {
  std::string node = "node-b";
  std::vector<brindle_route_t> routes;
  std::vector<const brindle_route_t*> pointers;

  explicit RouteSet(const char* gateway) {
    routes.resize(kRoutes);
    for (int i = 0; i < kRoutes; ++i) {
      brindle_route_t& r = routes[i];
      r.struct_size = sizeof(r);
      r.type = BRINDLE_ROUTE_REMOTE_BLOCK;
      r.destination = nl::IpPrefix::parse(destination(i)).to_abi();
      r.gateway = nl::IpPrefix::parse(gateway).to_abi();
      r.node = {node.data(), node.size()};
      pointers.push_back(&r);
    }
  }
};

const RouteSet& wanted() {
  static const RouteSet set("198.19.0.2");
  return set;
}

// A namespace with veth0 198.19.0.1/24 up, so that the gateway is reachable.
nl::ScratchNetns prepared_namespace() {
  nl::ScratchNetns ns = nl::ScratchNetns::create();
  nl::Netlink netlink = nl::Netlink::open_in_netns(ns.fd());
  netlink.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int index = netlink.link("veth0").index;
  netlink.add_address(index, nl::IpPrefix::parse("198.19.0.1/24"));
  netlink.set_link_up(index, true);
  netlink.set_link_up(netlink.link("veth1").index, true);
  return ns;
}

// A routing-static instance created inside `ns` (its netlink socket stays bound there).
class Plugin {
 public:
  explicit Plugin(const nl::ScratchNetns& ns) {
    plugin_ = ns.run([] {
      return std::make_unique<LoadedPlugin>(
          brindle::loader::open_plugin(BRINDLE_ROUTING_STATIC_PLUGIN,
                                       {brindle::loader::PluginKind::routing, "static"}),
          brindle::config::PluginSection::from_toml("", "brindle.toml"),
          brindle::loader::HostEnvironment{});
    });
    vtable_ = plugin_->library().routing();
  }

  bool update(const RouteSet& set, benchmark::State& state) {
    brindle_routing_update_t update{};
    update.struct_size = sizeof(update);
    update.upserts = set.pointers.data();
    update.n_upserts = set.pointers.size();
    return check(vtable_->update(plugin_->instance(), &update, &err_), state);
  }
  bool remove(const std::vector<brindle_ip_prefix_t>& removals, benchmark::State& state) {
    brindle_routing_update_t update{};
    update.struct_size = sizeof(update);
    update.removals = removals.data();
    update.n_removals = removals.size();
    return check(vtable_->update(plugin_->instance(), &update, &err_), state);
  }
  bool in_sync(benchmark::State& state) {
    return check(vtable_->in_sync(plugin_->instance(), &err_), state);
  }
  bool apply(benchmark::State& state) {
    return check(vtable_->apply(plugin_->instance(), &err_), state);
  }

 private:
  bool check(brindle_status_t status, benchmark::State& state) {
    if (status != BRINDLE_OK) {
      state.SkipWithError(err_.message);
      return false;
    }
    return true;
  }

  std::unique_ptr<LoadedPlugin> plugin_;
  const brindle_routing_vtable_t* vtable_ = nullptr;
  brindle_error_t err_{};
};

// Checks that the kernel holds exactly the 10k wanted routes with the plugin's protocol.
bool all_routes_present(const nl::ScratchNetns& ns, benchmark::State& state) {
  const std::vector<nl::RouteSpec> found =
      nl::Netlink::open_in_netns(ns.fd()).routes({.protocol = kProtocol, .family = 4});
  size_t via_wanted = 0;
  for (const nl::RouteSpec& spec : found) {
    via_wanted += spec.gateway.address() == nl::IpPrefix::parse("198.19.0.2") ? 1 : 0;
  }
  if (found.size() != kRoutes || via_wanted != kRoutes) {
    state.SkipWithError(("expected " + std::to_string(kRoutes) + " routes via 198.19.0.2, found " +
                         std::to_string(found.size()) + " (" + std::to_string(via_wanted) +
                         " via 198.19.0.2)")
                            .c_str());
    return false;
  }
  return true;
}

// What finished iterations leave, released after the timing loop so that teardown is not timed.
struct Finished {
  std::vector<nl::ScratchNetns> namespaces;
  std::vector<std::unique_ptr<Plugin>> plugins;
};

void report(benchmark::State& state, int routes = kRoutes) {
  state.counters["routes/s"] =
      benchmark::Counter(static_cast<double>(routes) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// Time of the plugin's apply() for 10k new routes (the update is recorded beforehand).
void BM_PluginApply(benchmark::State& state) {
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    nl::ScratchNetns ns = prepared_namespace();
    auto plugin = std::make_unique<Plugin>(ns);
    if (!plugin->update(wanted(), state) || !plugin->in_sync(state)) {
      return;
    }
    state.ResumeTiming();
    if (!plugin->apply(state)) {
      return;
    }
    state.PauseTiming();
    if (!all_routes_present(ns, state)) {
      return;
    }
    finished.namespaces.push_back(std::move(ns));
    finished.plugins.push_back(std::move(plugin));
    state.ResumeTiming();
  }
  report(state);
}

// The same, with the update (conversion and validation of 10k routes) timed too.
void BM_PluginUpdateAndApply(benchmark::State& state) {
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    nl::ScratchNetns ns = prepared_namespace();
    auto plugin = std::make_unique<Plugin>(ns);
    state.ResumeTiming();
    if (!plugin->update(wanted(), state) || !plugin->in_sync(state) || !plugin->apply(state)) {
      return;
    }
    state.PauseTiming();
    if (!all_routes_present(ns, state)) {
      return;
    }
    finished.namespaces.push_back(std::move(ns));
    finished.plugins.push_back(std::move(plugin));
    state.ResumeTiming();
  }
  report(state);
}

// The reference: `ip -batch <file>` with the same 10k routes, run inside the namespace.
void BM_IpBatch(benchmark::State& state) {
  char path[] = "/tmp/brindle-static-bench-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    state.SkipWithError("cannot create the batch file");
    return;
  }
  close(fd);
  {
    std::ofstream batch(path);
    for (int i = 0; i < kRoutes; ++i) {
      batch << "route add " << destination(i) << " via 198.19.0.2 proto " << int{kProtocol} << "\n";
    }
  }
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    nl::ScratchNetns ns = prepared_namespace();
    const int netns_fd = ns.fd();
    state.ResumeTiming();
    const pid_t child = fork();
    if (child == 0) {
      if (setns(netns_fd, CLONE_NEWNET) != 0) {
        _exit(126);
      }
      execlp("ip", "ip", "-batch", path, static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    state.PauseTiming();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("ip -batch failed");
      break;
    }
    if (!all_routes_present(ns, state)) {
      break;
    }
    finished.namespaces.push_back(std::move(ns));
    state.ResumeTiming();
  }
  unlink(path);
  report(state);
}

// A restarted agent: 10k routes are already in the kernel (left by a first instance); a new
// instance is told the same 10k routes, then in_sync() + apply() is timed (lists the kernel,
// compares, changes nothing).
void BM_PluginResync(benchmark::State& state) {
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    nl::ScratchNetns ns = prepared_namespace();
    {
      Plugin first(ns);
      if (!first.update(wanted(), state) || !first.apply(state)) {
        return;
      }
    }
    auto plugin = std::make_unique<Plugin>(ns);
    if (!plugin->update(wanted(), state)) {
      return;
    }
    state.ResumeTiming();
    if (!plugin->in_sync(state) || !plugin->apply(state)) {
      return;
    }
    state.PauseTiming();
    if (!all_routes_present(ns, state)) {
      return;
    }
    finished.namespaces.push_back(std::move(ns));
    finished.plugins.push_back(std::move(plugin));
    state.ResumeTiming();
  }
  report(state);
}

// The same with drift: of the 10k routes the first instance left, 1k are no longer wanted
// (removed), 1k have another gateway (replaced), and 1k wanted ones are missing (added).
void BM_PluginResyncWithDrift(benchmark::State& state) {
  static const RouteSet other_gateway("198.19.0.3");
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    nl::ScratchNetns ns = prepared_namespace();
    {
      Plugin first(ns);
      RouteSet left("198.19.0.2");
      for (int i = 0; i < kDrift; ++i) {
        left.routes[i] = other_gateway.routes[i];  // [0, 1k): another gateway
        left.routes[kDrift + i].destination =      // [1k, 2k): replaced by stale blocks
            nl::IpPrefix::parse(destination(i, 200)).to_abi();
      }
      left.pointers.resize(kRoutes - kDrift);  // [9k, 10k): missing
      if (!first.update(left, state) || !first.apply(state)) {
        return;
      }
    }
    auto plugin = std::make_unique<Plugin>(ns);
    if (!plugin->update(wanted(), state)) {
      return;
    }
    state.ResumeTiming();
    if (!plugin->in_sync(state) || !plugin->apply(state)) {
      return;
    }
    state.PauseTiming();
    if (!all_routes_present(ns, state)) {
      return;
    }
    finished.namespaces.push_back(std::move(ns));
    finished.plugins.push_back(std::move(plugin));
    state.ResumeTiming();
  }
  report(state);
}

BENCHMARK(BM_PluginApply)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PluginUpdateAndApply)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpBatch)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PluginResync)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PluginResyncWithDrift)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
