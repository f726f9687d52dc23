// Benchmark of the datastore-etcd plugin against a real, local etcd (started here on 127.0.0.1
// with a temporary data directory). Prints figures; it is not a pass/fail test.
//
//   bench_etcd [--resources N]      (default 10000)
//
// Figures: create and update throughput (1 and 4 writer threads), list of N resources, and watch
// latency from issuing a put to the event's delivery (p50/p99).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "datastore_client.h"
#include "etcd_harness.h"
#include "host_stub.h"

namespace {

using brindle::test::DatastoreInstance;
using brindle::test::Stored;
using Clock = std::chrono::steady_clock;

Stored pool(const std::string& name, int i) {
  return Stored{"IPPool", "", name,
                nlohmann::json{{"apiVersion", "brindle.network/v1"},
                               {"kind", "IPPool"},
                               {"metadata", {{"name", name}, {"labels", {{"bench", "yes"}}}}},
                               {"spec",
                                {{"cidr", "198.18." + std::to_string(i % 256) + ".0/24"},
                                 {"blockSize", 26},
                                 {"ipipMode", "Never"},
                                 {"vxlanMode", "CrossSubnet"},
                                 {"natOutgoing", true}}}}
                    .dump(),
                ""};
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index =
      std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  return values[index];
}

// Runs `op(i)` for i in [0, count) on `threads` threads; returns operations per second.
template <typename Op>
double throughput(int count, int threads, Op op) {
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = next++; i < count; i = next++) {
        op(t, i);
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  return static_cast<double>(count) / (ms_since(start) / 1000.0);
}

void check(const brindle::test::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, status.message.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int resources = 10000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--resources") {
      resources = std::stoi(argv[i + 1]);
    }
  }
  brindle::test::EtcdCluster etcd;
  const std::string config = "[datastore.etcd]\nendpoints = [\"" + etcd.member(0).endpoint() +
                             "\"]\nrequest_timeout_ms = 30000\n";
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<brindle::test::HostStub>> hosts;
  std::vector<std::unique_ptr<DatastoreInstance>> stores;
  for (int t = 0; t < kThreads; ++t) {
    hosts.push_back(std::make_unique<brindle::test::HostStub>(config, "datastore.etcd"));
    brindle::test::Status status;
    stores.push_back(DatastoreInstance::create(
        brindle::test::PluginLibrary::at(BRINDLE_ETCD_PLUGIN_PATH), *hosts.back(), &status));
    check(status, "plugin create");
  }
  DatastoreInstance& store = *stores[0];

  std::printf("datastore-etcd benchmark: etcd %s on 127.0.0.1, %d resources\n",
              "3.4 (Debian etcd-server)", resources);

  // Create throughput: one writer, then kThreads writers (one plugin instance each).
  constexpr int kSingle = 1000;
  const double create_1 = throughput(kSingle, 1, [&](int, int i) {
    check(store.create(pool("single-" + std::to_string(i), i)), "create");
  });
  const double create_n = throughput(resources, kThreads, [&](int t, int i) {
    check(stores[t]->create(pool("pool-" + std::to_string(i), i)), "create");
  });
  std::printf("create throughput: %.0f/s (1 writer), %.0f/s (%d writers)\n", create_1, create_n,
              kThreads);

  // Update throughput: conditional updates (read-modify-write with the revision).
  const double update_1 = throughput(kSingle, 1, [&](int, int i) {
    Stored current;
    check(store.get("IPPool", "", "single-" + std::to_string(i), &current), "get");
    Stored change = pool("single-" + std::to_string(i), i + 1);
    change.revision = current.revision;
    check(store.update(change), "update");
  });
  const double update_n = throughput(kSingle * kThreads, kThreads, [&](int t, int i) {
    Stored change = pool("pool-" + std::to_string(i), i + 7);  // unconditional
    check(stores[t]->update(change), "update");
  });
  std::printf(
      "update throughput: %.0f/s (1 writer, get + conditional update), %.0f/s (%d writers, "
      "unconditional)\n",
      update_1, update_n, kThreads);

  // List of every IPPool (resources + the single-writer ones), a few times.
  std::vector<double> list_ms;
  size_t listed = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<Stored> items;
    std::string revision;
    const auto start = Clock::now();
    check(store.list("IPPool", "", &items, &revision), "list");
    list_ms.push_back(ms_since(start));
    listed = items.size();
  }
  std::printf("list of %zu resources: median %.1f ms, best %.1f ms\n", listed,
              percentile(list_ms, 0.5), *std::min_element(list_ms.begin(), list_ms.end()));

  // Watch latency: from issuing an update through another instance to its delivery.
  std::mutex mutex;
  std::map<std::string, Clock::time_point> delivered;  // revision -> when
  brindle::test::WatchRecorder recorder;
  recorder.on_event = [&](const brindle::test::WatchRecorder::Event& event) {
    if (event.type == BRINDLE_WATCH_MODIFIED) {
      std::lock_guard<std::mutex> lock(mutex);
      delivered[event.revision] = Clock::now();
    }
  };
  check(store.watch("IPPool", "", recorder), "watch");
  constexpr int kLatencySamples = 1000;
  std::vector<double> latency_ms, put_ms;
  for (int i = 0; i < kLatencySamples; ++i) {
    Stored out;
    const auto start = Clock::now();
    check(stores[1]->update(pool("single-" + std::to_string(i), i + 3), &out), "update");
    put_ms.push_back(ms_since(start));
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = delivered.find(out.revision);
        if (it != delivered.end()) {
          latency_ms.push_back(
              std::chrono::duration<double, std::milli>(it->second - start).count());
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  recorder.cancel();
  std::printf(
      "watch latency (update issued -> event delivered, %d samples): p50 %.2f ms, p99 %.2f "
      "ms (the update call itself: p50 %.2f ms)\n",
      kLatencySamples, percentile(latency_ms, 0.5), percentile(latency_ms, 0.99),
      percentile(put_ms, 0.5));
  return 0;
}
