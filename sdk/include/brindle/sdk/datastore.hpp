// Brindle C++ SDK: datastore plugins. See brindle/datastore.h for the contract.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/datastore.h"
#include "brindle/sdk/core.hpp"

namespace brindle {

struct ResourceKey {
  std::string kind;
  std::string namespace_;
  std::string name;

  static ResourceKey from(const brindle_resource_key_t& k) {
    return {std::string(view(k.kind)), std::string(view(k.namespace_)), std::string(view(k.name))};
  }
  friend bool operator==(const ResourceKey&, const ResourceKey&) = default;
};

struct Resource {
  ResourceKey key;
  std::string json;
  std::string revision;

  static Resource from(const brindle_resource_t& r) {
    return {ResourceKey::from(r.key), std::string(view(r.json)), std::string(view(r.revision))};
  }
};

// One operation of a transaction (see brindle_txn_op_t).
struct TxnOp {
  brindle_txn_op_type_t type;
  Resource resource;

  static TxnOp from(const brindle_txn_op_t& op) { return {op.type, Resource::from(op.resource)}; }
};

// Thrown by DatastorePlugin::txn() for a failed condition or an invalid operation: the status
// (ALREADY_EXISTS, CONFLICT, NOT_FOUND, INVALID_ARGUMENT, UNSUPPORTED) and the operation's index.
class TxnOpError : public Error {
 public:
  TxnOpError(brindle_status_t code, std::size_t op_index, const std::string& message)
      : Error(code, message), op_index_(op_index) {}
  std::size_t op_index() const noexcept { return op_index_; }

 private:
  std::size_t op_index_;
};

// Where a plugin writes resources for the host (copied by the host during the call).
class ResourceSink {
 public:
  ResourceSink(brindle_resource_sink_fn fn, void* user) noexcept : fn_(fn), user_(user) {}
  void emit(std::string_view kind, std::string_view namespace_, std::string_view name,
            std::string_view json, std::string_view revision) const {
    const brindle_resource_t r{{str(kind), str(namespace_), str(name)}, str(json), str(revision)};
    fn_(user_, &r);
  }
  void emit(const Resource& r) const {
    emit(r.key.kind, r.key.namespace_, r.key.name, r.json, r.revision);
  }

 private:
  brindle_resource_sink_fn fn_;
  void* user_;
};

// Where a watch delivers its events. Call from one thread at a time, in order.
class WatchHandler {
 public:
  WatchHandler(brindle_watch_handler_fn fn, void* user) noexcept : fn_(fn), user_(user) {}

  void deliver(brindle_watch_event_type_t type, const Resource* resource, std::string_view revision,
               std::string_view message = {}) const {
    brindle_resource_t raw{};
    if (resource != nullptr) {
      raw = {{str(resource->key.kind), str(resource->key.namespace_), str(resource->key.name)},
             str(resource->json),
             str(resource->revision)};
    }
    const brindle_watch_event_t event{sizeof(brindle_watch_event_t), type,
                                      resource != nullptr ? &raw : nullptr, str(revision),
                                      str(message)};
    fn_(user_, &event);
  }

 private:
  brindle_watch_handler_fn fn_;
  void* user_;
};

// A running watch; destroying it must stop deliveries before the destructor returns.
class Watch {
 public:
  virtual ~Watch() = default;
};

class DatastorePlugin : public PluginBase {
 public:
  static constexpr brindle_plugin_kind_t kKind = BRINDLE_KIND_DATASTORE;
  using PluginBase::PluginBase;

  // Writes the resource to `sink` or throws Error(BRINDLE_ERR_NOT_FOUND).
  virtual void get(const ResourceKey& key, const ResourceSink& sink) = 0;
  // Emits every matching resource and returns the list revision.
  virtual std::string list(std::string_view kind, std::string_view namespace_,
                           const ResourceSink& sink) = 0;
  virtual void create(const Resource& resource, const ResourceSink& stored) = 0;
  virtual void update(const Resource& resource, const ResourceSink& stored) = 0;
  virtual void remove(const ResourceKey& key, std::string_view revision) = 0;
  virtual std::unique_ptr<Watch> watch(std::string_view kind, std::string_view from_revision,
                                       WatchHandler handler) = 0;
  // Applies every operation or none (see brindle_datastore_vtable_t::txn); on success emits one
  // stored resource per operation, in order. A failed condition throws TxnOpError. The default
  // says the plugin cannot write atomically; the host then uses single writes.
  virtual void txn(const std::vector<TxnOp>& ops, const ResourceSink& stored) {
    (void)ops;
    (void)stored;
    throw Error(BRINDLE_ERR_UNSUPPORTED, "this datastore plugin has no atomic transactions");
  }
};

namespace detail {

template <typename Plugin>
struct DatastoreAdapter {
  static Plugin& self(brindle_instance_t* inst) { return *reinterpret_cast<Plugin*>(inst); }

  static brindle_status_t get(brindle_instance_t* inst, const brindle_resource_key_t* key,
                              brindle_resource_sink_fn sink, void* user, brindle_error_t* err) {
    return guard(err, [&] { self(inst).get(ResourceKey::from(*key), ResourceSink(sink, user)); });
  }
  static brindle_status_t list(brindle_instance_t* inst, brindle_str_t kind,
                               brindle_str_t namespace_, brindle_resource_sink_fn sink, void* user,
                               brindle_str_sink_fn revision_sink, void* revision_user,
                               brindle_error_t* err) {
    return guard(err, [&] {
      const std::string revision =
          self(inst).list(view(kind), view(namespace_), ResourceSink(sink, user));
      if (revision_sink != nullptr) {
        revision_sink(revision_user, str(revision));
      }
    });
  }
  static brindle_status_t create(brindle_instance_t* inst, const brindle_resource_t* resource,
                                 brindle_resource_sink_fn sink, void* user, brindle_error_t* err) {
    return guard(err,
                 [&] { self(inst).create(Resource::from(*resource), ResourceSink(sink, user)); });
  }
  static brindle_status_t update(brindle_instance_t* inst, const brindle_resource_t* resource,
                                 brindle_resource_sink_fn sink, void* user, brindle_error_t* err) {
    return guard(err,
                 [&] { self(inst).update(Resource::from(*resource), ResourceSink(sink, user)); });
  }
  static brindle_status_t remove(brindle_instance_t* inst, const brindle_resource_key_t* key,
                                 brindle_str_t revision, brindle_error_t* err) {
    return guard(err, [&] { self(inst).remove(ResourceKey::from(*key), view(revision)); });
  }
  static brindle_status_t watch(brindle_instance_t* inst, brindle_str_t kind,
                                brindle_str_t from_revision, brindle_watch_handler_fn handler,
                                void* user, brindle_watch_t** out, brindle_error_t* err) {
    return guard(err, [&] {
      std::unique_ptr<Watch> w =
          self(inst).watch(view(kind), view(from_revision), WatchHandler(handler, user));
      *out = reinterpret_cast<brindle_watch_t*>(w.release());
    });
  }
  static void cancel_watch(brindle_instance_t*, brindle_watch_t* w) noexcept {
    try {
      delete reinterpret_cast<Watch*>(w);
    } catch (...) {  // a destructor that throws must not cross the boundary
    }
  }

  static brindle_status_t txn(brindle_instance_t* inst, const brindle_txn_op_t* ops,
                              std::size_t count, brindle_resource_sink_fn sink, void* user,
                              std::size_t* failed_op, brindle_error_t* err) {
    if (failed_op != nullptr) {
      *failed_op = count;
    }
    return guard(err, [&] {
      std::vector<TxnOp> list;
      list.reserve(count);
      for (std::size_t i = 0; i < count; ++i) {
        list.push_back(TxnOp::from(ops[i]));
      }
      try {
        self(inst).txn(list, ResourceSink(sink, user));
      } catch (const TxnOpError& e) {
        if (failed_op != nullptr && e.op_index() < count) {
          *failed_op = e.op_index();
        }
        throw;
      }
    });
  }

  static constexpr brindle_datastore_vtable_t kVtable{sizeof(brindle_datastore_vtable_t),
                                                      &get,
                                                      &list,
                                                      &create,
                                                      &update,
                                                      &remove,
                                                      &watch,
                                                      &cancel_watch,
                                                      &txn};
};

}  // namespace detail
}  // namespace brindle
