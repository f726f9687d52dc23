// One watch: a plugin thread driving one streaming GET (?watch=1&resourceVersion=...&
// allowWatchBookmarks=true) per watched kind with a curl multi handle. Events are delivered in
// arrival order, one at a time. Bookmarks become PROGRESS; a 410 (HTTP or an ERROR event) becomes
// RESYNC_REQUIRED and ends the watch; a failed stream reconnects with backoff from the last
// resourceVersion it saw (DISCONNECTED once, RECONNECTED when every stream is back).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "brindle/sdk.hpp"
#include "curl_http.h"
#include "kube_documents.h"
#include "kube_kinds.h"
#include "kube_pod_overlay.h"

namespace brindle::kube {

struct WatchMetrics {
  Metric events;      // events delivered to the host
  Metric reconnects;  // watches whose streams all came back after a failure
  Metric garbage;     // objects skipped as not convertible
};

struct WatchTarget {
  const KindInfo* kind = nullptr;
  std::string resource_version;  // watch from just after this
};

class KubeWatch : public std::enable_shared_from_this<KubeWatch> {
 public:
  // `composite`: revisions of PROGRESS/DISCONNECTED/... are source=rv lists (a watch of several
  // resources: every kind, or a kind with derived sources) rather than one resourceVersion.
  // What a pod says now, read from the server (nullopt: no such pod); throws Error.
  using PodReader = std::function<std::optional<PodFacts>(const PodName&)>;
  // `pods`: for a watch of WorkloadEndpoints, what the pods say (kube_pod_overlay.h); endpoint
  // events are shown as their pod says and a pod's change is a MODIFIED event of its endpoints.
  // An endpoint of a pod the Pod stream has not shown yet has its pod read with `read_pod` first,
  // so that the endpoint never shows without its pod's labels for a moment.
  KubeWatch(std::shared_ptr<HttpClient> http, Host host, std::vector<WatchTarget> targets,
            bool composite, WatchHandler handler, WatchMetrics metrics,
            std::shared_ptr<PodOverlay> pods = nullptr, PodReader read_pod = nullptr);
  ~KubeWatch();
  KubeWatch(const KubeWatch&) = delete;
  KubeWatch& operator=(const KubeWatch&) = delete;

  // Starts the thread, which keeps this object alive until it ends.
  void start();
  // Ends the watch; when it returns the handler is not running and will not run again.
  void stop();

 private:
  struct Stream;

  void run();
  void run_streams(CURLM* multi);
  void start_stream(CURLM* multi, Stream& stream);
  void schedule_retry(Stream& stream, std::mt19937& jitter);
  // Delivers the complete lines received so far; false when the watch must end (resync).
  bool drain_lines(Stream& stream);
  bool handle_event(Stream& stream, const std::string& line);
  // An event of a Pod: its endpoints again when what it says changed.
  void handle_pod_event(Stream& stream, brindle_watch_event_type_t type, const Json& object);
  // Learns the pod of an endpoint event when the Pod stream has not shown it yet.
  void learn_pod(const HostDocument& endpoint);
  void deliver_endpoints(const std::vector<HostDocument>& endpoints);
  // A finished transfer; false when the watch must end (resync).
  bool finish_stream(CURLM* multi, Stream& stream, CURLcode result);
  void stream_failed(Stream& stream, const std::string& failure);
  void resync(const std::string& message);
  std::string position() const;
  bool stopping();

  std::shared_ptr<HttpClient> http_;
  Host host_;
  std::vector<std::unique_ptr<Stream>> streams_;
  bool composite_;
  WatchHandler handler_;
  WatchMetrics metrics_;
  std::shared_ptr<PodOverlay> pods_;  // used on the watch thread only
  PodReader read_pod_;
  bool disconnected_ = false;  // DISCONNECTED delivered and RECONNECTED not yet

  std::mutex mutex_;
  bool stopping_ = false;
  CURLM* active_multi_ = nullptr;  // guarded by mutex_, for curl_multi_wakeup
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace brindle::kube
