// Pods amend their WorkloadEndpoints. brindled writes a WorkloadEndpoint for each pod interface it
// plumbs, but on a Kubernetes cluster the pod's labels, named container ports and service account
// are the Pod object's, and they change without any CNI call (kubectl label pod ...). So, as
// Calico's Kubernetes datastore does, the documents of WorkloadEndpoints whose orchestrator is
// "k8s" show what their Pod says when the Pod exists:
//   metadata.labels          = the Pod's labels
//   spec.ports               = the Pod's named container ports (first of each name)
//   spec.serviceAccountName  = the Pod's spec.serviceAccountName (when set)
// Everything else stays as written, revisions included (they are the custom resource's, which
// writes are conditional on). A Pod's change is a MODIFIED event of each of its endpoints.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "brindle/sdk.hpp"
#include "kube_documents.h"

namespace brindle::kube {

// What a Pod says about its endpoints.
struct PodFacts {
  Json labels = Json::object();
  Json ports = Json::array();
  std::string service_account;
  bool operator==(const PodFacts&) const = default;
};

using PodName = std::pair<std::string, std::string>;  // namespace, name

// A Pod object's name and facts; nullopt (and *problem) when it is not a usable Pod.
std::optional<std::pair<PodName, PodFacts>> pod_facts(const Json& pod, std::string* problem);

// The pod of a WorkloadEndpoint document of a Kubernetes pod (orchestrator "k8s").
std::optional<PodName> endpoint_pod(const HostDocument& endpoint);

// `endpoint` as its pod shows it.
void apply_pod_facts(HostDocument& endpoint, const PodFacts& facts);

// The Pods' facts and, for a watch, the endpoints of each pod as last written.
class PodOverlay {
 public:
  // A pod's facts as of a list or an event (nullopt: deleted). Returns its endpoints as they show
  // now, when what the pod says changed (MODIFIED events to deliver).
  std::vector<HostDocument> pod_changed(const PodName& pod, const std::optional<PodFacts>& facts);
  // A WorkloadEndpoint as listed or watched: kept as written (forgotten when `deleted`), and
  // shown as its pod says.
  void endpoint_seen(HostDocument& endpoint, bool deleted = false);
  // `endpoint` as its pod says, without keeping it (a list, a get).
  void apply(HostDocument& endpoint) const;
  bool knows(const PodName& pod) const { return facts_.contains(pod); }
  size_t pods() const { return facts_.size(); }
  size_t endpoints() const { return written_.size(); }

 private:
  std::map<PodName, PodFacts> facts_;
  std::map<PodName, std::set<std::string>> endpoints_;  // endpoint names by pod
  std::map<std::pair<std::string, std::string>, std::pair<PodName, HostDocument>>
      written_;  // (namespace, endpoint name) -> its pod and its document as written
};

}  // namespace brindle::kube
