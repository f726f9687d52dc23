#include "etcd_datastore.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace brindle::etcd {
namespace {

// An unconditional update re-reads and retries this often when it races with other writers.
constexpr int kUnconditionalUpdateAttempts = 8;
// etcd's default --max-txn-ops limits each of a Txn's compare, success and failure lists.
constexpr size_t kMaxTxnOps = 128;
// Identities remembered for transactions; the map is cleared when it grows past this.
constexpr size_t kMaxKnownIdentities = 1024;

std::string describe(const ResourceKey& key) {
  return key.kind + " \"" + (key.namespace_.empty() ? key.name : key.namespace_ + "/" + key.name) +
         "\"";
}

int64_t parse_revision(std::string_view text, const char* what) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                std::string(what) + " \"" + std::string(text) + "\" is not an etcd revision");
  }
  return value;
}

std::string read_file(const Config& config, std::string_view path, const std::string& file) {
  if (file.empty()) {
    return {};
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  if (!in || data.str().empty()) {
    config.fail(path, "cannot read \"" + file + "\"");
  }
  return data.str();
}

TlsMaterial read_tls(const Config& config, const EtcdConfig& parsed) {
  TlsMaterial tls;
  tls.ca_pem = read_file(config, "tls.ca_file", parsed.ca_file);
  tls.cert_pem = read_file(config, "tls.cert_file", parsed.cert_file);
  tls.key_pem = read_file(config, "tls.key_file", parsed.key_file);
  return tls;
}

etcdserverpb::Compare* compare_mod_revision(etcdserverpb::TxnRequest& txn, const std::string& key,
                                            int64_t revision) {
  etcdserverpb::Compare* compare = txn.add_compare();
  compare->set_key(key);
  compare->set_target(etcdserverpb::Compare::MOD);
  compare->set_result(etcdserverpb::Compare::EQUAL);
  compare->set_mod_revision(revision);
  return compare;
}

void add_put(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops,
             const std::string& key, std::string value) {
  etcdserverpb::PutRequest* put = ops->Add()->mutable_request_put();
  put->set_key(key);
  put->set_value(std::move(value));
}

void add_get(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops,
             const std::string& key) {
  ops->Add()->mutable_request_range()->set_key(key);
}

// After a failed conditional write whose failure branch read the key: absent or changed?
[[noreturn]] void throw_precondition_failure(const etcdserverpb::TxnResponse& response,
                                             const ResourceKey& key, int64_t expected) {
  const bool present =
      response.responses_size() > 0 && response.responses(0).response_range().kvs_size() > 0;
  if (!present) {
    throw Error(BRINDLE_ERR_NOT_FOUND, describe(key) + " not found");
  }
  throw Error(BRINDLE_ERR_CONFLICT,
              describe(key) + " was modified: expected revision " + std::to_string(expected) +
                  ", stored revision is " +
                  std::to_string(response.responses(0).response_range().kvs(0).mod_revision()));
}

}  // namespace

EtcdDatastore::EtcdDatastore(Host host)
    : DatastorePlugin(host),
      config_(EtcdConfig::parse(host.config())),
      layout_(config_.prefix),
      requests_(host.counter("requests_total", "etcd requests by operation and result")),
      garbage_(host.counter("garbage_skipped_total",
                            "values under the prefix skipped because they are not resources")) {
  watch_metrics_.events = host.counter("watch_events_total", "watch events delivered");
  watch_metrics_.reconnects =
      host.counter("watch_reconnects_total", "watch streams re-established after a failure");
  watch_metrics_.garbage = garbage_;
  client_ = std::make_shared<EtcdClient>(config_, read_tls(host.config(), config_), host);
  client_->connect();
  std::string endpoints;
  for (const std::string& e : config_.endpoints) {
    endpoints += (endpoints.empty() ? "" : ",") + e;
  }
  host.info("etcd datastore ready", "endpoints=" + endpoints + " prefix=" + config_.prefix +
                                        " tls=" + (config_.tls ? "true" : "false"));
}

EtcdDatastore::~EtcdDatastore() {
  std::lock_guard<std::mutex> lock(watches_mutex_);
  for (const std::weak_ptr<WatchStream>& weak : watches_) {
    if (std::shared_ptr<WatchStream> watch = weak.lock()) {
      watch->stop();
    }
  }
}

void EtcdDatastore::validate_config(const Host& host) {
  const Config config = host.config();
  read_tls(config, EtcdConfig::parse(config));
}

void EtcdDatastore::count(const char* op, brindle_status_t result) {
  requests_.add(1, std::string("op=\"") + op + "\",result=\"" + status_name(result) + "\"");
}

void EtcdDatastore::skip_garbage(std::string_view key, std::string_view reason) {
  garbage_.add(1);
  host().warn("skipping a value under the etcd prefix that is not a resource",
              "key=" + logfmt_value(key) + " reason=" + logfmt_value(reason));
}

bool EtcdDatastore::emit(const mvccpb::KeyValue& kv, const ResourceSink& sink,
                         std::string_view namespace_filter) {
  const std::optional<ResourceKey> key = layout_.parse(kv.key());
  if (!key) {
    skip_garbage(kv.key(), "key is not <prefix><kind>/<namespace or _>/<name>");
    return false;
  }
  if (!namespace_filter.empty() && key->namespace_ != namespace_filter) {
    return false;
  }
  const std::string revision = std::to_string(kv.mod_revision());
  std::string problem;
  const std::optional<std::string> json = document_for_read(kv.value(), *key, revision, &problem);
  if (!json) {
    skip_garbage(kv.key(), problem);
    return false;
  }
  sink.emit(key->kind, key->namespace_, key->name, *json, revision);
  return true;
}

void EtcdDatastore::get(const ResourceKey& key, const ResourceSink& sink) {
  brindle_status_t result = BRINDLE_OK;
  try {
    const std::string etcd_key = layout_.key_of(key);
    etcdserverpb::RangeRequest request;
    request.set_key(etcd_key);
    const etcdserverpb::RangeResponse response = client_->range(request, etcd_key);
    if (response.kvs_size() == 0) {
      throw Error(BRINDLE_ERR_NOT_FOUND, describe(key) + " not found");
    }
    const mvccpb::KeyValue& kv = response.kvs(0);
    std::string problem;
    StoredIdentity identity;
    const std::optional<std::string> json =
        document_for_read(kv.value(), key, std::to_string(kv.mod_revision()), &problem, &identity);
    if (!json) {
      skip_garbage(etcd_key, problem);
      throw Error(BRINDLE_ERR_INTERNAL, "the value stored at etcd key " + etcd_key +
                                            " is not a resource document: " + problem);
    }
    remember_identity(etcd_key, kv.mod_revision(), std::move(identity));
    sink.emit(key.kind, key.namespace_, key.name, *json, std::to_string(kv.mod_revision()));
  } catch (const Error& e) {
    result = e.code();
    count("get", result);
    throw;
  }
  count("get", result);
}

std::string EtcdDatastore::list(std::string_view kind, std::string_view namespace_,
                                const ResourceSink& sink) {
  const std::string start = layout_.range_start(kind, namespace_);
  const std::string end = KeyLayout::prefix_range_end(start);
  // With kind given, the namespace is part of the range; without, it is filtered here.
  const std::string_view namespace_filter = kind.empty() ? namespace_ : std::string_view{};
  for (int attempt = 0;; ++attempt) {
    // Each page is emitted before the next is fetched, so a list never holds more than one page.
    // Every page is read at the first page's revision; if that is compacted before the last page,
    // the list starts over when nothing was emitted yet, and fails otherwise (the host lists
    // again: a list is consistent at one revision, never stitched from two).
    int64_t revision = 0;
    size_t emitted = 0;
    try {
      std::string next = start;
      while (true) {
        etcdserverpb::RangeRequest request;
        request.set_key(next);
        request.set_range_end(end);
        request.set_limit(config_.list_page_size);
        request.set_revision(revision);  // 0 on the first page: the newest revision
        const etcdserverpb::RangeResponse page = client_->range(request, start + "*");
        if (revision == 0) {
          revision = page.header().revision();
        }
        for (const mvccpb::KeyValue& kv : page.kvs()) {
          emitted += emit(kv, sink, namespace_filter) ? 1 : 0;
        }
        if (!page.more() || page.kvs_size() == 0) {
          break;
        }
        next = page.kvs(page.kvs_size() - 1).key() + std::string(1, '\0');
      }
    } catch (const Error& e) {
      const bool compacted = std::string_view(e.what()).find("compacted") != std::string::npos;
      if (compacted && emitted == 0 && attempt < 3) {
        continue;
      }
      if (compacted && emitted > 0) {
        count("list", BRINDLE_ERR_UNAVAILABLE);
        throw Error(BRINDLE_ERR_UNAVAILABLE,
                    "list of " + start + "*: its revision " + std::to_string(revision) +
                        " was compacted after " + std::to_string(emitted) +
                        " resources had been delivered; the list is incomplete, list again (" +
                        e.what() + ")");
      }
      count("list", e.code());
      throw;
    }
    count("list", BRINDLE_OK);
    return std::to_string(revision);
  }
}

void EtcdDatastore::create(const Resource& resource, const ResourceSink& stored) {
  try {
    const std::string etcd_key = layout_.key_of(resource.key);
    PreparedDocument value =
        prepare_create(resource.json, resource.key, new_uid(), rfc3339_utc(host().realtime_ns()));
    etcdserverpb::TxnRequest txn;
    etcdserverpb::Compare* absent = txn.add_compare();  // "create only if absent"
    absent->set_key(etcd_key);
    absent->set_target(etcdserverpb::Compare::CREATE);
    absent->set_result(etcdserverpb::Compare::EQUAL);
    absent->set_create_revision(0);
    add_put(txn.mutable_success(), etcd_key, value.value());
    const etcdserverpb::TxnResponse response = client_->txn(txn, etcd_key);
    if (!response.succeeded()) {
      throw Error(BRINDLE_ERR_ALREADY_EXISTS, describe(resource.key) + " already exists");
    }
    const std::string revision = std::to_string(response.header().revision());
    StoredIdentity identity;
    const std::string json = value.stored_at(revision, &identity);
    remember_identity(etcd_key, response.header().revision(), std::move(identity));
    stored.emit(resource.key.kind, resource.key.namespace_, resource.key.name, json, revision);
  } catch (const Error& e) {
    count("create", e.code());
    throw;
  }
  count("create", BRINDLE_OK);
}

void EtcdDatastore::update(const Resource& resource, const ResourceSink& stored) {
  try {
    const std::string etcd_key = layout_.key_of(resource.key);
    const bool conditional = !resource.revision.empty();
    const int64_t expected = conditional ? parse_revision(resource.revision, "revision") : 0;
    for (int attempt = 0;; ++attempt) {
      // Read first: uid and creationTimestamp are carried over from the stored document.
      etcdserverpb::RangeRequest read;
      read.set_key(etcd_key);
      const etcdserverpb::RangeResponse current = client_->range(read, etcd_key);
      if (current.kvs_size() == 0) {
        throw Error(BRINDLE_ERR_NOT_FOUND, describe(resource.key) + " not found");
      }
      const mvccpb::KeyValue& kv = current.kvs(0);
      if (conditional && kv.mod_revision() != expected) {
        throw Error(BRINDLE_ERR_CONFLICT, describe(resource.key) + " was modified: expected " +
                                              "revision " + std::to_string(expected) +
                                              ", stored revision is " +
                                              std::to_string(kv.mod_revision()));
      }
      PreparedDocument value =
          prepare_update(resource.json, resource.key, stored_identity(kv.value()));
      etcdserverpb::TxnRequest txn;
      compare_mod_revision(txn, etcd_key, kv.mod_revision());
      add_put(txn.mutable_success(), etcd_key, value.value());
      add_get(txn.mutable_failure(), etcd_key);
      const etcdserverpb::TxnResponse response = client_->txn(txn, etcd_key);
      if (response.succeeded()) {
        const std::string revision = std::to_string(response.header().revision());
        StoredIdentity identity;
        const std::string json = value.stored_at(revision, &identity);
        remember_identity(etcd_key, response.header().revision(), std::move(identity));
        stored.emit(resource.key.kind, resource.key.namespace_, resource.key.name, json, revision);
        break;
      }
      if (conditional || attempt + 1 >= kUnconditionalUpdateAttempts) {
        throw_precondition_failure(response, resource.key, kv.mod_revision());
      }
    }
  } catch (const Error& e) {
    count("update", e.code());
    throw;
  }
  count("update", BRINDLE_OK);
}

void EtcdDatastore::remove(const ResourceKey& key, std::string_view revision) {
  try {
    const std::string etcd_key = layout_.key_of(key);
    if (revision.empty()) {
      etcdserverpb::DeleteRangeRequest request;
      request.set_key(etcd_key);
      if (client_->delete_range(request, etcd_key).deleted() == 0) {
        throw Error(BRINDLE_ERR_NOT_FOUND, describe(key) + " not found");
      }
    } else {
      const int64_t expected = parse_revision(revision, "revision");
      etcdserverpb::TxnRequest txn;
      compare_mod_revision(txn, etcd_key, expected);
      txn.add_success()->mutable_request_delete_range()->set_key(etcd_key);
      add_get(txn.mutable_failure(), etcd_key);
      const etcdserverpb::TxnResponse response = client_->txn(txn, etcd_key);
      if (!response.succeeded()) {
        throw_precondition_failure(response, key, expected);
      }
    }
  } catch (const Error& e) {
    count("remove", e.code());
    throw;
  }
  count("remove", BRINDLE_OK);
}

std::optional<StoredIdentity> EtcdDatastore::identity_at(const std::string& etcd_key,
                                                         int64_t mod_revision) {
  std::lock_guard<std::mutex> lock(identities_mutex_);
  auto it = identities_.find(etcd_key);
  if (it == identities_.end() || it->second.mod_revision != mod_revision) {
    return std::nullopt;
  }
  return it->second.identity;
}

void EtcdDatastore::remember_identity(const std::string& etcd_key, int64_t mod_revision,
                                      StoredIdentity identity) {
  std::lock_guard<std::mutex> lock(identities_mutex_);
  if (identities_.size() >= kMaxKnownIdentities && identities_.count(etcd_key) == 0) {
    identities_.clear();
  }
  identities_[etcd_key] = {mod_revision, std::move(identity)};
}

void EtcdDatastore::txn(const std::vector<TxnOp>& ops, const ResourceSink& stored) {
  try {
    if (ops.size() > kMaxTxnOps) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "a transaction has at most " +
                                                    std::to_string(kMaxTxnOps) + " operations, " +
                                                    "not " + std::to_string(ops.size()));
    }
    // Any problem with one operation names it (index and resource).
    auto op_failure = [&](size_t i, brindle_status_t code, const std::string& what) {
      return TxnOpError(
          code, i,
          "operation " + std::to_string(i) + " (" + describe(ops[i].resource.key) + "): " + what);
    };
    const size_t n = ops.size();
    std::vector<std::string> keys(n);
    std::vector<int64_t> expected(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const TxnOp& op = ops[i];
      try {
        keys[i] = layout_.key_of(op.resource.key);
        if (op.type == BRINDLE_TXN_UPDATE || op.type == BRINDLE_TXN_DELETE) {
          if (op.resource.revision.empty()) {
            throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                        "revision: required for an update or delete in a transaction");
          }
          expected[i] = parse_revision(op.resource.revision, "revision");
        } else if (op.type != BRINDLE_TXN_CREATE) {
          throw Error(BRINDLE_ERR_UNSUPPORTED,
                      "unknown operation type " + std::to_string(static_cast<int>(op.type)));
        }
      } catch (const TxnOpError&) {
        throw;
      } catch (const Error& e) {
        throw op_failure(i, e.code(), e.what());
      }
      for (size_t j = 0; j < i; ++j) {
        if (keys[j] == keys[i]) {
          throw op_failure(i, BRINDLE_ERR_INVALID_ARGUMENT,
                           "the same resource as operation " + std::to_string(j));
        }
      }
    }
    if (n == 0) {
      count("txn", BRINDLE_OK);
      return;
    }

    // Which operation fails, from the states of every key at one revision (keys_only reads).
    auto first_failure = [&](auto&& state_of) {
      for (size_t i = 0; i < n; ++i) {
        const mvccpb::KeyValue* kv = state_of(i);
        if (ops[i].type == BRINDLE_TXN_CREATE) {
          if (kv != nullptr) {
            throw op_failure(i, BRINDLE_ERR_ALREADY_EXISTS, "already exists");
          }
        } else if (kv == nullptr) {
          throw op_failure(i, BRINDLE_ERR_NOT_FOUND, "not found");
        } else if (kv->mod_revision() != expected[i]) {
          throw op_failure(i, BRINDLE_ERR_CONFLICT,
                           "was modified: expected revision " + std::to_string(expected[i]) +
                               ", stored revision is " + std::to_string(kv->mod_revision()));
        }
      }
    };

    // Updates keep the stored uid/creationTimestamp: known from an earlier read or write of that
    // revision, or read now, together with every other key's state (one read, no write).
    std::vector<StoredIdentity> identities(n);
    std::vector<size_t> unknown;
    for (size_t i = 0; i < n; ++i) {
      if (ops[i].type != BRINDLE_TXN_UPDATE) {
        continue;
      }
      if (std::optional<StoredIdentity> known = identity_at(keys[i], expected[i])) {
        identities[i] = std::move(*known);
      } else {
        unknown.push_back(i);
      }
    }
    if (!unknown.empty()) {
      etcdserverpb::TxnRequest read;  // no compares: one consistent read of every key
      for (size_t i = 0; i < n; ++i) {
        etcdserverpb::RangeRequest* range = read.add_success()->mutable_request_range();
        range->set_key(keys[i]);
        const bool needs_value = std::find(unknown.begin(), unknown.end(), i) != unknown.end();
        range->set_keys_only(!needs_value);
      }
      const etcdserverpb::TxnResponse current = client_->txn(read, keys[0]);
      auto state_of = [&](size_t i) -> const mvccpb::KeyValue* {
        const etcdserverpb::RangeResponse& r =
            current.responses(static_cast<int>(i)).response_range();
        return r.kvs_size() > 0 ? &r.kvs(0) : nullptr;
      };
      first_failure(state_of);
      for (size_t i : unknown) {
        identities[i] = stored_identity(state_of(i)->value());
      }
    }

    etcdserverpb::TxnRequest txn;
    std::vector<std::optional<PreparedDocument>> values(n);  // creates and updates
    for (size_t i = 0; i < n; ++i) {
      const TxnOp& op = ops[i];
      try {
        if (op.type == BRINDLE_TXN_CREATE) {
          etcdserverpb::Compare* absent = txn.add_compare();
          absent->set_key(keys[i]);
          absent->set_target(etcdserverpb::Compare::CREATE);
          absent->set_result(etcdserverpb::Compare::EQUAL);
          absent->set_create_revision(0);
          values[i] = prepare_create(op.resource.json, op.resource.key, new_uid(),
                                     rfc3339_utc(host().realtime_ns()));
          add_put(txn.mutable_success(), keys[i], values[i]->value());
        } else if (op.type == BRINDLE_TXN_UPDATE) {
          compare_mod_revision(txn, keys[i], expected[i]);
          values[i] = prepare_update(op.resource.json, op.resource.key, identities[i]);
          add_put(txn.mutable_success(), keys[i], values[i]->value());
        } else {
          compare_mod_revision(txn, keys[i], expected[i]);
          txn.add_success()->mutable_request_delete_range()->set_key(keys[i]);
        }
      } catch (const Error& e) {
        throw op_failure(i, e.code(), e.what());
      }
      etcdserverpb::RangeRequest* check = txn.add_failure()->mutable_request_range();
      check->set_key(keys[i]);
      check->set_keys_only(true);
    }
    const etcdserverpb::TxnResponse response = client_->txn(txn, keys[0]);
    if (!response.succeeded()) {
      first_failure([&](size_t i) -> const mvccpb::KeyValue* {
        const etcdserverpb::RangeResponse& r =
            response.responses(static_cast<int>(i)).response_range();
        return r.kvs_size() > 0 ? &r.kvs(0) : nullptr;
      });
      throw Error(BRINDLE_ERR_INTERNAL,
                  "etcd refused the transaction but every condition holds at its revision");
    }
    const int64_t revision = response.header().revision();
    const std::string revision_text = std::to_string(revision);
    for (size_t i = 0; i < n; ++i) {
      const ResourceKey& key = ops[i].resource.key;
      if (ops[i].type == BRINDLE_TXN_DELETE) {
        stored.emit(key.kind, key.namespace_, key.name, {}, revision_text);
        continue;
      }
      StoredIdentity identity;
      const std::string json = values[i]->stored_at(revision_text, &identity);
      remember_identity(keys[i], revision, std::move(identity));
      stored.emit(key.kind, key.namespace_, key.name, json, revision_text);
    }
  } catch (const Error& e) {
    count("txn", e.code());
    throw;
  }
  count("txn", BRINDLE_OK);
}

namespace {
// What the host holds for a watch; deleting it stops the stream.
class WatchHandle final : public Watch {
 public:
  explicit WatchHandle(std::shared_ptr<WatchStream> stream) : stream_(std::move(stream)) {}
  ~WatchHandle() override { stream_->stop(); }

 private:
  std::shared_ptr<WatchStream> stream_;
};
}  // namespace

std::unique_ptr<Watch> EtcdDatastore::watch(std::string_view kind, std::string_view from_revision,
                                            WatchHandler handler) {
  const std::string start = layout_.range_start(kind, {});
  int64_t after = 0;
  if (from_revision.empty()) {
    // "From now" is fixed here, so a stream that fails before it is created loses nothing.
    etcdserverpb::RangeRequest request;
    request.set_key(start);
    request.set_keys_only(true);
    request.set_limit(1);
    after = client_->range(request, start).header().revision();
  } else {
    after = parse_revision(from_revision, "from_revision");
  }
  auto stream = std::make_shared<WatchStream>(client_, host(), layout_, start, after + 1, handler,
                                              watch_metrics_);
  {
    std::lock_guard<std::mutex> lock(watches_mutex_);
    std::erase_if(watches_, [](const std::weak_ptr<WatchStream>& w) { return w.expired(); });
    watches_.push_back(stream);
  }
  stream->start();
  return std::make_unique<WatchHandle>(std::move(stream));
}

}  // namespace brindle::etcd
