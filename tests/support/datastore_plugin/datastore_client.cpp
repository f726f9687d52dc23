#include "datastore_client.h"

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <ostream>
#include <stdexcept>

namespace brindle::test {
namespace {

std::string_view view(brindle_str_t s) {
  return s.size == 0 ? std::string_view{} : std::string_view{s.data, s.size};
}
brindle_str_t str(const std::string& s) {
  return brindle_str_t{s.data(), s.size()};
}

Stored to_stored(const brindle_resource_t& r) {
  return Stored{std::string(view(r.key.kind)), std::string(view(r.key.namespace_)),
                std::string(view(r.key.name)), std::string(view(r.json)),
                std::string(view(r.revision))};
}

void collect_one(void* user, const brindle_resource_t* r) {
  *static_cast<Stored*>(user) = to_stored(*r);
}
void collect_many(void* user, const brindle_resource_t* r) {
  static_cast<std::vector<Stored>*>(user)->push_back(to_stored(*r));
}
void collect_string(void* user, brindle_str_t s) {
  static_cast<std::string*>(user)->assign(view(s));
}

Status status_of(brindle_status_t code, const brindle_error_t& err) {
  return code == BRINDLE_OK ? Status{} : Status{code, err.message};
}

brindle_error_t fresh_error() {
  brindle_error_t err{};
  err.code = BRINDLE_OK;
  return err;
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const Status& status) {
  return out << "status " << static_cast<int>(status.code) << ": " << status.message;
}

const char* event_name(brindle_watch_event_type_t type) {
  switch (type) {
    case BRINDLE_WATCH_ADDED:
      return "ADDED";
    case BRINDLE_WATCH_MODIFIED:
      return "MODIFIED";
    case BRINDLE_WATCH_DELETED:
      return "DELETED";
    case BRINDLE_WATCH_RESYNC_REQUIRED:
      return "RESYNC_REQUIRED";
    case BRINDLE_WATCH_PROGRESS:
      return "PROGRESS";
    case BRINDLE_WATCH_DISCONNECTED:
      return "DISCONNECTED";
    case BRINDLE_WATCH_RECONNECTED:
      return "RECONNECTED";
  }
  return "?";
}

PluginLibrary::PluginLibrary(const std::string& path) {
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    throw std::runtime_error("dlopen " + path + ": " + dlerror());
  }
  auto entry =
      reinterpret_cast<brindle_plugin_entry_fn>(dlsym(handle_, BRINDLE_PLUGIN_ENTRY_SYMBOL));
  if (entry == nullptr) {
    throw std::runtime_error(path + " has no " BRINDLE_PLUGIN_ENTRY_SYMBOL);
  }
  descriptor_ = entry();
}

PluginLibrary& PluginLibrary::at(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<PluginLibrary>> libraries;
  std::lock_guard lock(mutex);
  std::unique_ptr<PluginLibrary>& library = libraries[path];
  if (!library) {
    library = std::make_unique<PluginLibrary>(path);
  }
  return *library;
}

std::unique_ptr<DatastoreInstance> DatastoreInstance::create(PluginLibrary& library, HostStub& host,
                                                             Status* status) {
  brindle_instance_t* instance = nullptr;
  brindle_error_t err = fresh_error();
  const brindle_status_t code = library.descriptor().create(host.services(), &instance, &err);
  *status = status_of(code, err);
  if (code != BRINDLE_OK) {
    return nullptr;
  }
  return std::unique_ptr<DatastoreInstance>(new DatastoreInstance(library, instance));
}

DatastoreInstance::~DatastoreInstance() {
  library_.descriptor().destroy(instance_);
}

Status DatastoreInstance::get(const std::string& kind, const std::string& ns,
                              const std::string& name, Stored* out) {
  const brindle_resource_key_t key{str(kind), str(ns), str(name)};
  Stored ignored;
  brindle_error_t err = fresh_error();
  return status_of(vtable().get(instance_, &key, &collect_one, out ? out : &ignored, &err), err);
}

Status DatastoreInstance::list(const std::string& kind, const std::string& ns,
                               std::vector<Stored>* out, std::string* revision) {
  brindle_error_t err = fresh_error();
  std::string ignored;
  out->clear();
  return status_of(vtable().list(instance_, str(kind), str(ns), &collect_many, out, &collect_string,
                                 revision ? revision : &ignored, &err),
                   err);
}

Status DatastoreInstance::create(const Stored& r, Stored* out) {
  const brindle_resource_t resource{
      {str(r.kind), str(r.namespace_), str(r.name)}, str(r.json), str(r.revision)};
  Stored ignored;
  brindle_error_t err = fresh_error();
  return status_of(vtable().create(instance_, &resource, &collect_one, out ? out : &ignored, &err),
                   err);
}

Status DatastoreInstance::update(const Stored& r, Stored* out) {
  const brindle_resource_t resource{
      {str(r.kind), str(r.namespace_), str(r.name)}, str(r.json), str(r.revision)};
  Stored ignored;
  brindle_error_t err = fresh_error();
  return status_of(vtable().update(instance_, &resource, &collect_one, out ? out : &ignored, &err),
                   err);
}

Status DatastoreInstance::remove(const std::string& kind, const std::string& ns,
                                 const std::string& name, const std::string& revision) {
  const brindle_resource_key_t key{str(kind), str(ns), str(name)};
  brindle_error_t err = fresh_error();
  return status_of(vtable().remove(instance_, &key, str(revision), &err), err);
}

Status DatastoreInstance::txn(const std::vector<TxnOp>& ops, std::vector<Stored>* results,
                              size_t* failed_op) {
  std::vector<brindle_txn_op_t> raw;
  for (const TxnOp& op : ops) {
    const Stored& r = op.resource;
    raw.push_back(
        {op.type, {{str(r.kind), str(r.namespace_), str(r.name)}, str(r.json), str(r.revision)}});
  }
  std::vector<Stored> ignored;
  size_t ignored_index = 0;
  brindle_error_t err = fresh_error();
  if (results != nullptr) {
    results->clear();
  }
  return status_of(vtable().txn(instance_, raw.data(), raw.size(), &collect_many,
                                results != nullptr ? results : &ignored,
                                failed_op != nullptr ? failed_op : &ignored_index, &err),
                   err);
}

Status DatastoreInstance::watch(const std::string& kind, const std::string& from_revision,
                                WatchRecorder& recorder) {
  brindle_error_t err = fresh_error();
  brindle_watch_t* watch = nullptr;
  const brindle_status_t code = vtable().watch(instance_, str(kind), str(from_revision),
                                               &WatchRecorder::handle, &recorder, &watch, &err);
  if (code == BRINDLE_OK) {
    recorder.instance_ = this;
    recorder.watch_ = watch;
  }
  return status_of(code, err);
}

void WatchRecorder::cancel() {
  if (watch_ != nullptr) {
    instance_->vtable().cancel_watch(instance_->raw(), watch_);
    watch_ = nullptr;
  }
}

void WatchRecorder::handle(void* user, const brindle_watch_event_t* event) {
  auto* self = static_cast<WatchRecorder*>(user);
  Event copy{event->type, event->resource != nullptr ? to_stored(*event->resource) : Stored{},
             std::string(view(event->revision)), std::string(view(event->message))};
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->events_.push_back(copy);
  }
  self->changed_.notify_all();
  if (self->on_event) {
    self->on_event(copy);
  }
}

std::vector<WatchRecorder::Event> WatchRecorder::events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

bool WatchRecorder::wait_for(const std::function<bool(const std::vector<Event>&)>& done,
                             std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done(events_); });
}

size_t WatchRecorder::count(brindle_watch_event_type_t type) const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const Event& e : events_) {
    n += e.type == type ? 1 : 0;
  }
  return n;
}

}  // namespace brindle::test
