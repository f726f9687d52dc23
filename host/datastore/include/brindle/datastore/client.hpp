// The host's side of a datastore plugin: typed C++ calls over the C ABI, with errors as
// exceptions carrying the plugin's status code. Used by brindled and brindlectl alike.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <brindle/datastore.h>

namespace brindle::datastore {

// A failed datastore call: the plugin's status code and message; for a transaction, which of its
// operations failed (nullopt: none in particular, e.g. the datastore is unreachable).
class DatastoreError : public std::runtime_error {
 public:
  DatastoreError(brindle_status_t code, const std::string& message,
                 std::optional<size_t> op_index = std::nullopt)
      : std::runtime_error(message), code_(code), op_index_(op_index) {}
  brindle_status_t code() const noexcept { return code_; }
  bool conflict() const noexcept { return code_ == BRINDLE_ERR_CONFLICT; }
  bool not_found() const noexcept { return code_ == BRINDLE_ERR_NOT_FOUND; }
  bool already_exists() const noexcept { return code_ == BRINDLE_ERR_ALREADY_EXISTS; }
  std::optional<size_t> op_index() const noexcept { return op_index_; }

 private:
  brindle_status_t code_;
  std::optional<size_t> op_index_;
};

struct Key {
  std::string kind;
  std::string namespace_;  // empty for cluster-scoped kinds
  std::string name;
  friend bool operator==(const Key&, const Key&) = default;
  friend auto operator<=>(const Key&, const Key&) = default;
  std::string to_string() const;  // "Kind/ns/name" or "Kind/name"
};

struct Stored {
  Key key;
  std::string json;
  std::string revision;
};

// One write of a transaction (Client::txn).
struct TxnOp {
  enum class Type { create, update, remove };
  Type type;
  Key key;
  std::string json;      // create, update
  std::string revision;  // update, remove: the revision read (required)

  static TxnOp create(Key key, std::string json) {
    return {Type::create, std::move(key), std::move(json), {}};
  }
  static TxnOp update(Key key, std::string json, std::string revision) {
    return {Type::update, std::move(key), std::move(json), std::move(revision)};
  }
  static TxnOp remove(Key key, std::string revision) {
    return {Type::remove, std::move(key), {}, std::move(revision)};
  }
};

struct ListResult {
  std::vector<Stored> items;
  std::string revision;  // pass to watch() to continue after this list
};

enum class EventType {
  added,
  modified,
  deleted,
  resync_required,
  progress,
  disconnected,
  reconnected
};

struct Event {
  EventType type = EventType::added;
  std::optional<Stored> resource;  // added/modified/deleted
  std::string revision;
  std::string message;
};

// Stops the watch when destroyed; after that the handler is never called again.
class WatchHandle {
 public:
  WatchHandle(const brindle_datastore_vtable_t* vtable, brindle_instance_t* instance,
              brindle_watch_t* watch, std::unique_ptr<std::function<void(const Event&)>> handler);
  ~WatchHandle();
  WatchHandle(const WatchHandle&) = delete;
  WatchHandle& operator=(const WatchHandle&) = delete;

 private:
  const brindle_datastore_vtable_t* vtable_;
  brindle_instance_t* instance_;
  brindle_watch_t* watch_;
  std::unique_ptr<std::function<void(const Event&)>> handler_;
};

// Thread-safe as far as the plugin is (the contract says get/list/create/update/remove may be
// called concurrently).
class Client {
 public:
  Client(const brindle_datastore_vtable_t* vtable, brindle_instance_t* instance);

  std::optional<Stored> get(const Key& key) const;  // nullopt when absent
  ListResult list(std::string_view kind, std::string_view namespace_ = {}) const;
  // The same list, streamed: `each` gets every item as the plugin delivers it (on this thread,
  // during the call), so the whole list is never held at once. Returns the list's revision. When
  // the list fails it throws after `each` may already have seen some of the items: they were
  // true as of the list's revision, but the list is incomplete (nothing says what is absent).
  // An exception from `each` stops the delivery (the plugin's call runs to its end, its further
  // items are dropped) and is rethrown once the plugin has returned.
  std::string list_each(std::string_view kind, std::string_view namespace_,
                        const std::function<void(Stored&&)>& each) const;
  Stored create(const Key& key, std::string_view json) const;  // throws already_exists
  // Compare-and-swap on `revision` (empty: unconditional). Throws conflict / not_found.
  Stored update(const Key& key, std::string_view json, std::string_view revision) const;
  void remove(const Key& key, std::string_view revision) const;  // throws conflict / not_found

  // True when the plugin writes several resources atomically (the `txn` entry of ABI 0.2).
  bool supports_txn() const noexcept;
  // Applies every operation or none (create if absent, update/remove if the revision is still the
  // stored one). Returns what is stored, one per operation in order (remove: the key with empty
  // json), all at the transaction's revision. A failed condition throws DatastoreError with its
  // code (already_exists / conflict / not_found) and op_index(); nothing was written.
  // Without supports_txn() it throws BRINDLE_ERR_UNSUPPORTED and writes nothing: there is
  // deliberately no non-atomic fallback here. A caller that can do without atomicity makes its
  // single writes itself, in an order that is safe if it stops half-way (see ipam).
  std::vector<Stored> txn(const std::vector<TxnOp>& ops) const;
  // Events are delivered on a plugin thread, in order.
  std::unique_ptr<WatchHandle> watch(std::string_view kind, std::string_view from_revision,
                                     std::function<void(const Event&)> handler) const;

 private:
  const brindle_datastore_vtable_t* vtable_;
  brindle_instance_t* instance_;
  // Set when the plugin has the entry but answered UNSUPPORTED (an SDK default, not atomic): to
  // the empty transaction the constructor asks, or later to a real one.
  mutable std::atomic<bool> txn_refused_{false};
};

}  // namespace brindle::datastore
