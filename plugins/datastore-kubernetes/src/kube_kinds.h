// Which Kubernetes resource holds each Brindle kind, and the API paths of those resources.
//
// Every kind the host stores is a custom resource of group `crd_group` (default brindle.network),
// version v1, plural = lowercased kind + English plural ("policies", "ipamconfigs"), except
// KubernetesNetworkPolicy, which is the native networking.k8s.io/v1 NetworkPolicy. The table
// must agree with host/model (registry.cpp: kinds and which are namespaced) and with the CRDs in
// configs/kubernetes/crds.yaml (a unit test checks the latter).
//
// Some kinds also have derived sources: objects of a built-in resource the host sees as documents
// of its kind, read-only. Every core Namespace <ns> is the Profile kns.<ns> whose labelsToApply are
// the namespace's labels (what NetworkPolicy namespaceSelectors match), as Calico's Kubernetes
// datastore does; a Profile custom resource named kns.* is ignored. And Pods amend the
// WorkloadEndpoints of Kubernetes pods (labels, named ports, service account: kube_pod_overlay.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "brindle/sdk.hpp"

namespace brindle::kube {

// The host's API version for every document it sees.
inline constexpr std::string_view kHostApiVersion = "brindle.network/v1";

struct KindInfo {
  std::string kind;  // the host's kind, "IPPool"
  bool namespaced = false;
  bool native = false;    // a built-in Kubernetes resource rather than a custom resource
  std::string group;      // "brindle.network", "networking.k8s.io" or "" (the core group)
  std::string version;    // "v1"
  std::string plural;     // "ippools"
  std::string kube_kind;  // the kind on the server ("NetworkPolicy" for the native one)
  // The entry's name in composite revisions: the kind, or the resource of a derived source.
  std::string source;
  // A derived source: read-only, its objects named name_prefix + their Kubernetes name.
  bool derived = false;
  std::string name_prefix;
  // A derived source whose objects amend the kind's documents rather than being documents.
  bool overlay = false;
  // A kind's own resource: names with this prefix belong to a derived source and are ignored.
  std::string reserved_prefix;

  // "ippools.brindle.network", "namespaces" (as kubectl names resources)
  std::string resource_name() const { return group.empty() ? plural : plural + "." + group; }
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "/apis/<group>/<version>", "/api/v1" for the core group
  std::string group_path() const {
    return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  }
};

// Lowercase English plural of a kind name: "policies", "ipamconfigs", "addresses".
std::string plural_of(std::string_view kind);

class KindTable {
 public:
  explicit KindTable(std::string crd_group = "brindle.network");

  // One entry per host kind: the kind's own resource.
  const std::vector<KindInfo>& kinds() const noexcept { return kinds_; }
  // The derived sources (Namespaces as Profiles, Pods amending WorkloadEndpoints).
  const std::vector<KindInfo>& derived() const noexcept { return derived_; }
  // What to list and watch for `kind` (its own resource first, then its derived sources) or, for
  // an empty kind, for every kind.
  std::vector<const KindInfo*> sources(std::string_view kind) const;
  // The source whose objects amend `kind`'s documents (Pods for WorkloadEndpoint), or nullptr.
  const KindInfo* overlay_of(std::string_view kind) const;
  // The source that holds `name` of kind `own`: a derived source when the name has its prefix.
  const KindInfo& source_of(const KindInfo& own, std::string_view name) const;
  // nullptr for a kind this datastore does not store.
  const KindInfo* find(std::string_view kind) const;
  // Like find(), but throws Error(INVALID_ARGUMENT) naming the known kinds.
  const KindInfo& require(std::string_view kind) const;
  const std::string& crd_group() const noexcept { return crd_group_; }

 private:
  std::string crd_group_;
  std::vector<KindInfo> kinds_;
  std::vector<KindInfo> derived_;
};

// Refuses a write to an object of a derived source: Error(INVALID_ARGUMENT) saying what to change
// instead.
void check_writable(const KindInfo& source, const ResourceKey& key);

// Checks a resource key against its kind (namespace present exactly for namespaced kinds, names
// usable as one URL path segment). Throws Error(INVALID_ARGUMENT) naming the field.
void check_key(const KindInfo& kind, const ResourceKey& key);

// Percent-encodes everything but RFC 3986 unreserved characters (for paths and query values).
std::string url_escape(std::string_view text);

// The collection path: /apis/<g>/<v>[/namespaces/<ns>]/<plural>; an empty namespace is every
// namespace (or a cluster-scoped kind).
std::string collection_path(const KindInfo& kind, std::string_view namespace_);
// One object: <collection>/<name>.
std::string item_path(const KindInfo& kind, std::string_view namespace_, std::string_view name);

}  // namespace brindle::kube

namespace brindle::kube {

// The revision of a list of several kinds: Kubernetes has no snapshot across resources, so it is
// each kind's list resourceVersion, "IPPool=12;IPAMBlock=15;..." (kinds in table order).
struct KindRevision {
  std::string kind;
  std::string resource_version;
};
std::string format_composite_revision(const std::vector<KindRevision>& revisions);
// True when `text` looks composite (has '='); then *out holds its entries. Throws
// Error(INVALID_ARGUMENT) for a malformed one.
bool parse_composite_revision(std::string_view text, std::vector<KindRevision>* out);

}  // namespace brindle::kube
