// The host's datastore client against real etcd: transactions through the plugin ABI (all or
// nothing, the failing operation named), a plugin without them (ABI 0.1), and streamed lists
// (list_each) spanning several pages.
#include "brindle/datastore/client.hpp"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

#include "abi01_datastore.hpp"
#include "etcd_datastore.hpp"
#include "paged_datastore.hpp"

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

// A plugin whose txn entry answers UNSUPPORTED (the SDK's default) is known as one before the
// first transaction: an empty transaction, which writes nothing, is asked once, when the client is
// made.
TEST_F(ClientTest, PluginWhoseTxnRefusesIsKnownBeforeAnyTransaction) {
  const int calls_before = test::Abi01Datastore::txn_calls();
  const int64_t before = etcd_->cluster().revision();
  test::Abi01Datastore refusing(*etcd_, "test-node", test::NoTxn::refusing);
  EXPECT_FALSE(refusing.client().supports_txn());
  EXPECT_FALSE(refusing.client().supports_txn());
  EXPECT_EQ(test::Abi01Datastore::txn_calls(), calls_before + 1) << "asked once";
  try {
    refusing.client().txn({TxnOp::create(pool("c"), pool_json("c", 4))});
    FAIL() << "a transaction was run on a plugin that refuses them";
  } catch (const DatastoreError& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_UNSUPPORTED) << e.what();
  }
  EXPECT_EQ(test::Abi01Datastore::txn_calls(), calls_before + 1) << "not asked again";
  EXPECT_EQ(etcd_->cluster().revision(), before);
  // The etcd plugin itself answers an empty transaction without refusing it.
  EXPECT_TRUE(etcd_->client().supports_txn());
}

// 2500 resources in pages of 1000: every item once, all as of the first page's revision (writes
// made while the list runs, between its pages, are not in it), and that revision returned.
TEST_F(ClientTest, ListEachStreamsPagesAtOneRevision) {
  test::PagedDatastore paged(*etcd_, 1000);
  const Client& client = paged.client();
  const std::vector<Stored> created = test::create_numbered_pools(client, 2500);
  const int64_t before = etcd_->cluster().revision();
  std::map<std::string, std::string> revisions;  // name -> revision listed
  int items = 0;
  const std::string revision = client.list_each({}, {}, [&](Stored&& s) {
    if (items++ == 0) {  // page 1 is here; pages 2 and 3 are not read yet
      client.remove(pool(test::numbered_pool(1500)), {});
      const Stored& late = created[2400];
      client.update(late.key, test::numbered_pool_json(late.key.name, 7), late.revision);
      client.create(pool("q-after-the-pools"), pool_json("q-after-the-pools", 1));
    }
    EXPECT_EQ(s.key.kind, "IPPool");
    revisions[s.key.name] = s.revision;
  });
  EXPECT_EQ(revision, std::to_string(before));
  EXPECT_EQ(items, 2500) << "every item once";
  ASSERT_EQ(revisions.size(), 2500u);
  for (const Stored& s : created) {
    EXPECT_EQ(revisions[s.key.name], s.revision) << s.key.name;
  }
  // The writes did happen, after the list's revision.
  const ListResult now = client.list({});
  EXPECT_EQ(now.items.size(), 2500u);  // one removed, one created
  EXPECT_FALSE(client.get(pool(test::numbered_pool(1500))).has_value());
  EXPECT_NE(client.get(created[2400].key)->revision, created[2400].revision);
}

// Items are delivered as pages arrive: a compaction past the list's revision after the first item
// fails the list at the second page, after exactly the first page, with an error that says so.
TEST_F(ClientTest, ListEachFailsWhenItsRevisionIsCompactedBetweenPages) {
  test::PagedDatastore paged(*etcd_, 1000);
  const Client& client = paged.client();
  test::create_numbered_pools(client, 2500);
  int items = 0;
  try {
    client.list_each({}, {}, [&](Stored&&) {
      if (items++ == 0) {
        client.create(pool("q-late"), pool_json("q-late", 1));
        etcd_->cluster().etcdctl_ok({"compact", std::to_string(etcd_->cluster().revision())});
      }
    });
    FAIL() << "the list went on at a compacted revision";
  } catch (const DatastoreError& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_UNAVAILABLE) << e.what();
    EXPECT_NE(std::string(e.what()).find("compacted"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("list again"), std::string::npos) << e.what();
  }
  EXPECT_EQ(items, 1000) << "the first page, then the failure";
  EXPECT_EQ(client.list({}).items.size(), 2501u) << "a new list works";
}

// An exception from the callback stops the delivery and comes out of list_each once the plugin
// has returned (it never unwinds through the plugin); the client goes on working.
TEST_F(ClientTest, ListEachRethrowsTheCallbacksException) {
  const Client& client = etcd_->client();
  for (int i = 0; i < 5; ++i) {
    const std::string name = "e" + std::to_string(i);
    client.create(pool(name), pool_json(name, i));
  }
  int items = 0;
  EXPECT_THROW(client.list_each({}, {},
                                [&](Stored&&) {
                                  if (++items == 2) {
                                    throw std::out_of_range("consumer gave up");
                                  }
                                }),
               std::out_of_range);
  EXPECT_EQ(items, 2) << "no item after the exception";
  EXPECT_EQ(client.list({}).items.size(), 5u);
}

}  // namespace
}  // namespace brindle::datastore
