#include "etcd_watch.h"

#include <pthread.h>

#include <algorithm>
#include <random>

#include "documents.h"

namespace brindle::etcd {
namespace {

constexpr int64_t kInitialBackoffMs = 100;
constexpr int64_t kMaxBackoffMs = 3000;

}  // namespace

WatchStream::WatchStream(std::shared_ptr<EtcdClient> client, Host host, KeyLayout layout,
                         std::string range_start, int64_t start_revision, WatchHandler handler,
                         WatchMetrics metrics)
    : client_(std::move(client)),
      host_(host),
      layout_(std::move(layout)),
      range_start_(std::move(range_start)),
      range_end_(KeyLayout::prefix_range_end(range_start_)),
      next_revision_(start_revision),
      handler_(handler),
      metrics_(metrics) {}

WatchStream::~WatchStream() {
  stop();
}

void WatchStream::start() {
  thread_ = std::thread([self = shared_from_this()] {
    pthread_setname_np(pthread_self(), "etcd-watch");
    self->run();
  });
}

void WatchStream::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    if (active_context_ != nullptr) {
      active_context_->TryCancel();
    }
  }
  wake_.notify_all();
  std::lock_guard<std::mutex> lock(join_mutex_);
  if (!thread_.joinable()) {
    return;
  }
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // on our own thread: it ends by itself and holds its own reference
  } else {
    thread_.join();
  }
}

bool WatchStream::stopping() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

bool WatchStream::sleep_unless_stopped(int64_t ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void WatchStream::run() {
  try {
    run_streams();
  } catch (const std::exception& e) {
    // Nothing may escape a thread. The stream cannot be trusted to continue: ask for a relist.
    host_.error("etcd watch failed unexpectedly", "error=" + logfmt_value(e.what()));
    if (!stopping()) {
      handler_.deliver(BRINDLE_WATCH_RESYNC_REQUIRED, nullptr, std::to_string(next_revision_ - 1),
                       std::string("etcd watch failed unexpectedly: ") + e.what());
    }
  }
}

void WatchStream::run_streams() {
  std::mt19937 jitter{std::random_device{}()};
  int64_t backoff_ms = kInitialBackoffMs;
  size_t index = client_->preferred_endpoint();
  while (true) {
    bool created = false;
    std::string failure;
    const StreamEnd end = run_stream(index, &created, &failure);
    if (end != StreamEnd::kFailed || stopping()) {
      return;
    }
    if (created) {
      backoff_ms = kInitialBackoffMs;  // the stream worked for a while: retry quickly
    }
    const std::string& where = client_->endpoint_address(index);
    host_.warn("etcd watch stream failed; reconnecting",
               "endpoint=" + where + " next_revision=" + std::to_string(next_revision_) +
                   " error=" + logfmt_value(failure));
    if (!disconnected_) {
      disconnected_ = true;
      handler_.deliver(BRINDLE_WATCH_DISCONNECTED, nullptr, std::to_string(next_revision_ - 1),
                       "etcd watch via " + where + " failed: " + failure);
    }
    // The next member may still have a leader and the data; a restarted one will be retried.
    index = (index + 1) % client_->endpoint_count();
    const int64_t wait =
        backoff_ms / 2 + std::uniform_int_distribution<int64_t>(0, backoff_ms / 2)(jitter);
    if (!sleep_unless_stopped(wait)) {
      return;
    }
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
}

WatchStream::StreamEnd WatchStream::run_stream(size_t index, bool* created, std::string* failure) {
  const std::string& where = client_->endpoint_address(index);
  const Deadline dial_deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(client_->dial_timeout_ms());
  // With several members a failing one is left at once; the run loop's backoff paces retries.
  const EtcdClient::Connection connection = client_->wait_connected(
      index, dial_deadline, client_->endpoint_count() > 1, [this] { return stopping(); });
  if (connection == EtcdClient::Connection::kStopped) {
    return StreamEnd::kStopped;
  }
  if (connection != EtcdClient::Connection::kReady) {
    *failure = connection == EtcdClient::Connection::kFailed
                   ? "cannot connect to " + where
                   : "no connection to " + where + " within " +
                         std::to_string(client_->dial_timeout_ms()) + " ms";
    return StreamEnd::kFailed;
  }
  if (client_->uses_authentication() && !first_stream_) {
    // Simple tokens live in member memory: a restarted member no longer knows ours.
    try {
      client_->authenticate(index,
                            dial_deadline + std::chrono::milliseconds(client_->dial_timeout_ms()));
    } catch (const Error& e) {
      *failure = e.what();
      return StreamEnd::kFailed;
    }
  }
  first_stream_ = false;

  grpc::ClientContext context;
  client_->prepare_stream_context(context);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      return StreamEnd::kStopped;
    }
    active_context_ = &context;
  }
  struct ClearActive {
    WatchStream* self;
    ~ClearActive() {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->active_context_ = nullptr;
    }
  } clear_active{this};

  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream = client_->watch_stub(index).Watch(&context);
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(range_start_);
  create->set_range_end(range_end_);
  create->set_start_revision(next_revision_);
  create->set_progress_notify(true);
  create->set_prev_kv(true);  // DELETED events carry the last known document

  etcdserverpb::WatchResponse response;
  if (stream->Write(request)) {
    while (stream->Read(&response)) {
      if (response.compact_revision() != 0) {
        const std::string message =
            "etcd compacted its history up to revision " +
            std::to_string(response.compact_revision()) + "; this watch needed revision " +
            std::to_string(next_revision_) + " onwards: list again and start a new watch";
        host_.warn("etcd watch needs a resync",
                   "endpoint=" + where +
                       " compact_revision=" + std::to_string(response.compact_revision()) +
                       " next_revision=" + std::to_string(next_revision_));
        handler_.deliver(BRINDLE_WATCH_RESYNC_REQUIRED, nullptr,
                         std::to_string(response.compact_revision()), message);
        context.TryCancel();
        stream->Finish();
        return StreamEnd::kResync;
      }
      if (response.canceled()) {
        *failure = "etcd canceled the watch: " + response.cancel_reason();
        context.TryCancel();
        stream->Finish();
        return StreamEnd::kFailed;
      }
      if (response.created()) {
        *created = true;
        if (disconnected_) {
          disconnected_ = false;
          metrics_.reconnects.add(1);
          host_.info("etcd watch stream re-established",
                     "endpoint=" + where + " next_revision=" + std::to_string(next_revision_));
          handler_.deliver(
              BRINDLE_WATCH_RECONNECTED, nullptr, std::to_string(next_revision_ - 1),
              "watching again via " + where + " from revision " + std::to_string(next_revision_));
        }
        continue;
      }
      if (response.events_size() == 0) {
        // Progress notification: nothing at or below header.revision is still to come.
        next_revision_ = std::max(next_revision_, response.header().revision() + 1);
        handler_.deliver(BRINDLE_WATCH_PROGRESS, nullptr, std::to_string(next_revision_ - 1));
        continue;
      }
      deliver_events(response);
    }
  }
  const grpc::Status status = stream->Finish();
  if (stopping()) {
    return StreamEnd::kStopped;
  }
  *failure = status.ok() ? "the stream ended" : status.error_message();
  return StreamEnd::kFailed;
}

void WatchStream::skip_garbage(std::string_view key, std::string_view reason) {
  metrics_.garbage.add(1);
  host_.warn("skipping a value under the etcd prefix that is not a resource",
             "key=" + logfmt_value(key) + " reason=" + logfmt_value(reason));
}

void WatchStream::deliver_events(const etcdserverpb::WatchResponse& response) {
  // Events of one revision always arrive in one response; anything below the stream's start
  // revision was delivered before a reconnect.
  const int64_t floor = next_revision_;
  int64_t last = next_revision_ - 1;
  for (const mvccpb::Event& event : response.events()) {
    const mvccpb::KeyValue& kv = event.kv();
    const int64_t revision = kv.mod_revision();
    if (revision < floor) {
      continue;
    }
    last = std::max(last, revision);
    const std::optional<ResourceKey> key = layout_.parse(kv.key());
    if (!key) {
      skip_garbage(kv.key(), "key is not <prefix><kind>/<namespace or _>/<name>");
      continue;
    }
    const std::string revision_text = std::to_string(revision);
    Resource resource{*key, {}, revision_text};
    brindle_watch_event_type_t type;
    if (event.type() == mvccpb::Event::PUT) {
      std::string problem;
      std::optional<std::string> json =
          document_for_read(kv.value(), *key, revision_text, &problem);
      if (!json) {
        skip_garbage(kv.key(), problem);
        continue;
      }
      resource.json = std::move(*json);
      type = kv.version() == 1 ? BRINDLE_WATCH_ADDED : BRINDLE_WATCH_MODIFIED;
    } else {
      type = BRINDLE_WATCH_DELETED;
      if (event.has_prev_kv()) {
        std::string problem;
        std::optional<std::string> json =
            document_for_read(event.prev_kv().value(), *key,
                              std::to_string(event.prev_kv().mod_revision()), &problem);
        if (json) {
          resource.json = std::move(*json);
        }
      }
    }
    metrics_.events.add(1);
    handler_.deliver(type, &resource, revision_text);
  }
  next_revision_ = last + 1;
}

}  // namespace brindle::etcd
