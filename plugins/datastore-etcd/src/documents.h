// The plugin's view of resource documents: it stores whatever JSON object the host gives it and
// only touches the metadata it owns (revision, uid, creationTimestamp) plus the identity fields
// that must agree with the key (kind, metadata.name, metadata.namespace). It knows no kinds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "brindle/plugins/datastore_documents.hpp"
#include "brindle/sdk.hpp"

namespace brindle::etcd {

// What a replacement keeps from the stored value: metadata.uid and metadata.creationTimestamp,
// each as JSON text (nullopt when the stored value has none).
struct StoredIdentity {
  std::optional<std::string> uid;
  std::optional<std::string> creation_timestamp;
};
StoredIdentity stored_identity(std::string_view stored);

// A document about to be written (prepare_create / prepare_update): the value to store, and once
// it is stored, the document handed to the host: the value with the revision spliced into its
// metadata — a write neither parses nor serializes again what it just serialized (a 5 KB IPAM
// block costs ~0.05-0.1 ms per pass).
class PreparedDocument {
 public:
  PreparedDocument(PreparedDocument&&) noexcept;
  PreparedDocument& operator=(PreparedDocument&&) noexcept;
  ~PreparedDocument();
  const std::string& value() const { return value_; }
  // What document_for_read(value(), key, revision, ..., identity) would return.
  std::string stored_at(std::string_view revision, StoredIdentity* identity) const;

  struct Parsed;  // in documents.cpp

 private:
  friend PreparedDocument prepare_document(std::unique_ptr<Parsed> parsed);
  friend PreparedDocument prepare_document(std::string value, size_t metadata_close,
                                           bool metadata_empty, StoredIdentity identity);
  explicit PreparedDocument(std::unique_ptr<Parsed> parsed);
  PreparedDocument() = default;
  std::string value_;
  size_t metadata_close_ = 0;  // where in value_ the metadata object's '}' is
  bool metadata_empty_ = false;
  StoredIdentity identity_;
};

// A new resource: its value is `json` with kind/name/namespace filled in when absent,
// metadata.uid and metadata.creationTimestamp set, metadata.revision removed (the revision is the
// key's mod_revision). Throws Error(INVALID_ARGUMENT) naming the field when the document is not
// an object or contradicts `key`.
PreparedDocument prepare_create(std::string_view json, const ResourceKey& key, std::string_view uid,
                                std::string_view creation_timestamp);
// A replacement: like prepare_create, but uid and creationTimestamp are those of the stored
// value (`identity`, see stored_identity()) when it has them, whatever the writer sent.
PreparedDocument prepare_update(std::string_view json, const ResourceKey& key,
                                const StoredIdentity& identity);

// The document handed to the host for a stored value: metadata.revision set to `revision`.
// Returns nullopt and sets *problem when the value is not a resource document for `key`. With
// `identity`, also extracts what a later replacement keeps (saves parsing the value twice).
std::optional<std::string> document_for_read(std::string_view stored, const ResourceKey& key,
                                             std::string_view revision, std::string* problem,
                                             StoredIdentity* identity = nullptr);

// The same functions through a full parse of the document (nlohmann ordered_json) only. The
// functions above take a quicker way (json_shape.h: validate, check the identity fields and
// splice metadata into the text) whenever the document allows it, with the same outcome: the
// same documents accepted, the same errors, the same members in the same order; byte for byte
// the same text when the input is compact as serialized by nlohmann (as the host's and this
// plugin's own documents are). For the tests that hold the two ways to that.
namespace detail {
PreparedDocument prepare_create_parsed(std::string_view json, const ResourceKey& key,
                                       std::string_view uid, std::string_view creation_timestamp);
PreparedDocument prepare_update_parsed(std::string_view json, const ResourceKey& key,
                                       const StoredIdentity& identity);
StoredIdentity stored_identity_parsed(std::string_view stored);
std::optional<std::string> document_for_read_parsed(std::string_view stored, const ResourceKey& key,
                                                    std::string_view revision, std::string* problem,
                                                    StoredIdentity* identity = nullptr);
}  // namespace detail

// A random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
std::string new_uid();

// RFC 3339 UTC with second precision, "2024-05-01T12:00:00Z".
std::string rfc3339_utc(uint64_t unix_ns);

}  // namespace brindle::etcd

namespace brindle::etcd {
// A logfmt value: quoted when needed, with quotes, backslashes and non-printable bytes escaped.
using datastore_documents::logfmt_value;
}  // namespace brindle::etcd
