// Policy end to end through the agent: a real etcd, the real brindled with the iptables policy
// plugin, pods added through the real brindle-cni, policies applied with the real brindlectl, and
// real TCP traffic between the pods. The test process is the node, in a network namespace of its
// own (see brindled_process.hpp), so every iptables rule lives there.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "brindle/ipam/ipam.hpp"
#include "brindle/ipam/store.hpp"
#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_datastore.hpp"
#include "served_pod.hpp"
#include "single_agent_fixture.hpp"

namespace brindle {
namespace {

using cni::testing::cni_env;
using cni::testing::PluginRun;
using cni::testing::run_cni_binary;
using cni::testing::run_shell;
using cni::testing::TestPod;
using test::connects;
using test::eventually;
using test::kPort;
using test::ServedPod;
using json = nlohmann::json;
using namespace std::chrono_literals;

class AgentPolicyTest : public test::SingleAgentTest {
 protected:
  AgentPolicyTest()
      : SingleAgentTest("198.18.8.0/24",
                        "[encapsulation]\nplugin = \"none\"\n[policy]\nplugin = \"iptables\"\n") {}

  // ADD through brindle-cni with labels (and optionally a requested address) in runtimeConfig.
  PluginRun add(const std::string& container, const TestPod& pod, const std::string& name,
                const json& labels, const std::string& address = "") {
    json runtime = {{"labels", labels}};
    if (!address.empty()) {
      runtime["ips"] = json::array({address + "/32"});
    }
    const json config = {{"cniVersion", "1.0.0"},
                         {"name", "k8s-pod-network"},
                         {"type", "brindle-cni"},
                         {"control_socket", socket_},
                         {"runtimeConfig", runtime}};
    return run_cni_binary(cni_env("ADD", container, pod.path(), "eth0", "default", name),
                          config.dump());
  }

  static std::string address_of(const PluginRun& run) {
    const std::string cidr = json::parse(run.stdout_text).at("ips").at(0).at("address");
    return cidr.substr(0, cidr.find('/'));
  }

  void apply(const std::string& yaml) {
    const std::string file = (dir_->path() / "policy.yaml").string();
    std::ofstream(file) << yaml;
    std::string out;
    ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "apply", "-f", file}, &out),
              0)
        << out;
  }
  void remove(const std::string& kind, const std::string& name) {
    std::string out;
    ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "delete", kind, name,
                                 "--namespace", "default"},
                                &out),
              0)
        << out;
  }
};

constexpr const char* kDenyIngress = R"(apiVersion: brindle.network/v1
kind: KubernetesNetworkPolicy
metadata: {name: deny-ingress, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)";

constexpr const char* kAllowClient = R"(apiVersion: brindle.network/v1
kind: KubernetesNetworkPolicy
metadata: {name: allow-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
)";

TEST_F(AgentPolicyTest, KubernetesPoliciesFromTheDatastoreAreEnforcedOnRealTraffic) {
  ServedPod server;
  TestPod client, other;
  const PluginRun add_server = add("c-server", server.pod, "server", {{"app", "server"}});
  ASSERT_EQ(add_server.exit_code, 0) << add_server.stdout_text << add_server.stderr_text;
  ASSERT_EQ(add("c-client", client, "client", {{"app", "client"}}).exit_code, 0);
  ASSERT_EQ(add("c-other", other, "other", {{"app", "other"}}).exit_code, 0);
  const std::string server_ip = address_of(add_server);

  // No policy selects the server: everyone reaches it.
  EXPECT_TRUE(eventually(client, server_ip, true));
  EXPECT_TRUE(eventually(other, server_ip, true));
  // Default deny for the namespace.
  apply(kDenyIngress);
  EXPECT_TRUE(eventually(client, server_ip, false));
  EXPECT_FALSE(connects(other, server_ip));
  // Allow from app=client on the port: only the client gets through.
  apply(kAllowClient);
  EXPECT_TRUE(eventually(client, server_ip, true));
  EXPECT_FALSE(connects(other, server_ip));
  // Relabelling a pod (its endpoint record) is a set membership change: "other" becomes a client.
  bool relabelled = false;
  for (const auto& wep : store_->list<model::WorkloadEndpointSpec>()) {
    if (wep.doc.spec.pod == "other") {
      model::WorkloadEndpoint changed = wep.doc;
      changed.metadata.labels["app"] = "client";
      store_->update(changed, wep.revision);
      relabelled = true;
    }
  }
  ASSERT_TRUE(relabelled);
  EXPECT_TRUE(eventually(other, server_ip, true));
  // Removing the deny keeps the allow policy selecting the server: still only clients.
  remove("KubernetesNetworkPolicy", "allow-client");
  EXPECT_TRUE(eventually(client, server_ip, false));
  remove("KubernetesNetworkPolicy", "deny-ingress");
  EXPECT_TRUE(eventually(client, server_ip, true));

  // The agent reports the policy state.
  std::string out;
  ASSERT_EQ(test::run_command(
                {BRINDLECTL_PATH, "--config", config_, "node", "status", "-o", "json"}, &out),
            0)
      << out;
  const json status = json::parse(out);
  EXPECT_EQ(status.at("agent").at("policy").at("local_endpoints"), 3) << out;
  EXPECT_EQ(status.at("agent").at("policy").at("error"), "") << out;
}

// A pod under default deny is never reachable, not even in the first milliseconds after its
// interface comes up: a prober connects in a tight loop while the ADD runs and after it returns.
TEST_F(AgentPolicyTest, NoUnprotectedWindowWhileAPodIsAdded) {
  TestPod prober;
  ServedPod canary;
  ASSERT_EQ(add("c-prober", prober, "prober", {{"app", "client"}}).exit_code, 0);
  const PluginRun added_canary = add("c-canary", canary.pod, "canary", {{"app", "canary"}});
  ASSERT_EQ(added_canary.exit_code, 0);
  EXPECT_TRUE(eventually(prober, address_of(added_canary), true));
  apply(kDenyIngress);
  // Once the canary is closed, the deny policy is in this node's dataplane.
  ASSERT_TRUE(eventually(prober, address_of(added_canary), false));

  constexpr const char* kServerAddress = "198.18.8.200";
  std::atomic<bool> stop{false};
  std::atomic<int> attempts{0}, successes{0};
  std::thread probe([&] {
    while (!stop) {
      ++attempts;
      if (connects(prober, kServerAddress)) {
        ++successes;
      }
    }
  });
  ServedPod server;
  const PluginRun added =
      add("c-server", server.pod, "server", {{"app", "server"}}, kServerAddress);
  std::this_thread::sleep_for(1500ms);
  stop = true;
  probe.join();
  ASSERT_EQ(added.exit_code, 0) << added.stdout_text << added.stderr_text;
  EXPECT_EQ(address_of(added), kServerAddress);
  EXPECT_GT(attempts.load(), 3);
  EXPECT_EQ(successes.load(), 0) << "the pod was reachable under a default-deny policy";
  // The probe can succeed: allowing the client opens the path.
  apply(kAllowClient);
  EXPECT_TRUE(eventually(prober, kServerAddress, true));
  // ADD answers only once the endpoint's policy is programmed: a second server is reachable by
  // the allowed client with the very first connection after ADD returns.
  ServedPod second;
  const PluginRun added_second = add("c-second", second.pod, "second", {{"app", "server"}});
  ASSERT_EQ(added_second.exit_code, 0) << added_second.stdout_text;
  EXPECT_TRUE(connects(prober, address_of(added_second)));
}

// The mechanism behind the property above, with a test-only policy plugin
// (recording_policy_plugin.cpp) that programs nothing, takes 400 ms per apply and records every
// endpoint it applied, with timestamps and whether the host had a route to the pod by then.
class AgentPolicyMechanismTest : public AgentPolicyTest {
 protected:
  AgentPolicyMechanismTest() { extra_config_ = "[encapsulation]\nplugin = \"none\"\n"; }

  static constexpr int kApplyDelayMs = 400;

  // The base starts brindled without a policy plugin; it is then restarted with the recording
  // plugin (its folder added to [plugins] search_path, which the base's config already sets).
  void SetUp() override {
    AgentPolicyTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    record_dir_ = std::make_unique<test::TempDir>("recording");
    record_file_ = (record_dir_->path() / "applied.txt").string();
    fail_file_ = (record_dir_->path() / "fail").string();
    daemon_.reset();
    std::string config;
    {
      std::ifstream in(config_);
      config.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string search_path = "search_path = [\"";
    const size_t at = config.find(search_path);
    ASSERT_NE(at, std::string::npos) << config;
    config.insert(at + search_path.size(), std::string(BRINDLE_RECORDING_PLUGIN_DIR) + "\", \"");
    std::ofstream(config_) << config << "[policy]\nplugin = \"recording\"\n"
                           << "[policy.recording]\nrecord_file = \"" << record_file_
                           << "\"\napply_delay_ms = " << kApplyDelayMs << "\nfail_file = \""
                           << fail_file_ << "\"\n";
    daemon_ = std::make_unique<test::Brindled>(config_, log_);
    ASSERT_TRUE(wait_ready()) << log_tail();
  }

  struct Applied {
    bool failed = false;
    std::chrono::steady_clock::time_point started, finished;
    std::string endpoint, interface;
    bool routed = false;  // the host had a route through the pod's interface
  };
  std::vector<Applied> records() const {
    std::vector<Applied> out;
    std::ifstream in(record_file_);
    std::string verdict;
    unsigned long long started = 0, finished = 0;
    Applied a;
    int routed = 0;
    while (in >> verdict >> started >> finished >> a.endpoint >> a.interface >> routed) {
      a.failed = verdict == "failed";
      a.started = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(started));
      a.finished = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(finished));
      a.routed = routed != 0;
      out.push_back(a);
    }
    return out;
  }
  // The records of the endpoint of pod `name` (ids are "<namespace>/<node>-k8s-<pod>-<ifname>").
  std::vector<Applied> records_of(const std::string& name) const {
    std::vector<Applied> out;
    for (const Applied& a : records()) {
      if (a.endpoint.find("-k8s-" + name + "-") != std::string::npos) {
        out.push_back(a);
      }
    }
    return out;
  }

  std::unique_ptr<test::TempDir> record_dir_;
  std::string record_file_, fail_file_;
};

// CNI ADD returns only after the policy plugin applied the new endpoint, and the plugin applied
// it before the host had any route to the pod (the veth pair may exist already: ADD makes it
// while the addresses are allocated, without addresses or routes). Without ADD's wait for the
// plugin, the datastore watch applies the endpoint while the pod is plumbed: the route check
// fails (the timing checks alone would not: the reply goes through the event loop that the slow
// apply blocks).
TEST_F(AgentPolicyMechanismTest, AddReturnsOnlyAfterThePluginAppliedTheEndpoint) {
  for (const std::string name : {"first", "second"}) {
    TestPod pod;
    const auto before = std::chrono::steady_clock::now();
    const PluginRun added = add("c-" + name, pod, name, {{"app", name}});
    const auto returned = std::chrono::steady_clock::now();
    ASSERT_EQ(added.exit_code, 0) << added.stdout_text << added.stderr_text;
    const std::string interface =
        json::parse(added.stdout_text).at("interfaces").at(0).at("name").get<std::string>();

    const std::vector<Applied> applied = records_of(name);
    ASSERT_FALSE(applied.empty()) << "the plugin never applied pod " << name;
    const Applied& first = applied.front();
    EXPECT_FALSE(first.failed);
    EXPECT_EQ(first.interface, interface);
    EXPECT_GE(first.started, before);
    EXPECT_LE(first.finished, returned)
        << "ADD returned "
        << std::chrono::duration_cast<std::chrono::milliseconds>(first.finished - returned).count()
        << " ms before the plugin had applied the endpoint";
    EXPECT_FALSE(first.routed) << "the host routed to the pod through "
                               << interface << " before its policy was applied";
    EXPECT_GE(returned - before, std::chrono::milliseconds(kApplyDelayMs));
    // The datastore watch brings the same endpoint again: nothing more to apply.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(records_of(name).size(), 1u);
  }
}

// An apply failure fails the ADD with CNI code 103 (policy failed) and undoes it: no interface,
// no endpoint record, the address released (the same address can be taken again right away).
TEST_F(AgentPolicyMechanismTest, AnApplyFailureFailsTheAddAndRollsItBack) {
  constexpr const char* kAddress = "198.18.8.77";
  std::ofstream(fail_file_) << "fail\n";
  TestPod pod;
  const PluginRun failed = add("c-doomed", pod, "doomed", {{"app", "doomed"}}, kAddress);
  EXPECT_NE(failed.exit_code, 0);
  const json error = json::parse(failed.stdout_text);
  EXPECT_EQ(error.at("code"), 103) << failed.stdout_text;
  EXPECT_NE(error.at("msg").get<std::string>().find("polic"), std::string::npos)
      << failed.stdout_text;

  const std::vector<Applied> tried = records_of("doomed");
  ASSERT_FALSE(tried.empty());
  EXPECT_TRUE(tried.front().failed);
  EXPECT_FALSE(tried.front().routed);
  // Rolled back: no interface in the pod, no endpoint record, the address free.
  EXPECT_NE(run_shell("ip netns exec " + pod.name() + " ip link show eth0 >/dev/null 2>&1"), 0);
  for (const auto& wep : store_->list<model::WorkloadEndpointSpec>()) {
    EXPECT_NE(wep.doc.spec.pod, "doomed") << "the endpoint record of the failed ADD is still there";
  }
  EXPECT_TRUE(ipam::Ipam(etcd_->client()).addresses_of_handle("k8s-pod-network.c-doomed").empty());

  // Once the dataplane works again, the same pod gets the same address.
  std::filesystem::remove(fail_file_);
  const PluginRun retried = add("c-doomed", pod, "doomed", {{"app", "doomed"}}, kAddress);
  ASSERT_EQ(retried.exit_code, 0) << retried.stdout_text << retried.stderr_text;
  EXPECT_EQ(address_of(retried), kAddress);
  EXPECT_FALSE(records_of("doomed").back().failed);
}

}  // namespace
}  // namespace brindle
