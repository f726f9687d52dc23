#include "kube_documents.h"

namespace brindle::kube {
namespace {

// metadata fields the host's decoder knows (host/model typed.cpp ObjectMeta), in its order; the
// revision is appended from resourceVersion.
constexpr std::string_view kHostMetadata[] = {"name",        "namespace", "labels",
                                              "annotations", "uid",       "creationTimestamp"};

}  // namespace

std::string to_kube_object(std::string_view json, const KindInfo& kind, const ResourceKey& key,
                           std::string_view resource_version) {
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "document is not valid JSON");
  }
  if (!doc.is_object()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "document must be a JSON object");
  }
  if (auto it = doc.find("kind");
      it != doc.end() && (!it->is_string() || it->get_ref<const std::string&>() != key.kind)) {
    throw Error(
        BRINDLE_ERR_INVALID_ARGUMENT,
        "kind: " + it->dump() + " does not match the resource key's kind \"" + key.kind + "\"");
  }
  auto metadata = doc.find("metadata");
  if (metadata == doc.end()) {
    metadata = doc.emplace("metadata", Json::object()).first;
  } else if (!metadata->is_object()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "metadata: must be an object");
  }
  if (auto name = metadata->find("name"); name == metadata->end()) {
    (*metadata)["name"] = key.name;
  } else if (!name->is_string() || name->get_ref<const std::string&>() != key.name) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "metadata.name: " + name->dump() +
                                                  " does not match the resource key's name \"" +
                                                  key.name + "\"");
  }
  if (auto ns = metadata->find("namespace"); ns == metadata->end()) {
    if (!key.namespace_.empty()) {
      (*metadata)["namespace"] = key.namespace_;
    }
  } else if (!ns->is_string() || ns->get_ref<const std::string&>() != key.namespace_) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "metadata.namespace: " + ns->dump() +
                    " does not match the resource key's namespace \"" + key.namespace_ + "\"");
  }
  // The server owns these; a stale uid would even fail the write as a precondition.
  for (const char* owned : {"revision", "uid", "creationTimestamp", "resourceVersion"}) {
    metadata->erase(owned);
  }
  if (!resource_version.empty()) {
    (*metadata)["resourceVersion"] = resource_version;
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
  out.key.name = *name;
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

std::string logfmt_value(std::string_view text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return c > ' ' && c != '"' && c != '=' && c != '\\' && static_cast<unsigned char>(c) < 0x7f;
  });
  if (plain) {
    return std::string(text);
  }
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

}  // namespace brindle::kube
