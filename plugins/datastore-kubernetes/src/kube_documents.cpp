#include "kube_documents.h"

namespace brindle::kube {
namespace {

// metadata fields the host's decoder knows (host/model typed.cpp ObjectMeta), in its order; the
// revision is appended from resourceVersion.
constexpr std::string_view kHostMetadata[] = {"name",        "namespace", "labels",
                                              "annotations", "uid",       "creationTimestamp"};

// Namespace <ns> -> Profile kns.<ns>: labelsToApply = the namespace's labels, with
// kubernetes.io/metadata.name = <ns> as every API server since 1.21 sets it (added for older
// ones). No rules: a namespace's profile lets everything through, as when no policy selects a pod.
Json namespace_profile(const Json& metadata, const HostDocument& out) {
  const std::string& ns_name = metadata.at("name").get_ref<const std::string&>();
  Json labels = Json::object();
  if (auto it = metadata.find("labels"); it != metadata.end() && it->is_object()) {
    for (auto label = it->begin(); label != it->end(); ++label) {
      if (label.value().is_string()) {
        labels[label.key()] = label.value();
      }
    }
  }
  labels["kubernetes.io/metadata.name"] = ns_name;
  Json host_metadata = Json::object();
  host_metadata["name"] = out.key.name;
  for (const char* field : {"uid", "creationTimestamp"}) {
    if (auto it = metadata.find(field); it != metadata.end() && it->is_string()) {
      host_metadata[field] = *it;
    }
  }
  host_metadata["revision"] = out.revision;
  Json doc = Json::object();
  doc["apiVersion"] = kHostApiVersion;
  doc["kind"] = out.key.kind;
  doc["metadata"] = std::move(host_metadata);
  doc["spec"] = Json{{"labelsToApply", std::move(labels)}};
  return doc;
}

}  // namespace

std::string to_kube_object(std::string_view json, const KindInfo& kind, const ResourceKey& key,
                           std::string_view resource_version, const Json& owner_references) {
  Json doc = datastore_documents::parse_object(json);
  datastore_documents::reconcile_identity(doc, key);
  Json& metadata = doc["metadata"];
  // The server owns these; a stale uid would even fail the write as a precondition.
  for (const char* owned : {"uid", "creationTimestamp", "resourceVersion"}) {
    metadata.erase(owned);
  }
  if (!resource_version.empty()) {
    metadata["resourceVersion"] = resource_version;
  }
  if (!owner_references.is_null()) {
    metadata["ownerReferences"] = owner_references;
  }

  // apiVersion and kind first, as the server writes them.
  Json out = Json::object();
  out["apiVersion"] = kind.api_version();
  out["kind"] = kind.kube_kind;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() != "apiVersion" && it.key() != "kind") {
      out[it.key()] = std::move(it.value());
    }
  }
  return out.dump();
}

std::optional<HostDocument> from_kube_object(const Json& object, const KindInfo& kind,
                                             std::string* problem) {
  if (!object.is_object()) {
    *problem = "not a JSON object";
    return std::nullopt;
  }
  if (auto it = object.find("kind");
      it != object.end() &&
      !(it->is_string() && it->get_ref<const std::string&>() == kind.kube_kind)) {
    *problem = "kind " + it->dump() + " is not \"" + kind.kube_kind + "\"";
    return std::nullopt;
  }
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    *problem = "metadata is missing or not an object";
    return std::nullopt;
  }
  auto string_field = [&](const char* field) -> const std::string* {
    auto it = metadata->find(field);
    return it != metadata->end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
  };
  HostDocument out;
  out.key.kind = kind.kind;
  const std::string* name = string_field("name");
  if (name == nullptr || name->empty()) {
    *problem = "metadata.name is missing";
    return std::nullopt;
  }
  if (!kind.reserved_prefix.empty() && name->starts_with(kind.reserved_prefix)) {
    *problem = "the name \"" + *name + "\" is taken by the " + kind.kind + "s derived from " +
               "Kubernetes objects (" + kind.reserved_prefix + "*)";
    return std::nullopt;
  }
  out.key.name = kind.name_prefix + *name;
  if (kind.namespaced) {
    const std::string* ns = string_field("namespace");
    if (ns == nullptr || ns->empty()) {
      *problem = "metadata.namespace is missing for a namespaced kind";
      return std::nullopt;
    }
    out.key.namespace_ = *ns;
  }
  const std::string* resource_version = string_field("resourceVersion");
  if (resource_version == nullptr || resource_version->empty()) {
    *problem = "metadata.resourceVersion is missing";
    return std::nullopt;
  }
  out.revision = *resource_version;

  if (kind.derived) {
    out.json = namespace_profile(*metadata, out).dump();  // the one derived source
    return out;
  }

  Json host_metadata = Json::object();
  for (const std::string_view field : kHostMetadata) {
    if (field == "namespace" && !kind.namespaced) {
      continue;
    }
    if (auto it = metadata->find(field); it != metadata->end() && !it->is_null()) {
      host_metadata[std::string(field)] = *it;
    }
  }
  host_metadata["revision"] = out.revision;

  Json doc = Json::object();
  doc["apiVersion"] = kHostApiVersion;
  doc["kind"] = kind.kind;
  doc["metadata"] = std::move(host_metadata);
  if (auto spec = object.find("spec"); spec != object.end() && !spec->is_null()) {
    doc["spec"] = *spec;
  }
  out.json = doc.dump();
  return out;
}

}  // namespace brindle::kube
