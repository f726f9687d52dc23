// What every datastore plugin does to the host's resource documents before it stores them, and
// the logfmt quoting of values in its log fields. Header-only; errors are brindle::Error (the
// SDK turns them into status codes at the ABI).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "brindle/sdk.hpp"

namespace brindle::datastore_documents {

using Json = nlohmann::ordered_json;  // keeps the author's field order

// The document as a JSON object; Error(INVALID_ARGUMENT) when it is not one.
inline Json parse_object(std::string_view text) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "document is not valid JSON");
  }
  if (!doc.is_object()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "document must be a JSON object");
  }
  return doc;
}

// Fills kind/metadata.name/metadata.namespace when absent, rejects them (naming the field) when
// they contradict the key, and drops metadata.revision, which is the datastore's to set.
inline void reconcile_identity(Json& doc, const ResourceKey& key) {
  auto kind = doc.find("kind");
  if (kind == doc.end()) {
    doc["kind"] = key.kind;
  } else if (!kind->is_string() || kind->get_ref<const std::string&>() != key.kind) {
    throw Error(
        BRINDLE_ERR_INVALID_ARGUMENT,
        "kind: " + kind->dump() + " does not match the resource key's kind \"" + key.kind + "\"");
  }
  auto metadata = doc.find("metadata");
  if (metadata == doc.end()) {
    metadata = doc.emplace("metadata", Json::object()).first;
  } else if (!metadata->is_object()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "metadata: must be an object");
  }
  auto name = metadata->find("name");
  if (name == metadata->end()) {
    (*metadata)["name"] = key.name;
  } else if (!name->is_string() || name->get_ref<const std::string&>() != key.name) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "metadata.name: " + name->dump() +
                                                  " does not match the resource key's name \"" +
                                                  key.name + "\"");
  }
  auto ns = metadata->find("namespace");
  if (ns == metadata->end()) {
    if (!key.namespace_.empty()) {
      (*metadata)["namespace"] = key.namespace_;
    }
  } else if (!ns->is_string() || ns->get_ref<const std::string&>() != key.namespace_) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "metadata.namespace: " + ns->dump() +
                    " does not match the resource key's namespace \"" + key.namespace_ + "\"");
  }
  metadata->erase("revision");
}

// A logfmt value: as it is when plain, else quoted, with quotes and backslashes escaped and bytes
// outside printable ASCII as \xNN.
inline std::string logfmt_value(std::string_view text) {
  bool plain = !text.empty();
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
      plain = false;
    } else if (byte < 0x20 || byte >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
      out += hex;
      plain = false;
    } else {
      if (c == ' ' || c == '=') {
        plain = false;
      }
      out += c;
    }
  }
  if (plain) {
    return std::string(text);
  }
  return out + "\"";
}

}  // namespace brindle::datastore_documents
