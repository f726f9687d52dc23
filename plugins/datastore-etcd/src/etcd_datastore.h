// The etcd v3 datastore plugin: resources as JSON values under a key prefix (see key_layout.h),
// revisions = etcd mod_revisions, writes as transactions conditioned on the stored revision.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "brindle/sdk.hpp"
#include "documents.h"
#include "etcd_client.h"
#include "etcd_config.h"
#include "etcd_watch.h"
#include "key_layout.h"

namespace brindle::etcd {

class EtcdDatastore final : public DatastorePlugin {
 public:
  explicit EtcdDatastore(Host host);
  ~EtcdDatastore() override;

  // Checks the configuration section and that the TLS files can be read; connects to nothing.
  static void validate_config(const Host& host);

  void get(const ResourceKey& key, const ResourceSink& sink) override;
  std::string list(std::string_view kind, std::string_view namespace_,
                   const ResourceSink& sink) override;
  void create(const Resource& resource, const ResourceSink& stored) override;
  void update(const Resource& resource, const ResourceSink& stored) override;
  void remove(const ResourceKey& key, std::string_view revision) override;
  std::unique_ptr<Watch> watch(std::string_view kind, std::string_view from_revision,
                               WatchHandler handler) override;
  // One etcd Txn: compares on create_revision == 0 / mod_revision, then puts and deletes.
  void txn(const std::vector<TxnOp>& ops, const ResourceSink& stored) override;

 private:
  // Emits a stored key/value as a resource; garbage is logged and skipped (returns false).
  bool emit(const mvccpb::KeyValue& kv, const ResourceSink& sink,
            std::string_view namespace_filter);
  void count(const char* op, brindle_status_t result);
  void skip_garbage(std::string_view key, std::string_view reason);
  // The identity (uid, creationTimestamp) of the value of `etcd_key` at `mod_revision`, when this
  // instance has read or written that very value recently.
  std::optional<StoredIdentity> identity_at(const std::string& etcd_key, int64_t mod_revision);
  void remember_identity(const std::string& etcd_key, int64_t mod_revision,
                         StoredIdentity identity);

  EtcdConfig config_;
  KeyLayout layout_;
  std::shared_ptr<EtcdClient> client_;
  Metric requests_;
  Metric garbage_;
  WatchMetrics watch_metrics_;
  // Watches the host has not cancelled yet are stopped before the instance goes away.
  std::mutex watches_mutex_;
  std::vector<std::weak_ptr<WatchStream>> watches_;
  // An UPDATE in a transaction keeps the stored uid and creationTimestamp, but one etcd Txn cannot
  // merge them into the new value. A (key, mod_revision) pair names exactly one value, so what
  // get/create/update/txn saw of it lets a transaction conditioned on that revision skip a read
  // (the common read-modify-write); an entry can be useless, never wrong. Bounded.
  struct KnownIdentity {
    int64_t mod_revision = 0;
    StoredIdentity identity;
  };
  std::mutex identities_mutex_;
  std::unordered_map<std::string, KnownIdentity> identities_;
};

}  // namespace brindle::etcd
