// Filling etcd for a benchmark: every write is a round trip, so parallel writers, each with a
// datastore connection of its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <iostream>
#include <thread>
#include <vector>

#include "brindle/ipam/store.hpp"
#include "etcd_datastore.hpp"

namespace brindle::bench {

// Calls write(store, i) for every i in [0, count), on `writers` threads. False (the error on
// stderr) when a write failed; the writes not yet started are then skipped.
inline bool write_in_parallel(const test::EtcdDatastore& etcd, int writers, size_t count,
                              const std::function<void(const ipam::Store&, size_t)>& write) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&] {
      try {
        const auto connection = etcd.connect("bench-writer");
        const ipam::Store store(connection->client());
        for (size_t i = next++; i < count && !failed; i = next++) {
          write(store, i);
        }
      } catch (const std::exception& e) {
        std::cerr << "populating etcd: " << e.what() << "\n";
        failed = true;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  return !failed;
}

}  // namespace brindle::bench
