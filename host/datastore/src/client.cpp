#include "brindle/datastore/client.hpp"

#include <exception>
#include <utility>

namespace brindle::datastore {
namespace {

std::string_view view(brindle_str_t s) {
  return s.size == 0 ? std::string_view{} : std::string_view{s.data, s.size};
}
brindle_str_t str(std::string_view s) {
  return brindle_str_t{s.data(), s.size()};
}

Stored to_stored(const brindle_resource_t* r) {
  return {{std::string(view(r->key.kind)), std::string(view(r->key.namespace_)),
           std::string(view(r->key.name))},
          std::string(view(r->json)),
          std::string(view(r->revision))};
}

void store_one(void* user, const brindle_resource_t* r) {
  *static_cast<std::optional<Stored>*>(user) = to_stored(r);
}
void store_many(void* user, const brindle_resource_t* r) {
  static_cast<std::vector<Stored>*>(user)->push_back(to_stored(r));
}
// list_each's sink: never lets an exception unwind into the plugin.
struct EachItem {
  const std::function<void(Stored&&)>* each;
  std::exception_ptr failure;
};
void deliver_item(void* user, const brindle_resource_t* r) {
  auto& state = *static_cast<EachItem*>(user);
  if (state.failure) {
    return;
  }
  try {
    (*state.each)(to_stored(r));
  } catch (...) {
    state.failure = std::current_exception();
  }
}
void store_string(void* user, brindle_str_t s) {
  static_cast<std::string*>(user)->assign(view(s));
}

[[noreturn]] void raise(brindle_status_t code, const brindle_error_t& err, std::string_view what) {
  throw DatastoreError(code, std::string(what) + ": " + err.message);
}

brindle_resource_key_t raw_key(const Key& key) {
  return {str(key.kind), str(key.namespace_), str(key.name)};
}

EventType event_type(brindle_watch_event_type_t t) {
  switch (t) {
    case BRINDLE_WATCH_ADDED:
      return EventType::added;
    case BRINDLE_WATCH_MODIFIED:
      return EventType::modified;
    case BRINDLE_WATCH_DELETED:
      return EventType::deleted;
    case BRINDLE_WATCH_RESYNC_REQUIRED:
      return EventType::resync_required;
    case BRINDLE_WATCH_PROGRESS:
      return EventType::progress;
    case BRINDLE_WATCH_DISCONNECTED:
      return EventType::disconnected;
    case BRINDLE_WATCH_RECONNECTED:
      return EventType::reconnected;
  }
  return EventType::resync_required;  // unknown event types from a newer plugin: be safe
}

void deliver(void* user, const brindle_watch_event_t* raw) {
  auto& handler = *static_cast<std::function<void(const Event&)>*>(user);
  Event event{event_type(raw->type), std::nullopt, std::string(view(raw->revision)),
              std::string(view(raw->message))};
  if (raw->resource != nullptr) {
    event.resource = to_stored(raw->resource);
  }
  try {
    handler(event);
  } catch (...) {  // never unwind into the plugin's thread
  }
}

}  // namespace

std::string Key::to_string() const {
  return namespace_.empty() ? kind + "/" + name : kind + "/" + namespace_ + "/" + name;
}

Client::Client(const brindle_datastore_vtable_t* vtable, brindle_instance_t* instance)
    : vtable_(vtable), instance_(instance) {
  // An empty transaction writes nothing and succeeds (ABI); a plugin that refuses even that (the
  // SDK's default txn) cannot write atomically: asked once here, so that the single-write paths
  // are taken from the start instead of after a first transaction failed.
  if (BRINDLE_HAS_FIELD(vtable_, brindle_datastore_vtable_t, txn) && vtable_->txn != nullptr) {
    std::vector<Stored> none;
    size_t failed = 0;
    brindle_error_t err{};
    if (vtable_->txn(instance_, nullptr, 0, &store_many, &none, &failed, &err) ==
        BRINDLE_ERR_UNSUPPORTED) {
      txn_refused_.store(true, std::memory_order_relaxed);
    }
  }
}

std::optional<Stored> Client::get(const Key& key) const {
  const brindle_resource_key_t k = raw_key(key);
  std::optional<Stored> out;
  brindle_error_t err{};
  const brindle_status_t s = vtable_->get(instance_, &k, &store_one, &out, &err);
  if (s == BRINDLE_ERR_NOT_FOUND) {
    return std::nullopt;
  }
  if (s != BRINDLE_OK) {
    raise(s, err, "get " + key.to_string());
  }
  return out;
}

ListResult Client::list(std::string_view kind, std::string_view namespace_) const {
  ListResult out;
  brindle_error_t err{};
  const brindle_status_t s = vtable_->list(instance_, str(kind), str(namespace_), &store_many,
                                           &out.items, &store_string, &out.revision, &err);
  if (s != BRINDLE_OK) {
    raise(s, err, "list " + std::string(kind.empty() ? "all kinds" : kind));
  }
  return out;
}

std::string Client::list_each(std::string_view kind, std::string_view namespace_,
                              const std::function<void(Stored&&)>& each) const {
  EachItem state{&each, nullptr};
  std::string revision;
  brindle_error_t err{};
  const brindle_status_t s = vtable_->list(instance_, str(kind), str(namespace_), &deliver_item,
                                           &state, &store_string, &revision, &err);
  if (state.failure) {
    std::rethrow_exception(state.failure);
  }
  if (s != BRINDLE_OK) {
    raise(s, err, "list " + std::string(kind.empty() ? "all kinds" : kind));
  }
  return revision;
}

Stored Client::create(const Key& key, std::string_view json) const {
  const brindle_resource_t r{raw_key(key), str(json), str({})};
  std::optional<Stored> out;
  brindle_error_t err{};
  const brindle_status_t s = vtable_->create(instance_, &r, &store_one, &out, &err);
  if (s != BRINDLE_OK) {
    raise(s, err, "create " + key.to_string());
  }
  return out ? *out : Stored{key, std::string(json), {}};
}

Stored Client::update(const Key& key, std::string_view json, std::string_view revision) const {
  const brindle_resource_t r{raw_key(key), str(json), str(revision)};
  std::optional<Stored> out;
  brindle_error_t err{};
  const brindle_status_t s = vtable_->update(instance_, &r, &store_one, &out, &err);
  if (s != BRINDLE_OK) {
    raise(s, err, "update " + key.to_string());
  }
  return out ? *out : Stored{key, std::string(json), {}};
}

void Client::remove(const Key& key, std::string_view revision) const {
  const brindle_resource_key_t k = raw_key(key);
  brindle_error_t err{};
  const brindle_status_t s = vtable_->remove(instance_, &k, str(revision), &err);
  if (s != BRINDLE_OK) {
    raise(s, err, "delete " + key.to_string());
  }
}

bool Client::supports_txn() const noexcept {
  // The host's copy of the table is zero-filled past what the plugin provided.
  return BRINDLE_HAS_FIELD(vtable_, brindle_datastore_vtable_t, txn) && vtable_->txn != nullptr &&
         !txn_refused_.load(std::memory_order_relaxed);
}

std::vector<Stored> Client::txn(const std::vector<TxnOp>& ops) const {
  if (!supports_txn()) {
    throw DatastoreError(BRINDLE_ERR_UNSUPPORTED,
                         "transaction: the datastore plugin cannot write atomically");
  }
  std::vector<brindle_txn_op_t> raw;
  raw.reserve(ops.size());
  for (const TxnOp& op : ops) {
    brindle_txn_op_type_t type = BRINDLE_TXN_CREATE;
    switch (op.type) {
      case TxnOp::Type::create:
        type = BRINDLE_TXN_CREATE;
        break;
      case TxnOp::Type::update:
        type = BRINDLE_TXN_UPDATE;
        break;
      case TxnOp::Type::remove:
        type = BRINDLE_TXN_DELETE;
        break;
    }
    raw.push_back({type, {raw_key(op.key), str(op.json), str(op.revision)}});
  }
  std::vector<Stored> out;
  out.reserve(ops.size());
  size_t failed = ops.size();
  brindle_error_t err{};
  const brindle_status_t s =
      vtable_->txn(instance_, raw.data(), raw.size(), &store_many, &out, &failed, &err);
  if (s == BRINDLE_OK) {
    if (out.size() != ops.size()) {
      throw DatastoreError(BRINDLE_ERR_INTERNAL, "transaction: the plugin reported " +
                                                     std::to_string(out.size()) + " results for " +
                                                     std::to_string(ops.size()) + " operations");
    }
    return out;
  }
  if (s == BRINDLE_ERR_UNSUPPORTED && failed >= ops.size()) {
    txn_refused_.store(
        true, std::memory_order_relaxed);  // later calls go straight to the caller's fallback
  }
  std::optional<size_t> index;
  if (failed < ops.size()) {
    index = failed;
  }
  throw DatastoreError(s, std::string("transaction: ") + err.message, index);
}

std::unique_ptr<WatchHandle> Client::watch(std::string_view kind, std::string_view from_revision,
                                           std::function<void(const Event&)> handler) const {
  auto owned = std::make_unique<std::function<void(const Event&)>>(std::move(handler));
  brindle_watch_t* w = nullptr;
  brindle_error_t err{};
  const brindle_status_t s =
      vtable_->watch(instance_, str(kind), str(from_revision), &deliver, owned.get(), &w, &err);
  if (s != BRINDLE_OK) {
    raise(s, err, "watch " + std::string(kind.empty() ? "all kinds" : kind));
  }
  return std::make_unique<WatchHandle>(vtable_, instance_, w, std::move(owned));
}

WatchHandle::WatchHandle(const brindle_datastore_vtable_t* vtable, brindle_instance_t* instance,
                         brindle_watch_t* watch,
                         std::unique_ptr<std::function<void(const Event&)>> handler)
    : vtable_(vtable), instance_(instance), watch_(watch), handler_(std::move(handler)) {}

WatchHandle::~WatchHandle() {
  if (watch_ != nullptr) {
    vtable_->cancel_watch(instance_, watch_);  // returns once the handler can no longer run
  }
}

}  // namespace brindle::datastore
