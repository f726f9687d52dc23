// Documents both ways: the host's resource document (apiVersion brindle.network/v1, kind,
// metadata {name, namespace, labels, annotations, uid, creationTimestamp, revision}, spec) and the
// Kubernetes object that holds it.
//
//   host                         Kubernetes
//   apiVersion brindle.network/v1  <group>/v1 (networking.k8s.io/v1 for KubernetesNetworkPolicy)
//   kind                          kind (NetworkPolicy for KubernetesNetworkPolicy)
//   metadata.revision             metadata.resourceVersion
//   metadata.uid, creationTimestamp  set by the server (what the host sends is dropped)
//   spec                          spec
//
// On the way in everything else is passed through. On the way out only what the host's decoder
// accepts is kept (host/model rejects unknown top-level and metadata fields): server-only
// metadata (managedFields, generation, selfLink, finalizers, ownerReferences, ...) and `status`
// are dropped.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "brindle/plugins/datastore_documents.hpp"
#include "brindle/sdk.hpp"
#include "kube_kinds.h"

namespace brindle::kube {

using datastore_documents::Json;

// The request body for a create (empty resource_version) or a replacement (resource_version is
// the precondition). Fills kind/metadata.name/metadata.namespace when absent; throws
// Error(INVALID_ARGUMENT) naming the field when the document is not an object or contradicts
// `key`. `owner_references` (a JSON array; null = none) become metadata.ownerReferences.
std::string to_kube_object(std::string_view json, const KindInfo& kind, const ResourceKey& key,
                           std::string_view resource_version, const Json& owner_references = {});

// A Kubernetes object as the host sees it.
struct HostDocument {
  ResourceKey key;
  std::string json;
  std::string revision;
};
// Converts an object of `kind` (from a GET, a LIST's items or a watch event); for a derived source
// (a Namespace) the document of the host's kind made from it (kube_kinds.h). nullopt and *problem
// when it is not a usable object of that kind, or is named like a derived source's objects.
std::optional<HostDocument> from_kube_object(const Json& object, const KindInfo& kind,
                                             std::string* problem);

// A logfmt value: quoted when needed, with quotes, backslashes and non-printables escaped.
using datastore_documents::logfmt_value;

}  // namespace brindle::kube
