// The host's datastore client against real etcd: transactions through the plugin ABI (all or
// nothing, the failing operation named) and a plugin without them (ABI 0.1).
#include "brindle/datastore/client.hpp"

#include <gtest/gtest.h>

#include <string>

#include "abi01_datastore.hpp"
#include "etcd_datastore.hpp"

namespace brindle::datastore {
namespace {

std::string pool_json(const std::string& name, int n) {
  return R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":")" + name +
         R"("},"spec":{"cidr":"198.18.)" + std::to_string(n) + R"(.0/24"}})";
}

Key pool(const std::string& name) {
  return {"IPPool", "", name};
}

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { etcd_ = new test::EtcdDatastore(); }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override { etcd_->cluster().etcdctl_ok({"del", "--prefix", "/brindle/"}); }
  static test::EtcdDatastore* etcd_;
};
test::EtcdDatastore* ClientTest::etcd_ = nullptr;

TEST_F(ClientTest, TxnWritesEverythingOrNothing) {
  const Client& client = etcd_->client();
  ASSERT_TRUE(client.supports_txn());
  const Stored a0 = client.create(pool("a"), pool_json("a", 1));
  const Stored a = client.update(pool("a"), pool_json("a", 2), a0.revision);
  const Stored b = client.create(pool("b"), pool_json("b", 3));
  const int64_t before = etcd_->cluster().revision();

  // A stale revision in the middle: the create before it is not applied either.
  try {
    client.txn({TxnOp::create(pool("c"), pool_json("c", 4)),
                TxnOp::update(pool("a"), pool_json("a", 5), a0.revision),
                TxnOp::remove(pool("b"), b.revision)});
    FAIL() << "a stale revision was accepted";
  } catch (const DatastoreError& e) {
    EXPECT_TRUE(e.conflict()) << e.what();
    ASSERT_TRUE(e.op_index().has_value()) << e.what();
    EXPECT_EQ(*e.op_index(), 1u);
    EXPECT_NE(std::string(e.what()).find("\"a\""), std::string::npos) << e.what();
  }
  try {
    client.txn({TxnOp::remove(pool("b"), b.revision), TxnOp::create(pool("a"), pool_json("a", 6))});
    FAIL() << "a create of an existing resource was accepted";
  } catch (const DatastoreError& e) {
    EXPECT_TRUE(e.already_exists()) << e.what();
    EXPECT_EQ(e.op_index(), std::optional<size_t>(1));
  }
  EXPECT_EQ(etcd_->cluster().revision(), before);
  EXPECT_FALSE(client.get(pool("c")));
  EXPECT_EQ(client.get(pool("a"))->revision, a.revision);
  EXPECT_EQ(client.get(pool("b"))->revision, b.revision);

  const std::vector<Stored> stored =
      client.txn({TxnOp::create(pool("c"), pool_json("c", 4)),
                  TxnOp::update(pool("a"), pool_json("a", 5), a.revision),
                  TxnOp::remove(pool("b"), b.revision)});
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(etcd_->cluster().revision(), before + 1);
  for (const Stored& s : stored) {
    EXPECT_EQ(s.revision, std::to_string(before + 1)) << s.key.to_string();
  }
  EXPECT_EQ(stored[0].key, pool("c"));
  EXPECT_EQ(client.get(pool("c"))->json, stored[0].json);
  EXPECT_EQ(client.get(pool("a"))->revision, stored[1].revision);
  EXPECT_FALSE(client.get(pool("b")));
  EXPECT_TRUE(stored[2].json.empty());
}

TEST_F(ClientTest, PluginWithoutTransactionsIsRefusedWithoutAWrite) {
  test::Abi01Datastore old(*etcd_, "test-node");
  EXPECT_FALSE(old.client().supports_txn());
  const int64_t before = etcd_->cluster().revision();
  try {
    old.client().txn({TxnOp::create(pool("c"), pool_json("c", 4))});
    FAIL() << "a transaction was run on a plugin without the entry";
  } catch (const DatastoreError& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_UNSUPPORTED) << e.what();
    EXPECT_FALSE(e.op_index().has_value());
  }
  EXPECT_EQ(etcd_->cluster().revision(), before);
  // Everything else works as before.
  const Stored c = old.client().create(pool("c"), pool_json("c", 4));
  EXPECT_EQ(old.client().get(pool("c"))->revision, c.revision);
}

}  // namespace
}  // namespace brindle::datastore
