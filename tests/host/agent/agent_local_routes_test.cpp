// brindled keeps the pods' host routes (`<pod IP> dev <host veth> proto 201`) after CNI ADD made
// them: a real etcd, the real brindled and brindle-cni, real pods; drift made by hand with `ip`,
// repaired on the next endpoint change, on the periodic refresh and at restart; routes that are
// not the agent's left alone. The test process is the node (a network namespace of its own).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "cni_test_support.hpp"
#include "single_agent_fixture.hpp"

namespace brindle {
namespace {

using cni::testing::cni_env;
using cni::testing::run_cni_binary;
using cni::testing::run_shell;
using cni::testing::shell_output;
using cni::testing::TestPod;
using cni::testing::trimmed_lines;
using json = nlohmann::json;

std::string routes(const std::string& selector) {
  return trimmed_lines(shell_output("ip route show " + selector));
}

bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(8)) {
  return test::eventually(condition, timeout, std::chrono::milliseconds(50));
}

class AgentLocalRoutesTest : public test::SingleAgentTest {
 protected:
  explicit AgentLocalRoutesTest(std::string extra_config = "")
      : SingleAgentTest("198.18.0.0/24",
                        "[encapsulation]\nplugin = \"none\"\n" + std::move(extra_config)) {}

  struct Pod {
    std::unique_ptr<TestPod> netns;
    std::string container, name, address, veth;
  };

  Pod add_pod(const std::string& name) {
    Pod pod{std::make_unique<TestPod>(), "container-" + name, name, "", ""};
    const auto run =
        run_cni_binary(cni_env("ADD", pod.container, pod.netns->path(), "eth0", "default", name),
                       json{{"cniVersion", "1.0.0"},
                            {"name", "k8s-pod-network"},
                            {"type", "brindle-cni"},
                            {"control_socket", socket_}}
                           .dump());
    EXPECT_EQ(run.exit_code, 0) << run.stdout_text << run.stderr_text;
    const json result = json::parse(run.stdout_text);
    const std::string cidr = result.at("ips").at(0).at("address");
    pod.address = cidr.substr(0, cidr.find('/'));
    pod.veth = result.at("interfaces").at(0).at("name");
    return pod;
  }

  static std::string pod_route(const Pod& pod) {
    return pod.address + " dev " + pod.veth + " proto 201 scope link";
  }

  // The fields of the last "local routes <what>" record in brindled's log (empty when none).
  std::map<std::string, std::string> last_record(const std::string& what) const {
    return test::last_log_record(log_, "local routes " + what);
  }

  void restart(const std::string& config_text = {}) {
    daemon_->stop();
    daemon_.reset();
    if (!config_text.empty()) {
      std::ofstream(config_) << config_text;
    }
    daemon_ = std::make_unique<test::Brindled>(config_, log_);
    ASSERT_TRUE(wait_ready()) << log_tail();
    ASSERT_TRUE(eventually([&] { return !last_record("resynced").empty(); })) << log_tail();
  }
};

// With debug logging: every reconcile is on record, also those that change nothing.
class AgentLocalRoutesDebugTest : public AgentLocalRoutesTest {
 protected:
  AgentLocalRoutesDebugTest() : AgentLocalRoutesTest("[log]\nlevel = \"debug\"\n") {}
};

TEST_F(AgentLocalRoutesDebugTest, DeletedRouteIsRestoredOnTheNextEndpointChange) {
  const Pod a = add_pod("pod-a");
  const Pod b = add_pod("pod-b");
  ASSERT_EQ(routes(a.address), pod_route(a));
  ASSERT_EQ(routes(b.address), pod_route(b));
  // The reconcile after the ADDs is done (else it, not the next change, would restore the route).
  ASSERT_TRUE(eventually([&] { return last_record("reconciled")["managed"] == "2"; }))
      << log_tail();
  ASSERT_EQ(run_shell("ip route del " + a.address + " dev " + a.veth), 0);
  ASSERT_EQ(run_shell("ip netns exec " + b.netns->name() + " ping -c1 -W1 " + a.address +
                      " >/dev/null 2>&1"),
            1);
  const Pod c = add_pod("pod-c");  // its endpoint is a change of this node's endpoints
  EXPECT_TRUE(eventually([&] { return routes(a.address) == pod_route(a); })) << routes("");
  EXPECT_EQ(routes(c.address), pod_route(c));
  EXPECT_EQ(
      run_shell("ip netns exec " + b.netns->name() + " ping -c1 -W2 " + a.address + " >/dev/null"),
      0);
}

TEST_F(AgentLocalRoutesTest, DeletedRouteIsRestoredByThePeriodicRefresh) {
  std::ifstream in(config_);
  std::string config((std::istreambuf_iterator<char>(in)), {});
  const size_t plugins = config.find("[plugins]\n");
  ASSERT_NE(plugins, std::string::npos) << config;
  config.insert(plugins + 10, "refresh_interval_seconds = 1\n");
  restart(config);
  const Pod a = add_pod("pod-a");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(run_shell("ip route del " + a.address + " dev " + a.veth), 0);
  // No endpoint changes from here: only the refresh can bring it back.
  EXPECT_TRUE(
      eventually([&] { return routes(a.address) == pod_route(a); }, std::chrono::seconds(4)))
      << log_tail();
  EXPECT_EQ(last_record("reconciled")["added"], "1") << log_tail();
}

TEST_F(AgentLocalRoutesTest, RestartWithThreePodsRepairsExactlyTheDrift) {
  const Pod a = add_pod("pod-a");
  const Pod b = add_pod("pod-b");
  const Pod c = add_pod("pod-c");
  daemon_->stop();
  // Drift while brindled is down.
  const std::vector<std::string> drift = {
      "ip route del " + a.address + " dev " + a.veth,                     // missing
      "ip route replace " + b.address + " dev " + c.veth + " proto 201",  // wrong interface
      "ip route add 198.18.0.250/32 dev " + c.veth + " proto 201",        // stale address
      // A workload interface without endpoint (a pod that went away) with a route of ours.
      "ip link add brvstale00001 type veth peer name brt-stale-p",
      "ip link set brvstale00001 up",
      "ip link set brt-stale-p up",
      "ip route add 198.18.0.251/32 dev brvstale00001 proto 201",
      // Not the agent's: another protocol on a workload interface, our protocol elsewhere.
      "ip route add 198.18.0.252/32 dev " + a.veth + " proto static",
      "ip link add brt-other0 type veth peer name brt-other1",
      "ip link set brt-other0 up",
      "ip link set brt-other1 up",
      "ip route add 198.18.0.253/32 dev brt-other0 proto 201",
      "ip route add 198.18.0.254/32 dev brvstale00001 proto 201 table 100",
  };
  for (const std::string& command : drift) {
    ASSERT_EQ(run_shell(command), 0) << command;
  }
  restart();

  auto record = last_record("resynced");
  EXPECT_EQ(record["endpoints"], "3");
  EXPECT_EQ(record["managed"], "3");
  EXPECT_EQ(record["verified"], "1");  // c's
  EXPECT_EQ(record["added"], "1");     // a's
  EXPECT_EQ(record["fixed"], "1");     // b's
  EXPECT_EQ(record["removed"], "2");   // 198.18.0.250 and .251
  EXPECT_EQ(record["errors"], "0");
  EXPECT_EQ(routes(a.address), pod_route(a));
  EXPECT_EQ(routes(b.address), pod_route(b));
  EXPECT_EQ(routes(c.address), pod_route(c));
  EXPECT_EQ(routes("198.18.0.250"), "");
  EXPECT_EQ(routes("198.18.0.251"), "");
  EXPECT_EQ(routes("198.18.0.252"), "198.18.0.252 dev " + a.veth + " proto static scope link");
  EXPECT_EQ(routes("198.18.0.253"), "198.18.0.253 dev brt-other0 proto 201 scope link");
  EXPECT_EQ(routes("table 100"), "198.18.0.254 dev brvstale00001 proto 201 scope link");
  EXPECT_EQ(run_shell("ip link show brvstale00001 >/dev/null"), 0) << "interfaces are not ours";
  for (const Pod* from : {&a, &b, &c}) {
    for (const Pod* to : {&a, &b, &c}) {
      if (from != to) {
        EXPECT_EQ(run_shell("ip netns exec " + from->netns->name() + " ping -c1 -W2 " +
                            to->address + " >/dev/null"),
                  0)
            << from->name << " -> " << to->name;
      }
    }
  }
  // A second restart finds nothing to do.
  restart();
  record = last_record("resynced");
  EXPECT_EQ(record["verified"], "3");
  EXPECT_EQ(record["added"], "0");
  EXPECT_EQ(record["fixed"], "0");
  EXPECT_EQ(record["removed"], "0");
  ASSERT_EQ(run_shell("ip link del brvstale00001 && ip link del brt-other0"), 0);
}

TEST_F(AgentLocalRoutesDebugTest, EndpointRemovedFromTheDatastoreTakesItsRoutesAway) {
  const Pod a = add_pod("pod-a");
  const Pod b = add_pod("pod-b");
  // The agent reconciles 250 ms after a burst of endpoint changes; an interface no reconcile has
  // yet seen claimed by an endpoint keeps its routes for the 10 s grace of an ADD in progress:
  // wait for a reconcile that saw both endpoints.
  ASSERT_TRUE(eventually([&] { return last_record("reconciled")["managed"] == "2"; }))
      << log_tail();
  // The endpoint record goes (not through CNI DEL): its interface stays, its route goes.
  const auto weps = store_->list<model::WorkloadEndpointSpec>();
  ASSERT_EQ(weps.size(), 2u);
  for (const auto& wep : weps) {
    if (wep.doc.spec.interface_name == a.veth) {
      store_->remove<model::WorkloadEndpointSpec>(wep.doc.metadata.name, wep.revision,
                                                  wep.doc.metadata.namespace_);
    }
  }
  EXPECT_TRUE(eventually([&] { return routes(a.address).empty(); })) << log_tail();
  EXPECT_EQ(routes(b.address), pod_route(b));
  EXPECT_EQ(run_shell("ip link show " + a.veth + " >/dev/null"), 0);
}

}  // namespace
}  // namespace brindle
