// The host's syncer against real etcd: its view equals the datastore after writes, deletes,
// compaction (resync without loss) and an etcd restart.
#include "brindle/datastore/syncer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "etcd_datastore.hpp"

namespace brindle::datastore {
namespace {

std::string pool_json(const std::string& name, int n) {
  return R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":")" + name +
         R"("},"spec":{"cidr":"198.18.)" + std::to_string(n) + R"(.0/24"}})";
}

// The consumer side: what the syncer reported, as a map.
struct View {
  std::mutex mutex;
  std::map<Key, std::string> items;  // key -> revision
  int upserts = 0;
  bool synced = false;

  SyncCallbacks callbacks() {
    SyncCallbacks c;
    c.upsert = [this](const Stored& s) {
      std::lock_guard lock(mutex);
      items[s.key] = s.revision;
      ++upserts;
    };
    c.remove = [this](const Key& k) {
      std::lock_guard lock(mutex);
      items.erase(k);
    };
    c.in_sync = [this] {
      std::lock_guard lock(mutex);
      synced = true;
    };
    return c;
  }
  std::map<Key, std::string> snapshot() {
    std::lock_guard lock(mutex);
    return items;
  }
};

std::map<Key, std::string> truth(const Client& client) {
  std::map<Key, std::string> out;
  for (const Stored& s : client.list({}).items) {
    out[s.key] = s.revision;
  }
  return out;
}

// Waits until the view equals the datastore.
bool converges(View& view, const Client& client,
               std::chrono::seconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (view.snapshot() == truth(client)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(Syncer, FollowsWritesAndDeletes) {
  test::EtcdDatastore etcd;
  const Client& client = etcd.client();
  for (int i = 0; i < 5; ++i) {
    client.create({"IPPool", "", "p" + std::to_string(i)}, pool_json("p" + std::to_string(i), i));
  }
  View view;
  Syncer syncer(client, view.callbacks());
  syncer.start();
  ASSERT_TRUE(converges(view, client));
  EXPECT_TRUE(view.synced);
  for (int i = 5; i < 50; ++i) {
    client.create({"IPPool", "", "p" + std::to_string(i)}, pool_json("p" + std::to_string(i), i));
  }
  client.remove({"IPPool", "", "p3"}, {});
  const Stored s = *client.get({"IPPool", "", "p7"});
  client.update(s.key, pool_json("p7", 77), s.revision);
  ASSERT_TRUE(converges(view, client));
  EXPECT_EQ(view.snapshot().count({"IPPool", "", "p3"}), 0u);
  EXPECT_EQ(syncer.lists_done(), 1) << "no resync was needed";
}

TEST(Syncer, CompactionResyncsWithoutLosingChanges) {
  test::EtcdDatastore etcd;
  const Client& client = etcd.client();
  View view;
  Syncer syncer(client, view.callbacks());
  syncer.start();
  ASSERT_TRUE(converges(view, client));
  // Each round: writes, an etcd restart (the watch reconnects), deletes and a compaction past
  // them while the watch may still be reconnecting, then more writes. Whether the watch resumes
  // or has to resync, the view must end equal to etcd.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      const std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
      client.create({"IPPool", "", name}, pool_json(name, i));
    }
    etcd.cluster().member(0).kill();
    // While the watch is disconnected: more changes, then a compaction past them.
    etcd.cluster().member(0).start();
    ASSERT_TRUE(etcd.cluster().member(0).wait_healthy(std::chrono::seconds(10)));
    for (int i = 0; i < 10; ++i) {
      client.remove({"IPPool", "", "r" + std::to_string(round) + "-" + std::to_string(i)}, {});
    }
    etcd.cluster().etcdctl_ok({"compact", std::to_string(etcd.cluster().revision())});
    const std::string after = "after" + std::to_string(round);
    client.create({"IPPool", "", after}, pool_json(after, round));
  }
  ASSERT_TRUE(converges(view, client)) << "the view differs from etcd after compactions";
}

TEST(Syncer, ConvergesAfterEtcdRestartsDuringWrites) {
  test::EtcdDatastore etcd;
  const Client& client = etcd.client();
  View view;
  Syncer syncer(client, view.callbacks());
  syncer.start();
  ASSERT_TRUE(converges(view, client));
  std::thread writer([&] {
    for (int i = 0; i < 100; ++i) {
      try {
        const std::string name = "w" + std::to_string(i);
        client.create({"IPPool", "", name}, pool_json(name, i % 200));
      } catch (const DatastoreError& e) {
        if (e.already_exists()) {
          continue;  // the create went through before the connection dropped
        }
        --i;  // retry while etcd is down
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  etcd.cluster().member(0).kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  etcd.cluster().member(0).start();
  ASSERT_TRUE(etcd.cluster().member(0).wait_healthy(std::chrono::seconds(10)));
  writer.join();
  EXPECT_TRUE(converges(view, client));
  EXPECT_EQ(view.snapshot().size(), 100u);
}

}  // namespace
}  // namespace brindle::datastore
