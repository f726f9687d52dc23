// Test-side access to a datastore plugin strictly through its C ABI: dlopen() of the .so, the
// entry symbol, the descriptor's create/destroy and the datastore vtable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "brindle/datastore.h"
#include "host_stub.h"

namespace brindle::test {

struct Status {
  brindle_status_t code = BRINDLE_OK;
  std::string message;
  bool ok() const { return code == BRINDLE_OK; }
};
std::ostream& operator<<(std::ostream& out, const Status& status);

struct Stored {
  std::string kind, namespace_, name, json, revision;
};

// The loaded plugin library (never unloaded: see dlclose in the ABI notes).
class PluginLibrary {
 public:
  explicit PluginLibrary(const std::string& path);
  const brindle_plugin_descriptor_t& descriptor() const { return *descriptor_; }
  const brindle_datastore_vtable_t& vtable() const {
    return *static_cast<const brindle_datastore_vtable_t*>(descriptor_->vtable);
  }
  // The plugin library at `path`, loaded once (each test directory compiles in the path of the
  // plugin it tests).
  static PluginLibrary& at(const std::string& path);

 private:
  void* handle_ = nullptr;
  const brindle_plugin_descriptor_t* descriptor_ = nullptr;
};

class WatchRecorder;

// One plugin instance.
class DatastoreInstance {
 public:
  // Creates an instance with `host`'s configuration; *status says why when it fails (then the
  // returned pointer is null).
  static std::unique_ptr<DatastoreInstance> create(PluginLibrary& library, HostStub& host,
                                                   Status* status);
  ~DatastoreInstance();

  Status get(const std::string& kind, const std::string& ns, const std::string& name, Stored* out);
  // Replaces *out with the listed resources.
  Status list(const std::string& kind, const std::string& ns, std::vector<Stored>* out,
              std::string* revision);
  Status create(const Stored& resource, Stored* out = nullptr);
  Status update(const Stored& resource, Stored* out = nullptr);
  Status remove(const std::string& kind, const std::string& ns, const std::string& name,
                const std::string& revision);
  // One transaction (ABI 0.2 `txn`): *results gets what the plugin emitted, *failed_op the index
  // it reported (both optional).
  struct TxnOp {
    brindle_txn_op_type_t type;
    Stored resource;
  };
  Status txn(const std::vector<TxnOp>& ops, std::vector<Stored>* results = nullptr,
             size_t* failed_op = nullptr);
  // Starts a watch recorded by `recorder` (which cancels it when destroyed or on cancel()).
  Status watch(const std::string& kind, const std::string& from_revision, WatchRecorder& recorder);

  brindle_instance_t* raw() const { return instance_; }
  const brindle_datastore_vtable_t& vtable() const { return library_.vtable(); }

 private:
  DatastoreInstance(PluginLibrary& library, brindle_instance_t* instance)
      : library_(library), instance_(instance) {}
  PluginLibrary& library_;
  brindle_instance_t* instance_;
};

// Collects watch events; thread-safe.
class WatchRecorder {
 public:
  struct Event {
    brindle_watch_event_type_t type;
    Stored resource;  // empty for non-resource events
    std::string revision;
    std::string message;
  };
  WatchRecorder() = default;
  ~WatchRecorder() { cancel(); }
  WatchRecorder(const WatchRecorder&) = delete;
  WatchRecorder& operator=(const WatchRecorder&) = delete;

  void cancel();
  std::vector<Event> events() const;
  // Waits until `done(events)` holds; false on timeout.
  bool wait_for(const std::function<bool(const std::vector<Event>&)>& done,
                std::chrono::milliseconds timeout) const;
  size_t count(brindle_watch_event_type_t type) const;
  // Optional hook run on the plugin's thread for each event (after recording).
  std::function<void(const Event&)> on_event;

 private:
  friend class DatastoreInstance;
  static void handle(void* user, const brindle_watch_event_t* event);

  DatastoreInstance* instance_ = nullptr;
  brindle_watch_t* watch_ = nullptr;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Event> events_;
};

const char* event_name(brindle_watch_event_type_t type);

}  // namespace brindle::test
