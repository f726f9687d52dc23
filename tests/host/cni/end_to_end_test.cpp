// brindle-cni end to end: the real binary, the protocol, and the real plumbing of pods (network
// namespaces) on a "node" namespace, through a test responder standing in for brindled.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "brindle/netlink/netlink.hpp"
#include "brindle/workload/plumbing.hpp"
#include "cni_test_support.hpp"

namespace brindle::cni::testing {
namespace {

using netlink::IpPrefix;
using nlohmann::json;
using ::testing::HasSubstr;

class CniEndToEnd : public ::testing::Test {
 protected:
  std::string config(const std::string& version, const json& extra = json::object()) const {
    json document = {{"cniVersion", version},
                     {"name", "brt-net"},
                     {"type", "brindle-cni"},
                     {"control_socket", responder_.socket_path().string()}};
    for (const auto& [key, value] : extra.items()) {
      document[key] = value;
    }
    return document.dump();
  }

  // Assigns the addresses and runs ADD for pod `ns/name` with container `id`.
  PluginRun add(const TestPod& pod, const std::string& id, const std::string& name,
                std::vector<std::string> addresses, const std::string& version = "1.0.0") {
    workload::PodNetworkSpec network;
    for (const std::string& a : addresses) {
      network.addresses.push_back(IpPrefix::parse(a));
    }
    network.mtu = 1400;
    responder_.assign(id, network);
    return run_cni_binary(cni_env("ADD", id, pod.path(), "eth0", "ns1", name), config(version));
  }

  PluginRun run(const std::string& command, const std::string& id, const std::string& netns,
                const std::string& name, const std::string& version = "1.0.0") {
    return run_cni_binary(cni_env(command, id, netns, "eth0", "ns1", name), config(version));
  }

  std::string host_veth(const std::string& pod_name) const {
    workload::PodIdentity pod;
    pod.pod_namespace = "ns1";
    pod.pod_name = pod_name;
    return workload::host_veth_name(pod);
  }

  // Routes with Brindle's protocol number in the node, both families.
  std::string node_pod_routes() const {
    return shell_output("ip -n " + node_.name() + " route show proto 201; ip -n " + node_.name() +
                        " -6 route show proto 201");
  }

  static bool has_link(int netns_fd, const std::string& name) {
    return netlink::run_in_netns(netns_fd, [&] { return netlink::Netlink().find_link(name); })
        .has_value();
  }

  static bool ping(const TestPod& from, const std::string& address) {
    std::string family = address.find(':') == std::string::npos ? "-4" : "-6";
    return run_shell("ip netns exec " + from.name() + " ping " + family + " -c 2 -i 0.2 -W 2 -q " +
                     address + " > /dev/null 2>&1") == 0;
  }

  TempDir dir_;
  TestNode node_;
  TestResponder responder_{dir_.path() / "brindled.sock", node_.options()};
};

TEST_F(CniEndToEnd, ResultIsValidForEveryRequestedVersion) {
  const std::vector<std::string> versions{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
  for (size_t i = 0; i < versions.size(); ++i) {
    const std::string& version = versions[i];
    SCOPED_TRACE(version);
    TestPod pod;
    std::string id = "ctr-version-" + std::to_string(i);
    std::string name = "pod-v" + std::to_string(i);
    std::string v4 = "198.18.0." + std::to_string(10 + i);
    std::string v6 = "2001:db8::" + std::to_string(10 + i);
    PluginRun result_run = add(pod, id, name, {v4, v6}, version);
    ASSERT_EQ(result_run.exit_code, 0) << result_run.stdout_text << result_run.stderr_text;
    json result = json::parse(result_run.stdout_text);
    EXPECT_EQ(result["cniVersion"], version);

    ASSERT_EQ(result["interfaces"].size(), 2u);
    const json& host = result["interfaces"][0];
    const json& container = result["interfaces"][1];
    EXPECT_EQ(host["name"], host_veth(name));
    EXPECT_EQ(host["mac"], "ee:ee:ee:ee:ee:ee");
    EXPECT_FALSE(host.contains("sandbox"));
    EXPECT_EQ(container["name"], "eth0");
    EXPECT_EQ(container["sandbox"], pod.path());
    std::string pod_mac = netlink::run_in_netns(
        pod.fd(), [] { return netlink::Netlink().link("eth0").mac.to_string(); });
    EXPECT_EQ(container["mac"], pod_mac);
    EXPECT_EQ(container.contains("mtu"), version == "1.1.0");
    if (version == "1.1.0") {
      EXPECT_EQ(container["mtu"], 1400);
    }

    ASSERT_EQ(result["ips"].size(), 2u);
    const bool with_ip_version = version[0] == '0';
    for (size_t n = 0; n < 2; ++n) {
      const json& ip = result["ips"][n];
      ASSERT_TRUE(ip["interface"].is_number_integer());
      int index = ip["interface"];
      ASSERT_LT(index, static_cast<int>(result["interfaces"].size()));
      EXPECT_EQ(result["interfaces"][index]["name"], "eth0");
      EXPECT_TRUE(result["interfaces"][index].contains("sandbox"));
      EXPECT_EQ(ip.contains("version"), with_ip_version) << ip.dump();
      if (with_ip_version) {
        EXPECT_EQ(ip["version"], n == 0 ? "4" : "6");
      }
    }
    EXPECT_EQ(result["ips"][0]["address"], v4 + "/32");
    EXPECT_EQ(result["ips"][1]["address"], v6 + "/128");
    EXPECT_EQ(result["routes"], json::parse(R"([{"dst":"0.0.0.0/0","gw":"169.254.1.1"},)"
                                            R"({"dst":"::/0","gw":"fe80::ecee:eeff:feee:eeee"}])"));
    EXPECT_TRUE(result["dns"].is_object());

    PluginRun del = run("DEL", id, pod.path(), name, version);
    EXPECT_EQ(del.exit_code, 0) << del.stdout_text;
  }
}

TEST_F(CniEndToEnd, TwoPodsPingEachOtherAndTheNode) {
  TestPod a, b;
  PluginRun add_a = add(a, "ctr-a", "pod-a", {"198.18.1.2", "2001:db8:1::2"});
  ASSERT_EQ(add_a.exit_code, 0) << add_a.stdout_text;
  // Not there yet: proves the pings below depend on B's plumbing.
  EXPECT_FALSE(run_shell("ip netns exec " + a.name() +
                         " ping -c 1 -W 1 -q 198.18.1.3 > /dev/null 2>&1") == 0);
  PluginRun add_b = add(b, "ctr-b", "pod-b", {"198.18.1.3", "2001:db8:1::3"});
  ASSERT_EQ(add_b.exit_code, 0) << add_b.stdout_text;

  EXPECT_TRUE(ping(a, "198.18.1.3"));
  EXPECT_TRUE(ping(b, "198.18.1.2"));
  EXPECT_TRUE(ping(a, "2001:db8:1::3"));
  EXPECT_TRUE(ping(b, "2001:db8:1::2"));
  for (const TestPod* pod : {&a, &b}) {
    EXPECT_TRUE(ping(*pod, TestNode::kAddressV4));
    EXPECT_TRUE(ping(*pod, TestNode::kAddressV6));
  }
  // Nothing of the pods' plumbing leaked into the test's own namespace.
  EXPECT_FALSE(has_link(netlink::NetnsFd::current().get(), host_veth("pod-a")));
}

TEST_F(CniEndToEnd, DelRemovesEveryTrace) {
  TestPod a, b;
  ASSERT_EQ(add(a, "ctr-a", "pod-a", {"198.18.2.2", "2001:db8:2::2"}).exit_code, 0);
  ASSERT_EQ(add(b, "ctr-b", "pod-b", {"198.18.2.3"}).exit_code, 0);
  EXPECT_EQ(workload::list_host_veths(node_.options()).size(), 2u);
  EXPECT_THAT(node_pod_routes(), HasSubstr("198.18.2.2"));
  EXPECT_THAT(node_pod_routes(), HasSubstr("2001:db8:2::2"));

  EXPECT_EQ(run("DEL", "ctr-a", a.path(), "pod-a").exit_code, 0);
  EXPECT_EQ(run("DEL", "ctr-b", b.path(), "pod-b").exit_code, 0);
  // Unreachable at once; the veth pairs go with the reaper's next round, on its own.
  EXPECT_EQ(node_pod_routes(), "");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!workload::list_host_veths(node_.options()).empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(workload::list_host_veths(node_.options()).empty());
  EXPECT_FALSE(has_link(node_.fd(), host_veth("pod-a")));
  EXPECT_FALSE(has_link(a.fd(), "eth0"));
  EXPECT_FALSE(has_link(b.fd(), "eth0"));
  EXPECT_EQ(shell_output("ip -n " + a.name() + " -o addr show"),
            shell_output("ip -n " + a.name() + " -o addr show dev lo"));
  EXPECT_EQ(responder_.endpoint_count(), 0u);
}

TEST_F(CniEndToEnd, RepeatedDelAndDelWithMissingNetnsSucceed) {
  auto pod = std::make_unique<TestPod>();
  std::string path = pod->path();
  ASSERT_EQ(add(*pod, "ctr-r", "pod-r", {"198.18.3.2"}).exit_code, 0);
  EXPECT_EQ(run("DEL", "ctr-r", path, "pod-r").exit_code, 0);
  EXPECT_EQ(run("DEL", "ctr-r", path, "pod-r").exit_code, 0);
  EXPECT_EQ(run("DEL", "ctr-r", "", "pod-r").exit_code, 0);
  EXPECT_EQ(run("DEL", "ctr-r", "/run/netns/brt-cni-never-existed", "pod-r").exit_code, 0);

  // The pod's namespace disappears before DEL (the runtime already removed it).
  ASSERT_EQ(add(*pod, "ctr-r2", "pod-r", {"198.18.3.2"}).exit_code, 0);
  ASSERT_TRUE(has_link(node_.fd(), host_veth("pod-r")));
  pod.reset();
  ASSERT_FALSE(std::filesystem::exists(path));
  PluginRun del = run("DEL", "ctr-r2", path, "pod-r");
  EXPECT_EQ(del.exit_code, 0) << del.stdout_text;
  workload::flush_pending_teardowns();
  // The kernel dismantles a dead namespace asynchronously too.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (has_link(node_.fd(), host_veth("pod-r")) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(has_link(node_.fd(), host_veth("pod-r")));
  EXPECT_EQ(node_pod_routes(), "");
}

TEST_F(CniEndToEnd, AddWithExistingInterfaceFailsAndLeavesNothing) {
  TestPod pod;
  ASSERT_EQ(run_shell("ip -n " + pod.name() + " link add eth0 type veth peer name keep0"), 0);
  PluginRun result = add(pod, "ctr-x", "pod-x", {"198.18.4.2", "2001:db8:4::2"});
  EXPECT_NE(result.exit_code, 0);
  json error = json::parse(result.stdout_text);
  EXPECT_EQ(error["code"], errors::kPlumbingFailed);
  EXPECT_THAT(error["details"].get<std::string>(), HasSubstr("already exists"));
  EXPECT_TRUE(workload::list_host_veths(node_.options()).empty());
  EXPECT_EQ(node_pod_routes(), "");
  // The pod's own interfaces are untouched and got no address.
  EXPECT_TRUE(has_link(pod.fd(), "eth0"));
  EXPECT_TRUE(has_link(pod.fd(), "keep0"));
  EXPECT_THAT(shell_output("ip -n " + pod.name() + " addr show dev eth0"),
              ::testing::Not(HasSubstr("198.18.4.2")));
  EXPECT_EQ(responder_.endpoint_count(), 0u);
}

TEST_F(CniEndToEnd, CheckDetectsDeletedRoutes) {
  TestPod pod;
  ASSERT_EQ(add(pod, "ctr-c", "pod-c", {"198.18.5.2", "2001:db8:5::2"}).exit_code, 0);
  PluginRun check = run("CHECK", "ctr-c", pod.path(), "pod-c");
  EXPECT_EQ(check.exit_code, 0) << check.stdout_text;

  ASSERT_EQ(run_shell("ip -n " + node_.name() + " route del 198.18.5.2/32"), 0);
  check = run("CHECK", "ctr-c", pod.path(), "pod-c");
  EXPECT_NE(check.exit_code, 0);
  json error = json::parse(check.stdout_text);
  EXPECT_EQ(error["code"], errors::kCheckFailed);
  EXPECT_THAT(error["details"].get<std::string>(), HasSubstr("host route 198.18.5.2/32"));

  ASSERT_EQ(run_shell("ip -n " + node_.name() + " route add 198.18.5.2/32 dev " +
                      host_veth("pod-c") + " proto 201 scope link"),
            0);
  EXPECT_EQ(run("CHECK", "ctr-c", pod.path(), "pod-c").exit_code, 0);

  ASSERT_EQ(run_shell("ip -n " + pod.name() + " -6 route del default"), 0);
  check = run("CHECK", "ctr-c", pod.path(), "pod-c", "1.1.0");
  ASSERT_NE(check.exit_code, 0);
  EXPECT_THAT(json::parse(check.stdout_text)["details"].get<std::string>(),
              HasSubstr("route ::/0 via fe80::ecee:eeff:feee:eeee dev eth0 is missing"));
}

TEST_F(CniEndToEnd, ExhaustionAndNotReadyErrorsReachTheRuntime) {
  TestPod pod;
  PluginRun exhausted = run_cni_binary(
      cni_env("ADD", "ctr-none", pod.path(), "eth0", "ns1", "pod-n"), config("1.0.0"));
  EXPECT_NE(exhausted.exit_code, 0);
  EXPECT_EQ(json::parse(exhausted.stdout_text)["code"], errors::kAddressesExhausted);

  EXPECT_EQ(run_cni_binary({{"CNI_COMMAND", "STATUS"}}, config("1.1.0")).exit_code, 0);
  responder_.set_ready(false);
  PluginRun status = run_cni_binary({{"CNI_COMMAND", "STATUS"}}, config("1.1.0"));
  EXPECT_EQ(json::parse(status.stdout_text)["code"], errors::kNotAvailable);
  PluginRun not_ready = add(pod, "ctr-n", "pod-n", {"198.18.6.2"});
  EXPECT_EQ(json::parse(not_ready.stdout_text)["code"], errors::kTryAgainLater);
  EXPECT_TRUE(workload::list_host_veths(node_.options()).empty());
}

TEST_F(CniEndToEnd, GcRemovesAttachmentsThatAreNoLongerValid) {
  TestPod a, b;
  ASSERT_EQ(add(a, "ctr-a", "pod-a", {"198.18.7.2"}).exit_code, 0);
  ASSERT_EQ(add(b, "ctr-b", "pod-b", {"198.18.7.3"}).exit_code, 0);
  json valid = json::array({{{"containerID", "ctr-a"}, {"ifname", "eth0"}}});
  PluginRun gc = run_cni_binary({{"CNI_COMMAND", "GC"}},
                                config("1.1.0", {{"cni.dev/valid-attachments", valid}}));
  ASSERT_EQ(gc.exit_code, 0) << gc.stdout_text;
  workload::flush_pending_teardowns();
  EXPECT_TRUE(has_link(node_.fd(), host_veth("pod-a")));
  EXPECT_FALSE(has_link(node_.fd(), host_veth("pod-b")));
  EXPECT_FALSE(has_link(b.fd(), "eth0"));
  EXPECT_TRUE(ping(a, TestNode::kAddressV4));
}

TEST_F(CniEndToEnd, ExampleConflistWorks) {
  // Run the example's plugin entry as a runtime would: list name and version copied in, with the
  // socket and log file of this test.
  std::ifstream file(std::string(BRINDLE_SOURCE_DIR) + "/configs/cni/10-brindle.conflist");
  json list = json::parse(file);
  ASSERT_EQ(list["plugins"].size(), 1u);
  json plugin = list["plugins"][0];
  EXPECT_EQ(plugin["type"], "brindle-cni");
  plugin["cniVersion"] = list["cniVersion"];
  plugin["name"] = list["name"];
  plugin["control_socket"] = responder_.socket_path().string();
  plugin["log_file"] = (dir_.path() / "cni.log").string();
  TestPod pod;
  workload::PodNetworkSpec network;
  network.addresses = {IpPrefix::parse("198.18.9.2")};
  responder_.assign("ctr-example", network);
  PluginRun added =
      run_cni_binary(cni_env("ADD", "ctr-example", pod.path(), "eth0", "ns1", "ex"), plugin.dump());
  ASSERT_EQ(added.exit_code, 0) << added.stdout_text;
  EXPECT_EQ(json::parse(added.stdout_text)["cniVersion"], list["cniVersion"]);
  EXPECT_TRUE(ping(pod, TestNode::kAddressV4));
  EXPECT_EQ(
      run_cni_binary(cni_env("DEL", "ctr-example", pod.path(), "eth0", "ns1", "ex"), plugin.dump())
          .exit_code,
      0);
}

TEST_F(CniEndToEnd, ConcurrentAddsAndDels) {
  constexpr int kPods = 8;
  std::vector<std::unique_ptr<TestPod>> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<TestPod>());
    workload::PodNetworkSpec network;
    network.addresses = {IpPrefix::parse("198.18.8." + std::to_string(10 + i))};
    responder_.assign("ctr-p" + std::to_string(i), network);
  }
  std::vector<PluginRun> runs(kPods);
  auto all = [&](const std::string& command) {
    std::vector<std::thread> threads;
    for (int i = 0; i < kPods; ++i) {
      threads.emplace_back([&, i] {
        runs[i] = run_cni_binary(cni_env(command, "ctr-p" + std::to_string(i), pods[i]->path(),
                                         "eth0", "ns1", "pod-p" + std::to_string(i)),
                                 config("1.0.0"));
      });
    }
    for (std::thread& thread : threads) {
      thread.join();
    }
  };
  all("ADD");
  for (const PluginRun& r : runs) {
    EXPECT_EQ(r.exit_code, 0) << r.stdout_text;
  }
  EXPECT_EQ(workload::list_host_veths(node_.options()).size(), static_cast<size_t>(kPods));
  EXPECT_TRUE(ping(*pods[0], "198.18.8.17"));
  all("DEL");
  for (const PluginRun& r : runs) {
    EXPECT_EQ(r.exit_code, 0) << r.stdout_text;
  }
  EXPECT_EQ(node_pod_routes(), "");
  workload::flush_pending_teardowns();
  EXPECT_TRUE(workload::list_host_veths(node_.options()).empty());
}

}  // namespace
}  // namespace brindle::cni::testing
