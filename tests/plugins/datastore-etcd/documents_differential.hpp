// Holds the etcd plugin's two ways of handling documents to the same outcome (documents.h): the
// quick way (validate, check the identity, splice metadata into the text) against the full parse,
// for creates, updates and reads of one document. Used by the unit tests and by the fuzzer.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "documents.h"

namespace brindle::etcd::testing {

struct Outcome {
  std::optional<std::string> value;   // what was produced, or
  std::string error;                  // the error (code and message)
  std::optional<std::string> stored;  // the document handed back once stored (writes)
  StoredIdentity identity;
};

inline Outcome write_outcome(const std::function<PreparedDocument()>& write) {
  Outcome o;
  try {
    PreparedDocument prepared = write();
    o.value = prepared.value();
    o.stored = prepared.stored_at("9", &o.identity);
  } catch (const Error& e) {
    o.error = std::to_string(e.code()) + ": " + e.what();
  }
  return o;
}

inline Outcome read_outcome(
    const std::function<std::optional<std::string>(std::string*, StoredIdentity*)>& read) {
  Outcome o;
  std::string problem;
  o.value = read(&problem, &o.identity);
  if (!o.value) {
    o.error = problem;
  }
  return o;
}

// Same members in the same order, whatever the formatting.
inline bool same_json(const std::string& a, const std::string& b) {
  return nlohmann::ordered_json::parse(a) == nlohmann::ordered_json::parse(b);
}

// "" when the two outcomes agree (byte for byte when `compact`), else what differs.
inline std::string compare(const char* what, const Outcome& quick, const Outcome& parsed,
                           bool compact) {
  auto differs = [&](const std::string& detail) { return std::string(what) + ": " + detail; };
  if (quick.value.has_value() != parsed.value.has_value()) {
    return differs("one succeeded, the other did not (" + quick.error + " / " + parsed.error + ")");
  }
  if (!quick.value) {
    return quick.error == parsed.error ? "" : differs(quick.error + " vs " + parsed.error);
  }
  for (const auto& [a, b] : {std::pair{quick.value, parsed.value}, {quick.stored, parsed.stored}}) {
    if (a.has_value() != b.has_value()) {
      return differs("a stored document on one side only");
    }
    if (a && !same_json(*a, *b)) {
      return differs(*a + " vs " + *b);
    }
    if (a && compact && *a != *b) {
      return differs("bytes differ: " + *a + " vs " + *b);
    }
  }
  if (quick.identity.uid != parsed.identity.uid ||
      quick.identity.creation_timestamp != parsed.identity.creation_timestamp) {
    return differs("identity differs");
  }
  return "";
}

// Compares both ways on `document` for `key`: create, update with several stored identities, and
// read. "" when they agree.
inline std::string differential_mismatch(std::string_view document, const ResourceKey& key) {
  const nlohmann::ordered_json parsed =
      nlohmann::ordered_json::parse(document.begin(), document.end(), nullptr, false);
  const bool compact = !parsed.is_discarded() && parsed.dump() == document;
  std::string mismatch = compare(
      "create",
      write_outcome([&] { return prepare_create(document, key, "uid-1", "2024-01-02T03:04:05Z"); }),
      write_outcome([&] {
        return detail::prepare_create_parsed(document, key, "uid-1", "2024-01-02T03:04:05Z");
      }),
      compact);
  const StoredIdentity identities[] = {
      {}, {R"("uid-0")", std::nullopt}, {R"("uid-0")", R"("t0")"}, {std::nullopt, R"(["t",1])"}};
  for (const StoredIdentity& identity : identities) {
    if (!mismatch.empty()) {
      return mismatch;
    }
    mismatch = compare(
        "update", write_outcome([&] { return prepare_update(document, key, identity); }),
        write_outcome([&] { return detail::prepare_update_parsed(document, key, identity); }),
        compact);
  }
  if (!mismatch.empty()) {
    return mismatch;
  }
  const StoredIdentity quick = stored_identity(document);
  const StoredIdentity parsed_identity = detail::stored_identity_parsed(document);
  if (quick.uid != parsed_identity.uid ||
      quick.creation_timestamp != parsed_identity.creation_timestamp) {
    return "stored identity differs";
  }
  return compare("read", read_outcome([&](std::string* problem, StoredIdentity* identity) {
                   return document_for_read(document, key, "42", problem, identity);
                 }),
                 read_outcome([&](std::string* problem, StoredIdentity* identity) {
                   return detail::document_for_read_parsed(document, key, "42", problem, identity);
                 }),
                 compact);
}

}  // namespace brindle::etcd::testing
