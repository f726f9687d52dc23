// Several brindled agents sharing one real etcd, pods added through the real brindle-cni:
// a 200-pod concurrent burst over 3 agents, an etcd restart in the middle of a burst, and GC.
// Like agent_test, the process first moves into a network namespace of its own.
#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "brindle/ipam/check.hpp"
#include "brindle/ipam/store.hpp"
#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_datastore.hpp"

namespace brindle {
namespace {

using cni::testing::cni_env;
using cni::testing::PluginRun;
using cni::testing::run_cni_binary;
using cni::testing::run_shell;
using cni::testing::TestPod;
using json = nlohmann::json;

struct Agent {
  std::string name;
  std::string socket;
  int health_port = 0;
  std::string log;
  std::unique_ptr<test::Brindled> process;
};

class AgentClusterTest : public ::testing::Test {
 protected:
  void start(int agents, const std::string& pool_cidr, int block_size) {
    etcd_ = std::make_unique<test::EtcdDatastore>();
    dir_ = std::make_unique<test::TempDir>("agents");
    store_ = std::make_unique<ipam::Store>(etcd_->client());
    model::IPPool pool;
    pool.metadata.name = "pods";
    pool.spec.cidr = model::IpPrefix::parse(pool_cidr);
    pool.spec.block_size = block_size;
    store_->create(pool);
    for (int i = 0; i < agents; ++i) {
      Agent a;
      a.name = "node-" + std::to_string(i);
      a.socket = (dir_->path() / a.name / "brindled.sock").string();
      a.health_port = test::free_port();
      a.log = (dir_->path() / (a.name + ".log")).string();
      const std::string config = (dir_->path() / (a.name + ".toml")).string();
      // Each agent its own host-side interface prefix, as the agents share one namespace here.
      std::ofstream(config) << etcd_->node_config_toml(a.name) << "\n[control]\nsocket = \""
                            << a.socket << "\"\n[health]\nlisten = \"127.0.0.1:" << a.health_port
                            << "\"\n[metrics]\nlisten = \"\"\n[workload]\ninterface_prefix = \"b"
                            << i << "\"\n";
      a.process = std::make_unique<test::Brindled>(config, a.log);
      agents_.push_back(std::move(a));
    }
    for (const Agent& a : agents_) {
      ASSERT_TRUE(wait_ready(a)) << a.name;
    }
  }
  void TearDown() override {
    for (Agent& a : agents_) {
      a.process.reset();
      if (HasFailure()) {
        std::ifstream in(a.log);
        std::string all((std::istreambuf_iterator<char>(in)), {});
        std::cerr << "--- " << a.name << " log (tail):\n"
                  << (all.size() > 3000 ? all.substr(all.size() - 3000) : all);
      }
    }
  }

  static bool wait_ready(const Agent& a) {
    for (int i = 0; i < 200; ++i) {
      if (run_shell("curl -sf http://127.0.0.1:" + std::to_string(a.health_port) +
                    "/readyz >/dev/null 2>&1") == 0) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  PluginRun cni(const Agent& a, const std::string& command, const std::string& container,
                const TestPod* pod, const std::string& name, const json& extra = {}) {
    json config = {{"cniVersion", "1.1.0"},
                   {"name", "k8s-pod-network"},
                   {"type", "brindle-cni"},
                   {"control_socket", a.socket}};
    if (extra.is_object()) {
      config.update(extra);
    }
    return run_cni_binary(
        cni_env(command, container, pod != nullptr ? pod->path() : "", "eth0", "default", name),
        config.dump());
  }

  static std::string address_of(const std::string& result) {
    const std::string cidr = json::parse(result).at("ips").at(0).at("address");
    return cidr.substr(0, cidr.find('/'));
  }

  // Runs `count` calls of `work(i)` on `threads` threads.
  static void parallel(int count, int threads, const std::function<void(int)>& work) {
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          work(i);
        }
      });
    }
    for (auto& t : pool) {
      t.join();
    }
  }

  std::unique_ptr<test::EtcdDatastore> etcd_;
  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<ipam::Store> store_;
  std::vector<Agent> agents_;
};

TEST_F(AgentClusterTest, TwoHundredConcurrentAddsOverThreeAgents) {
  start(3, "198.18.0.0/22", 28);
  constexpr int kPods = 200;
  std::vector<std::unique_ptr<TestPod>> pods(kPods);
  parallel(kPods, 8, [&](int i) { pods[i] = std::make_unique<TestPod>(); });
  std::mutex mutex;
  std::set<std::string> addresses;
  std::vector<std::string> failures;
  parallel(kPods, 12, [&](int i) {
    const PluginRun r = cni(agents_[i % 3], "ADD", "c" + std::to_string(i), pods[i].get(),
                            "pod-" + std::to_string(i));
    std::lock_guard lock(mutex);
    if (r.exit_code != 0) {
      failures.push_back(r.stdout_text + r.stderr_text);
    } else {
      addresses.insert(address_of(r.stdout_text));
    }
  });
  ASSERT_TRUE(failures.empty()) << failures.size() << " ADDs failed, first: " << failures.front();
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kPods)) << "duplicate addresses";
  // Every block is affine to exactly one agent and holds only that agent's pods.
  for (const auto& b : store_->list<model::IPAMBlockSpec>()) {
    for (const auto& slot : b.doc.spec.allocations) {
      if (slot) {
        const auto& attribute = b.doc.spec.attributes.at(static_cast<size_t>(*slot));
        EXPECT_EQ("host:" + attribute.secondary.at("node"), b.doc.spec.affinity);
      }
    }
  }
  EXPECT_TRUE(ipam::check(*store_).clean());
  parallel(kPods, 12, [&](int i) {
    const PluginRun r = cni(agents_[i % 3], "DEL", "c" + std::to_string(i), pods[i].get(),
                            "pod-" + std::to_string(i));
    EXPECT_EQ(r.exit_code, 0) << r.stdout_text;
  });
  const ipam::CheckReport report = ipam::check(*store_);
  EXPECT_EQ(report.allocated, 0u);
  EXPECT_TRUE(report.clean());
  EXPECT_TRUE(store_->list<model::WorkloadEndpointSpec>().empty());
}

TEST_F(AgentClusterTest, EtcdRestartDuringABurstFailsCleanlyAndGcLeavesNoLeak) {
  start(2, "198.18.4.0/24", 28);
  constexpr int kPods = 40;
  std::vector<std::unique_ptr<TestPod>> pods(kPods);
  parallel(kPods, 8, [&](int i) { pods[i] = std::make_unique<TestPod>(); });
  std::mutex mutex;
  std::map<int, std::string> succeeded;  // pod -> address
  std::set<int> failed;
  std::atomic<int> done{0};
  std::thread chaos([&] {
    while (done < kPods / 4) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    etcd_->cluster().member(0).kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    etcd_->cluster().member(0).start();
  });
  parallel(kPods, 6, [&](int i) {
    const PluginRun r = cni(agents_[i % 2], "ADD", "c" + std::to_string(i), pods[i].get(),
                            "pod-" + std::to_string(i));
    ++done;
    std::lock_guard lock(mutex);
    if (r.exit_code == 0) {
      succeeded[i] = address_of(r.stdout_text);
    } else {
      // A clean failure: CNI error JSON on stdout with a code.
      const json error = json::parse(r.stdout_text);
      EXPECT_TRUE(error.contains("code")) << r.stdout_text;
      failed.insert(i);
    }
  });
  chaos.join();
  ASSERT_TRUE(etcd_->cluster().member(0).wait_healthy(std::chrono::seconds(30)))
      << etcd_->cluster().member(0).log_tail();
  // Wait until both agents can reach the datastore again (their DEL/GC would say "try again").
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::set<std::string> unique;
  for (const auto& [i, a] : succeeded) {
    unique.insert(a);
  }
  EXPECT_EQ(unique.size(), succeeded.size()) << "duplicate addresses";
  std::cerr << succeeded.size() << " ADDs succeeded, " << failed.size() << " failed cleanly\n";
  // The runtime cleans up failed ADDs with DEL, and GC keeps only the attachments it knows.
  for (int i : failed) {
    EXPECT_EQ(cni(agents_[i % 2], "DEL", "c" + std::to_string(i), pods[i].get(),
                  "pod-" + std::to_string(i))
                  .exit_code,
              0);
  }
  for (size_t a = 0; a < agents_.size(); ++a) {
    json valid = json::array();
    for (const auto& [i, address] : succeeded) {
      if (static_cast<size_t>(i % 2) == a) {
        valid.push_back({{"containerID", "c" + std::to_string(i)}, {"ifname", "eth0"}});
      }
    }
    const PluginRun gc =
        cni(agents_[a], "GC", "", nullptr, "", json{{"cni.dev/valid-attachments", valid}});
    EXPECT_EQ(gc.exit_code, 0) << gc.stdout_text << gc.stderr_text;
  }
  // The test's own client reconnects to the restarted etcd in its own time.
  std::optional<ipam::CheckReport> checked;
  for (int attempt = 0; attempt < 100 && !checked; ++attempt) {
    try {
      checked = ipam::check(*store_);
    } catch (const datastore::DatastoreError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_TRUE(checked);
  const ipam::CheckReport& report = *checked;
  EXPECT_EQ(report.allocated, succeeded.size());
  EXPECT_TRUE(report.clean()) << report.to_json().dump();
  EXPECT_EQ(store_->list<model::WorkloadEndpointSpec>().size(), succeeded.size());
}

TEST_F(AgentClusterTest, GcRemovesAttachmentsTheRuntimeNoLongerHas) {
  start(1, "198.18.5.0/24", 28);
  TestPod keep, drop;
  ASSERT_EQ(cni(agents_[0], "ADD", "keep", &keep, "keep").exit_code, 0);
  ASSERT_EQ(cni(agents_[0], "ADD", "drop", &drop, "drop").exit_code, 0);
  const PluginRun gc =
      cni(agents_[0], "GC", "", nullptr, "",
          json{{"cni.dev/valid-attachments", {{{"containerID", "keep"}, {"ifname", "eth0"}}}}});
  ASSERT_EQ(gc.exit_code, 0) << gc.stdout_text << gc.stderr_text;
  const auto endpoints = store_->list<model::WorkloadEndpointSpec>();
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(endpoints[0].doc.spec.container_id, "keep");
  EXPECT_EQ(ipam::check(*store_).allocated, 1u);
  EXPECT_TRUE(ipam::check(*store_).clean());
}

}  // namespace
}  // namespace brindle
