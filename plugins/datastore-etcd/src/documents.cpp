#include "documents.h"

#include "json_shape.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "brindle/plugins/datastore_documents.hpp"

namespace brindle::etcd {
namespace {

using datastore_documents::Json;
using datastore_documents::parse_object;
using datastore_documents::reconcile_identity;

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

PreparedDocument::PreparedDocument(std::unique_ptr<Parsed> parsed) {
  // The value as doc.dump() writes it, noting where the metadata object closes: the document for
  // the host is then the value with the revision spliced in there, without a second dump.
  const Json& doc = parsed->doc;
  identity_ = identity_of(doc);
  value_ = "{";
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it != doc.begin()) {
      value_ += ',';
    }
    value_ += Json(it.key()).dump();
    value_ += ':';
    value_ += it.value().dump();
    if (it.key() == "metadata") {
      metadata_close_ = value_.size() - 1;
      metadata_empty_ = it.value().empty();
    }
  }
  value_ += '}';
}
PreparedDocument::PreparedDocument(PreparedDocument&&) noexcept = default;
PreparedDocument& PreparedDocument::operator=(PreparedDocument&&) noexcept = default;
PreparedDocument::~PreparedDocument() = default;

PreparedDocument prepare_document(std::unique_ptr<PreparedDocument::Parsed> parsed) {
  return PreparedDocument(std::move(parsed));
}

std::string PreparedDocument::stored_at(std::string_view revision, StoredIdentity* identity) const {
  // reconcile_identity() made metadata an object and dropped metadata.revision: the stored value
  // with the revision appended to metadata, as document_for_read() would give it.
  if (identity != nullptr) {
    *identity = identity_;
  }
  std::string out;
  const std::string field = std::string(metadata_empty_ ? "" : ",") +
                            "\"revision\":" + Json(std::string(revision)).dump();
  out.reserve(value_.size() + field.size());
  out.append(value_, 0, metadata_close_);
  out += field;
  out.append(value_, metadata_close_, std::string::npos);
  return out;
}

PreparedDocument detail::prepare_create_parsed(std::string_view json, const ResourceKey& key,
                                               std::string_view uid,
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

PreparedDocument detail::prepare_update_parsed(std::string_view json, const ResourceKey& key,
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

StoredIdentity detail::stored_identity_parsed(std::string_view stored) {
  return identity_of(Json::parse(stored.begin(), stored.end(), nullptr, false));
}

std::optional<std::string> detail::document_for_read_parsed(std::string_view stored,
                                                            const ResourceKey& key,
                                                            std::string_view revision,
                                                            std::string* problem,
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

// ---- The quick way (see documents.h) -------------------------------------------------------

PreparedDocument prepare_document(std::string value, size_t metadata_close, bool metadata_empty,
                                  StoredIdentity identity);

namespace {

std::string_view value_text(std::string_view text, const json_shape::Member& m) {
  return text.substr(m.value_begin, m.end - m.value_begin);
}

std::string json_string(std::string_view value) {
  return Json(std::string(value)).dump();
}

// A small raw JSON value as nlohmann serializes it (identity fields).
std::string canonical(std::string_view raw) {
  return Json::parse(raw.begin(), raw.end()).dump();
}

// The document's top level and metadata as the quick way needs them: valid JSON, an object with
// one "metadata" object, no key escaped or repeated in either (so that the members found are the
// members a full parse sees). Null: take the full parse.
std::optional<json_shape::Document> shape_of(std::string_view text) {
  json_shape::Document d;
  if (!json_shape::scan(text, &d) || d.top.any_key_escaped() || d.top.any_key_repeated() ||
      d.top.count("metadata") != 1 || !d.has_metadata_object || d.metadata.any_key_escaped() ||
      d.metadata.any_key_repeated()) {
    return std::nullopt;
  }
  return d;
}

// Whether `member` (if present) holds exactly the JSON string `expected`.
bool holds(std::string_view text, const json_shape::Member* member, std::string_view expected) {
  return member != nullptr && value_text(text, *member) == json_string(expected);
}

std::optional<std::string> read_quickly(std::string_view stored, const ResourceKey& key,
                                        std::string_view revision, StoredIdentity* identity) {
  const std::optional<json_shape::Document> d = shape_of(stored);
  if (!d) {
    return std::nullopt;
  }
  const json_shape::Member* kind = d->top.find("kind");
  const json_shape::Member* name = d->metadata.find("name");
  if ((kind != nullptr && !holds(stored, kind, key.kind)) ||
      (name != nullptr && !holds(stored, name, key.name)) || d->metadata.count("revision") != 0) {
    return std::nullopt;
  }
  if (identity != nullptr) {
    *identity = {};
    if (const json_shape::Member* uid = d->metadata.find("uid")) {
      identity->uid = canonical(value_text(stored, *uid));
    }
    if (const json_shape::Member* created = d->metadata.find("creationTimestamp")) {
      identity->creation_timestamp = canonical(value_text(stored, *created));
    }
  }
  const std::string field =
      std::string(d->metadata.members.empty() ? "" : ",") + "\"revision\":" + json_string(revision);
  std::string out;
  out.reserve(d->top.close - d->top.open + 1 + field.size());
  out.append(stored.substr(d->top.open, d->metadata.close - d->top.open));
  out += field;
  out.append(stored.substr(d->metadata.close, d->top.close + 1 - d->metadata.close));
  return out;
}

std::optional<PreparedDocument> prepare_quickly(
    std::string_view json, const ResourceKey& key, const std::optional<std::string>& uid,
    const std::optional<std::string>& creation_timestamp) {
  const std::optional<json_shape::Document> d = shape_of(json);
  if (!d) {
    return std::nullopt;
  }
  const json_shape::Member* ns = d->metadata.find("namespace");
  if (!holds(json, d->top.find("kind"), key.kind) ||
      !holds(json, d->metadata.find("name"), key.name) ||
      (ns != nullptr ? !holds(json, ns, key.namespace_) : !key.namespace_.empty())) {
    return std::nullopt;
  }
  // The metadata object rebuilt member by member, as the full parse edits it: revision dropped,
  // uid and creationTimestamp replaced in place or appended (in that order).
  std::string metadata = "{";
  bool empty = true;
  auto add = [&](std::string_view member) {
    if (!empty) {
      metadata += ',';
    }
    metadata += member;
    empty = false;
  };
  StoredIdentity identity;
  bool has_uid = false;
  bool has_created = false;
  for (const json_shape::Member& m : d->metadata.members) {
    if (m.key == "revision") {
      continue;
    }
    const bool is_uid = m.key == "uid";
    const bool is_created = m.key == "creationTimestamp";
    const std::optional<std::string>& forced = is_uid ? uid : creation_timestamp;
    if ((is_uid || is_created) && forced) {
      add("\"" + std::string(m.key) + "\":" + *forced);
    } else {
      add(json.substr(m.begin, m.end - m.begin));
    }
    if (is_uid) {
      has_uid = true;
      identity.uid = forced ? *forced : canonical(value_text(json, m));
    } else if (is_created) {
      has_created = true;
      identity.creation_timestamp = forced ? *forced : canonical(value_text(json, m));
    }
  }
  if (!has_uid && uid) {
    add("\"uid\":" + *uid);
    identity.uid = *uid;
  }
  if (!has_created && creation_timestamp) {
    add("\"creationTimestamp\":" + *creation_timestamp);
    identity.creation_timestamp = *creation_timestamp;
  }
  metadata += '}';
  std::string value;
  value.reserve(d->top.close - d->top.open + 1 + metadata.size());
  value.append(json.substr(d->top.open, d->metadata.open - d->top.open));
  const size_t metadata_close = value.size() + metadata.size() - 1;
  value += metadata;
  value.append(json.substr(d->metadata.close + 1, d->top.close - d->metadata.close));
  return prepare_document(std::move(value), metadata_close, empty, std::move(identity));
}

// The identity of a stored value, by its shape (null: take the full parse).
std::optional<StoredIdentity> identity_quickly(std::string_view stored) {
  const std::optional<json_shape::Document> d = shape_of(stored);
  if (!d) {
    return std::nullopt;
  }
  StoredIdentity identity;
  if (const json_shape::Member* uid = d->metadata.find("uid")) {
    identity.uid = canonical(value_text(stored, *uid));
  }
  if (const json_shape::Member* created = d->metadata.find("creationTimestamp")) {
    identity.creation_timestamp = canonical(value_text(stored, *created));
  }
  return identity;
}

}  // namespace

StoredIdentity stored_identity(std::string_view stored) {
  if (std::optional<StoredIdentity> quick = identity_quickly(stored)) {
    return *quick;
  }
  return detail::stored_identity_parsed(stored);
}

PreparedDocument prepare_document(std::string value, size_t metadata_close, bool metadata_empty,
                                  StoredIdentity identity) {
  PreparedDocument prepared;
  prepared.value_ = std::move(value);
  prepared.metadata_close_ = metadata_close;
  prepared.metadata_empty_ = metadata_empty;
  prepared.identity_ = std::move(identity);
  return prepared;
}

PreparedDocument prepare_create(std::string_view json, const ResourceKey& key, std::string_view uid,
                                std::string_view creation_timestamp) {
  if (std::optional<PreparedDocument> quick =
          prepare_quickly(json, key, json_string(uid), json_string(creation_timestamp))) {
    return std::move(*quick);
  }
  return detail::prepare_create_parsed(json, key, uid, creation_timestamp);
}

PreparedDocument prepare_update(std::string_view json, const ResourceKey& key,
                                const StoredIdentity& identity) {
  if (std::optional<PreparedDocument> quick =
          prepare_quickly(json, key, identity.uid, identity.creation_timestamp)) {
    return std::move(*quick);
  }
  return detail::prepare_update_parsed(json, key, identity);
}

std::optional<std::string> document_for_read(std::string_view stored, const ResourceKey& key,
                                             std::string_view revision, std::string* problem,
                                             StoredIdentity* identity) {
  if (std::optional<std::string> quick = read_quickly(stored, key, revision, identity)) {
    return quick;
  }
  return detail::document_for_read_parsed(stored, key, revision, problem, identity);
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
