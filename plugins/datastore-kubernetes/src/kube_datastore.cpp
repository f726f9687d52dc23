#include "kube_datastore.h"

#include <chrono>
#include <random>
#include <thread>

#include "kube_status.h"

namespace brindle::kube {
namespace {

// An unconditional update re-reads and retries this often when it races with other writers.
constexpr int kUnconditionalUpdateAttempts = 8;
// A list whose continue token expired before anything was emitted starts over this often.
constexpr int kListAttempts = 3;

std::string describe(const ResourceKey& key) {
  return key.kind + " \"" + (key.namespace_.empty() ? key.name : key.namespace_ + "/" + key.name) +
         "\"";
}

Json parse_body(const HttpResponse& response, const std::string& what) {
  Json doc = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    throw Error(BRINDLE_ERR_INTERNAL,
                what + ": the API server answered HTTP " + std::to_string(response.status) +
                    " with a body that is not a JSON object: " + response.body.substr(0, 200));
  }
  return doc;
}

bool success(const HttpResponse& response) {
  return response.status >= 200 && response.status < 300;
}

}  // namespace

KubeDatastore::KubeDatastore(Host host)
    : DatastorePlugin(host),
      settings_(KubeSettings::parse(host.config())),
      kinds_(settings_.crd_group),
      http_(std::make_shared<HttpClient>(resolve_connection(host.config(), settings_))),
      requests_(host.counter("requests_total", "API server requests by operation and result")),
      garbage_(host.counter("garbage_skipped_total",
                            "objects skipped because they are not resources of their kind")) {
  watch_metrics_.events = host.counter("watch_events_total", "watch events delivered");
  watch_metrics_.reconnects =
      host.counter("watch_reconnects_total", "watches re-established after a failure");
  watch_metrics_.garbage = garbage_;
  check_served();
  host.info("kubernetes datastore ready", "server=" + http_->connection().server + " source=" +
                                              logfmt_value(http_->connection().source) +
                                              " crd_group=" + settings_.crd_group);
}

KubeDatastore::~KubeDatastore() {
  std::lock_guard<std::mutex> lock(watches_mutex_);
  for (const std::weak_ptr<KubeWatch>& weak : watches_) {
    if (std::shared_ptr<KubeWatch> watch = weak.lock()) {
      watch->stop();
    }
  }
}

void KubeDatastore::validate_config(const Host& host) {
  const Config config = host.config();
  resolve_connection(config, KubeSettings::parse(config));
}

void KubeDatastore::count(const char* op, brindle_status_t result) {
  requests_.add(1, std::string("op=\"") + op + "\",result=\"" + status_name(result) + "\"");
}

void KubeDatastore::skip_garbage(const KindInfo& kind, std::string_view reason) {
  garbage_.add(1);
  host().warn("skipping an object that is not a resource of its kind",
              "resource=" + kind.resource_name() + " reason=" + logfmt_value(reason));
}

void KubeDatastore::check_served() {
  for (const KindInfo* source : kinds_.sources({})) {
    const KindInfo& kind = *source;
    const std::string what = "checking that the API server serves " + kind.resource_name();
    const HttpResponse response =
        http_->request("GET", collection_path(kind, {}) + "?limit=1", nullptr, what);
    if (response.status == 404) {
      throw Error(BRINDLE_ERR_UNAVAILABLE,
                  what + ": it does not (HTTP 404)" +
                      (kind.native ? std::string()
                                   : "; install Brindle's CustomResourceDefinitions first "
                                     "(kubectl apply -f configs/kubernetes/crds.yaml)"));
    }
    if (!success(response)) {
      throw_api_error(parse_api_status(response.status, response.body), what);
    }
  }
}

std::optional<HostDocument> KubeDatastore::convert(const Json& object, const KindInfo& kind) {
  std::string problem;
  std::optional<HostDocument> doc = from_kube_object(object, kind, &problem);
  if (!doc) {
    skip_garbage(kind, problem);
  }
  return doc;
}

HostDocument KubeDatastore::stored_document(const HttpResponse& response, const KindInfo& kind,
                                            const std::string& what) {
  std::string problem;
  std::optional<HostDocument> doc = from_kube_object(parse_body(response, what), kind, &problem);
  if (!doc) {
    skip_garbage(kind, problem);
    throw Error(BRINDLE_ERR_INTERNAL,
                what + ": the stored object is not a " + kind.kind + " document: " + problem);
  }
  return std::move(*doc);
}

// Owned by its Kubernetes Node, a Brindle Node goes when the node is deleted from the cluster (the
// garbage collector deletes it), instead of leaving its routes and block affinities behind; as
// Cilium's CiliumNode. A host that is no Kubernetes node (no Node of that name) owns nothing.
Json KubeDatastore::owners_of(const ResourceKey& key, const std::string& what) {
  if (key.kind != "Node") {
    return nullptr;
  }
  const std::string reading = what + ": reading the Kubernetes Node \"" + key.name + "\"";
  const HttpResponse response =
      http_->request("GET", "/api/v1/nodes/" + url_escape(key.name), nullptr, reading);
  if (response.status == 404) {
    return nullptr;
  }
  if (!success(response)) {
    throw_api_error(parse_api_status(response.status, response.body), reading);
  }
  const Json node = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  const Json* uid = nullptr;
  if (node.is_object() && node.contains("metadata") && node["metadata"].is_object()) {
    const auto it = node["metadata"].find("uid");
    uid = it != node["metadata"].end() && it->is_string() ? &*it : nullptr;
  }
  if (uid == nullptr || uid->get_ref<const std::string&>().empty()) {
    throw Error(BRINDLE_ERR_UNAVAILABLE, reading + ": the answer has no metadata.uid");
  }
  return Json::array(
      {Json{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", key.name}, {"uid", *uid}}});
}

std::optional<PodFacts> KubeDatastore::read_pod(const PodName& pod) {
  const KindInfo& source = *kinds_.overlay_of("WorkloadEndpoint");
  const std::string what = "get pod " + pod.first + "/" + pod.second;
  const HttpResponse response =
      http_->request("GET", item_path(source, pod.first, pod.second), nullptr, what);
  if (response.status == 404) {
    return std::nullopt;  // no such pod (yet, or any more)
  }
  if (!success(response)) {
    throw_api_error(parse_api_status(response.status, response.body), what);
  }
  std::string problem;
  auto facts = pod_facts(parse_body(response, what), &problem);
  if (!facts) {
    skip_garbage(source, problem);
    return std::nullopt;
  }
  return std::move(facts->second);
}

void KubeDatastore::show_as_its_pod_says(HostDocument& doc, const char* written) {
  // Read after the endpoint, as a watch would show them.
  if (const std::optional<PodName> pod = endpoint_pod(doc)) {
    try {
      if (const std::optional<PodFacts> facts = read_pod(*pod)) {
        apply_pod_facts(doc, *facts);
      }
    } catch (const Error& e) {
      if (written == nullptr) {
        throw;
      }
      // The caller cannot be given the endpoint as it shows: it must not go on as if it could.
      throw Error(e.code(), describe(doc.key) + " was " + written + " (revision " + doc.revision +
                                "), but its pod could not be read: " + e.what());
    }
  }
}

void KubeDatastore::get(const ResourceKey& key, const ResourceSink& sink) {
  try {
    const KindInfo& own = kinds_.require(key.kind);
    check_key(own, key);
    const KindInfo& kind = kinds_.source_of(own, key.name);
    const std::string object_name = key.name.substr(kind.name_prefix.size());
    if (object_name.empty()) {
      throw Error(BRINDLE_ERR_NOT_FOUND, describe(key) + " not found");
    }
    const std::string what = "get " + describe(key);
    const HttpResponse response =
        http_->request("GET", item_path(kind, key.namespace_, object_name), nullptr, what);
    if (response.status == 404) {
      throw Error(BRINDLE_ERR_NOT_FOUND, describe(key) + " not found");
    }
    if (!success(response)) {
      throw_api_error(parse_api_status(response.status, response.body), what);
    }
    HostDocument doc = stored_document(response, kind, what);
    show_as_its_pod_says(doc);
    sink.emit(doc.key.kind, doc.key.namespace_, doc.key.name, doc.json, doc.revision);
  } catch (const Error& e) {
    count("get", e.code());
    throw;
  }
  count("get", BRINDLE_OK);
}

std::string KubeDatastore::collection_revision(const KindInfo& kind) {
  const std::string what = "list " + kind.resource_name();
  const HttpResponse response =
      http_->request("GET", collection_path(kind, {}) + "?limit=1", nullptr, what);
  if (!success(response)) {
    throw_api_error(parse_api_status(response.status, response.body), what);
  }
  const Json doc = parse_body(response, what);
  const auto metadata = doc.find("metadata");
  if (metadata == doc.end() || !metadata->is_object() || !metadata->contains("resourceVersion") ||
      !metadata->at("resourceVersion").is_string()) {
    throw Error(BRINDLE_ERR_INTERNAL, what + ": the list has no metadata.resourceVersion");
  }
  return metadata->at("resourceVersion").get<std::string>();
}

std::string KubeDatastore::list_kind(const KindInfo& kind, std::string_view namespace_,
                                     const ResourceSink& sink, const PodOverlay& pods) {
  return list_pages(kind, namespace_, [&](const Json& item) {
    std::optional<HostDocument> doc = convert(item, kind);
    if (!doc) {
      return false;
    }
    pods.apply(*doc);
    sink.emit(doc->key.kind, doc->key.namespace_, doc->key.name, doc->json, doc->revision);
    return true;
  });
}

std::string KubeDatastore::read_pods(const KindInfo& source, std::string_view namespace_,
                                     PodOverlay& pods) {
  return list_pages(source, namespace_, [&](const Json& item) {
    std::string problem;
    if (auto facts = pod_facts(item, &problem)) {
      pods.pod_changed(facts->first, facts->second);
    } else {
      skip_garbage(source, problem);
    }
    return false;  // nothing reached the host: a list of pods can always start over
  });
}

std::string KubeDatastore::list_pages(const KindInfo& kind, std::string_view namespace_,
                                      const std::function<bool(const Json&)>& item) {
  const std::string base = collection_path(kind, namespace_);
  const std::string what = "list " + kind.resource_name() +
                           (namespace_.empty() ? "" : " in namespace " + std::string(namespace_));
  for (int attempt = 1;; ++attempt) {
    // Each page is emitted before the next is fetched; the continue token keeps every page at
    // the first page's resourceVersion. If it expires (410) the list starts over when nothing
    // was emitted yet and fails otherwise (the host lists again; a list is never stitched).
    size_t emitted = 0;
    std::string revision;
    std::string next;
    bool restart = false;
    while (true) {
      std::string path = base + "?limit=" + std::to_string(settings_.list_page_size);
      if (!next.empty()) {
        path += "&continue=" + url_escape(next);
      }
      const HttpResponse response = http_->request("GET", path, nullptr, what);
      if (response.status == 410 && !next.empty()) {
        const ApiStatus status = parse_api_status(response.status, response.body);
        if (emitted == 0 && attempt < kListAttempts) {
          restart = true;
          break;
        }
        throw Error(BRINDLE_ERR_UNAVAILABLE,
                    what + ": its resourceVersion " + revision + " expired after " +
                        std::to_string(emitted) +
                        " resources had been delivered; the list is incomplete, list again (" +
                        status.message + ")");
      }
      if (!success(response)) {
        throw_api_error(parse_api_status(response.status, response.body), what);
      }
      const Json page = parse_body(response, what);
      const auto metadata = page.find("metadata");
      if (revision.empty()) {
        if (metadata != page.end() && metadata->is_object() &&
            metadata->contains("resourceVersion") && metadata->at("resourceVersion").is_string()) {
          revision = metadata->at("resourceVersion").get<std::string>();
        }
        if (revision.empty()) {
          throw Error(BRINDLE_ERR_INTERNAL, what + ": the list has no metadata.resourceVersion");
        }
      }
      if (const auto items = page.find("items"); items != page.end() && items->is_array()) {
        for (const Json& object : *items) {
          emitted += item(object) ? 1 : 0;
        }
      }
      next.clear();
      if (metadata != page.end() && metadata->is_object()) {
        if (const auto token = metadata->find("continue");
            token != metadata->end() && token->is_string()) {
          next = token->get<std::string>();
        }
      }
      if (next.empty()) {
        break;
      }
    }
    if (!restart) {
      return revision;
    }
  }
}

std::string KubeDatastore::list(std::string_view kind, std::string_view namespace_,
                                const ResourceSink& sink) {
  try {
    std::vector<KindRevision> revisions;
    const std::vector<const KindInfo*> sources = kinds_.sources(kind);
    // Pods first: the endpoints are listed as they say.
    PodOverlay pods;
    for (const KindInfo* info : sources) {
      if (info->overlay) {
        revisions.push_back({info->source, read_pods(*info, namespace_, pods)});
      }
    }
    for (const KindInfo* info : sources) {
      if (info->overlay) {
        continue;
      }
      // A namespace filter on a cluster-scoped kind matches nothing (as with etcd).
      revisions.push_back({info->source, !info->namespaced && !namespace_.empty()
                                             ? collection_revision(*info)
                                             : list_kind(*info, namespace_, sink, pods)});
    }
    // One resource: its resourceVersion; several: each one's (Kubernetes lists no two at once).
    std::string revision = revisions.size() == 1 ? revisions.front().resource_version
                                                 : format_composite_revision(revisions);
    count("list", BRINDLE_OK);
    return revision;
  } catch (const Error& e) {
    count("list", e.code());
    throw;
  }
}

void KubeDatastore::create(const Resource& resource, const ResourceSink& stored) {
  try {
    const KindInfo& kind = kinds_.require(resource.key.kind);
    check_key(kind, resource.key);
    check_writable(kinds_.source_of(kind, resource.key.name), resource.key);
    const std::string what = "create " + describe(resource.key);
    const std::string body =
        to_kube_object(resource.json, kind, resource.key, {}, owners_of(resource.key, what));
    const HttpResponse response =
        http_->request("POST", collection_path(kind, resource.key.namespace_), &body, what);
    if (!success(response)) {
      const ApiStatus status = parse_api_status(response.status, response.body);
      if (response.status == 409 && status.reason == "AlreadyExists") {
        throw Error(BRINDLE_ERR_ALREADY_EXISTS, describe(resource.key) + " already exists");
      }
      throw_api_error(status, what);
    }
    HostDocument doc = stored_document(response, kind, what);
    show_as_its_pod_says(doc, "created");
    stored.emit(doc.key.kind, doc.key.namespace_, doc.key.name, doc.json, doc.revision);
  } catch (const Error& e) {
    count("create", e.code());
    throw;
  }
  count("create", BRINDLE_OK);
}

void KubeDatastore::update(const Resource& resource, const ResourceSink& stored) {
  try {
    const KindInfo& kind = kinds_.require(resource.key.kind);
    check_key(kind, resource.key);
    check_writable(kinds_.source_of(kind, resource.key.name), resource.key);
    const std::string path = item_path(kind, resource.key.namespace_, resource.key.name);
    const std::string what = "update " + describe(resource.key);
    const bool conditional = !resource.revision.empty();
    const Json owners = owners_of(resource.key, what);  // a replacement must carry them again
    for (int attempt = 1;; ++attempt) {
      // Custom resources refuse a PUT without resourceVersion, so "unconditional" is a read and
      // a conditional write, retried when another writer wins the race.
      std::string expected = resource.revision;
      if (!conditional) {
        const HttpResponse current = http_->request("GET", path, nullptr, what);
        if (current.status == 404) {
          throw Error(BRINDLE_ERR_NOT_FOUND, describe(resource.key) + " not found");
        }
        if (!success(current)) {
          throw_api_error(parse_api_status(current.status, current.body), what);
        }
        expected = stored_document(current, kind, what).revision;
      }
      const std::string body = to_kube_object(resource.json, kind, resource.key, expected, owners);
      const HttpResponse response = http_->request("PUT", path, &body, what);
      if (success(response)) {
        HostDocument doc = stored_document(response, kind, what);
        show_as_its_pod_says(doc, "updated");
        stored.emit(doc.key.kind, doc.key.namespace_, doc.key.name, doc.json, doc.revision);
        break;
      }
      const ApiStatus status = parse_api_status(response.status, response.body);
      if (response.status == 404) {
        throw Error(BRINDLE_ERR_NOT_FOUND, describe(resource.key) + " not found");
      }
      if (response.status == 409 && (conditional || attempt >= kUnconditionalUpdateAttempts)) {
        throw Error(BRINDLE_ERR_CONFLICT, describe(resource.key) +
                                              " was modified: expected revision " + expected +
                                              " (" + status.message + ")");
      }
      if (response.status != 409) {
        throw_api_error(status, what);
      }
      // Lost a race: let the other writers finish before reading again (jittered, growing).
      thread_local std::mt19937 jitter{std::random_device{}()};
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 5 * attempt)(jitter)));
    }
  } catch (const Error& e) {
    count("update", e.code());
    throw;
  }
  count("update", BRINDLE_OK);
}

void KubeDatastore::remove(const ResourceKey& key, std::string_view revision) {
  try {
    const KindInfo& kind = kinds_.require(key.kind);
    check_key(kind, key);
    check_writable(kinds_.source_of(kind, key.name), key);
    const std::string what = "delete " + describe(key);
    std::string body;
    if (!revision.empty()) {
      Json options = Json::object();
      options["apiVersion"] = "v1";
      options["kind"] = "DeleteOptions";
      options["preconditions"] = Json{{"resourceVersion", std::string(revision)}};
      body = options.dump();
    }
    const HttpResponse response =
        http_->request("DELETE", item_path(kind, key.namespace_, key.name),
                       revision.empty() ? nullptr : &body, what);
    if (!success(response)) {
      const ApiStatus status = parse_api_status(response.status, response.body);
      if (response.status == 404) {
        throw Error(BRINDLE_ERR_NOT_FOUND, describe(key) + " not found");
      }
      if (response.status == 409) {
        throw Error(BRINDLE_ERR_CONFLICT, describe(key) + " was modified: expected revision " +
                                              std::string(revision) + " (" + status.message + ")");
      }
      throw_api_error(status, what);
    }
  } catch (const Error& e) {
    count("remove", e.code());
    throw;
  }
  count("remove", BRINDLE_OK);
}

namespace {
// What the host holds for a watch; deleting it stops the watch.
class WatchHandle final : public Watch {
 public:
  explicit WatchHandle(std::shared_ptr<KubeWatch> watch) : watch_(std::move(watch)) {}
  ~WatchHandle() override { watch_->stop(); }

 private:
  std::shared_ptr<KubeWatch> watch_;
};
}  // namespace

std::unique_ptr<Watch> KubeDatastore::watch(std::string_view kind, std::string_view from_revision,
                                            WatchHandler handler) {
  const std::vector<const KindInfo*> watched = kinds_.sources(kind);
  std::vector<KindRevision> composite;
  const bool is_composite = parse_composite_revision(from_revision, &composite);
  std::vector<WatchTarget> targets;
  for (const KindInfo* info : watched) {
    WatchTarget target{info, {}};
    if (from_revision.empty()) {
      // "From now" is fixed here, so a stream that fails before it starts loses nothing. (A
      // watch without resourceVersion would replay every object as ADDED.)
      target.resource_version = collection_revision(*info);
    } else if (is_composite) {
      for (const KindRevision& entry : composite) {
        if (entry.kind == info->source) {
          target.resource_version = entry.resource_version;
        }
      }
      if (target.resource_version.empty()) {
        throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "from_revision: \"" + std::string(from_revision) +
                                                      "\" has no entry for " + info->source);
      }
    } else {
      // resourceVersions are the API server's one sequence (etcd's revision), so one also
      // places the watch of a derived source.
      target.resource_version = std::string(from_revision);
    }
    targets.push_back(std::move(target));
  }
  // A watch of endpoints knows every pod's facts and every endpoint as written from the start, so
  // that a pod changed later shows in endpoints that have not changed since (read now: events the
  // streams replay from an older revision bring them up to date again).
  std::shared_ptr<PodOverlay> pods;
  for (const WatchTarget& target : targets) {
    if (target.kind->overlay) {
      pods = std::make_shared<PodOverlay>();
      read_pods(*target.kind, {}, *pods);
      const KindInfo& endpoints = kinds_.require(target.kind->kind);
      list_pages(endpoints, {}, [&](const Json& item) {
        if (std::optional<HostDocument> doc = convert(item, endpoints)) {
          pods->endpoint_seen(*doc);
        }
        return false;
      });
    }
  }
  const bool composite_positions = targets.size() > 1;
  KubeWatch::PodReader read = nullptr;
  if (pods) {
    // The watch is stopped before this instance goes (the destructor).
    read = [this](const PodName& pod) { return read_pod(pod); };
  }
  auto watch =
      std::make_shared<KubeWatch>(http_, host(), std::move(targets), composite_positions, handler,
                                  watch_metrics_, std::move(pods), std::move(read));
  {
    std::lock_guard<std::mutex> lock(watches_mutex_);
    std::erase_if(watches_, [](const std::weak_ptr<KubeWatch>& w) { return w.expired(); });
    watches_.push_back(watch);
  }
  watch->start();
  return std::make_unique<WatchHandle>(std::move(watch));
}

}  // namespace brindle::kube
