#include "kube_watch.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>

#include "kube_status.h"

namespace brindle::kube {
namespace {

constexpr int64_t kInitialBackoffMs = 100;
constexpr int64_t kMaxBackoffMs = 3000;
// The longest the loop sleeps without looking at its streams (stop() wakes it at once).
constexpr int kPollMs = 1000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct KubeWatch::Stream {
  const KindInfo* kind = nullptr;
  std::string resource_version;  // the last one seen: a reconnect continues after it
  CurlEasy easy;
  RequestHeadersPtr headers;      // what the current request was configured with
  bool active = false;            // in the multi handle
  bool established = false;       // the server answered 200 to the current request
  bool just_established = false;  // set by the header callback, consumed by the loop
  bool down = false;              // failed and not yet re-established
  bool abort = false;             // given up while the transfer runs: remove it and retry
  int64_t retry_at_ms = 0;
  int64_t backoff_ms = kInitialBackoffMs;
  int64_t started_ms = 0;
  size_t events_this_request = 0;
  std::string buffer;  // received and not yet delivered (the body of a non-200 answer, too)
  char error_buffer[CURL_ERROR_SIZE] = {};

  static size_t on_body(char* data, size_t size, size_t count, void* user) {
    static_cast<Stream*>(user)->buffer.append(data, size * count);
    return size * count;
  }
  static size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<Stream*>(user);
    const std::string_view line(data, size * count);
    if (line == "\r\n" || line == "\n") {  // the end of the headers
      long status = 0;
      curl_easy_getinfo(self->easy.get(), CURLINFO_RESPONSE_CODE, &status);
      if (status == 200) {
        self->established = true;
        self->just_established = true;
      }
    }
    return size * count;
  }
};

KubeWatch::KubeWatch(std::shared_ptr<HttpClient> http, Host host, std::vector<WatchTarget> targets,
                     bool composite, WatchHandler handler, WatchMetrics metrics,
                     std::shared_ptr<PodOverlay> pods, PodReader read_pod)
    : http_(std::move(http)),
      host_(host),
      composite_(composite),
      handler_(handler),
      metrics_(metrics),
      pods_(std::move(pods)),
      read_pod_(std::move(read_pod)) {
  for (WatchTarget& target : targets) {
    auto stream = std::make_unique<Stream>();
    stream->kind = target.kind;
    stream->resource_version = std::move(target.resource_version);
    stream->easy = new_easy();
    streams_.push_back(std::move(stream));
  }
}

KubeWatch::~KubeWatch() {
  stop();
}

void KubeWatch::start() {
  thread_ = std::thread([self = shared_from_this()] {
    pthread_setname_np(pthread_self(), "kube-watch");
    self->run();
  });
}

void KubeWatch::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    if (active_multi_ != nullptr) {
      curl_multi_wakeup(active_multi_);
    }
  }
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

bool KubeWatch::stopping() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

std::string KubeWatch::position() const {
  if (!composite_) {
    return streams_.front()->resource_version;
  }
  std::vector<KindRevision> revisions;
  for (const auto& stream : streams_) {
    revisions.push_back({stream->kind->source, stream->resource_version});
  }
  return format_composite_revision(revisions);
}

void KubeWatch::run() {
  try {
    CurlMulti multi = new_multi();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      active_multi_ = multi.get();
    }
    // However run_streams() ends, the streams leave the multi handle before it goes.
    auto detach_streams = [&] {
      for (auto& stream : streams_) {
        if (stream->active) {
          curl_multi_remove_handle(multi.get(), stream->easy.get());
          stream->active = false;
        }
      }
      std::lock_guard<std::mutex> lock(mutex_);
      active_multi_ = nullptr;
    };
    try {
      run_streams(multi.get());
    } catch (...) {
      detach_streams();
      throw;
    }
    detach_streams();
  } catch (const std::exception& e) {
    // Nothing may escape a thread. The watch cannot be trusted to continue: ask for a relist.
    host_.error("kubernetes watch failed unexpectedly", "error=" + logfmt_value(e.what()));
    if (!stopping()) {
      handler_.deliver(BRINDLE_WATCH_RESYNC_REQUIRED, nullptr, position(),
                       std::string("kubernetes watch failed unexpectedly: ") + e.what());
    }
  }
}

void KubeWatch::run_streams(CURLM* multi) {
  std::mt19937 jitter{std::random_device{}()};
  while (!stopping()) {
    const int64_t now = now_ms();
    for (auto& stream : streams_) {
      if (!stream->active && now >= stream->retry_at_ms) {
        start_stream(multi, *stream);
      }
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    for (auto& stream : streams_) {
      if (!drain_lines(*stream)) {
        return;
      }
      if (stream->abort && stream->active) {
        curl_multi_remove_handle(multi, stream->easy.get());
        stream->active = false;
        schedule_retry(*stream, jitter);
      }
      stream->abort = false;
    }
    int pending = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &pending)) {
      if (message->msg != CURLMSG_DONE) {
        continue;
      }
      for (auto& stream : streams_) {
        if (stream->active && stream->easy.get() == message->easy_handle) {
          const CURLcode result = message->data.result;
          if (!finish_stream(multi, *stream, result)) {
            return;
          }
          if (stream->down) {
            schedule_retry(*stream, jitter);
          }
          stream->abort = false;
          break;
        }
      }
    }
    bool all_up = true;
    for (auto& stream : streams_) {
      if (stream->just_established) {
        stream->just_established = false;
        stream->down = false;
        stream->backoff_ms = kInitialBackoffMs;
      }
      all_up = all_up && !stream->down;
    }
    if (disconnected_ && all_up) {
      disconnected_ = false;
      metrics_.reconnects.add(1);
      host_.info("kubernetes watch re-established",
                 "server=" + http_->connection().server + " revision=" + logfmt_value(position()));
      handler_.deliver(BRINDLE_WATCH_RECONNECTED, nullptr, position(),
                       "watching again via " + http_->connection().server);
    }
    int64_t timeout = kPollMs;
    const int64_t after = now_ms();
    for (auto& stream : streams_) {
      if (!stream->active) {
        timeout = std::min(timeout, std::max<int64_t>(0, stream->retry_at_ms - after));
      }
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(timeout), nullptr);
  }
}

void KubeWatch::schedule_retry(Stream& stream, std::mt19937& jitter) {
  // Jittered exponential backoff per stream; a stream that comes back resets it.
  const int64_t wait = stream.backoff_ms / 2 +
                       std::uniform_int_distribution<int64_t>(0, stream.backoff_ms / 2)(jitter);
  stream.retry_at_ms = now_ms() + wait;
  stream.backoff_ms = std::min(stream.backoff_ms * 2, kMaxBackoffMs);
}

void KubeWatch::start_stream(CURLM* multi, Stream& stream) {
  CURL* easy = stream.easy.get();
  curl_easy_reset(easy);
  const std::string path =
      collection_path(*stream.kind, {}) +
      "?watch=1&allowWatchBookmarks=true&resourceVersion=" + url_escape(stream.resource_version);
  stream.headers = http_->prepare_stream(easy, path);
  stream.error_buffer[0] = '\0';
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, stream.error_buffer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Stream::on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &stream);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Stream::on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &stream);
  stream.buffer.clear();
  stream.established = false;
  stream.just_established = false;
  stream.events_this_request = 0;
  stream.started_ms = now_ms();
  if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
    throw Error(BRINDLE_ERR_INTERNAL, "curl_multi_add_handle failed");
  }
  stream.active = true;
}

bool KubeWatch::drain_lines(Stream& stream) {
  if (!stream.established) {
    return true;  // a failed answer's body stays whole for finish_stream
  }
  size_t start = 0;
  while (true) {
    const size_t end = stream.buffer.find('\n', start);
    if (end == std::string::npos) {
      break;
    }
    const std::string line = stream.buffer.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \r\t") == std::string::npos) {
      continue;
    }
    if (!handle_event(stream, line)) {
      return false;
    }
    if (!stream.established) {
      break;  // the stream was given up (a bad event): the rest is not delivered
    }
  }
  stream.buffer.erase(0, start);
  return true;
}

bool KubeWatch::handle_event(Stream& stream, const std::string& line) {
  const Json event = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  const auto type = event.is_object() ? event.find("type") : event.end();
  const auto object = event.is_object() ? event.find("object") : event.end();
  if (type == event.end() || !type->is_string() || object == event.end()) {
    stream.established = false;
    stream_failed(stream,
                  "the server sent something that is not a watch event: " + line.substr(0, 200));
    return true;
  }
  const std::string& name = type->get_ref<const std::string&>();
  if (name == "ERROR") {
    const ApiStatus status = parse_api_status(
        object->is_object() && object->contains("code") && object->at("code").is_number_integer()
            ? object->at("code").get<long>()
            : 0,
        object->dump());
    if (status.http_status == 410 || status.reason == "Expired" || status.reason == "Gone") {
      resync("the API server no longer has the history of " + stream.kind->plural + " from " +
             "resourceVersion " + stream.resource_version + " (" + status.message +
             "): list again and start a new watch");
      return false;
    }
    stream.established = false;
    stream_failed(stream,
                  "the server ended the watch of " + stream.kind->plural + ": " + status.message);
    return true;
  }
  const std::string* resource_version = nullptr;
  if (object->is_object()) {
    if (auto metadata = object->find("metadata");
        metadata != object->end() && metadata->is_object()) {
      if (auto rv = metadata->find("resourceVersion"); rv != metadata->end() && rv->is_string()) {
        resource_version = &rv->get_ref<const std::string&>();
      }
    }
  }
  if (name == "BOOKMARK") {
    if (resource_version != nullptr && !resource_version->empty()) {
      stream.resource_version = *resource_version;
    }
    handler_.deliver(BRINDLE_WATCH_PROGRESS, nullptr, position());
    return true;
  }
  brindle_watch_event_type_t kind;
  if (name == "ADDED") {
    kind = BRINDLE_WATCH_ADDED;
  } else if (name == "MODIFIED") {
    kind = BRINDLE_WATCH_MODIFIED;
  } else if (name == "DELETED") {
    kind = BRINDLE_WATCH_DELETED;
  } else {
    host_.warn("ignoring a watch event of unknown type",
               "resource=" + stream.kind->plural + " type=" + logfmt_value(name));
    return true;
  }
  if (resource_version != nullptr && !resource_version->empty()) {
    stream.resource_version = *resource_version;
  }
  if (stream.kind->overlay) {
    handle_pod_event(stream, kind, *object);
    return true;
  }
  std::string problem;
  std::optional<HostDocument> doc = from_kube_object(*object, *stream.kind, &problem);
  if (!doc) {
    metrics_.garbage.add(1);
    host_.warn("skipping a watched object that is not a resource of its kind",
               "resource=" + stream.kind->plural + " reason=" + logfmt_value(problem));
    return true;
  }
  if (pods_ && doc->key.kind == stream.kind->kind) {
    if (kind != BRINDLE_WATCH_DELETED) {
      learn_pod(*doc);
    }
    pods_->endpoint_seen(*doc, kind == BRINDLE_WATCH_DELETED);
  }
  ++stream.events_this_request;
  metrics_.events.add(1);
  const Resource resource{doc->key, doc->json, doc->revision};
  handler_.deliver(kind, &resource, doc->revision);
  return true;
}

void KubeWatch::handle_pod_event(Stream& stream, brindle_watch_event_type_t type,
                                 const Json& object) {
  ++stream.events_this_request;
  std::string problem;
  auto facts = pod_facts(object, &problem);
  if (!facts) {
    metrics_.garbage.add(1);
    host_.warn("skipping a watched object that is not a resource of its kind",
               "resource=" + stream.kind->plural + " reason=" + logfmt_value(problem));
    return;
  }
  std::optional<PodFacts> now;
  if (type != BRINDLE_WATCH_DELETED) {
    now = std::move(facts->second);
  }
  deliver_endpoints(pods_->pod_changed(facts->first, now));
}

void KubeWatch::learn_pod(const HostDocument& endpoint) {
  const std::optional<PodName> pod = endpoint_pod(endpoint);
  if (!pod || pods_->knows(*pod) || !read_pod_) {
    return;
  }
  try {
    // Its other endpoints (another interface of the pod) show what it says from now on too.
    deliver_endpoints(pods_->pod_changed(*pod, read_pod_(*pod)));
  } catch (const std::exception& e) {
    // The Pod stream brings it later (a MODIFIED event of the endpoint then).
    host_.warn(
        "could not read the pod of a workload endpoint",
        "pod=" + logfmt_value(pod->first + "/" + pod->second) + " error=" + logfmt_value(e.what()));
  }
}

void KubeWatch::deliver_endpoints(const std::vector<HostDocument>& endpoints) {
  for (const HostDocument& endpoint : endpoints) {
    metrics_.events.add(1);
    const Resource resource{endpoint.key, endpoint.json, endpoint.revision};
    handler_.deliver(BRINDLE_WATCH_MODIFIED, &resource, endpoint.revision);
  }
}

bool KubeWatch::finish_stream(CURLM* multi, Stream& stream, CURLcode result) {
  curl_multi_remove_handle(multi, stream.easy.get());
  stream.active = false;
  long status = 0;
  curl_easy_getinfo(stream.easy.get(), CURLINFO_RESPONSE_CODE, &status);
  if (result == CURLE_OK && status == 200) {
    if (!drain_lines(stream)) {
      return false;
    }
    if (stream.established) {
      // The server closed the watch (its timeout): continue at once, unless it keeps doing so
      // right away, when the backoff paces the retries without calling it a disconnection.
      const bool short_lived =
          stream.events_this_request == 0 && now_ms() - stream.started_ms < 1000;
      stream.retry_at_ms = short_lived ? now_ms() + stream.backoff_ms : 0;
      stream.backoff_ms =
          short_lived ? std::min(stream.backoff_ms * 2, kMaxBackoffMs) : kInitialBackoffMs;
    }
    return true;
  }
  if (result == CURLE_OK) {
    const ApiStatus api = parse_api_status(status, stream.buffer);
    if (status == 410) {
      resync("the API server no longer has the history of " + stream.kind->plural + " from " +
             "resourceVersion " + stream.resource_version + " (" + api.message +
             "): list again and start a new watch");
      return false;
    }
    stream_failed(stream, "watch of " + stream.kind->plural + ": " + api.message + " (HTTP " +
                              std::to_string(status) +
                              (api.reason.empty() ? "" : " " + api.reason) + ")");
    return true;
  }
  // Complete events that arrived before the connection broke are still delivered.
  if (stream.established && !drain_lines(stream)) {
    return false;
  }
  stream_failed(stream, "watch of " + stream.kind->plural + " via " + http_->connection().server +
                            ": " + describe_curl(result, stream.error_buffer));
  return true;
}

void KubeWatch::stream_failed(Stream& stream, const std::string& failure) {
  stream.down = true;
  stream.abort = true;
  stream.established = false;
  host_.warn("kubernetes watch stream failed; reconnecting",
             "resource=" + stream.kind->plural + " resource_version=" +
                 logfmt_value(stream.resource_version) + " error=" + logfmt_value(failure));
  if (!disconnected_) {
    disconnected_ = true;
    handler_.deliver(BRINDLE_WATCH_DISCONNECTED, nullptr, position(), failure);
  }
}

void KubeWatch::resync(const std::string& message) {
  host_.warn("kubernetes watch needs a resync", "error=" + logfmt_value(message));
  handler_.deliver(BRINDLE_WATCH_RESYNC_REQUIRED, nullptr, position(), message);
}

}  // namespace brindle::kube
