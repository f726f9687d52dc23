// A resource document: apiVersion, kind, metadata, spec. The datastore stores it as JSON; people
// write YAML or JSON (see parse.hpp). `Resource` keeps the spec as JSON so that code handling every
// kind alike (the datastore, brindlectl) needs no per-kind code; `Typed<Spec>` (kinds.hpp) is the
// checked, defaulted C++ form the rest of the host works with.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "brindle/model/selector.hpp"

namespace brindle::model {

inline constexpr std::string_view kApiVersion = "brindle.network/v1";

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // namespaced kinds only
  Labels labels;
  std::map<std::string, std::string> annotations;
  // Set by the datastore; people leave them out.
  std::string revision;
  std::string uid;
  std::string creation_timestamp;  // RFC 3339, e.g. "2024-05-01T12:00:00Z"

  bool operator==(const ObjectMeta&) const = default;
};

struct Resource {
  std::string kind;
  ObjectMeta metadata;
  nlohmann::json spec = nlohmann::json::object();

  bool operator==(const Resource&) const = default;
};

// Reads the document's shape: apiVersion must be brindle.network/v1, kind must be known, metadata
// fields must have the right types, spec must be an object; the spec itself is not checked here
// (validate_and_default() does that). An upstream `networking.k8s.io/v1` NetworkPolicy is read as
// kind KubernetesNetworkPolicy. Throws ValidationError.
Resource resource_from_json(const nlohmann::json& document);
// Throws ValidationError, also for JSON syntax errors (path "").
Resource resource_from_json_text(std::string_view json_text);

nlohmann::json to_json(const Resource& resource);
std::string to_json_text(const Resource& resource);  // compact, keys sorted

// Checks metadata and spec of the resource's kind, fills in defaults and rewrites the spec in
// canonical form (known fields only, defaults explicit). Throws ValidationError naming the path.
void validate_and_default(Resource& resource);

}  // namespace brindle::model
