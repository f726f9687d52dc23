// The host's syncer against real etcd: its view equals the datastore after writes, deletes,
// compaction (resync without loss) and an etcd restart; a relist streamed in pages reports exactly
// the differences, and a list that fails midway leaves consumers consistent.
#include "brindle/datastore/syncer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd_datastore.hpp"
#include "paged_datastore.hpp"

namespace brindle::datastore {
namespace {

std::string pool_json(const std::string& name, int n) {
  return R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":")" + name +
         R"("},"spec":{"cidr":"198.18.)" + std::to_string(n) + R"(.0/24"}})";
}

bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// The consumer side: what the syncer reported, as a map.
struct View {
  std::mutex mutex;
  std::map<Key, std::string> items;  // key -> revision
  int upserts = 0;
  int removals = 0;
  bool synced = false;
  size_t items_when_synced = 0;
  std::vector<std::string> log;  // "upsert Kind/name@revision", "remove Kind/name"
  std::vector<std::string> warnings;
  std::function<void(const Stored&)> on_upsert;  // runs first, outside the lock

  SyncCallbacks callbacks() {
    SyncCallbacks c;
    c.upsert = [this](const Stored& s) {
      if (on_upsert) {
        on_upsert(s);
      }
      std::lock_guard lock(mutex);
      items[s.key] = s.revision;
      ++upserts;
      log.push_back("upsert " + s.key.to_string() + "@" + s.revision);
    };
    c.remove = [this](const Key& k) {
      std::lock_guard lock(mutex);
      items.erase(k);
      ++removals;
      log.push_back("remove " + k.to_string());
    };
    c.in_sync = [this] {
      std::lock_guard lock(mutex);
      synced = true;
      items_when_synced = items.size();
    };
    c.log_warning = [this](const std::string& message) {
      std::lock_guard lock(mutex);
      warnings.push_back(message);
    };
    return c;
  }
  // in_sync comes after the list's last upsert and removal, once the watch is started.
  bool wait_synced() {
    return wait_until(
        [this] {
          std::lock_guard lock(mutex);
          return synced;
        },
        std::chrono::seconds(10));
  }
  std::vector<std::string> take_log() {
    std::lock_guard lock(mutex);
    std::vector<std::string> out;
    out.swap(log);
    return out;
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
  EXPECT_TRUE(view.wait_synced());
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

// The watch misses changes and a compaction (etcd serves them on another port meanwhile), so the
// syncer relists 2500 resources in pages of 1000: consumers hear of exactly what changed.
TEST(Syncer, RelistInPagesReportsExactlyTheDifferences) {
  test::EtcdDatastore etcd;
  test::PagedDatastore paged(etcd, 1000);
  const Client& client = paged.client();
  const std::vector<Stored> created = test::create_numbered_pools(client, 2500);
  const Stored policy = client.create(
      {"NetworkPolicy", "prod", "deny"},
      R"json({"apiVersion":"brindle.network/v1","kind":"NetworkPolicy","metadata":{"name":"deny",)json"
      R"json("namespace":"prod"},"spec":{"selector":"all()"}})json");
  View view;
  Syncer syncer(client, view.callbacks());
  syncer.start();
  ASSERT_TRUE(converges(view, client));
  ASSERT_TRUE(view.wait_synced());
  EXPECT_EQ(view.upserts, 2501);
  EXPECT_EQ(view.items_when_synced, 2501u) << "in sync after the complete list";
  view.take_log();

  test::EtcdMember& member = etcd.cluster().member(0);
  const std::string endpoint = member.endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  member.kill();
  member.set_client_port(test::free_port());
  member.start();
  ASSERT_TRUE(member.wait_healthy(std::chrono::seconds(20))) << member.log_tail();
  std::vector<std::string> expected;
  {
    auto writer = etcd.connect("writer");  // at the other port
    const Client& w = writer->client();
    for (int i : {100, 1200}) {  // pages 1 and 2
      const Stored s = w.update(created[i].key, test::numbered_pool_json(created[i].key.name, 9),
                                created[i].revision);
      expected.push_back("upsert " + s.key.to_string() + "@" + s.revision);
    }
    for (int i : {500, 2400}) {
      w.remove(created[i].key, created[i].revision);
      expected.push_back("remove " + created[i].key.to_string());
    }
    w.remove(policy.key, policy.revision);  // namespaced: the key comes back whole
    expected.push_back("remove NetworkPolicy/prod/deny");
    for (const char* name : {"q0", "q1"}) {
      const Stored s = w.create({"IPPool", "", name}, pool_json(name, 3));
      expected.push_back("upsert " + s.key.to_string() + "@" + s.revision);
    }
  }
  etcd.cluster().etcdctl_ok({"compact", std::to_string(etcd.cluster().revision())});
  member.kill();
  member.set_client_port(port);
  member.start();
  ASSERT_TRUE(member.wait_healthy(std::chrono::seconds(20))) << member.log_tail();

  ASSERT_TRUE(wait_until([&] { return syncer.lists_done() >= 2; }, std::chrono::seconds(30)));
  ASSERT_TRUE(converges(view, client));
  EXPECT_EQ(syncer.lists_done(), 2);
  std::vector<std::string> reported = view.take_log();
  std::sort(reported.begin(), reported.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(reported, expected);
}

// A compaction while the first list is being delivered fails it after its first page. What was
// reported stays (nothing twice), nothing is removed and in_sync waits until a list completes;
// the next list reports the rest, including the removal of an item the failed list reported.
TEST(Syncer, ListFailingMidwayStaysConsistentAndRecovers) {
  test::EtcdDatastore etcd;
  test::PagedDatastore paged(etcd, 1000);
  const Client& client = paged.client();
  const std::vector<Stored> created = test::create_numbered_pools(client, 2500);
  View view;
  bool first = true;
  std::string changed_revision;
  view.on_upsert = [&](const Stored&) {  // the syncer's thread, inside the first list
    if (!first) {
      return;
    }
    first = false;
    client.remove(created[1].key, created[1].revision);  // already in the page being delivered
    changed_revision =
        client
            .update(created[2000].key, test::numbered_pool_json(created[2000].key.name, 5),
                    created[2000].revision)
            .revision;
    etcd.cluster().etcdctl_ok({"compact", std::to_string(etcd.cluster().revision())});
  };
  Syncer syncer(client, view.callbacks());
  syncer.start();
  ASSERT_TRUE(wait_until([&] { return syncer.lists_done() >= 1; }, std::chrono::seconds(30)));
  ASSERT_TRUE(converges(view, client));
  ASSERT_TRUE(view.wait_synced());
  EXPECT_EQ(syncer.lists_done(), 1) << "the failed list does not count; no resync after it";
  std::lock_guard lock(view.mutex);
  ASSERT_EQ(view.warnings.size(), 1u);
  EXPECT_NE(view.warnings[0].find("datastore list failed"), std::string::npos) << view.warnings[0];
  EXPECT_NE(view.warnings[0].find("compacted"), std::string::npos) << view.warnings[0];
  EXPECT_EQ(view.upserts, 2500) << "1000 from the failed list, the 1500 others after it";
  EXPECT_EQ(view.removals, 1);
  EXPECT_EQ(view.items_when_synced, 2499u) << "in sync only after the complete list";
  EXPECT_EQ(view.items[created[2000].key], changed_revision);
  EXPECT_EQ(view.items.count(created[1].key), 0u);
}

}  // namespace
}  // namespace brindle::datastore
