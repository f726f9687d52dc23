// Test support: the etcd datastore plugin loaded through the host's loader, with the host's
// client seeing a function table without working transactions, as brindled gets it from a
// datastore plugin that cannot write atomically. Two forms:
//   NoTxn::absent    built against ABI 0.1: struct_size ends before `txn` (as the loader's
//                    zero-filled copy of an older table is);
//   NoTxn::refusing  the entry is there but answers UNSUPPORTED to everything, empty transactions
//                    included, as the SDK's default DatastorePlugin::txn() does (txn_calls()
//                    counts the calls).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>

#include "brindle/datastore/client.hpp"
#include "etcd_datastore.hpp"

namespace brindle::test {

enum class NoTxn { absent, refusing };

class Abi01Datastore {
 public:
  Abi01Datastore(const EtcdDatastore& etcd, const std::string& node_name,
                 NoTxn form = NoTxn::absent)
      : plugin_(etcd.node_config_toml(node_name), node_name, "abi01-datastore.toml"),
        vtable_(*plugin_.vtable()) {
    if (form == NoTxn::absent) {
      // The function pointer stays set: only struct_size says it is not there, as for an old
      // table that the host copied without zero-filling.
      vtable_.struct_size = static_cast<uint32_t>(offsetof(brindle_datastore_vtable_t, txn));
    } else {
      vtable_.txn = &refuse_txn;
    }
    client_ = std::make_unique<datastore::Client>(&vtable_, plugin_.instance());
  }
  static int txn_calls() { return txn_calls_; }
  ~Abi01Datastore() { client_.reset(); }
  Abi01Datastore(const Abi01Datastore&) = delete;
  Abi01Datastore& operator=(const Abi01Datastore&) = delete;

  const datastore::Client& client() const { return *client_; }

 private:
  static brindle_status_t refuse_txn(brindle_instance_t*, const brindle_txn_op_t*, size_t count,
                                     brindle_resource_sink_fn, void*, size_t* failed_op,
                                     brindle_error_t* err) {
    ++txn_calls_;
    if (failed_op != nullptr) {
      *failed_op = count;
    }
    if (err != nullptr) {
      err->code = BRINDLE_ERR_UNSUPPORTED;
      std::snprintf(err->message, sizeof err->message, "%s",
                    "this datastore plugin has no atomic transactions");
    }
    return BRINDLE_ERR_UNSUPPORTED;
  }
  static inline std::atomic<int> txn_calls_{0};

  DatastorePlugin plugin_;
  brindle_datastore_vtable_t vtable_{};
  std::unique_ptr<datastore::Client> client_;
};

}  // namespace brindle::test
