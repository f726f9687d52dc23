// Keeps an in-memory copy of the datastore in step with it: list, then watch from the list's
// revision; on "resync required" (compaction, 410 Gone) list again and report only the
// differences, so consumers see one consistent stream of upserts and removals with nothing lost
// or repeated. Consumers are called on the syncer's own thread, never on a plugin thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

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
  // Records a listed item; reports it when it is new or differs from what was reported.
  void listed(const Stored& item);

  // What consumers were told about one resource: just enough to tell whether a relisted item
  // differs (the documents themselves are the consumers' business). A different revision is
  // always a change; the hash decides only between equal revisions, so a collision cannot hide
  // an update.
  struct Reported {
    std::string revision;  // short (etcd: decimal), so held in the string object itself
    size_t json_hash = 0;
    uint32_t list = 0;  // the last list that delivered it (mark and sweep)
  };

  const Client& client_;
  SyncCallbacks callbacks_;
  std::chrono::milliseconds max_backoff_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  int lists_done_ = 0;

  // Owned by the worker thread.
  // Keyed by the resource's kind, namespace and name in one string (see cache_key()).
  std::unordered_map<std::string, Reported> cache_;
  uint32_t list_number_ = 0;  // of the current (or last) list
  std::unique_ptr<WatchHandle> watch_;
  bool synced_ = false;
  std::thread worker_;
};

}  // namespace brindle::datastore
