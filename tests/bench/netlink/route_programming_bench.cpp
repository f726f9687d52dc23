// Route programming: 10k routes into a scratch network namespace, timed three ways in the same
// run: the adapter's batched apply_routes(), the adapter one request at a time, and iproute2's
// `ip -batch` with the same routes (the reference). Each iteration starts from a fresh namespace
// (setup and teardown are not timed) and checks that all 10k routes are there afterwards.
// The "routes/s" counter is the figure to read.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"

namespace {

using namespace brindle::netlink;

constexpr int kRoutes = 10000;
constexpr uint8_t kProtocol = 201;

// 10k host routes in 198.18.0.0/16, via a neighbour on the namespace's underlay veth.
const std::vector<RouteSpec>& routes() {
  static const std::vector<RouteSpec> all = [] {
    std::vector<RouteSpec> list;
    list.reserve(kRoutes);
    for (int i = 0; i < kRoutes; ++i) {
      RouteSpec spec;
      spec.destination =
          IpPrefix::parse("198.18." + std::to_string(i / 256) + "." + std::to_string(i % 256));
      spec.gateway = IpPrefix::parse("198.19.0.2");
      spec.protocol = kProtocol;
      list.push_back(spec);
    }
    return list;
  }();
  return all;
}

// A namespace with veth0 198.19.0.1/24 up, so that the gateway is reachable.
ScratchNetns prepared_namespace() {
  ScratchNetns ns = ScratchNetns::create();
  Netlink nl = Netlink::open_in_netns(ns.fd());
  nl.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int index = nl.link("veth0").index;
  nl.add_address(index, IpPrefix::parse("198.19.0.1/24"));
  nl.set_link_up(index, true);
  nl.set_link_up(nl.link("veth1").index, true);
  return ns;
}

bool all_routes_present(const ScratchNetns& ns, benchmark::State& state) {
  const size_t found =
      Netlink::open_in_netns(ns.fd()).routes({.protocol = kProtocol, .family = 4}).size();
  if (found != kRoutes) {
    state.SkipWithError(
        ("expected " + std::to_string(kRoutes) + " routes, found " + std::to_string(found))
            .c_str());
    return false;
  }
  return true;
}

// Namespaces (and sockets) of finished iterations, released after the timing loop so that their
// teardown is never timed.
struct Finished {
  std::vector<ScratchNetns> namespaces;
  std::vector<Netlink> sockets;
};

void report(benchmark::State& state) {
  state.counters["routes/s"] =
      benchmark::Counter(static_cast<double>(kRoutes) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void BM_AdapterBatched(benchmark::State& state) {
  std::vector<RouteChange> changes;
  for (const RouteSpec& spec : routes())
    changes.push_back({RouteOp::add, spec});
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchNetns ns = prepared_namespace();
    Netlink nl = Netlink::open_in_netns(ns.fd());
    state.ResumeTiming();
    const auto results = nl.apply_routes(changes);
    state.PauseTiming();
    for (const auto& result : results) {
      if (!result.ok()) {
        state.SkipWithError(result.message.c_str());
        return;
      }
    }
    if (!all_routes_present(ns, state))
      return;
    finished.namespaces.push_back(std::move(ns));
    finished.sockets.push_back(std::move(nl));
    state.ResumeTiming();
  }
  report(state);
}

void BM_AdapterOneByOne(benchmark::State& state) {
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchNetns ns = prepared_namespace();
    Netlink nl = Netlink::open_in_netns(ns.fd());
    state.ResumeTiming();
    for (const RouteSpec& spec : routes())
      nl.add_route(spec);
    state.PauseTiming();
    if (!all_routes_present(ns, state))
      return;
    finished.namespaces.push_back(std::move(ns));
    finished.sockets.push_back(std::move(nl));
    state.ResumeTiming();
  }
  report(state);
}

// Runs `ip -batch <file>` inside the namespace (fork, setns, exec), as the reference.
void BM_IpBatch(benchmark::State& state) {
  char path[] = "/tmp/brindle-bench-routes-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    state.SkipWithError("cannot create the batch file");
    return;
  }
  close(fd);
  {
    std::ofstream batch(path);
    for (const RouteSpec& spec : routes()) {
      batch << "route add " << spec.destination.to_string() << " via "
            << spec.gateway.to_string(true) << " proto " << int{kProtocol} << "\n";
    }
  }
  Finished finished;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchNetns ns = prepared_namespace();
    const int netns_fd = ns.fd();
    state.ResumeTiming();
    const pid_t child = fork();
    if (child == 0) {
      if (setns(netns_fd, CLONE_NEWNET) != 0)
        _exit(126);
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
    if (!all_routes_present(ns, state))
      break;
    finished.namespaces.push_back(std::move(ns));
    state.ResumeTiming();
  }
  unlink(path);
  report(state);
}

BENCHMARK(BM_AdapterBatched)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AdapterOneByOne)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpBatch)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
