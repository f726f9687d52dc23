// The Kubernetes datastore plugin: every Brindle kind is a Kubernetes resource (kube_kinds.h),
// revisions are resourceVersions, writes carry resourceVersion preconditions.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "brindle/sdk.hpp"
#include "curl_http.h"
#include "kube_config.h"
#include "kube_documents.h"
#include "kube_kinds.h"
#include "kube_pod_overlay.h"
#include "kube_watch.h"

namespace brindle::kube {

class KubeDatastore final : public DatastorePlugin {
 public:
  explicit KubeDatastore(Host host);
  ~KubeDatastore() override;

  // Checks the section and reads the files it names (token, CA, kubeconfig); connects to nothing.
  static void validate_config(const Host& host);

  void get(const ResourceKey& key, const ResourceSink& sink) override;
  std::string list(std::string_view kind, std::string_view namespace_,
                   const ResourceSink& sink) override;
  void create(const Resource& resource, const ResourceSink& stored) override;
  void update(const Resource& resource, const ResourceSink& stored) override;
  void remove(const ResourceKey& key, std::string_view revision) override;
  std::unique_ptr<Watch> watch(std::string_view kind, std::string_view from_revision,
                               WatchHandler handler) override;
  // No txn: the table's entry is NULL (plugin.cpp); Kubernetes writes one object at a time.

 private:
  // The resourceVersion of a kind's collection now (a LIST with limit=1).
  std::string collection_revision(const KindInfo& kind);
  // Lists one resource page by page, each item to `item` (true: it reached the host); returns the
  // list's resourceVersion.
  std::string list_pages(const KindInfo& kind, std::string_view namespace_,
                         const std::function<bool(const Json&)>& item);
  // Lists one kind's own resource to `sink`, endpoints as `pods` say.
  std::string list_kind(const KindInfo& kind, std::string_view namespace_, const ResourceSink& sink,
                        const PodOverlay& pods);
  // Reads every pod of a namespace (or all) into `pods`; returns the list's resourceVersion.
  std::string read_pods(const KindInfo& source, std::string_view namespace_, PodOverlay& pods);
  // A WorkloadEndpoint of a Kubernetes pod as its Pod says (kube_pod_overlay.h): what get, create
  // and update return, so that brindled computes a new pod's policy from its pod's labels.
  // `written` ("created", "updated"): the write succeeded, which a failure to read the pod says.
  void show_as_its_pod_says(HostDocument& doc, const char* written = nullptr);
  // The ownerReferences of a resource written as `key` (null: none): a Brindle Node is owned by
  // the Kubernetes Node of its name when there is one.
  Json owners_of(const ResourceKey& key, const std::string& what);
  // What a pod says now (nullopt: no such pod).
  std::optional<PodFacts> read_pod(const PodName& pod);
  // A server object as the host sees it; garbage is logged and skipped (nullopt).
  std::optional<HostDocument> convert(const Json& object, const KindInfo& kind);
  HostDocument stored_document(const HttpResponse& response, const KindInfo& kind,
                               const std::string& what);
  // Every custom resource must be served: a clear error naming the CRD file otherwise.
  void check_served();
  void count(const char* op, brindle_status_t result);
  void skip_garbage(const KindInfo& kind, std::string_view reason);

  KubeSettings settings_;
  KindTable kinds_;
  std::shared_ptr<HttpClient> http_;
  Metric requests_;
  Metric garbage_;
  WatchMetrics watch_metrics_;
  // Watches the host has not cancelled yet are stopped before the instance goes away.
  std::mutex watches_mutex_;
  std::vector<std::weak_ptr<KubeWatch>> watches_;
};

}  // namespace brindle::kube
