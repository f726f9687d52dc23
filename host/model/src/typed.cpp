// The document envelope (apiVersion, kind, metadata) and the generic typed pipeline:
// decode -> defaults -> validate -> encode.
#include <algorithm>

#include "brindle/model/registry.hpp"
#include "codec.hpp"
#include "kind_impl.hpp"

namespace brindle::model {

BRINDLE_FIELDS(ObjectMeta) {
  v("name", s.name);
  v("namespace", s.namespace_);
  v("labels", s.labels);
  v("annotations", s.annotations);
  v("revision", s.revision);
  v("uid", s.uid);
  v("creationTimestamp", s.creation_timestamp);
}

namespace {

constexpr std::string_view kKubernetesNetworkingApi = "networking.k8s.io/v1";

std::string known_kinds() {
  std::vector<std::string_view> names;
  for (const auto& k : all_kinds()) {
    names.push_back(k.kind);
  }
  return join_names(names, ", ");
}

// RFC 3339 as Kubernetes writes it: 2024-05-01T12:00:00Z, optional fraction, Z or +hh:mm.
bool is_rfc3339(std::string_view t) {
  auto digits = [&](size_t pos, size_t n) {
    if (pos + n > t.size()) {
      return false;
    }
    return std::all_of(t.begin() + static_cast<ptrdiff_t>(pos),
                       t.begin() + static_cast<ptrdiff_t>(pos + n),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!(digits(0, 4) && t.size() > 19 && t[4] == '-' && digits(5, 2) && t[7] == '-' &&
        digits(8, 2) && (t[10] == 'T' || t[10] == 't') && digits(11, 2) && t[13] == ':' &&
        digits(14, 2) && t[16] == ':' && digits(17, 2))) {
    return false;
  }
  size_t pos = 19;
  if (t[pos] == '.') {
    size_t start = ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      ++pos;
    }
    if (pos == start) {
      return false;
    }
  }
  std::string_view zone = t.substr(pos);
  if (zone == "Z" || zone == "z") {
    return true;
  }
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(pos + 1, 2) &&
         zone[3] == ':' && digits(pos + 4, 2);
}

}  // namespace

Resource resource_from_json(const json& document) {
  if (!document.is_object()) {
    throw ValidationError("",
                          "a resource must be a mapping with apiVersion, kind, metadata and "
                          "spec, got " +
                              describe_json(document));
  }
  for (const auto& [key, value] : document.items()) {
    if (key != "apiVersion" && key != "kind" && key != "metadata" && key != "spec") {
      throw ValidationError(path_join("", key),
                            "unknown field (a resource has apiVersion, kind, metadata and spec)");
    }
  }
  auto api_version = document.find("apiVersion");
  if (api_version == document.end() || api_version->is_null()) {
    throw ValidationError("apiVersion", "is required (" + std::string(kApiVersion) + ")");
  }
  if (!api_version->is_string()) {
    throw_type_error("apiVersion", "a string", *api_version);
  }
  auto kind = document.find("kind");
  if (kind == document.end() || kind->is_null()) {
    throw ValidationError("kind", "is required (one of " + known_kinds() + ")");
  }
  if (!kind->is_string()) {
    throw_type_error("kind", "a string", *kind);
  }

  Resource out;
  out.kind = kind->get<std::string>();
  const auto& version = api_version->get_ref<const std::string&>();
  if (version == kKubernetesNetworkingApi && out.kind == "NetworkPolicy") {
    out.kind = KubernetesNetworkPolicySpec::kKind;  // an upstream manifest, read as our kind
  } else if (version != kApiVersion) {
    throw ValidationError("apiVersion",
                          "must be " + std::string(kApiVersion) + ", got \"" + version + "\"");
  }
  const KindInfo* info = find_kind(out.kind);
  if (!info || info->kind != out.kind) {
    std::string message = "unknown kind \"" + out.kind + "\"";
    if (info) {
      message += " (did you mean " + std::string(info->kind) + "?)";
    } else {
      message += " (known kinds: " + known_kinds() + ")";
    }
    throw ValidationError("kind", message);
  }

  auto metadata = document.find("metadata");
  if (metadata == document.end() || metadata->is_null()) {
    throw ValidationError("metadata", "is required (at least metadata.name)");
  }
  decode_value(*metadata, "metadata", out.metadata, kNoFlags);

  auto spec = document.find("spec");
  if (spec != document.end() && !spec->is_null()) {
    if (!spec->is_object()) {
      throw_type_error("spec", "a mapping", *spec);
    }
    out.spec = *spec;
  }
  return out;
}

Resource resource_from_json_text(std::string_view json_text) {
  json document = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    throw ValidationError("", "the document is not valid JSON");
  }
  return resource_from_json(document);
}

json to_json(const Resource& resource) {
  json out = json::object();
  out["apiVersion"] = kApiVersion;
  out["kind"] = resource.kind;
  out["metadata"] = encode_value(resource.metadata);
  out["spec"] = resource.spec.is_null() ? json::object() : resource.spec;
  return out;
}

std::string to_json_text(const Resource& resource) {
  return to_json(resource).dump();
}

void validate_and_default(Resource& resource) {
  const KindInfo* info = find_kind(resource.kind);
  if (!info || info->kind != resource.kind) {
    throw ValidationError("kind", "unknown kind \"" + resource.kind + "\"");
  }
  info->validate_and_default(resource);
}

void validate_metadata(const ObjectMeta& m, std::string_view kind, bool namespaced) {
  if (m.name.empty()) {
    throw ValidationError("metadata.name", "is required");
  }
  if (std::string why = check_dns_subdomain(m.name); !why.empty()) {
    throw ValidationError("metadata.name", "invalid name \"" + m.name + "\": " + why);
  }
  if (namespaced) {
    if (std::string why = check_dns_label(m.namespace_); !why.empty()) {
      throw ValidationError("metadata.namespace",
                            "invalid namespace \"" + m.namespace_ + "\": " + why);
    }
  } else if (!m.namespace_.empty()) {
    throw ValidationError("metadata.namespace",
                          "must not be set: " + std::string(kind) + " is not namespaced");
  }
  validate_labels(m.labels, "metadata.labels");
  for (const auto& [key, value] : m.annotations) {
    if (std::string why = check_label_key(key); !why.empty()) {
      throw ValidationError(path_join("metadata.annotations", key), "invalid key: " + why);
    }
  }
  if (!m.creation_timestamp.empty() && !is_rfc3339(m.creation_timestamp)) {
    throw ValidationError(
        "metadata.creationTimestamp",
        "\"" + m.creation_timestamp + "\" is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z)");
  }
}

template <typename Spec>
void validate_and_default(Typed<Spec>& typed) {
  if (Spec::kNamespaced && typed.metadata.namespace_.empty()) {
    typed.metadata.namespace_ = "default";
  }
  validate_metadata(typed.metadata, Spec::kKind, Spec::kNamespaced);
  default_spec(typed.metadata, typed.spec);
  validate_spec(typed.metadata, typed.spec);
}

template <typename Spec>
Typed<Spec> decode(const Resource& resource) {
  if (resource.kind != Spec::kKind) {
    throw ValidationError(
        "kind", "expected " + std::string(Spec::kKind) + ", got \"" + resource.kind + "\"");
  }
  Typed<Spec> typed{resource.metadata, spec_from_json<Spec>(resource.spec, "spec")};
  validate_and_default(typed);
  return typed;
}

template <typename Spec>
Resource encode(const Typed<Spec>& typed) {
  return Resource{std::string(Spec::kKind), typed.metadata, spec_to_json(typed.spec)};
}

#define BRINDLE_INSTANTIATE_TYPED(Spec)                          \
  template void validate_and_default<Spec>(Typed<Spec> & typed); \
  template Typed<Spec> decode<Spec>(const Resource& resource);   \
  template Resource encode<Spec>(const Typed<Spec>& typed)

BRINDLE_INSTANTIATE_TYPED(IPPoolSpec);
BRINDLE_INSTANTIATE_TYPED(IPAMConfigSpec);
BRINDLE_INSTANTIATE_TYPED(IPAMBlockSpec);
BRINDLE_INSTANTIATE_TYPED(BlockAffinitySpec);
BRINDLE_INSTANTIATE_TYPED(IPAMHandleSpec);
BRINDLE_INSTANTIATE_TYPED(NodeSpec);
BRINDLE_INSTANTIATE_TYPED(WorkloadEndpointSpec);
BRINDLE_INSTANTIATE_TYPED(NetworkPolicySpec);
BRINDLE_INSTANTIATE_TYPED(GlobalNetworkPolicySpec);
BRINDLE_INSTANTIATE_TYPED(NetworkSetSpec);
BRINDLE_INSTANTIATE_TYPED(GlobalNetworkSetSpec);
BRINDLE_INSTANTIATE_TYPED(ProfileSpec);
BRINDLE_INSTANTIATE_TYPED(KubernetesNetworkPolicySpec);
BRINDLE_INSTANTIATE_TYPED(BGPConfigurationSpec);
BRINDLE_INSTANTIATE_TYPED(BGPPeerSpec);
BRINDLE_INSTANTIATE_TYPED(AgentConfigurationSpec);

}  // namespace brindle::model
