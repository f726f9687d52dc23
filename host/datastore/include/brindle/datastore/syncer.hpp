// Keeps an in-memory copy of the datastore in step with it: list, then watch from the list's
// revision; on "resync required" (compaction, 410 Gone) list again and report only the
// differences, so consumers see one consistent stream of upserts and removals with nothing lost
// or repeated. Consumers are called on the syncer's own thread, never on a plugin thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "brindle/datastore/client.hpp"

namespace brindle::datastore {

struct SyncCallbacks {
  std::function<void(const Stored&)> upsert;  // added or changed
  std::function<void(const Key&)> remove;
  std::function<void()> in_sync;  // after the first complete list, once
  std::function<void(const std::string&)> log_warning;
};

class Syncer {
 public:
  Syncer(const Client& client, SyncCallbacks callbacks,
         std::chrono::milliseconds max_backoff = std::chrono::seconds(10));
  ~Syncer();  // stops
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;

  void start();
  void stop();

  // Number of full lists done (1 after start, +1 per resync); for tests and metrics.
  int lists_done() const;

 private:
  void run();
  bool relist();  // false on failure (retried with backoff)
  void handle(const Event& event);

  const Client& client_;
  SyncCallbacks callbacks_;
  std::chrono::milliseconds max_backoff_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  int lists_done_ = 0;

  // Owned by the worker thread.
  std::map<Key, Stored> cache_;
  std::unique_ptr<WatchHandle> watch_;
  bool synced_ = false;
  std::thread worker_;
};

}  // namespace brindle::datastore
