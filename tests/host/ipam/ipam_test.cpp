// Block IPAM against a real etcd through the datastore-etcd plugin.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "abi01_datastore.hpp"
#include "brindle/ipam/check.hpp"
#include "brindle/ipam/ipam.hpp"
#include "etcd_datastore.hpp"

namespace brindle::ipam {
namespace {

using model::IpAddress;
using model::IpPrefix;

class IpamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { etcd_ = new test::EtcdDatastore(); }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    etcd_->cluster().etcdctl_ok({"del", "--prefix", "/brindle/"});
    store_ = std::make_unique<Store>(etcd_->client());
  }

  void add_pool(const std::string& name, const std::string& cidr, int block_size,
                const std::string& node_selector = {}) {
    model::IPPool pool;
    pool.metadata.name = name;
    pool.spec.cidr = IpPrefix::parse(cidr);
    pool.spec.block_size = block_size;
    pool.spec.node_selector = node_selector;
    store_->create(pool);
  }
  void set_ipam_config(bool strict, int max_blocks) {
    model::IPAMConfig c;
    c.metadata.name = "default";
    c.spec.strict_affinity = strict;
    c.spec.max_blocks_per_host = max_blocks;
    store_->create(c);
  }
  static AssignRequest request(const std::string& handle, const std::string& node) {
    AssignRequest r;
    r.handle_id = handle;
    r.node = node;
    r.attributes = {{"node", node}, {"pod", handle}};
    r.node_labels = model::Labels{};
    return r;
  }

  static test::EtcdDatastore* etcd_;
  std::unique_ptr<Store> store_;
};
test::EtcdDatastore* IpamTest::etcd_ = nullptr;

TEST_F(IpamTest, AllocatesFromAClaimedBlockAndReleasesByHandle) {
  add_pool("p1", "198.18.0.0/24", 28);
  Ipam ipam(etcd_->client());
  const AssignResult r = ipam.auto_assign(request("net.c1", "node-a"));
  ASSERT_EQ(r.v4.size(), 1u);
  EXPECT_TRUE(IpPrefix::parse("198.18.0.0/24").contains(r.v4[0].address()));
  EXPECT_EQ(r.v4[0].prefix_length(), 28);

  const IpPrefix block = IpPrefix(r.v4[0].address(), 28).masked();
  auto affinity =
      store_->get<model::BlockAffinitySpec>(model::block_affinity_name("node-a", block));
  ASSERT_TRUE(affinity);
  EXPECT_EQ(affinity->doc.spec.state, model::AffinityState::kConfirmed);
  auto stored_block = store_->get<model::IPAMBlockSpec>(model::block_name(block));
  ASSERT_TRUE(stored_block);
  EXPECT_EQ(stored_block->doc.spec.affinity, "host:node-a");
  EXPECT_EQ(ipam.addresses_of_handle("net.c1"), std::vector<IpAddress>{r.v4[0].address()});

  EXPECT_EQ(ipam.release_by_handle("net.c1"), 1);
  EXPECT_EQ(ipam.release_by_handle("net.c1"), 0);  // idempotent
  EXPECT_TRUE(ipam.addresses_of_handle("net.c1").empty());
  EXPECT_TRUE(check(*store_).clean());
}

TEST_F(IpamTest, RecentlyReleasedAddressesAreReusedLast) {
  add_pool("p1", "198.18.1.0/24", 29);  // 8 addresses per block
  Ipam ipam(etcd_->client());
  const IpAddress first = ipam.auto_assign(request("h1", "node-a")).v4[0].address();
  ipam.auto_assign(request("h2", "node-a"));
  ipam.release_by_handle("h1");
  std::set<IpAddress> next;
  for (int i = 3; i <= 8; ++i) {
    next.insert(ipam.auto_assign(request("h" + std::to_string(i), "node-a")).v4[0].address());
  }
  // Six more allocations fill the block's other six free addresses before `first` comes back.
  EXPECT_EQ(next.count(first), 0u);
  EXPECT_EQ(ipam.auto_assign(request("h9", "node-a")).v4[0].address(), first);
}

TEST_F(IpamTest, DualStackGetsOneOfEach) {
  add_pool("v4", "198.18.2.0/24", 28);
  add_pool("v6", "2001:db8:2::/120", 122);
  Ipam ipam(etcd_->client());
  AssignRequest r = request("dual", "node-a");
  r.num_v6 = 1;
  const AssignResult result = ipam.auto_assign(r);
  ASSERT_EQ(result.v4.size(), 1u);
  ASSERT_EQ(result.v6.size(), 1u);
  EXPECT_TRUE(IpPrefix::parse("2001:db8:2::/120").contains(result.v6[0].address()));
  EXPECT_EQ(ipam.release_by_handle("dual"), 2);
}

TEST_F(IpamTest, BorrowsFromAnotherNodesBlockUnlessStrict) {
  add_pool("tiny", "198.18.3.0/28", 28);  // exactly one block
  Ipam ipam(etcd_->client());
  ipam.auto_assign(request("a1", "node-a"));
  const AssignResult borrowed = ipam.auto_assign(request("b1", "node-b"));
  ASSERT_EQ(borrowed.v4.size(), 1u);
  EXPECT_EQ(ipam.describe(borrowed.v4[0].address()).affinity, "host:node-a");

  set_ipam_config(/*strict=*/true, 0);
  try {
    ipam.auto_assign(request("b2", "node-b"));
    FAIL() << "strictAffinity must stop borrowing";
  } catch (const IpamError& e) {
    EXPECT_EQ(e.code(), IpamError::Code::exhausted);
    EXPECT_NE(std::string(e.what()).find("strictAffinity"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(ipam.addresses_of_handle("b2").empty());
}

TEST_F(IpamTest, ExhaustionIsAClearErrorAndLeavesNothingBehind) {
  add_pool("small", "198.18.4.0/30", 30);
  Ipam ipam(etcd_->client());
  for (int i = 0; i < 4; ++i) {
    ipam.auto_assign(request("x" + std::to_string(i), "node-a"));
  }
  try {
    ipam.auto_assign(request("x4", "node-a"));
    FAIL() << "a full pool must refuse";
  } catch (const IpamError& e) {
    EXPECT_EQ(e.code(), IpamError::Code::exhausted);
    EXPECT_NE(std::string(e.what()).find("no free IPv4 address"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store_->get<model::IPAMHandleSpec>("x4"));
}

TEST_F(IpamTest, DualStackIsAllOrNothing) {
  add_pool("v4", "198.18.5.0/24", 28);  // no IPv6 pool
  Ipam ipam(etcd_->client());
  AssignRequest r = request("dual", "node-a");
  r.num_v6 = 1;
  EXPECT_THROW(ipam.auto_assign(r), IpamError);
  EXPECT_TRUE(ipam.addresses_of_handle("dual").empty());
  for (const auto& u : ipam.usage()) {
    EXPECT_EQ(u.pool.in_use, 0u) << u.name;
  }
}

TEST_F(IpamTest, MaxBlocksPerHostLimitsClaims) {
  add_pool("p", "198.18.6.0/27", 28);  // two blocks of 16
  set_ipam_config(/*strict=*/true, 1);
  Ipam ipam(etcd_->client());
  AssignRequest r = request("many", "node-a");
  r.num_v4 = 16;
  EXPECT_EQ(ipam.auto_assign(r).v4.size(), 16u);
  try {
    ipam.auto_assign(request("one-more", "node-a"));
    FAIL();
  } catch (const IpamError& e) {
    EXPECT_NE(std::string(e.what()).find("maxBlocksPerHost=1"), std::string::npos) << e.what();
  }
}

TEST_F(IpamTest, NodeSelectorChoosesPools) {
  add_pool("zone-a", "198.18.7.0/24", 28, "zone == \"a\"");
  add_pool("zone-b", "198.18.8.0/24", 28, "zone == \"b\"");
  Ipam ipam(etcd_->client());
  AssignRequest r = request("sel", "node-b");
  r.node_labels = model::Labels{{"zone", "b"}};
  EXPECT_TRUE(IpPrefix::parse("198.18.8.0/24").contains(ipam.auto_assign(r).v4[0].address()));
  r.handle_id = "sel2";
  r.node_labels = model::Labels{{"zone", "c"}};
  try {
    ipam.auto_assign(r);
    FAIL();
  } catch (const IpamError& e) {
    EXPECT_EQ(e.code(), IpamError::Code::no_pool);
  }
}

TEST_F(IpamTest, SpecificAddressesAndConflicts) {
  add_pool("p", "198.18.9.0/24", 28);
  Ipam ipam(etcd_->client());
  const IpAddress wanted = IpAddress::parse("198.18.9.77");
  EXPECT_EQ(ipam.assign_address(wanted, request("want", "node-a")).address(), wanted);
  EXPECT_EQ(ipam.assign_address(wanted, request("want", "node-a")).address(),
            wanted);  // same owner
  try {
    ipam.assign_address(wanted, request("other", "node-b"));
    FAIL();
  } catch (const IpamError& e) {
    EXPECT_EQ(e.code(), IpamError::Code::address_in_use);
  }
  EXPECT_THROW(ipam.assign_address(IpAddress::parse("198.19.0.1"), request("out", "node-a")),
               IpamError);
  EXPECT_EQ(ipam.describe(wanted).handle_id, "want");
  EXPECT_EQ(ipam.release_addresses({wanted}).size(), 1u);
  EXPECT_FALSE(ipam.describe(wanted).allocated);
  EXPECT_TRUE(check(*store_).clean());  // the handle went with its last address
}

TEST_F(IpamTest, ThreeAgentsRacingGetUniqueAddresses) {
  add_pool("race", "198.18.16.0/22", 28);
  constexpr int kAgents = 3;
  constexpr int kPerAgent = 40;
  std::vector<std::future<std::vector<IpAddress>>> agents;
  for (int a = 0; a < kAgents; ++a) {
    agents.push_back(std::async(std::launch::async, [a] {
      const std::string node = "node-" + std::to_string(a);
      auto connection = etcd_->connect(node);
      Ipam ipam(connection->client());
      std::vector<IpAddress> got;
      for (int i = 0; i < kPerAgent; ++i) {
        got.push_back(
            ipam.auto_assign(request(node + ".c" + std::to_string(i), node)).v4[0].address());
      }
      return got;
    }));
  }
  std::set<IpAddress> all;
  size_t total = 0;
  for (auto& f : agents) {
    for (const IpAddress& a : f.get()) {
      all.insert(a);
      ++total;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(kAgents * kPerAgent));
  EXPECT_EQ(all.size(), total) << "duplicate addresses handed out";
  // Every block belongs to exactly one node and holds only its own node's allocations.
  for (const auto& b : store_->list<model::IPAMBlockSpec>()) {
    for (size_t o = 0; o < b.doc.spec.allocations.size(); ++o) {
      if (b.doc.spec.allocations[o]) {
        const auto& attr = b.doc.spec.attributes[static_cast<size_t>(*b.doc.spec.allocations[o])];
        EXPECT_EQ("host:" + attr.secondary.at("node"), b.doc.spec.affinity);
      }
    }
  }
  Ipam ipam(etcd_->client());
  for (int a = 0; a < kAgents; ++a) {
    for (int i = 0; i < kPerAgent; ++i) {
      const std::string node = "node-" + std::to_string(a);
      EXPECT_EQ(ipam.release_by_handle(node + ".c" + std::to_string(i)), 1);
    }
  }
  const CheckReport report = check(*store_);
  EXPECT_EQ(report.allocated, 0u);
  EXPECT_TRUE(report.clean());
  for (int a = 0; a < kAgents; ++a) {
    ipam.release_empty_blocks("node-" + std::to_string(a));
  }
  EXPECT_TRUE(store_->list<model::IPAMBlockSpec>().empty());
  EXPECT_TRUE(store_->list<model::BlockAffinitySpec>().empty());
}

// The caller's known state (the agent's synced copy) saves reads but never misleads: stale or
// missing hints fall back to the datastore, and a block is only used while it is still ours.
TEST_F(IpamTest, StaleKnownStateFallsBackToTheDatastore) {
  add_pool("p1", "198.18.0.0/24", 30);
  Ipam ipam(etcd_->client());
  const IpPrefix first = ipam.auto_assign(request("net.c1", "node-a")).v4.at(0);
  const IpPrefix own_block = IpPrefix(first.address(), 30).masked();

  // No known pool yet (the pool arrived after the hint was taken): the pools are read.
  AssignRequest r = request("net.c2", "node-a");
  r.known_pools = std::vector<model::IPPool>{};
  r.known_config = model::IPAMConfigSpec{};
  r.known_own_blocks = std::vector<IpPrefix>{};  // the block's affinity not seen yet
  const IpPrefix second = ipam.auto_assign(r).v4.at(0);
  // The fresh affinity list found the node's block: no second block was claimed.
  EXPECT_EQ(IpPrefix(second.address(), 30).masked(), own_block);
  EXPECT_EQ(ipam.usage().at(0).blocks.size(), 1u);

  // A known block that is another node's now is not allocated from.
  const IpPrefix foreign =
      IpPrefix(ipam.auto_assign(request("net.b1", "node-b")).v4.at(0).address(), 30).masked();
  AssignRequest s = request("net.c3", "node-a");
  s.known_own_blocks = std::vector<IpPrefix>{foreign};
  const IpPrefix third = ipam.auto_assign(s).v4.at(0);
  EXPECT_FALSE(foreign.contains(third.address()));

  // A known pool list without the requested family's pool still finds the pool in the datastore.
  AssignRequest t = request("net.c4", "node-a");
  model::IPPool other;
  other.metadata.name = "other";
  other.spec.cidr = IpPrefix::parse("2001:db8:1::/64");
  t.known_pools = std::vector<model::IPPool>{other};
  EXPECT_EQ(ipam.auto_assign(t).v4.size(), 1u);
  for (const char* handle : {"net.c1", "net.c2", "net.c3", "net.c4", "net.b1"}) {
    EXPECT_EQ(ipam.addresses_of_handle(handle).size(), 1u) << handle;
  }
}

// Every handle's count per block equals the addresses it holds there, and every allocated address
// has its handle: what writing both in one transaction (or in the crash-safe order) keeps true.
::testing::AssertionResult handles_match_blocks(const Store& store) {
  std::map<std::string, std::map<std::string, int32_t>> held;  // handle id -> block -> addresses
  for (const auto& b : store.list<model::IPAMBlockSpec>()) {
    for (const auto& slot : b.doc.spec.allocations) {
      if (slot) {
        ++held[b.doc.spec.attributes[static_cast<size_t>(*slot)].handle_id]
              [b.doc.spec.cidr.masked().to_string()];
      }
    }
  }
  std::map<std::string, std::map<std::string, int32_t>> counted;
  for (const auto& h : store.list<model::IPAMHandleSpec>()) {
    counted[h.doc.spec.handle_id] = h.doc.spec.block;
  }
  if (held != counted) {
    auto print = [](const auto& m) {
      std::string out;
      for (const auto& [handle, blocks] : m) {
        for (const auto& [block, n] : blocks) {
          out += " " + handle + "@" + block + "=" + std::to_string(n);
        }
      }
      return out;
    };
    return ::testing::AssertionFailure()
           << "blocks hold" << print(held) << "\nhandles count" << print(counted);
  }
  return ::testing::AssertionSuccess();
}

// With transactions an allocation is one write (the block and the handle at one revision), and
// so is the release of what a handle holds in one block.
TEST_F(IpamTest, AllocationAndReleaseAreOneWriteEach) {
  add_pool("p1", "198.18.0.0/24", 28);
  add_pool("p6", "2001:db8:7::/120", 124);
  Ipam ipam(etcd_->client());
  const IpPrefix first = ipam.auto_assign(request("net.c1", "node-a")).v4.at(0);  // claims a block
  const IpPrefix block = IpPrefix(first.address(), 28).masked();
  auto& cluster = etcd_->cluster();

  int64_t before = cluster.revision();
  AssignRequest r = request("net.c2", "node-a");
  r.known_own_blocks = std::vector<IpPrefix>{block};
  const IpPrefix second = ipam.auto_assign(r).v4.at(0);
  EXPECT_EQ(cluster.revision(), before + 1) << "allocation took more than one write";
  const auto handle = store_->get<model::IPAMHandleSpec>("net.c2");
  const auto stored_block = store_->get<model::IPAMBlockSpec>(model::block_name(block));
  ASSERT_TRUE(handle && stored_block);
  EXPECT_EQ(handle->revision, stored_block->revision);
  EXPECT_EQ(handle->doc.spec.block, (std::map<std::string, int32_t>{{block.to_string(), 1}}));

  before = cluster.revision();
  EXPECT_EQ(ipam.release_by_handle("net.c2"), 1);
  EXPECT_EQ(cluster.revision(), before + 1) << "release took more than one write";
  EXPECT_FALSE(store_->get<model::IPAMHandleSpec>("net.c2"));
  EXPECT_TRUE(ipam.addresses_of_handle("net.c1").size() == 1);
  EXPECT_NE(second.address(), first.address());

  // Dual stack: one handle, two blocks; each block's write carries the handle's change for it.
  AssignRequest d = request("net.d1", "node-a");
  d.num_v6 = 1;
  const AssignResult both = ipam.auto_assign(d);
  ASSERT_EQ(both.v4.size() + both.v6.size(), 2u);
  EXPECT_TRUE(handles_match_blocks(*store_));
  before = cluster.revision();
  EXPECT_EQ(ipam.release_by_handle("net.d1"), 2);
  EXPECT_EQ(cluster.revision(), before + 2);
  EXPECT_FALSE(store_->get<model::IPAMHandleSpec>("net.d1"));
  EXPECT_EQ(ipam.release_by_handle("net.d1"), 0);  // idempotent
  EXPECT_TRUE(handles_match_blocks(*store_));
}

// A handle that already exists (a retried CNI ADD, or the second family of a dual-stack pod)
// makes the first transaction fail on the handle, not on the block: the handle is read and the
// allocation still lands in one consistent write.
TEST_F(IpamTest, AnExistingHandleIsAddedTo) {
  add_pool("p1", "198.18.0.0/24", 28);
  Ipam first(etcd_->client());
  const IpPrefix a = first.auto_assign(request("net.again", "node-a")).v4.at(0);
  Ipam second(etcd_->client());  // knows nothing of the handle
  const IpPrefix b = second.auto_assign(request("net.again", "node-a")).v4.at(0);
  EXPECT_NE(a.address(), b.address());
  const auto handle = store_->get<model::IPAMHandleSpec>("net.again");
  ASSERT_TRUE(handle);
  EXPECT_EQ(handle->doc.spec.block.begin()->second, 2);
  EXPECT_TRUE(handles_match_blocks(*store_));
  EXPECT_EQ(second.release_by_handle("net.again"), 2);
  EXPECT_TRUE(handles_match_blocks(*store_));
}

// The caller's copy of a block (the agent's synced copy) replaces the read before the write; a
// stale copy is refused by the revision check and never hands out a taken address.
TEST_F(IpamTest, KnownBlockCopiesSaveTheReadButNeverMislead) {
  add_pool("p1", "198.18.0.0/24", 28);
  Ipam ipam(etcd_->client());
  const IpPrefix c1 = ipam.auto_assign(request("net.c1", "node-a")).v4.at(0);
  const IpPrefix block = IpPrefix(c1.address(), 28).masked();
  const auto copy = store_->get<model::IPAMBlockSpec>(model::block_name(block));
  ASSERT_TRUE(copy);
  auto with_copy = [&](const std::string& handle, const Versioned<model::IPAMBlockSpec>& doc) {
    AssignRequest r = request(handle, "node-a");
    r.known_own_blocks = std::vector<IpPrefix>{block};
    r.known_blocks.emplace();
    r.known_blocks->emplace(block, doc);
    return r;
  };
  auto& cluster = etcd_->cluster();
  int64_t before = cluster.revision();
  const IpPrefix c2 = ipam.auto_assign(with_copy("net.c2", *copy)).v4.at(0);
  EXPECT_EQ(cluster.revision(), before + 1);
  EXPECT_TRUE(block.contains(c2.address()));
  EXPECT_NE(c2.address(), c1.address());

  // The same copy again is stale now: its free-list head is the address c2 got.
  const IpPrefix c3 = ipam.auto_assign(with_copy("net.c3", *copy)).v4.at(0);
  EXPECT_TRUE(block.contains(c3.address()));
  EXPECT_NE(c3.address(), c2.address());
  EXPECT_NE(c3.address(), c1.address());

  // A stale copy that shows the block full: the stored block decides, no new block is claimed.
  Versioned<model::IPAMBlockSpec> full = *copy;
  full.doc.spec.unallocated.clear();
  const IpPrefix c4 = ipam.auto_assign(with_copy("net.c4", full)).v4.at(0);
  EXPECT_TRUE(block.contains(c4.address()));
  EXPECT_EQ(ipam.usage().at(0).blocks.size(), 1u);
  std::set<IpAddress> distinct{c1.address(), c2.address(), c3.address(), c4.address()};
  EXPECT_EQ(distinct.size(), 4u);
  EXPECT_TRUE(handles_match_blocks(*store_));
}

// Three agents allocating from and releasing into ONE block (two of them borrow it): every
// compare-and-swap races. Addresses stay unique and handles agree with the blocks, with
// transactions and with a plugin that has none (ABI 0.1: single writes in crash-safe order).
void race_on_one_block(test::EtcdDatastore& etcd, const Store& store, bool with_transactions) {
  {
    Ipam owner(etcd.client());
    AssignRequest r;
    r.handle_id = "net.first";
    r.node = "node-0";
    r.node_labels = model::Labels{};
    owner.auto_assign(r);  // node-0 claims the pool's only block
  }
  constexpr int kAgents = 3;
  constexpr int kPerAgent = 12;
  std::vector<std::future<std::vector<IpAddress>>> agents;
  for (int a = 0; a < kAgents; ++a) {
    agents.push_back(std::async(std::launch::async, [a, &etcd, with_transactions] {
      const std::string node = "node-" + std::to_string(a);
      std::unique_ptr<test::DatastoreConnection> modern;
      std::unique_ptr<test::Abi01Datastore> old;
      const datastore::Client* client = nullptr;
      if (with_transactions) {
        modern = etcd.connect(node);
        client = &modern->client();
      } else {
        old = std::make_unique<test::Abi01Datastore>(etcd, node);
        client = &old->client();
      }
      EXPECT_EQ(client->supports_txn(), with_transactions);
      Ipam ipam(*client);
      std::vector<IpAddress> kept;
      for (int i = 0; i < kPerAgent; ++i) {
        AssignRequest r;
        r.handle_id = node + ".c" + std::to_string(i);
        r.node = node;
        r.attributes = {{"node", node}};
        r.node_labels = model::Labels{};
        const IpAddress got = ipam.auto_assign(r).v4.at(0).address();
        if (i % 3 == 2) {
          EXPECT_EQ(ipam.release_by_handle(r.handle_id), 1);  // releases race allocations too
        } else {
          kept.push_back(got);
        }
      }
      return kept;
    }));
  }
  std::set<IpAddress> all;
  size_t total = 0;
  for (auto& f : agents) {
    for (const IpAddress& a : f.get()) {
      all.insert(a);
      ++total;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(kAgents * kPerAgent * 2 / 3));
  EXPECT_EQ(all.size(), total) << "duplicate addresses handed out";
  EXPECT_EQ(store.list<model::IPAMBlockSpec>().size(), 1u);
  EXPECT_TRUE(handles_match_blocks(store));
  const CheckReport report = check(store);
  EXPECT_EQ(report.allocated, total + 1);
  EXPECT_TRUE(report.handles_without_addresses.empty());
  EXPECT_TRUE(report.addresses_without_handles.empty());
}

TEST_F(IpamTest, RacingOnOneBlockWithTransactions) {
  add_pool("one", "198.18.32.0/26", 26);
  race_on_one_block(*etcd_, *store_, true);
}

TEST_F(IpamTest, RacingOnOneBlockWithoutTransactions) {
  add_pool("one", "198.18.32.0/26", 26);
  race_on_one_block(*etcd_, *store_, false);
}

TEST_F(IpamTest, CheckFindsLeaksAndOrphans) {
  add_pool("p", "198.18.10.0/24", 28);
  Ipam ipam(etcd_->client());
  const IpAddress leaked = ipam.auto_assign(request("net.leak", "node-a")).v4[0].address();
  const IpAddress owned = ipam.auto_assign(request("net.owned", "node-a")).v4[0].address();
  model::WorkloadEndpoint wep;
  wep.metadata.name = "node--a-k8s-pod-eth0";
  wep.metadata.namespace_ = "default";
  wep.spec.node = "node-a";
  wep.spec.pod = "pod";
  wep.spec.interface_name = "brv0123456789a";
  wep.spec.ip_networks = {IpPrefix::host(owned)};
  store_->create(wep);
  model::IPAMHandle orphan;
  orphan.metadata.name = "orphan";
  orphan.spec.handle_id = "orphan";
  orphan.spec.block["198.18.10.0/28"] = 1;
  store_->create(orphan);
  // An address whose handle resource is gone.
  auto handle = store_->get<model::IPAMHandleSpec>("net.leak");
  ASSERT_TRUE(handle);
  store_->remove<model::IPAMHandleSpec>("net.leak", handle->revision);

  const CheckReport report = check(*store_);
  ASSERT_EQ(report.leaked.size(), 1u);
  EXPECT_EQ(report.leaked[0].address, leaked);
  EXPECT_EQ(report.handles_without_addresses, std::vector<std::string>{"orphan"});
  ASSERT_EQ(report.addresses_without_handles.size(), 1u);
  EXPECT_EQ(report.addresses_without_handles[0].address, leaked);

  // The report survives a JSON round trip (brindlectl writes and reads it).
  const CheckReport again = CheckReport::from_json(report.to_json());
  EXPECT_EQ(again.leaked.size(), 1u);
  EXPECT_EQ(ipam.release_addresses({leaked}).size(), 1u);
  ipam.release_by_handle("orphan");
  EXPECT_TRUE(check(*store_).clean());
}

// The etcd plugin with every datastore call counted (each is one round trip): what the known
// state and the extra operations save is checked in calls, not only in writes. One at a time.
class CountingDatastore {
 public:
  CountingDatastore(const test::EtcdDatastore& etcd, const std::string& node_name)
      : plugin_(etcd.node_config_toml(node_name), node_name, "counting-datastore.toml") {
    real_ = plugin_.vtable();
    vtable_ = *real_;
    vtable_.get = [](brindle_instance_t* i, const brindle_resource_key_t* k,
                     brindle_resource_sink_fn sink, void* user, brindle_error_t* err) {
      ++calls_;
      return real_->get(i, k, sink, user, err);
    };
    vtable_.list = [](brindle_instance_t* i, brindle_str_t kind, brindle_str_t ns,
                      brindle_resource_sink_fn sink, void* user, brindle_str_sink_fn rev_sink,
                      void* rev_user, brindle_error_t* err) {
      ++calls_;
      return real_->list(i, kind, ns, sink, user, rev_sink, rev_user, err);
    };
    vtable_.create = [](brindle_instance_t* i, const brindle_resource_t* r,
                        brindle_resource_sink_fn sink, void* user, brindle_error_t* err) {
      ++calls_;
      return real_->create(i, r, sink, user, err);
    };
    vtable_.update = [](brindle_instance_t* i, const brindle_resource_t* r,
                        brindle_resource_sink_fn sink, void* user, brindle_error_t* err) {
      ++calls_;
      return real_->update(i, r, sink, user, err);
    };
    vtable_.remove = [](brindle_instance_t* i, const brindle_resource_key_t* k,
                        brindle_str_t revision, brindle_error_t* err) {
      ++calls_;
      return real_->remove(i, k, revision, err);
    };
    vtable_.txn = [](brindle_instance_t* i, const brindle_txn_op_t* ops, size_t count,
                     brindle_resource_sink_fn sink, void* user, size_t* failed,
                     brindle_error_t* err) {
      ++calls_;
      return real_->txn(i, ops, count, sink, user, failed, err);
    };
    client_ = std::make_unique<datastore::Client>(&vtable_, plugin_.instance());
    calls_ = 0;
  }
  ~CountingDatastore() { client_.reset(); }
  CountingDatastore(const CountingDatastore&) = delete;
  CountingDatastore& operator=(const CountingDatastore&) = delete;

  const datastore::Client& client() const { return *client_; }
  // Calls that reached the datastore since the last call of this.
  int take_calls() { return calls_.exchange(0); }

 private:
  static inline const brindle_datastore_vtable_t* real_ = nullptr;
  static inline std::atomic<int> calls_{0};
  test::DatastorePlugin plugin_;
  brindle_datastore_vtable_t vtable_{};
  std::unique_ptr<datastore::Client> client_;
};

// A WorkloadEndpoint holding `addresses`, as the agent records a pod.
model::WorkloadEndpoint endpoint(const std::string& name, const std::vector<IpPrefix>& addresses) {
  model::WorkloadEndpoint wep;
  wep.metadata.name = name;
  wep.metadata.namespace_ = "default";
  wep.spec.node = "node-a";
  wep.spec.pod = name;
  wep.spec.container_id = name;
  wep.spec.interface_name = "brv0123456789a";
  for (const IpPrefix& a : addresses) {
    wep.spec.ip_networks.push_back(IpPrefix::host(a.address()));
  }
  return wep;
}

// The copies the agent would hold: this node's blocks as stored now.
std::map<IpPrefix, Versioned<model::IPAMBlockSpec>> blocks_now(const Store& store) {
  std::map<IpPrefix, Versioned<model::IPAMBlockSpec>> out;
  for (auto& b : store.list<model::IPAMBlockSpec>()) {
    out.emplace(b.doc.spec.cidr.masked(), b);
  }
  return out;
}

// An ADD from known state is ONE datastore call: the block, the handle and the caller's
// endpoint in one transaction; a DEL likewise. Nothing is read first.
TEST_F(IpamTest, ExtraOperationsRideOnTheAllocationAndTheRelease) {
  add_pool("p1", "198.18.0.0/24", 28);
  CountingDatastore counting(*etcd_, "node-a");
  Ipam warm(counting.client());
  const IpPrefix first = warm.auto_assign(request("net.c1", "node-a")).v4.at(0);  // claims
  const IpPrefix block = IpPrefix(first.address(), 28).masked();
  auto& cluster = etcd_->cluster();

  Ipam ipam(counting.client());
  AssignRequest r = request("net.c2", "node-a");
  r.known_pools = std::vector<model::IPPool>{store_->get<model::IPPoolSpec>("p1")->doc};
  r.known_config = model::IPAMConfigSpec{};
  r.known_own_blocks = std::vector<IpPrefix>{block};
  r.known_blocks = blocks_now(*store_);
  int built = 0;
  r.extra_ops = [&](const AssignResult& addresses) {
    ++built;
    return std::vector<datastore::TxnOp>{Store::create_op(endpoint("c2", addresses.v4))};
  };
  int64_t before = cluster.revision();
  counting.take_calls();
  const AssignResult result = ipam.auto_assign(r);
  EXPECT_EQ(counting.take_calls(), 1) << "an ADD from known state is one round trip";
  EXPECT_EQ(cluster.revision(), before + 1);
  EXPECT_EQ(built, 1);
  ASSERT_EQ(result.extra, ExtraOps::written);
  ASSERT_EQ(result.extra_stored.size(), 1u);
  const auto wep = store_->get<model::WorkloadEndpointSpec>("c2", "default");
  ASSERT_TRUE(wep);
  EXPECT_EQ(wep->revision, result.extra_stored[0].revision);
  EXPECT_EQ(wep->doc.spec.ip_networks,
            std::vector<IpPrefix>{IpPrefix::host(result.v4.at(0).address())});
  ASSERT_TRUE(result.handle);
  EXPECT_EQ(result.handle->revision, wep->revision);  // one transaction
  EXPECT_EQ(ipam.written_blocks().at(block).now.revision, wep->revision);
  // The copy of the written block (made from what was sent, not decoded from the reply) is the
  // stored block exactly: metadata (uid, creation time, revision) included.
  const auto stored_block = store_->get<model::IPAMBlockSpec>(model::block_name(block));
  ASSERT_TRUE(stored_block);
  EXPECT_EQ(ipam.written_blocks().at(block).now.revision, stored_block->revision);
  EXPECT_EQ(ipam.written_blocks().at(block).now.doc, stored_block->doc);
  EXPECT_TRUE(handles_match_blocks(*store_));

  // The release from the same knowledge: the handle as the ADD left it, the block as written.
  Ipam del(counting.client());
  ReleaseRequest release;
  release.handle_id = "net.c2";
  release.known_handle = result.handle;
  release.known_blocks.emplace();
  release.known_blocks->emplace(block, ipam.written_blocks().at(block).now);
  release.extra_ops = {
      Store::remove_op<model::WorkloadEndpointSpec>("c2", wep->revision, "default")};
  before = cluster.revision();
  counting.take_calls();
  const ReleaseResult released = del.release(release);
  EXPECT_EQ(counting.take_calls(), 1) << "a DEL from known state is one round trip";
  EXPECT_EQ(cluster.revision(), before + 1);
  EXPECT_EQ(released.released, 1);
  EXPECT_EQ(released.extra, ExtraOps::written);
  EXPECT_FALSE(store_->get<model::WorkloadEndpointSpec>("c2", "default"));
  EXPECT_FALSE(store_->get<model::IPAMHandleSpec>("net.c2"));
  EXPECT_EQ(ipam.addresses_of_handle("net.c1").size(), 1u);
  const auto released_block = store_->get<model::IPAMBlockSpec>(model::block_name(block));
  ASSERT_TRUE(released_block);
  EXPECT_EQ(del.written_blocks().at(block).now.revision, released_block->revision);
  EXPECT_EQ(del.written_blocks().at(block).now.doc, released_block->doc);
  EXPECT_TRUE(handles_match_blocks(*store_));
}

// Allocations one after another from what the node knows (its pools, its blocks, and the copies
// of the blocks as it last wrote them, as brindled keeps them): after the first claim, every
// allocation is one transaction, through the blocks it fills and the next ones it claims.
TEST_F(IpamTest, AllocationsFromTheLastWrittenCopiesAreOneTransactionEach) {
  add_pool("p1", "198.18.0.0/24", 28);
  CountingDatastore counting(*etcd_, "node-a");
  Ipam ipam(counting.client());
  const model::IPPool pool = store_->get<model::IPPoolSpec>("p1")->doc;
  std::vector<IpPrefix> own_blocks;
  std::map<IpPrefix, Versioned<model::IPAMBlockSpec>> copies;
  int claims = 0;
  int calls = 0;
  for (int i = 0; i < 40; ++i) {  // 2.5 blocks of 16
    AssignRequest r = request("net.c" + std::to_string(i), "node-a");
    r.known_pools = std::vector<model::IPPool>{pool};
    r.known_config = model::IPAMConfigSpec{};
    r.known_own_blocks = own_blocks;
    r.known_blocks.emplace();
    for (const auto& [block, copy] : copies) {
      if (!copy.doc.spec.unallocated.empty()) {
        r.known_blocks->emplace(block, copy);
      }
    }
    counting.take_calls();
    const IpPrefix got = ipam.auto_assign(r).v4.at(0);
    const int used = counting.take_calls();
    const IpPrefix block = IpPrefix(got.address(), 28).masked();
    if (std::find(own_blocks.begin(), own_blocks.end(), block) == own_blocks.end()) {
      own_blocks.push_back(block);
      ++claims;
    } else {
      calls += used;
      EXPECT_EQ(used, 1) << "allocation " << i << " in " << block.to_string();
    }
    for (const auto& [cidr, written] : ipam.written_blocks()) {
      copies[cidr] = written.now;
    }
  }
  EXPECT_EQ(claims, 3);
  EXPECT_EQ(calls, 40 - claims);
}

// Dual stack: the endpoint goes with the LAST write (it names both addresses, and no address
// before it is allocated) and its removal with the FIRST write of the release (no address is
// free while it names it).
TEST_F(IpamTest, DualStackExtraOperationsGoWithTheLastAllocationAndTheFirstRelease) {
  add_pool("v4", "198.18.2.0/24", 28);
  add_pool("v6", "2001:db8:2::/120", 124);
  Ipam ipam(etcd_->client());
  auto& cluster = etcd_->cluster();
  AssignRequest r = request("net.dual", "node-a");
  r.num_v6 = 1;
  r.extra_ops = [&](const AssignResult& addresses) {
    EXPECT_EQ(addresses.v4.size(), 1u);
    EXPECT_EQ(addresses.v6.size(), 1u);
    // At this point the IPv4 address is allocated and the IPv6 one is not yet.
    EXPECT_EQ(ipam.describe(addresses.v4.at(0).address()).handle_id, "net.dual");
    EXPECT_FALSE(ipam.describe(addresses.v6.at(0).address()).allocated);
    std::vector<IpPrefix> all = addresses.v4;
    all.insert(all.end(), addresses.v6.begin(), addresses.v6.end());
    return std::vector<datastore::TxnOp>{Store::create_op(endpoint("dual", all))};
  };
  const AssignResult result = ipam.auto_assign(r);
  ASSERT_EQ(result.extra, ExtraOps::written);
  const auto wep = store_->get<model::WorkloadEndpointSpec>("dual", "default");
  ASSERT_TRUE(wep);
  EXPECT_EQ(wep->doc.spec.ip_networks.size(), 2u);
  const IpPrefix v6_block = IpPrefix(result.v6.at(0).address(), 124).masked();
  EXPECT_EQ(store_->get<model::IPAMBlockSpec>(model::block_name(v6_block))->revision,
            wep->revision);
  EXPECT_TRUE(handles_match_blocks(*store_));

  ReleaseRequest release;
  release.handle_id = "net.dual";
  release.extra_ops = {
      Store::remove_op<model::WorkloadEndpointSpec>("dual", wep->revision, "default")};
  const int64_t before = cluster.revision();
  const ReleaseResult released = Ipam(etcd_->client()).release(release);
  EXPECT_EQ(released.released, 2);
  EXPECT_EQ(released.extra, ExtraOps::written);
  EXPECT_EQ(cluster.revision(), before + 2);
  // The endpoint went with the first block's write (the IPv4 block's, the handle's first entry;
  // the etcd plugin's revisions are etcd's mod_revision numbers).
  const auto v4_block = store_->get<model::IPAMBlockSpec>(
      model::block_name(IpPrefix(result.v4.at(0).address(), 28).masked()));
  EXPECT_EQ(v4_block->revision, std::to_string(before + 1));
  EXPECT_FALSE(store_->get<model::WorkloadEndpointSpec>("dual", "default"));
  EXPECT_TRUE(check(*store_).clean());
}

// A refused extra operation: the allocation is written without it (the caller then writes the
// endpoint its own way); a release writes NOTHING, and goes through once the caller's view is
// fresh. Stale copies of the handle and the block are refused by their revisions and re-read.
TEST_F(IpamTest, RefusedExtraOperationsAndStaleCopies) {
  add_pool("p1", "198.18.0.0/24", 28);
  store_->create(endpoint("taken", {}));
  Ipam ipam(etcd_->client());
  AssignRequest r = request("net.taken", "node-a");
  r.extra_ops = [&](const AssignResult& addresses) {
    return std::vector<datastore::TxnOp>{Store::create_op(endpoint("taken", addresses.v4))};
  };
  const AssignResult result = ipam.auto_assign(r);
  EXPECT_EQ(result.extra, ExtraOps::refused);
  EXPECT_TRUE(result.extra_stored.empty());
  ASSERT_EQ(result.v4.size(), 1u);
  EXPECT_EQ(ipam.addresses_of_handle("net.taken"), std::vector<IpAddress>{result.v4[0].address()});
  EXPECT_TRUE(
      store_->get<model::WorkloadEndpointSpec>("taken", "default")->doc.spec.ip_networks.empty());
  EXPECT_TRUE(handles_match_blocks(*store_));

  // Stale copies: the block changed (another allocation) and so did the handle (a second
  // address for it) since the caller's view was taken.
  const IpPrefix block = IpPrefix(result.v4[0].address(), 28).masked();
  const auto old_block = store_->get<model::IPAMBlockSpec>(model::block_name(block));
  const auto old_handle = store_->get<model::IPAMHandleSpec>("net.taken");
  ipam.auto_assign(request("net.other", "node-a"));
  Ipam(etcd_->client()).auto_assign(request("net.taken", "node-a"));
  ASSERT_EQ(ipam.addresses_of_handle("net.taken").size(), 2u);
  // ... and so did the endpoint (e.g. its labels) since the caller read it.
  const auto stale_wep = store_->get<model::WorkloadEndpointSpec>("taken", "default");
  model::WorkloadEndpoint relabelled = stale_wep->doc;
  relabelled.metadata.labels["app"] = "x";
  const auto wep = store_->update(relabelled, stale_wep->revision);
  ReleaseRequest release;
  release.handle_id = "net.taken";
  release.known_handle = old_handle;
  release.known_blocks.emplace();
  release.known_blocks->emplace(block, *old_block);
  release.extra_ops = {
      Store::remove_op<model::WorkloadEndpointSpec>("taken", stale_wep->revision, "default")};
  auto& cluster = etcd_->cluster();
  const int64_t before = cluster.revision();
  ReleaseResult released = Ipam(etcd_->client()).release(release);
  EXPECT_EQ(released.extra, ExtraOps::refused);
  EXPECT_EQ(released.released, 0);
  EXPECT_EQ(cluster.revision(), before) << "a refused release writes nothing";
  EXPECT_EQ(ipam.addresses_of_handle("net.taken").size(), 2u);

  release.extra_ops = {
      Store::remove_op<model::WorkloadEndpointSpec>("taken", wep.revision, "default")};
  released = Ipam(etcd_->client()).release(release);
  EXPECT_EQ(released.extra, ExtraOps::written);
  EXPECT_EQ(released.released, 2) << "the handle as stored decides, not the stale copy";
  EXPECT_EQ(cluster.revision(), before + 1);
  EXPECT_FALSE(store_->get<model::WorkloadEndpointSpec>("taken", "default"));
  EXPECT_TRUE(ipam.addresses_of_handle("net.taken").empty());
  EXPECT_EQ(ipam.addresses_of_handle("net.other").size(), 1u);
  EXPECT_TRUE(handles_match_blocks(*store_));

  // Nothing held: no write carries them; the caller writes them itself.
  release.extra_ops = {Store::remove_op<model::WorkloadEndpointSpec>("gone", "1", "default")};
  release.known_handle.reset();
  released = Ipam(etcd_->client()).release(release);
  EXPECT_EQ(released.extra, ExtraOps::not_written);
  EXPECT_EQ(released.released, 0);
}

// Without transactions (ABI 0.1, or the SDK's default txn that refuses them) the extra operations
// are never written by IPAM: the caller writes them in its own crash-safe order. The first
// allocation already takes the single-write path.
class IpamWithoutTxnTest : public IpamTest, public ::testing::WithParamInterface<test::NoTxn> {};

TEST_P(IpamWithoutTxnTest, ExtraOperationsNeedTransactions) {
  add_pool("p1", "198.18.0.0/24", 28);
  test::Abi01Datastore old(*etcd_, "node-a", GetParam());
  Ipam ipam(old.client());
  AssignRequest r = request("net.old", "node-a");
  int built = 0;
  r.extra_ops = [&](const AssignResult& addresses) {
    ++built;
    return std::vector<datastore::TxnOp>{Store::create_op(endpoint("old", addresses.v4))};
  };
  const AssignResult result = ipam.auto_assign(r);
  EXPECT_EQ(result.extra, ExtraOps::not_written);
  EXPECT_EQ(built, 0);
  EXPECT_FALSE(store_->get<model::WorkloadEndpointSpec>("old", "default"));
  store_->create(endpoint("old", result.v4));
  ReleaseRequest release;
  release.handle_id = "net.old";
  release.extra_ops = {Store::remove_op<model::WorkloadEndpointSpec>(
      "old", store_->get<model::WorkloadEndpointSpec>("old", "default")->revision, "default")};
  const ReleaseResult released = ipam.release(release);
  EXPECT_EQ(released.extra, ExtraOps::not_written);
  EXPECT_EQ(released.released, 1);
  EXPECT_TRUE(store_->get<model::WorkloadEndpointSpec>("old", "default"));
  EXPECT_TRUE(handles_match_blocks(*store_));
}

INSTANTIATE_TEST_SUITE_P(NoTxn, IpamWithoutTxnTest,
                         ::testing::Values(test::NoTxn::absent, test::NoTxn::refusing),
                         [](const ::testing::TestParamInfo<test::NoTxn>& param_info) {
                           return param_info.param == test::NoTxn::absent ? "Abi01" : "Refusing";
                         });

// Known copies that show a block full cost no read while another known block has room: the
// allocation goes to the block with room, in one round trip.
TEST_F(IpamTest, KnownFullBlocksAreTriedLast) {
  add_pool("p1", "198.18.0.0/24", 30);  // 4 addresses per block
  Ipam ipam(etcd_->client());
  AssignRequest many = request("net.fill", "node-a");
  many.num_v4 = 8;  // two full blocks
  const AssignResult filled = ipam.auto_assign(many);
  std::set<IpPrefix> blocks;
  for (const IpPrefix& a : filled.v4) {
    blocks.insert(IpPrefix(a.address(), 30).masked());
  }
  ASSERT_EQ(blocks.size(), 2u);
  // Room in the block that sorts last only: the one that sorts first is full.
  const IpAddress freed = *blocks.rbegin()->address_at(1);
  ASSERT_EQ(ipam.release_addresses({freed}).size(), 1u);
  CountingDatastore counting(*etcd_, "node-a");
  Ipam fast(counting.client());
  AssignRequest r = request("net.next", "node-a");
  r.known_pools = std::vector<model::IPPool>{store_->get<model::IPPoolSpec>("p1")->doc};
  r.known_config = model::IPAMConfigSpec{};
  r.known_own_blocks = std::vector<IpPrefix>(blocks.begin(), blocks.end());
  r.known_blocks = blocks_now(*store_);
  counting.take_calls();
  EXPECT_EQ(fast.auto_assign(r).v4.at(0).address(), freed);
  EXPECT_EQ(counting.take_calls(), 1) << "the full block was read";
  EXPECT_TRUE(handles_match_blocks(*store_));
}

}  // namespace
}  // namespace brindle::ipam
