// One watch of a key range: a plugin thread that keeps an etcd Watch stream open, delivers events
// in revision order and reconnects (with backoff, trying every endpoint) after failures, resuming
// right after the last delivered revision so the host sees each change exactly once. When etcd no
// longer has that history (compaction) it delivers RESYNC_REQUIRED and ends.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "brindle/sdk.hpp"
#include "etcd_client.h"
#include "key_layout.h"

namespace brindle::etcd {

struct WatchMetrics {
  Metric events;      // events delivered to the host
  Metric reconnects;  // streams re-established after a failure
  Metric garbage;     // values/keys skipped as not being resources
};

class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  // Watches every key starting with `range_start`, from `start_revision` (inclusive, >= 1).
  WatchStream(std::shared_ptr<EtcdClient> client, Host host, KeyLayout layout,
              std::string range_start, int64_t start_revision, WatchHandler handler,
              WatchMetrics metrics);
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Starts the thread, which keeps this object alive until it ends.
  void start();
  // Ends the stream; when it returns the handler is not running and will not run again (unless
  // called from the handler itself, which the ABI forbids: then it only stops the stream).
  void stop();

 private:
  enum class StreamEnd { kFailed, kStopped, kResync };

  void run();
  void run_streams();
  // Runs one stream on endpoint `index` until it fails or ends; sets *failure on failure.
  StreamEnd run_stream(size_t index, bool* created, std::string* failure);
  void deliver_events(const etcdserverpb::WatchResponse& response);
  void skip_garbage(std::string_view key, std::string_view reason);
  bool stopping();
  // Sleeps for `ms` unless stopped first; returns false when stopped.
  bool sleep_unless_stopped(int64_t ms);

  std::shared_ptr<EtcdClient> client_;
  Host host_;
  KeyLayout layout_;
  std::string range_start_;
  std::string range_end_;
  int64_t next_revision_;      // the first revision not yet delivered; streams start here
  bool disconnected_ = false;  // DISCONNECTED delivered and RECONNECTED not yet
  bool first_stream_ = true;
  WatchHandler handler_;
  WatchMetrics metrics_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  grpc::ClientContext* active_context_ = nullptr;  // guarded by mutex_, for TryCancel
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace brindle::etcd
