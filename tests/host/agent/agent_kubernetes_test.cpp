// brindled with the kubernetes datastore plugin, end to end: the test Kubernetes API server
// (tests/support/kube-apiserver, checked against kubectl) with Brindle's CRDs applied, the real
// brindled and brindle-cni, real pods. The same pod life cycle as with etcd, with every record
// (endpoints, blocks, handles) a custom resource in the API server, written through single writes
// (Kubernetes has no multi-object transaction).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_harness.h"
#include "fake_apiserver.h"
#include "served_pod.hpp"

namespace brindle {
namespace {

using cni::testing::cni_env;
using cni::testing::run_cni_binary;
using cni::testing::run_shell;
using cni::testing::TestPod;
using json = nlohmann::json;

constexpr const char* kGroup = "/apis/brindle.network/v1";

class KubernetesAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<test::FakeApiServer>();
    server_->apply_yaml(BRINDLE_KUBE_CRDS);
    const json pool = {{"apiVersion", "brindle.network/v1"},
                       {"kind", "IPPool"},
                       {"metadata", {{"name", "pods"}}},
                       {"spec", {{"cidr", "198.18.0.0/24"}, {"blockSize", 28}}}};
    ASSERT_EQ(server_->request("POST", std::string(kGroup) + "/ippools", pool.dump()).status, 201);

    dir_ = std::make_unique<test::TempDir>("agent-k8s");
    socket_ = (dir_->path() / "run" / "brindled.sock").string();
    health_port_ = test::free_port();
    config_ = (dir_->path() / "brindle.toml").string();
    // [node] ipv4 comes from the address on brt-up0 (become_node_namespace).
    std::ofstream(config_) << "[node]\nname = \"node-a\"\n"
                           << "[datastore]\nplugin = \"kubernetes\"\n"
                           << "[datastore.kubernetes]\nserver = \"" << server_->url() << "\"\n"
                           << "[encapsulation]\nplugin = \"none\"\n"
                           << extra_config() << "[plugins]\nsearch_path = [\"" << BRINDLE_PLUGIN_DIR
                           << "\"]\n"
                           << "[control]\nsocket = \"" << socket_ << "\"\n"
                           << "[health]\nlisten = \"127.0.0.1:" << health_port_ << "\"\n"
                           << "[metrics]\nlisten = \"\"\n";
    log_ = (dir_->path() / "brindled.log").string();
    daemon_ = std::make_unique<test::Brindled>(config_, log_);
    ASSERT_TRUE(test::wait_ready(health_port_, std::chrono::seconds(15))) << test::log_tail(log_);
  }
  void TearDown() override {
    daemon_.reset();
    if (HasFailure()) {
      std::cerr << "brindled log:\n" << test::log_tail(log_, 6000);
    }
  }

  virtual std::string extra_config() const { return ""; }

  cni::testing::PluginRun cni(const std::string& command, const std::string& container,
                              const TestPod& pod, const std::string& name,
                              const std::string& pod_namespace = "default") {
    const std::string network = json{
        {"cniVersion", "1.0.0"},
        {"name", "k8s-pod-network"},
        {"type", "brindle-cni"},
        {"control_socket", socket_}}.dump();
    return run_cni_binary(cni_env(command, container, pod.path(), "eth0", pod_namespace, name),
                          network);
  }
  // The items of a custom resource collection (namespace "" = cluster-scoped or all).
  json items(const std::string& plural, const std::string& ns = "") const {
    const std::string path =
        std::string(kGroup) + (ns.empty() ? "" : "/namespaces/" + ns) + "/" + plural;
    const test::RawResponse r = server_->request("GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.json().value("items", json::array());
  }
  static std::string address_of(const std::string& result) {
    const std::string cidr = json::parse(result).at("ips").at(0).at("address");
    return cidr.substr(0, cidr.find('/'));
  }

  std::unique_ptr<test::FakeApiServer> server_;
  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<test::Brindled> daemon_;
  std::string socket_, config_, log_;
  int health_port_ = 0;
};

TEST_F(KubernetesAgentTest, PodsGetAddressesReachEachOtherAndDelRemovesEveryRecord) {
  TestPod a, b;
  const auto add_a = cni("ADD", "container-a", a, "pod-a");
  ASSERT_EQ(add_a.exit_code, 0) << add_a.stdout_text << add_a.stderr_text;
  const auto add_b = cni("ADD", "container-b", b, "pod-b");
  ASSERT_EQ(add_b.exit_code, 0) << add_b.stdout_text << add_b.stderr_text;
  const std::string ip_a = address_of(add_a.stdout_text), ip_b = address_of(add_b.stdout_text);
  EXPECT_NE(ip_a, ip_b);
  EXPECT_EQ(ip_a.rfind("198.18.0.", 0), 0u) << ip_a;
  EXPECT_EQ(run_shell("ip netns exec " + a.name() + " ping -c1 -W2 " + ip_b + " >/dev/null"), 0);

  // The records are custom resources in the API server.
  const json endpoints = items("workloadendpoints", "default");
  ASSERT_EQ(endpoints.size(), 2u) << endpoints.dump();
  EXPECT_EQ(items("ipamhandles").size(), 2u);
  const json affinities = items("blockaffinities");
  ASSERT_EQ(affinities.size(), 1u) << affinities.dump();
  EXPECT_EQ(affinities[0]["spec"]["node"], "node-a") << affinities.dump();
  EXPECT_EQ(affinities[0]["spec"]["state"], "confirmed") << affinities.dump();
  EXPECT_EQ(cni("CHECK", "container-a", a, "pod-a").exit_code, 0);

  // brindlectl reads the same datastore through the same plugin.
  std::string out;
  ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "ipam", "show"}, &out), 0)
      << out;
  EXPECT_NE(out.find("| 198.18.0.0/24 | 256       | 2 (1%)"), std::string::npos) << out;

  for (const auto& [id, pod, name] :
       {std::tuple{"container-a", &a, "pod-a"}, std::tuple{"container-b", &b, "pod-b"}}) {
    const auto del = cni("DEL", id, *pod, name);
    ASSERT_EQ(del.exit_code, 0) << del.stdout_text << del.stderr_text;
    EXPECT_EQ(cni("DEL", id, *pod, name).exit_code, 0) << "DEL is idempotent";
  }
  EXPECT_TRUE(items("workloadendpoints", "default").empty());
  EXPECT_TRUE(items("ipamhandles").empty());
  for (const json& block : items("ipamblocks")) {
    for (const json& slot : block["spec"]["allocations"]) {
      EXPECT_TRUE(slot.is_null()) << block.dump();
    }
  }
  ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "ipam", "check"}, &out), 0)
      << out;
}

// A pool created while brindled runs is seen through the plugin's watch: pods get addresses from
// it once the first pool is disabled.
TEST_F(KubernetesAgentTest, PoolChangesArriveThroughTheWatch) {
  const test::RawResponse got = server_->request("GET", std::string(kGroup) + "/ippools/pods");
  ASSERT_EQ(got.status, 200);
  json pool = got.json();
  pool["spec"]["disabled"] = true;
  ASSERT_EQ(server_->request("PUT", std::string(kGroup) + "/ippools/pods", pool.dump()).status,
            200);
  const json second = {{"apiVersion", "brindle.network/v1"},
                       {"kind", "IPPool"},
                       {"metadata", {{"name", "second"}}},
                       {"spec", {{"cidr", "198.18.1.0/24"}, {"blockSize", 28}}}};
  ASSERT_EQ(server_->request("POST", std::string(kGroup) + "/ippools", second.dump()).status, 201);
  TestPod pod;
  std::string ip;
  // The watch delivers both changes shortly; until then ADD may still pick the first pool.
  for (int attempt = 0; attempt < 50; ++attempt) {
    const auto add = cni("ADD", "container-w" + std::to_string(attempt), pod, "pod-w");
    ASSERT_EQ(add.exit_code, 0) << add.stdout_text << add.stderr_text;
    ip = address_of(add.stdout_text);
    ASSERT_EQ(cni("DEL", "container-w" + std::to_string(attempt), pod, "pod-w").exit_code, 0);
    if (ip.rfind("198.18.1.", 0) == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ip.rfind("198.18.1.", 0), 0u) << ip;
}

}  // namespace
}  // namespace brindle

namespace brindle {
namespace {

// The same with the iptables policy plugin, for policy on real traffic.
class KubernetesPolicyAgentTest : public KubernetesAgentTest {
 protected:
  std::string extra_config() const override { return "[policy]\nplugin = \"iptables\"\n"; }

  // Replaces a namespace's labels (the server adds kubernetes.io/metadata.name itself).
  void label_namespace(const std::string& name, const json& labels) {
    const std::string path = "/api/v1/namespaces/" + name;
    json ns = server_->request("GET", path).json();
    ns["metadata"]["labels"] = labels;
    const test::RawResponse r = server_->request("PUT", path, ns.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // A Pod object in "default", as the kubelet's API server would have it before CNI runs.
  void create_pod(const std::string& name, const json& labels) {
    const json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
        {"spec",
         {{"nodeName", "node-a"}, {"containers", {{{"name", "c"}, {"image", "example/c:1"}}}}}}};
    const test::RawResponse r =
        server_->request("POST", "/api/v1/namespaces/default/pods", pod.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void label_pod(const std::string& name, const json& labels) {
    const std::string path = "/api/v1/namespaces/default/pods/" + name;
    json pod = server_->request("GET", path).json();
    pod["metadata"]["labels"] = labels;
    const test::RawResponse r = server_->request("PUT", path, pod.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void create_policy(const json& spec, const std::string& name) {
    const json policy = {{"apiVersion", "networking.k8s.io/v1"},
                         {"kind", "NetworkPolicy"},
                         {"metadata", {{"name", name}, {"namespace", "default"}}},
                         {"spec", spec}};
    const test::RawResponse r = server_->request(
        "POST", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies", policy.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
};

// Namespace labels are the Namespace objects' own (the datastore shows each namespace as its
// Profile kns.<ns>): a NetworkPolicy admitting namespaces labelled team=blue lets a pod in while
// its namespace has that label and not before or after; one naming the namespace by the label the
// API server sets (kubernetes.io/metadata.name) lets it in too.
TEST_F(KubernetesPolicyAgentTest, NamespaceSelectorsFollowTheNamespacesLabels) {
  server_->create_namespace("frontend");
  test::ServedPod server;
  TestPod client;
  const auto add_server = cni("ADD", "container-s", server.pod, "server");
  ASSERT_EQ(add_server.exit_code, 0) << add_server.stdout_text << add_server.stderr_text;
  const auto add_client = cni("ADD", "container-c", client, "client", "frontend");
  ASSERT_EQ(add_client.exit_code, 0) << add_client.stdout_text << add_client.stderr_text;
  const std::string server_ip = address_of(add_server.stdout_text);

  EXPECT_TRUE(test::eventually(client, server_ip, true)) << "no policy selects the server";
  create_policy(
      {{"podSelector", json::object()},
       {"policyTypes", {"Ingress"}},
       {"ingress", {{{"from", {{{"namespaceSelector", {{"matchLabels", {{"team", "blue"}}}}}}}}}}}},
      "from-blue-namespaces");
  EXPECT_TRUE(test::eventually(client, server_ip, false)) << "frontend is not team=blue yet";
  label_namespace("frontend", {{"team", "blue"}});
  EXPECT_TRUE(test::eventually(client, server_ip, true)) << "frontend labelled team=blue";
  label_namespace("frontend", {{"team", "red"}});
  EXPECT_TRUE(test::eventually(client, server_ip, false)) << "frontend relabelled team=red";
  create_policy({{"podSelector", json::object()},
                 {"policyTypes", {"Ingress"}},
                 {"ingress",
                  {{{"from",
                     {{{"namespaceSelector",
                        {{"matchLabels", {{"kubernetes.io/metadata.name", "frontend"}}}}}}}}}}}},
                "from-frontend");
  EXPECT_TRUE(test::eventually(client, server_ip, true)) << "frontend admitted by its name";

  EXPECT_EQ(cni("DEL", "container-c", client, "client", "frontend").exit_code, 0);
  EXPECT_EQ(cni("DEL", "container-s", server.pod, "server").exit_code, 0);
}

// Pod labels are the Pod objects' own, as on a cluster where the runtime passes none to CNI: a
// policy admitting app=client pods to app=server pods holds from the server's ADD on (its policy
// is computed from the endpoint as the datastore shows it, i.e. with its pod's labels), and follows
// `kubectl label pod` without any CNI call.
TEST_F(KubernetesPolicyAgentTest, PodSelectorsFollowThePodsLabels) {
  create_pod("server", {{"app", "server"}});
  create_pod("probe", {{"app", "server"}});
  create_pod("client", {{"app", "client"}});
  create_pod("other", {{"app", "other"}});
  test::ServedPod server, probe;
  TestPod client, other;
  ASSERT_EQ(cni("ADD", "container-c", client, "client").exit_code, 0);
  ASSERT_EQ(cni("ADD", "container-o", other, "other").exit_code, 0);
  create_policy(
      {{"podSelector", {{"matchLabels", {{"app", "server"}}}}},
       {"policyTypes", {"Ingress"}},
       {"ingress", {{{"from", {{{"podSelector", {{"matchLabels", {{"app", "client"}}}}}}}}}}}},
      "clients-to-servers");
  // The policy is in brindled before the server's ADD: it isolates another app=server pod.
  const auto add_probe = cni("ADD", "container-p", probe.pod, "probe");
  ASSERT_EQ(add_probe.exit_code, 0) << add_probe.stdout_text << add_probe.stderr_text;
  ASSERT_TRUE(test::eventually(other, address_of(add_probe.stdout_text), false));
  const auto add_server = cni("ADD", "container-s", server.pod, "server");
  ASSERT_EQ(add_server.exit_code, 0) << add_server.stdout_text << add_server.stderr_text;
  const std::string server_ip = address_of(add_server.stdout_text);
  EXPECT_FALSE(test::connects(other, server_ip)) << "the server was reachable after its ADD";
  EXPECT_TRUE(test::eventually(client, server_ip, true)) << "a client";
  EXPECT_FALSE(test::connects(other, server_ip));
  label_pod("other", {{"app", "client"}});
  EXPECT_TRUE(test::eventually(other, server_ip, true)) << "other relabelled app=client";
  label_pod("other", {{"app", "other"}});
  EXPECT_TRUE(test::eventually(other, server_ip, false)) << "other relabelled back";
  // The endpoint records keep what CNI wrote; the pod's labels are shown over them.
  for (const json& wep : items("workloadendpoints", "default")) {
    EXPECT_FALSE(wep["metadata"].contains("labels")) << wep.dump();
  }

  for (const auto& [id, pod, name] :
       {std::tuple{"container-c", &client, "client"}, std::tuple{"container-o", &other, "other"},
        std::tuple{"container-s", &server.pod, "server"},
        std::tuple{"container-p", &probe.pod, "probe"}}) {
    EXPECT_EQ(cni("DEL", id, *pod, name).exit_code, 0);
  }
}

}  // namespace
}  // namespace brindle
