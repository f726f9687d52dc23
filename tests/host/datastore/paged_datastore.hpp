// Test support: the etcd datastore plugin with a given list page size (`list_page_size`), loaded
// through the host's loader, and a quick way to fill etcd with many IPPools (transactions of 100).
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "brindle/datastore/client.hpp"
#include "etcd_datastore.hpp"

namespace brindle::test {

class PagedDatastore {
 public:
  PagedDatastore(const EtcdDatastore& etcd, int page_size)
      : plugin_(etcd.node_config_toml("paged-node",
                                      "list_page_size = " + std::to_string(page_size) + "\n"),
                "paged-node", "paged-datastore.toml"),
        client_(plugin_.vtable(), plugin_.instance()) {}
  PagedDatastore(const PagedDatastore&) = delete;
  PagedDatastore& operator=(const PagedDatastore&) = delete;

  const datastore::Client& client() const { return client_; }

 private:
  DatastorePlugin plugin_;
  datastore::Client client_;
};

inline std::string numbered_pool_json(const std::string& name, int n) {
  return R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":")" + name +
         R"("},"spec":{"cidr":"198.18.)" + std::to_string(n % 256) + R"(.0/24"}})";
}

// "p0000", "p0001", ...: names that sort (and so are listed) in numeric order.
inline std::string numbered_pool(int i) {
  char name[16];
  std::snprintf(name, sizeof(name), "p%04d", i);
  return name;
}

// Creates IPPools numbered_pool(0 .. count-1); returns what was stored, in order.
inline std::vector<datastore::Stored> create_numbered_pools(const datastore::Client& client,
                                                            int count) {
  std::vector<datastore::Stored> out;
  for (int first = 0; first < count; first += 100) {
    std::vector<datastore::TxnOp> ops;
    for (int i = first; i < std::min(count, first + 100); ++i) {
      ops.push_back(datastore::TxnOp::create({"IPPool", "", numbered_pool(i)},
                                             numbered_pool_json(numbered_pool(i), i)));
    }
    for (datastore::Stored& s : client.txn(ops)) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace brindle::test
