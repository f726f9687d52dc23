// Test support: the etcd datastore plugin loaded through the host's loader, with the host's
// client seeing its function table as a plugin built against ABI 0.1 provides it (struct_size
// ending before `txn`, as the loader's zero-filled copy of an older table is). That is what
// brindled gets from a datastore plugin without transactions.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "brindle/datastore/client.hpp"
#include "etcd_datastore.hpp"

namespace brindle::test {

class Abi01Datastore {
 public:
  Abi01Datastore(const EtcdDatastore& etcd, const std::string& node_name)
      : plugin_(etcd.node_config_toml(node_name), node_name, "abi01-datastore.toml"),
        vtable_(*plugin_.vtable()) {
    // The function pointer stays set: only struct_size says it is not there, as for an old table
    // that the host copied without zero-filling.
    vtable_.struct_size = static_cast<uint32_t>(offsetof(brindle_datastore_vtable_t, txn));
    client_ = std::make_unique<datastore::Client>(&vtable_, plugin_.instance());
  }
  ~Abi01Datastore() { client_.reset(); }
  Abi01Datastore(const Abi01Datastore&) = delete;
  Abi01Datastore& operator=(const Abi01Datastore&) = delete;

  const datastore::Client& client() const { return *client_; }

 private:
  DatastorePlugin plugin_;
  brindle_datastore_vtable_t vtable_{};
  std::unique_ptr<datastore::Client> client_;
};

}  // namespace brindle::test
