// brindled's node agent end to end: a real etcd, the real brindled process with the etcd and
// encap-none plugins, real pods (network namespaces) added and deleted through the real
// brindle-cni binary.
//
// The whole test process first moves into a network namespace of its own (it is the "node"), so
// etcd, brindled, the veths and the routes all live there and the machine's own namespace is
// never touched. Pods are named namespaces, as a container runtime makes them.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "brindle/ipam/check.hpp"
#include "brindle/ipam/ipam.hpp"
#include "brindle/ipam/store.hpp"
#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_datastore.hpp"
#include "single_agent_fixture.hpp"

namespace brindle {
namespace {

using cni::testing::cni_env;
using cni::testing::run_cni_binary;
using cni::testing::run_shell;
using cni::testing::TestPod;
using test::eventually;
using json = nlohmann::json;

constexpr const char* kNodeAddress = "198.19.0.1";

class AgentTest : public test::SingleAgentTest {
 protected:
  explicit AgentTest(std::string extra_config =
                         "[encapsulation]\nplugin = \"none\"\n"
                         "[workload]\nempty_block_grace_seconds = 1\n")
      : SingleAgentTest("198.18.0.0/24", std::move(extra_config)) {}

  std::string network_config() const {
    return json{{"cniVersion", "1.0.0"},
                {"name", "k8s-pod-network"},
                {"type", "brindle-cni"},
                {"control_socket", socket_}}
        .dump();
  }

  cni::testing::PluginRun cni(const std::string& command, const std::string& container,
                              const TestPod* pod, const std::string& name) {
    return run_cni_binary(
        cni_env(command, container, pod ? pod->path() : "", "eth0", "default", name),
        network_config());
  }

  static std::string address_of(const std::string& result) {
    const json r = json::parse(result);
    const std::string cidr = r.at("ips").at(0).at("address");
    return cidr.substr(0, cidr.find('/'));
  }
};

TEST_F(AgentTest, TwoPodsReachEachOtherAndTheNodeAndDelRemovesEveryTrace) {
  TestPod a, b;
  const auto add_a = cni("ADD", "container-a", &a, "pod-a");
  ASSERT_EQ(add_a.exit_code, 0) << add_a.stdout_text << add_a.stderr_text;
  const auto add_b = cni("ADD", "container-b", &b, "pod-b");
  ASSERT_EQ(add_b.exit_code, 0) << add_b.stdout_text << add_b.stderr_text;
  const std::string ip_a = address_of(add_a.stdout_text);
  const std::string ip_b = address_of(add_b.stdout_text);
  EXPECT_NE(ip_a, ip_b);
  EXPECT_TRUE(model::IpPrefix::parse("198.18.0.0/24").contains(model::IpAddress::parse(ip_a)));

  EXPECT_EQ(run_shell("ip netns exec " + a.name() + " ping -c1 -W2 " + ip_b + " >/dev/null"), 0);
  EXPECT_EQ(run_shell("ip netns exec " + b.name() + " ping -c1 -W2 " + ip_a + " >/dev/null"), 0);
  EXPECT_EQ(
      run_shell("ip netns exec " + a.name() + " ping -c1 -W2 " + kNodeAddress + " >/dev/null"), 0);

  // Recorded: endpoints and addresses.
  EXPECT_EQ(store_->list<model::WorkloadEndpointSpec>().size(), 2u);
  const auto check = cni("CHECK", "container-a", &a, "pod-a");
  EXPECT_EQ(check.exit_code, 0) << check.stdout_text;

  for (const auto& [id, pod, name] :
       {std::tuple{"container-a", &a, "pod-a"}, std::tuple{"container-b", &b, "pod-b"}}) {
    const auto del = cni("DEL", id, pod, name);
    ASSERT_EQ(del.exit_code, 0) << del.stdout_text << del.stderr_text;
    EXPECT_EQ(cni("DEL", id, pod, name).exit_code, 0) << "DEL is idempotent";
  }
  EXPECT_NE(run_shell("ip netns exec " + a.name() + " ping -c1 -W1 " + ip_b + " >/dev/null 2>&1"),
            0);
  EXPECT_TRUE(store_->list<model::WorkloadEndpointSpec>().empty());
  const ipam::CheckReport report = ipam::check(*store_);
  EXPECT_EQ(report.allocated, 0u);
  EXPECT_TRUE(report.clean());
  // Host side: no pod route, and the veths go once the reaper ran.
  EXPECT_EQ(run_shell("ip route show proto 201 | grep -q ."), 1);
  bool links_gone = false;
  for (int i = 0; i < 60 && !links_gone; ++i) {
    links_gone = run_shell("ip -o link show | grep -q ' brv'") == 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(links_gone);
}

TEST_F(AgentTest, ConcurrentAddsGetUniqueAddressesAndCleanUp) {
  constexpr int kPods = 16;
  std::vector<std::unique_ptr<TestPod>> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<TestPod>());
  }
  std::vector<std::future<cni::testing::PluginRun>> adds;
  for (int i = 0; i < kPods; ++i) {
    adds.push_back(std::async(std::launch::async, [&, i] {
      return cni("ADD", "c" + std::to_string(i), pods[i].get(), "p" + std::to_string(i));
    }));
  }
  std::set<std::string> addresses;
  for (auto& f : adds) {
    const auto r = f.get();
    ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
    addresses.insert(address_of(r.stdout_text));
  }
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kPods));
  std::vector<std::future<int>> dels;
  for (int i = 0; i < kPods; ++i) {
    dels.push_back(std::async(std::launch::async, [&, i] {
      return cni("DEL", "c" + std::to_string(i), pods[i].get(), "p" + std::to_string(i)).exit_code;
    }));
  }
  for (auto& f : dels) {
    EXPECT_EQ(f.get(), 0);
  }
  EXPECT_TRUE(ipam::check(*store_).clean());
  EXPECT_EQ(ipam::check(*store_).allocated, 0u);
}

TEST_F(AgentTest, FailedAddLeavesNothingBehind) {
  TestPod a;
  ASSERT_EQ(run_shell("ip netns exec " + a.name() + " ip link add eth0 type veth peer name x0"), 0);
  const auto add = cni("ADD", "container-x", &a, "pod-x");
  EXPECT_NE(add.exit_code, 0);
  EXPECT_NE(add.stdout_text.find("\"code\""), std::string::npos) << add.stdout_text;
  EXPECT_TRUE(store_->list<model::WorkloadEndpointSpec>().empty());
  EXPECT_EQ(ipam::check(*store_).allocated, 0u);
  EXPECT_TRUE(ipam::check(*store_).clean());  // no handle left either
}

// Whether a pod's interface goes within 3 s (a DEL leaves the veth pair to a reaper).
bool eventually_gone(const std::string& ifname, const TestPod& pod) {
  for (int i = 0; i < 60; ++i) {
    if (run_shell("ip netns exec " + pod.name() + " ip link show " + ifname + " >/dev/null 2>&1") !=
        0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// With etcd's transactions an ADD from this node's block is ONE datastore write (addresses,
// handle and WorkloadEndpoint together) and so is a DEL.
TEST_F(AgentTest, AddAndDelAreOneDatastoreWriteEach) {
  TestPod a, b;
  ASSERT_EQ(cni("ADD", "container-a", &a, "pod-a").exit_code, 0);  // claims the block
  auto& cluster = etcd_->cluster();
  int64_t before = cluster.revision();
  const auto add = cni("ADD", "container-b", &b, "pod-b");
  ASSERT_EQ(add.exit_code, 0) << add.stdout_text << add.stderr_text;
  EXPECT_EQ(cluster.revision(), before + 1) << log_tail();
  const auto weps = store_->list<model::WorkloadEndpointSpec>();
  ASSERT_EQ(weps.size(), 2u);
  const auto handle = store_->get<model::IPAMHandleSpec>("k8s-pod-network.container-b");
  ASSERT_TRUE(handle);
  EXPECT_EQ(handle->revision, std::to_string(before + 1));  // etcd's mod_revision

  before = cluster.revision();
  const auto del = cni("DEL", "container-b", &b, "pod-b");
  ASSERT_EQ(del.exit_code, 0) << del.stdout_text << del.stderr_text;
  EXPECT_EQ(cluster.revision(), before + 1) << log_tail();
  EXPECT_EQ(store_->list<model::WorkloadEndpointSpec>().size(), 1u);
  EXPECT_FALSE(store_->get<model::IPAMHandleSpec>("k8s-pod-network.container-b"));
  EXPECT_TRUE(eventually_gone("eth0", b));  // the veth pair is deleted by the reaper
  ASSERT_EQ(cni("DEL", "container-a", &a, "pod-a").exit_code, 0);
  EXPECT_TRUE(ipam::check(*store_).clean());
  EXPECT_EQ(ipam::check(*store_).allocated, 0u);
}

// The agent with the default grace for empty blocks: no garbage collection pass (which reads the
// blocks) runs within a test of a few seconds, so every read etcd counts is the agent's own.
class AgentWithoutGcTest : public AgentTest {
 protected:
  AgentWithoutGcTest() : AgentTest("[encapsulation]\nplugin = \"none\"\n") {}
};

// Pods one after the other, each after the watch has delivered the previous one's writes (the
// agent then holds its own writes as the watched copies without decoding them): every ADD and
// every DEL is one transaction that succeeds at once, and nothing is read. A stale or wrong
// copy of a block or an endpoint would show as a refused transaction and reads.
TEST_F(AgentWithoutGcTest, SequentialPodsAreOneTransactionEachAndReadNothing) {
  TestPod first;
  ASSERT_EQ(cni("ADD", "container-first", &first, "pod-first").exit_code, 0);  // claims
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  test::EtcdMember& member = etcd_->cluster().member(0);
  const long ranges_before = member.kv_requests("Range");
  const long txns_before = member.kv_requests("Txn");
  ASSERT_GT(txns_before, 0);
  constexpr int kPods = 4;
  std::vector<std::unique_ptr<TestPod>> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<TestPod>());
    const auto add =
        cni("ADD", "container-" + std::to_string(i), pods.back().get(), "pod-" + std::to_string(i));
    ASSERT_EQ(add.exit_code, 0) << add.stdout_text << add.stderr_text;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (int i = 0; i < kPods; ++i) {
    const auto del =
        cni("DEL", "container-" + std::to_string(i), pods[i].get(), "pod-" + std::to_string(i));
    ASSERT_EQ(del.exit_code, 0) << del.stdout_text << del.stderr_text;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(member.kv_requests("Range") - ranges_before, 0) << log_tail();
  EXPECT_EQ(member.kv_requests("Txn") - txns_before, 2 * kPods) << log_tail();
  ASSERT_EQ(cni("DEL", "container-first", &first, "pod-first").exit_code, 0);
  EXPECT_TRUE(ipam::check(*store_).clean());
}

// The agent's copy of an endpoint is only a hint: changed by someone else since the ADD (its
// revision is stale), the DEL's transaction is refused and the DEL goes on from a read.
TEST_F(AgentTest, DelWithAStaleEndpointCopyReadsAndStillCleansUp) {
  TestPod a;
  ASSERT_EQ(cni("ADD", "container-a", &a, "pod-a").exit_code, 0);
  auto weps = store_->list<model::WorkloadEndpointSpec>();
  ASSERT_EQ(weps.size(), 1u);
  model::WorkloadEndpoint relabelled = weps[0].doc;
  relabelled.metadata.labels["touched"] = "yes";
  store_->update(relabelled, weps[0].revision);
  const auto del = cni("DEL", "container-a", &a, "pod-a");
  ASSERT_EQ(del.exit_code, 0) << del.stdout_text << del.stderr_text;
  EXPECT_TRUE(store_->list<model::WorkloadEndpointSpec>().empty());
  EXPECT_EQ(ipam::check(*store_).allocated, 0u);
  EXPECT_TRUE(ipam::check(*store_).clean());
  EXPECT_TRUE(eventually_gone("eth0", a));
  EXPECT_EQ(run_shell("ip route show proto 201 | grep -q ."), 1);
}

// A late DEL of an old sandbox (here without its namespace, which is gone by then) must leave
// the pod's new sandbox alone: its endpoint, its addresses and its interface, whose host side
// has the same name. Both from the agent's own copy and, after a restart, from a read.
TEST_F(AgentTest, ALateDelOfAnOldSandboxLeavesItsSuccessorAlone) {
  TestPod first, second;
  ASSERT_EQ(cni("ADD", "sandbox-1", &first, "web").exit_code, 0);
  auto old_endpoint = store_->list<model::WorkloadEndpointSpec>().at(0);
  ASSERT_EQ(cni("DEL", "sandbox-1", &first, "web").exit_code, 0);
  // The old sandbox's endpoint is left over (as if its DEL had not finished): the new sandbox's
  // ADD takes the endpoint over.
  old_endpoint.doc.metadata.revision.clear();
  store_->create(old_endpoint.doc);
  const auto add = cni("ADD", "sandbox-2", &second, "web");
  ASSERT_EQ(add.exit_code, 0) << add.stdout_text << add.stderr_text;
  const std::string address = address_of(add.stdout_text);
  auto successor_intact = [&](const std::string& when) {
    const auto weps = store_->list<model::WorkloadEndpointSpec>();
    ASSERT_EQ(weps.size(), 1u) << when;
    EXPECT_EQ(weps[0].doc.spec.container_id, "sandbox-2") << when;
    EXPECT_EQ(run_shell("ip link show " + weps[0].doc.spec.interface_name + " >/dev/null 2>&1"), 0)
        << when;
    EXPECT_EQ(run_shell("ip netns exec " + second.name() + " ping -c1 -W2 " + kNodeAddress +
                        " >/dev/null"),
              0)
        << when;
    ipam::Ipam ipam(etcd_->client());
    EXPECT_EQ(ipam.addresses_of_handle("k8s-pod-network.sandbox-2"),
              std::vector<model::IpAddress>{model::IpAddress::parse(address)})
        << when;
    EXPECT_TRUE(ipam::check(*store_).clean()) << when;
  };
  successor_intact("after the ADD");
  ASSERT_EQ(cni("DEL", "sandbox-1", nullptr, "web").exit_code, 0);
  successor_intact("after a late DEL");
  daemon_.reset();
  daemon_ = std::make_unique<test::Brindled>(config_, log_);  // forgets what it wrote
  ASSERT_TRUE(wait_ready()) << log_tail();
  ASSERT_EQ(cni("DEL", "sandbox-1", nullptr, "web").exit_code, 0);
  successor_intact("after a late DEL to a restarted daemon");
  ASSERT_EQ(cni("DEL", "sandbox-2", &second, "web").exit_code, 0);
  EXPECT_TRUE(store_->list<model::WorkloadEndpointSpec>().empty());
  EXPECT_EQ(ipam::check(*store_).allocated, 0u);
}

TEST_F(AgentTest, ExhaustedPoolIsACniError) {
  // Replace the pool by one with two addresses.
  auto pool = store_->get<model::IPPoolSpec>("pods");
  store_->remove<model::IPPoolSpec>("pods", pool->revision);
  model::IPPool tiny;
  tiny.metadata.name = "tiny";
  tiny.spec.cidr = model::IpPrefix::parse("198.18.9.0/31");
  tiny.spec.block_size = 31;
  store_->create(tiny);
  TestPod p1, p2, p3;
  EXPECT_EQ(cni("ADD", "t1", &p1, "t1").exit_code, 0);
  EXPECT_EQ(cni("ADD", "t2", &p2, "t2").exit_code, 0);
  const auto third = cni("ADD", "t3", &p3, "t3");
  EXPECT_NE(third.exit_code, 0);
  const json error = json::parse(third.stdout_text);
  EXPECT_EQ(error.at("code"), 100) << third.stdout_text;
  EXPECT_NE(error.at("msg").get<std::string>().find("no free IPv4 address"), std::string::npos);
}

TEST_F(AgentTest, NodeStatusAsksTheRunningDaemon) {
  std::string out;
  ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "node", "status"}, &out), 0)
      << out;
  EXPECT_NE(out.find("brindled is ready; node node-a"), std::string::npos) << out;
  EXPECT_NE(out.find("No routing peers"), std::string::npos) << out;
  daemon_->stop();
  EXPECT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "node", "status"}, &out), 1);
  EXPECT_NE(out.find("cannot reach brindled"), std::string::npos) << out;
}

// Every long-lived thread of brindled's own says what it is for (top -H, ps -L, perf): the main
// loop, the worker and plumbing pools, the datastore syncer and the etcd plugin's watch from the
// start, the link reaper once a pod has come and gone (gRPC names its threads itself).
TEST_F(AgentTest, ThreadsAreNamedForWhatTheyDo) {
  TestPod pod;
  ASSERT_EQ(cni("ADD", "container-t", &pod, "pod-t").exit_code, 0);
  ASSERT_EQ(cni("DEL", "container-t", &pod, "pod-t").exit_code, 0);
  // What is left unnamed is the main thread's name, brindled: only the main thread has it.
  auto names = [&] {
    std::multiset<std::string> found;
    const std::string task_dir = "/proc/" + std::to_string(daemon_->pid()) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      found.insert(name);
    }
    return found;
  };
  std::multiset<std::string> found;
  // The link reaper starts with the first removal it is given.
  EXPECT_TRUE(eventually([&] {
    found = names();
    return found.count("link-reaper") == 1;
  })) << ::testing::PrintToString(found);
  EXPECT_EQ(found.count("brindled"), 1u) << ::testing::PrintToString(found);
  EXPECT_EQ(found.count("datastore-sync"), 1u) << ::testing::PrintToString(found);
  EXPECT_GE(found.count("etcd-watch"), 1u) << ::testing::PrintToString(found);
  EXPECT_EQ(found.count("worker"), 4u) << ::testing::PrintToString(found);
  EXPECT_EQ(found.count("plumbing"), 4u) << ::testing::PrintToString(found);
}

// Who owns which remote block, as the agent reports it (`brindlectl node status -o json`).
std::map<std::string, std::string> routed_blocks(const std::string& config) {
  std::string out;
  if (test::run_command({BRINDLECTL_PATH, "--config", config, "node", "status", "-o", "json"},
                        &out) != 0) {
    return {};
  }
  std::map<std::string, std::string> owners;
  const json status = json::parse(out);  // named: a range-for over a temporary's member dangles
  for (const json& r : status.at("agent").at("routes")) {
    owners[r.at("block").get<std::string>()] = r.at("node").get<std::string>();
  }
  return owners;
}

std::string status_json(const std::string& config) {
  std::string out;
  const int rc = test::run_command(
      {BRINDLECTL_PATH, "--config", config, "node", "status", "-o", "json"}, &out);
  return "exit " + std::to_string(rc) + ": " + out;
}

TEST_F(AgentTest, BlockAffinitiesMoveAndAreForgottenEvenWhenTheirNodeIsGone) {
  auto node = [&](const std::string& name, const std::string& address) {
    model::Node n;
    n.metadata.name = name;
    n.spec.ipv4_address = model::IpPrefix::parse(address);
    return store_->create(n);
  };
  auto affinity = [&](const std::string& owner, const std::string& cidr) {
    model::BlockAffinity a;
    a.spec.cidr = model::IpPrefix::parse(cidr);
    a.metadata.name = model::block_affinity_name(owner, a.spec.cidr);
    a.spec.node = owner;
    a.spec.state = model::AffinityState::kConfirmed;
    return store_->create(a);
  };
  const std::string block = "198.18.0.64/28";
  node("node-b", "198.19.0.2/24");
  node("node-c", "198.19.0.3/24");
  auto of_b = affinity("node-b", block);
  ASSERT_TRUE(eventually([&] { return routed_blocks(config_)[block] == "node-b"; }))
      << status_json(config_);
  // A move: the new owner's affinity appears before the old one goes.
  auto of_c = affinity("node-c", block);
  ASSERT_TRUE(eventually([&] { return routed_blocks(config_)[block] == "node-c"; }));
  store_->remove<model::BlockAffinitySpec>(of_b.doc.metadata.name, of_b.revision);
  affinity("node-c", "198.18.0.96/28");  // a marker: once routed, the deletion was seen too
  ASSERT_TRUE(eventually([&] { return routed_blocks(config_).count("198.18.0.96/28") == 1; }));
  EXPECT_EQ(routed_blocks(config_)[block], "node-c");
  // The owner node goes first, then its affinity; a node of the same name coming back must not
  // bring the block back.
  store_->remove<model::NodeSpec>("node-c", store_->get<model::NodeSpec>("node-c")->revision);
  store_->remove<model::BlockAffinitySpec>(of_c.doc.metadata.name, of_c.revision);
  node("node-c", "198.19.0.3/24");
  affinity("node-c", "198.18.0.112/28");  // marker
  ASSERT_TRUE(eventually([&] { return routed_blocks(config_).count("198.18.0.112/28") == 1; }));
  EXPECT_EQ(routed_blocks(config_).count(block), 0u);
}

// /readyz follows the routing plugin: with BGP, a node whose only peer never answers is not
// ready; without peers there is nothing to wait for.
TEST_F(AgentTest, ReadinessFollowsTheRoutingPluginsSessions) {
  daemon_.reset();
  const std::string bird_dir = (dir_->path() / "bird").string();
  std::ofstream(config_, std::ios::app)
      << "[routing]\nplugin = \"bgp\"\n[routing.bgp]\nstate_dir = \"" << bird_dir
      << "\"\nstop_on_destroy = true\n";
  daemon_ = std::make_unique<test::Brindled>(config_, log_);
  ASSERT_TRUE(wait_ready()) << log_tail();

  const std::string peer = (dir_->path() / "peer.yaml").string();
  std::ofstream(peer) << "apiVersion: brindle.network/v1\nkind: BGPPeer\nmetadata: {name: tor}\n"
                      << "spec: {peerIP: 198.19.0.99, asNumber: 64512}\n";
  std::string out;
  ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "apply", "-f", peer}, &out), 0)
      << out;
  const std::string readyz =
      "curl -sf http://127.0.0.1:" + std::to_string(health_port_) + "/readyz >/dev/null 2>&1";
  EXPECT_TRUE(eventually([&] { return run_shell(readyz) != 0; })) << log_tail();
  EXPECT_THAT(status_json(config_), ::testing::HasSubstr("routing plugin is not ready"));
  ASSERT_EQ(
      test::run_command({BRINDLECTL_PATH, "--config", config_, "delete", "bgppeer", "tor"}, &out),
      0)
      << out;
  EXPECT_TRUE(eventually([&] { return run_shell(readyz) == 0; })) << log_tail();
  pid_t bird = 0;
  std::ifstream(bird_dir + "/bird.pid") >> bird;
  ASSERT_GT(bird, 0);
  daemon_.reset();  // stop_on_destroy: BIRD goes with it
  EXPECT_TRUE(eventually([&] { return kill(bird, 0) != 0; })) << "BIRD " << bird << " still runs";
}

TEST_F(AgentTest, RequestedAddressAndEmptyBlockRelease) {
  TestPod a;
  const json config = {{"cniVersion", "1.0.0"},
                       {"name", "k8s-pod-network"},
                       {"type", "brindle-cni"},
                       {"control_socket", socket_},
                       {"runtimeConfig", {{"ips", {"198.18.0.77"}}}}};
  const auto add = run_cni_binary(cni_env("ADD", "wanted", a.path(), "eth0", "default", "wanted"),
                                  config.dump());
  ASSERT_EQ(add.exit_code, 0) << add.stdout_text << add.stderr_text;
  EXPECT_EQ(address_of(add.stdout_text), "198.18.0.77");
  EXPECT_EQ(store_->list<model::BlockAffinitySpec>().size(), 1u);
  ASSERT_EQ(
      run_cni_binary(cni_env("DEL", "wanted", a.path(), "eth0", "default", "wanted"), config.dump())
          .exit_code,
      0);
  // The block is empty now: after the grace period (1 s here) the agent gives it back.
  bool released = false;
  for (int i = 0; i < 100 && !released; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    released = store_->list<model::IPAMBlockSpec>().empty() &&
               store_->list<model::BlockAffinitySpec>().empty();
  }
  EXPECT_TRUE(released) << "the empty block was not released";
}

}  // namespace
}  // namespace brindle
