// Typed access to resources in the datastore: model documents in, model documents out, with the
// revision each was read at so that writes can be compare-and-swap.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "brindle/datastore/client.hpp"
#include "brindle/model/kinds.hpp"
#include "brindle/model/resource.hpp"

namespace brindle::ipam {

template <typename Spec>
struct Versioned {
  model::Typed<Spec> doc;
  std::string revision;
};

// A thin typed layer over datastore::Client. Documents that do not decode are reported as
// DatastoreError(BRINDLE_ERR_INVALID_ARGUMENT) naming the key, never silently dropped on reads of
// one key; list() skips them and counts them in `skipped` (garbage must not stop IPAM).
class Store {
 public:
  explicit Store(const datastore::Client& client) : client_(client) {}

  const datastore::Client& client() const { return client_; }

  template <typename Spec>
  std::optional<Versioned<Spec>> get(const std::string& name,
                                     const std::string& namespace_ = {}) const {
    std::optional<datastore::Stored> s = client_.get(key<Spec>(name, namespace_));
    if (!s) {
      return std::nullopt;
    }
    return decode<Spec>(*s);
  }

  template <typename Spec>
  std::vector<Versioned<Spec>> list(size_t* skipped = nullptr) const {
    std::vector<Versioned<Spec>> out;
    for (const datastore::Stored& s : client_.list(Spec::kKind).items) {
      try {
        out.push_back(decode<Spec>(s));
      } catch (const datastore::DatastoreError&) {
        if (skipped != nullptr) {
          ++*skipped;
        }
      }
    }
    return out;
  }

  // Throws DatastoreError(already_exists).
  template <typename Spec>
  Versioned<Spec> create(const model::Typed<Spec>& doc) const {
    return decode<Spec>(client_.create(key_of(doc), text(doc)));
  }
  // Compare-and-swap on `revision`. Throws DatastoreError(conflict / not_found).
  template <typename Spec>
  Versioned<Spec> update(const model::Typed<Spec>& doc, const std::string& revision) const {
    return decode<Spec>(client_.update(key_of(doc), text(doc), revision));
  }
  template <typename Spec>
  void remove(const std::string& name, const std::string& revision,
              const std::string& namespace_ = {}) const {
    client_.remove(key<Spec>(name, namespace_), revision);
  }

  template <typename Spec>
  static datastore::Key key(const std::string& name, const std::string& namespace_ = {}) {
    return {std::string(Spec::kKind), namespace_, name};
  }

  // Transactions (all or nothing; see datastore::Client::txn): build the operations with these,
  // read the results with decode().
  bool supports_txn() const { return client_.supports_txn(); }
  std::vector<datastore::Stored> txn(const std::vector<datastore::TxnOp>& ops) const {
    return client_.txn(ops);
  }
  template <typename Spec>
  static datastore::TxnOp create_op(const model::Typed<Spec>& doc) {
    return datastore::TxnOp::create(key_of(doc), text(doc));
  }
  template <typename Spec>
  static datastore::TxnOp update_op(const model::Typed<Spec>& doc, const std::string& revision) {
    return datastore::TxnOp::update(key_of(doc), text(doc), revision);
  }
  template <typename Spec>
  static datastore::TxnOp remove_op(const std::string& name, const std::string& revision,
                                    const std::string& namespace_ = {}) {
    return datastore::TxnOp::remove(key<Spec>(name, namespace_), revision);
  }

  template <typename Spec>
  static Versioned<Spec> decode(const datastore::Stored& s) {
    try {
      model::Resource r = model::resource_from_json_text(s.json);
      Versioned<Spec> v{model::decode<Spec>(r), s.revision};
      v.doc.metadata.revision = s.revision;
      return v;
    } catch (const std::exception& e) {
      throw datastore::DatastoreError(BRINDLE_ERR_INVALID_ARGUMENT,
                                      "stored " + s.key.to_string() + " is invalid: " + e.what());
    }
  }

 private:
  template <typename Spec>
  static datastore::Key key_of(const model::Typed<Spec>& doc) {
    return key<Spec>(doc.metadata.name, doc.metadata.namespace_);
  }
  template <typename Spec>
  static std::string text(const model::Typed<Spec>& doc) {
    if constexpr (std::is_same_v<Spec, model::IPAMBlockSpec>) {
      return model::block_json_text(doc);  // the same text, without the generic encoder's cost
    } else {
      return model::to_json_text(model::encode(doc));
    }
  }

  const datastore::Client& client_;
};

}  // namespace brindle::ipam
