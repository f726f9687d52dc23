#include "documents.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

namespace brindle::etcd {
namespace {

using Json = nlohmann::ordered_json;  // keeps the author's field order

Json parse_object(std::string_view text) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "document is not valid JSON");
  }
  if (!doc.is_object()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "document must be a JSON object");
  }
  return doc;
}

// Fills kind/metadata.name/metadata.namespace when absent, rejects them when they contradict the
// key, and drops metadata.revision.
void reconcile_identity(Json& doc, const ResourceKey& key) {
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

// metadata.uid and metadata.creationTimestamp of a parsed stored value.
StoredIdentity identity_of(const Json& stored) {
  StoredIdentity identity;
  if (!stored.is_object()) {
    return identity;
  }
  auto metadata = stored.find("metadata");
  if (metadata == stored.end() || !metadata->is_object()) {
    return identity;
  }
  if (auto it = metadata->find("uid"); it != metadata->end()) {
    identity.uid = it->dump();
  }
  if (auto it = metadata->find("creationTimestamp"); it != metadata->end()) {
    identity.creation_timestamp = it->dump();
  }
  return identity;
}

}  // namespace

struct PreparedDocument::Parsed {
  Json doc;
};

PreparedDocument::PreparedDocument(std::unique_ptr<Parsed> parsed)
    : parsed_(std::move(parsed)), value_(parsed_->doc.dump()) {}
PreparedDocument::PreparedDocument(PreparedDocument&&) noexcept = default;
PreparedDocument& PreparedDocument::operator=(PreparedDocument&&) noexcept = default;
PreparedDocument::~PreparedDocument() = default;

PreparedDocument prepare_document(std::unique_ptr<PreparedDocument::Parsed> parsed) {
  return PreparedDocument(std::move(parsed));
}

std::string PreparedDocument::stored_at(std::string_view revision, StoredIdentity* identity) {
  // reconcile_identity() made metadata an object and dropped metadata.revision: the stored value
  // with the revision appended, as document_for_read() would give it.
  Json& doc = parsed_->doc;
  if (identity != nullptr) {
    *identity = identity_of(doc);
  }
  doc["metadata"]["revision"] = revision;
  return doc.dump();
}

PreparedDocument prepare_create(std::string_view json, const ResourceKey& key, std::string_view uid,
                                std::string_view creation_timestamp) {
  auto parsed = std::make_unique<PreparedDocument::Parsed>();
  Json& doc = parsed->doc;
  doc = parse_object(json);
  reconcile_identity(doc, key);
  Json& metadata = doc["metadata"];
  metadata["uid"] = uid;
  metadata["creationTimestamp"] = creation_timestamp;
  return prepare_document(std::move(parsed));
}

PreparedDocument prepare_update(std::string_view json, const ResourceKey& key,
                                const StoredIdentity& identity) {
  auto parsed = std::make_unique<PreparedDocument::Parsed>();
  Json& doc = parsed->doc;
  doc = parse_object(json);
  reconcile_identity(doc, key);
  // uid and creationTimestamp belong to the stored object, not to the writer.
  const std::pair<const char*, const std::optional<std::string>*> fields[] = {
      {"uid", &identity.uid}, {"creationTimestamp", &identity.creation_timestamp}};
  for (const auto& [field, value] : fields) {
    if (*value) {
      doc["metadata"][field] = Json::parse(**value);
    }
  }
  return prepare_document(std::move(parsed));
}

std::string document_for_create(std::string_view json, const ResourceKey& key, std::string_view uid,
                                std::string_view creation_timestamp) {
  return prepare_create(json, key, uid, creation_timestamp).value();
}

StoredIdentity stored_identity(std::string_view stored) {
  return identity_of(Json::parse(stored.begin(), stored.end(), nullptr, false));
}

std::string document_for_update(std::string_view json, const ResourceKey& key,
                                std::string_view stored) {
  return document_for_update(json, key, stored_identity(stored));
}

std::string document_for_update(std::string_view json, const ResourceKey& key,
                                const StoredIdentity& identity) {
  return prepare_update(json, key, identity).value();
}

std::optional<std::string> document_for_read(std::string_view stored, const ResourceKey& key,
                                             std::string_view revision, std::string* problem,
                                             StoredIdentity* identity) {
  Json doc = Json::parse(stored.begin(), stored.end(), nullptr, false);
  if (doc.is_discarded()) {
    *problem = "value is not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_object()) {
    *problem = "value is not a JSON object";
    return std::nullopt;
  }
  auto kind = doc.find("kind");
  if (kind != doc.end() &&
      (!kind->is_string() || kind->get_ref<const std::string&>() != key.kind)) {
    *problem = "document kind " + kind->dump() + " does not match the key";
    return std::nullopt;
  }
  auto metadata = doc.find("metadata");
  if (metadata == doc.end()) {
    metadata = doc.emplace("metadata", Json::object()).first;
  } else if (!metadata->is_object()) {
    *problem = "metadata is not an object";
    return std::nullopt;
  }
  auto name = metadata->find("name");
  if (name != metadata->end() &&
      (!name->is_string() || name->get_ref<const std::string&>() != key.name)) {
    *problem = "metadata.name " + name->dump() + " does not match the key";
    return std::nullopt;
  }
  if (identity != nullptr) {
    *identity = identity_of(doc);
  }
  (*metadata)["revision"] = revision;
  return doc.dump();
}

std::string new_uid() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  uint64_t hi = engine();
  uint64_t lo = engine();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xc0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof(out), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return out;
}

std::string rfc3339_utc(uint64_t unix_ns) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ns / 1000000000ULL);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char out[32];
  std::strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

}  // namespace brindle::etcd

namespace brindle::etcd {
std::string logfmt_value(std::string_view text) {
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
}  // namespace brindle::etcd
