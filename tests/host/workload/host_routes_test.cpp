// HostRouteReconciler against the real kernel: a scratch "node" namespace with pods plumbed by
// setup_pod() (each in a scratch namespace of its own), drift made by hand with `ip`, then what
// one reconcile() repairs and what it must leave alone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "brindle/workload/host_routes.hpp"
#include "brindle/workload/plumbing.hpp"
#include "cni_test_support.hpp"
#include "workload_test_support.hpp"

namespace brindle::workload {
namespace {

using cni::testing::run_shell;
using cni::testing::shell_output;
using cni::testing::TestNode;
using cni::testing::TestPod;
using cni::testing::trimmed_lines;
using netlink::IpPrefix;
using ::testing::HasSubstr;
using testing::identity;
using ::testing::IsEmpty;
using testing::network;
using ::testing::SizeIs;

class HostRoutesTest : public ::testing::Test {
 protected:
  // setup_pod() for a new pod; returns its endpoint.
  LocalEndpoint add_pod(const std::string& name, const std::vector<std::string>& addresses) {
    pods_.push_back(std::make_unique<TestPod>());
    const PodNetworkSpec spec = network(addresses, 0);
    LocalEndpoint endpoint;
    endpoint.addresses = spec.addresses;
    endpoint.interface_name = setup_pod(identity(*pods_.back(), name), spec, options_).host_ifname;
    return endpoint;
  }

  // `ip` in the node namespace; fails the test when the command fails.
  void ip(const std::string& arguments) {
    ASSERT_EQ(run_shell("ip -n " + node_.name() + " " + arguments), 0) << arguments;
  }
  // `ip route show <arguments>` in the node namespace, one line per route.
  std::string routes(const std::string& arguments) {
    return trimmed_lines(shell_output("ip -n " + node_.name() + " route show " + arguments));
  }
  std::string routes6(const std::string& arguments) {
    return trimmed_lines(shell_output("ip -n " + node_.name() + " -6 route show " + arguments));
  }
  std::string sysctl(const std::string& path) {
    return trimmed_lines(shell_output("ip netns exec " + node_.name() + " cat " + path));
  }

  TestNode node_;
  PlumbingOptions options_ = node_.options();
  std::vector<std::unique_ptr<TestPod>> pods_;
};

TEST_F(HostRoutesTest, RoutesOfSetupPodAreVerifiedWithoutAnyChange) {
  const std::vector<LocalEndpoint> endpoints = {
      add_pod("a", {"198.18.0.1/32", "2001:db8:1::1/128"}), add_pod("b", {"198.18.0.2/32"})};
  HostRouteReconciler reconciler(options_);
  HostRouteReport report = reconciler.reconcile(endpoints);
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(report.endpoints, 2u);
  EXPECT_EQ(report.interfaces, 2u);
  EXPECT_EQ(report.managed_endpoints, 2u);
  EXPECT_EQ(report.routes_verified, 3u);
  EXPECT_EQ(report.changes(), 0u);
  EXPECT_EQ(report.sysctls_fixed, 0u);
  EXPECT_EQ(report.sysctls_checked, 3u + 4u + 3u);  // a: IPv4 and IPv6, b: IPv4
  // Again: still nothing to do.
  report = reconciler.reconcile(endpoints);
  EXPECT_EQ(report.routes_verified, 3u);
  EXPECT_EQ(report.changes(), 0u);
  EXPECT_EQ(report.sysctls_checked, 10u);
  EXPECT_EQ(report.sysctls_fixed, 0u);
}

TEST_F(HostRoutesTest, DeletedRoutesAreRestoredAndWrongOnesReplaced) {
  const LocalEndpoint a = add_pod("a", {"198.18.0.1/32", "2001:db8:1::1/128"});
  const LocalEndpoint b = add_pod("b", {"198.18.0.2/32"});
  const LocalEndpoint c = add_pod("c", {"198.18.0.3/32"});
  ip("route del 198.18.0.1/32 dev " + a.interface_name);
  ip("-6 route del 2001:db8:1::1/128 dev " + a.interface_name);
  // b's address moved to c's veth, still of our protocol; c's route made scope global.
  ip("route replace 198.18.0.2/32 dev " + c.interface_name + " proto 201");
  ip("route replace 198.18.0.3/32 dev " + c.interface_name + " proto 201 scope global");

  HostRouteReconciler reconciler(options_);
  const HostRouteReport report = reconciler.reconcile({a, b, c});
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(report.routes_added, 2u);
  EXPECT_EQ(report.routes_fixed, 2u);
  EXPECT_EQ(report.routes_removed, 0u);
  EXPECT_EQ(report.routes_verified, 0u);
  EXPECT_EQ(routes("198.18.0.1/32"),
            "198.18.0.1 dev " + a.interface_name + " proto 201 scope link");
  EXPECT_THAT(routes6("2001:db8:1::1/128"),
              HasSubstr("2001:db8:1::1 dev " + a.interface_name + " proto 201 metric 1024"));
  EXPECT_EQ(routes("198.18.0.2/32"),
            "198.18.0.2 dev " + b.interface_name + " proto 201 scope link");
  EXPECT_EQ(routes("198.18.0.3/32"),
            "198.18.0.3 dev " + c.interface_name + " proto 201 scope link");
  // The pod answers again through its restored route.
  EXPECT_EQ(run_shell("ip netns exec " + node_.name() + " ping -c1 -W2 198.18.0.1 >/dev/null"), 0);
  EXPECT_EQ(reconciler.reconcile({a, b, c}).changes(), 0u);
}

TEST_F(HostRoutesTest, RoutesOfOursWithAGatewayAreReplacedAndMultipathOnesLeftAlone) {
  const LocalEndpoint a = add_pod("a", {"198.18.0.1/32"});
  const LocalEndpoint b = add_pod("b", {"198.18.0.2/32"});
  // a's route made to go through a gateway; a route of ours over both veths (no single device:
  // never setup_pod()'s, so neither desired nor stale).
  ip("route replace 198.18.0.1/32 via 198.19.0.9 dev " + a.interface_name + " onlink proto 201");
  ip("route add 198.18.0.88/32 proto 201 nexthop dev " + a.interface_name + " nexthop dev " +
     b.interface_name);

  HostRouteReconciler reconciler(options_);
  const HostRouteReport report = reconciler.reconcile({a, b});
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(report.routes_fixed, 1u);
  EXPECT_EQ(report.routes_verified, 1u);
  EXPECT_EQ(report.changes(), 1u);
  EXPECT_EQ(routes("198.18.0.1/32"),
            "198.18.0.1 dev " + a.interface_name + " proto 201 scope link");
  EXPECT_THAT(routes("198.18.0.88/32"), HasSubstr("nexthop dev " + b.interface_name));
  EXPECT_EQ(reconciler.reconcile({a, b}).changes(), 0u);
}

TEST_F(HostRoutesTest, StaleRoutesOfOursOnWorkloadInterfacesAreRemoved) {
  const LocalEndpoint a = add_pod("a", {"198.18.0.1/32"});
  const LocalEndpoint gone = add_pod("gone", {"198.18.0.9/32", "2001:db8:1::9/128"});
  // An address a's endpoint does not have, on a's veth, of our protocol.
  ip("route add 198.18.0.77/32 dev " + a.interface_name + " proto 201");
  // Also a route of ours with a higher metric next to a's right one.
  ip("route add 198.18.0.1/32 dev " + a.interface_name + " proto 201 metric 50");

  HostRouteReconciler reconciler(options_);
  const HostRouteReport report = reconciler.reconcile({a});
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(report.routes_verified, 1u);
  EXPECT_EQ(report.routes_removed, 4u);  // gone's two, a's stray address and its duplicate
  EXPECT_EQ(report.removals_deferred, 0u);
  EXPECT_EQ(routes("proto 201"), "198.18.0.1 dev " + a.interface_name + " scope link");
  EXPECT_EQ(routes6("proto 201"), "");
  // gone's interface itself is not the reconciler's business.
  EXPECT_EQ(
      run_shell("ip -n " + node_.name() + " link show " + gone.interface_name + " >/dev/null"), 0);
}

TEST_F(HostRoutesTest, ForeignRoutesAndOtherInterfacesAreLeftAlone) {
  const LocalEndpoint a = add_pod("a", {"198.18.0.1/32"});
  ip("link add other0 type veth peer name other1");
  ip("link set other0 up");
  ip("link set other1 up");
  // Another protocol on a workload interface, our protocol on another interface, our protocol in
  // another table on a workload interface.
  ip("route add 198.18.0.50/32 dev " + a.interface_name + " proto static");
  ip("route add 198.18.0.51/32 dev other0 proto 201");
  ip("route add 198.18.0.52/32 dev " + a.interface_name + " proto 201 table 100");
  // b's address is already routed elsewhere by someone else: reported, not taken over.
  LocalEndpoint b = add_pod("b", {"198.18.0.2/32"});
  ip("route del 198.18.0.2/32 dev " + b.interface_name);
  ip("route add 198.18.0.2/32 dev other0 proto static");
  // An endpoint naming an interface without the workload prefix is not managed.
  LocalEndpoint outsider{"other0", {IpPrefix::parse("198.18.0.60/32")}};

  HostRouteReconciler reconciler(options_);
  const HostRouteReport report = reconciler.reconcile({a, b, outsider});
  ASSERT_THAT(report.errors, SizeIs(1));
  EXPECT_THAT(report.errors[0], HasSubstr("198.18.0.2/32 dev " + b.interface_name));
  EXPECT_THAT(report.errors[0], HasSubstr("another protocol or interface"));
  EXPECT_EQ(report.managed_endpoints, 2u);
  EXPECT_EQ(report.routes_verified, 1u);
  EXPECT_EQ(report.changes(), 0u);
  EXPECT_EQ(routes("198.18.0.50/32"),
            "198.18.0.50 dev " + a.interface_name + " proto static scope link");
  EXPECT_EQ(routes("198.18.0.51/32"), "198.18.0.51 dev other0 proto 201 scope link");
  EXPECT_EQ(routes("table 100"), "198.18.0.52 dev " + a.interface_name + " proto 201 scope link");
  EXPECT_EQ(routes("198.18.0.2/32"), "198.18.0.2 dev other0 proto static scope link");
  EXPECT_EQ(routes("198.18.0.60/32"), "");
}

TEST_F(HostRoutesTest, InterfacesNotUsableYetOrBeingReapedAreNotTouched) {
  // Not created yet (an ADD in progress), down (setup_pod() not finished), being reaped.
  LocalEndpoint missing{"brv0000missing", {IpPrefix::parse("198.18.0.5/32")}};
  ip("link add brvdown type veth peer name brvdown-p");
  LocalEndpoint down{"brvdown", {IpPrefix::parse("198.18.0.6/32")}};
  const LocalEndpoint reaped = add_pod("reaped", {"198.18.0.7/32"});
  ip("link set dev " + reaped.interface_name + " group " + std::to_string(kDefaultReapGroup));
  ip("route del 198.18.0.7/32");
  ip("route add 198.18.0.8/32 dev " + reaped.interface_name + " proto 201");

  HostRouteReconciler reconciler(options_);
  const HostRouteReport report = reconciler.reconcile({missing, down, reaped});
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(report.managed_endpoints, 0u);
  EXPECT_EQ(report.changes(), 0u);
  EXPECT_EQ(routes("proto 201"), "198.18.0.8 dev " + reaped.interface_name + " scope link");

  // Once up, the interface gets its route.
  ip("link set brvdown up");
  const HostRouteReport after = reconciler.reconcile({missing, down, reaped});
  EXPECT_EQ(after.routes_added, 1u);
  EXPECT_THAT(routes("198.18.0.6/32"), HasSubstr("dev brvdown proto 201 scope link"));
}

TEST_F(HostRoutesTest, RoutesOnNewInterfacesWithoutEndpointWaitForTheGracePeriod) {
  const LocalEndpoint a = add_pod("a", {"198.18.0.1/32"});
  HostRouteReconciler reconciler(options_, std::chrono::milliseconds(600));
  EXPECT_EQ(reconciler.reconcile({a}).routes_verified, 1u);
  // Pods added after the first reconcile whose endpoints the caller does not know yet.
  const LocalEndpoint b = add_pod("b", {"198.18.0.2/32"});
  const LocalEndpoint c = add_pod("c", {"198.18.0.3/32"});
  const auto before = std::chrono::steady_clock::now();
  HostRouteReport report = reconciler.reconcile({a});
  const auto after = std::chrono::steady_clock::now();
  EXPECT_EQ(report.routes_removed, 0u);
  EXPECT_EQ(report.removals_deferred, 2u);
  ASSERT_TRUE(report.next_due.has_value());
  const auto due = *report.next_due;
  EXPECT_GE(due, before + std::chrono::milliseconds(600));
  EXPECT_LE(due, after + std::chrono::milliseconds(600));
  EXPECT_THAT(routes("198.18.0.2/32"), HasSubstr(b.interface_name));
  // b's endpoint arrives in time: kept; c's never does.
  report = reconciler.reconcile({a, b});
  EXPECT_EQ(report.routes_verified, 2u);
  EXPECT_EQ(report.removals_deferred, 1u);
  // Once an endpoint claimed an interface, its endpoints alone decide: b's goes at once.
  report = reconciler.reconcile({a});
  EXPECT_EQ(report.routes_removed, 1u);
  EXPECT_EQ(routes("198.18.0.2/32"), "");
  EXPECT_THAT(routes("198.18.0.3/32"), HasSubstr(c.interface_name));
  // c's after the grace period.
  std::this_thread::sleep_until(due + std::chrono::milliseconds(20));
  report = reconciler.reconcile({a});
  EXPECT_EQ(report.routes_removed, 1u);
  EXPECT_EQ(report.removals_deferred, 0u);
  EXPECT_FALSE(report.next_due.has_value());
  EXPECT_EQ(routes("198.18.0.3/32"), "");
}

TEST_F(HostRoutesTest, HostSysctlsAreRepaired) {
  const LocalEndpoint a = add_pod("a", {"198.18.0.1/32", "2001:db8:1::1/128"});
  const std::string v4 = "/proc/sys/net/ipv4/conf/" + a.interface_name + "/";
  const std::string v6 = "/proc/sys/net/ipv6/conf/" + a.interface_name + "/";
  HostRouteReconciler reconciler(options_);
  EXPECT_EQ(reconciler.reconcile({a}).sysctls_fixed, 0u);
  const std::string neigh = "/proc/sys/net/ipv4/neigh/" + a.interface_name + "/proxy_delay";
  // Every one of them wrong, each read from its own source (link dump, ARP table parameters).
  ASSERT_EQ(
      run_shell("ip netns exec " + node_.name() + " sh -c 'echo 0 > " + v4 +
                "proxy_arp && echo 0 > " + v4 + "forwarding && echo 5 > " + neigh +
                " && echo 1 > " + v6 + "accept_ra && echo 0 > " + v6 + "proxy_ndp && echo 0 > " +
                v6 + "forwarding && echo 0 > " + v6 + "addr_gen_mode'"),
      0);
  HostRouteReport report = reconciler.reconcile({a});
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(report.sysctls_checked, 7u);
  EXPECT_EQ(report.sysctls_fixed, 7u);
  EXPECT_EQ(report.changes(), 0u);
  EXPECT_EQ(sysctl(v4 + "proxy_arp"), "1");
  EXPECT_EQ(sysctl(v4 + "forwarding"), "1");
  EXPECT_EQ(sysctl(neigh), "0");
  EXPECT_EQ(sysctl(v6 + "accept_ra"), "0");
  EXPECT_EQ(sysctl(v6 + "proxy_ndp"), "1");
  EXPECT_EQ(sysctl(v6 + "forwarding"), "1");
  EXPECT_EQ(sysctl(v6 + "addr_gen_mode"), "1");
  EXPECT_EQ(reconciler.reconcile({a}).sysctls_fixed, 0u);
  // One at a time: each source is read right.
  for (const std::string& path : {v4 + "proxy_arp", neigh, v6 + "addr_gen_mode"}) {
    const std::string wrong = path == neigh ? "3" : "0";
    ASSERT_EQ(
        run_shell("ip netns exec " + node_.name() + " sh -c 'echo " + wrong + " > " + path + "'"),
        0);
    EXPECT_EQ(reconciler.reconcile({a}).sysctls_fixed, 1u) << path;
    EXPECT_EQ(reconciler.reconcile({a}).sysctls_fixed, 0u) << path;
  }
}

TEST_F(HostRoutesTest, InvalidOptionsAreRejected) {
  PlumbingOptions no_protocol = options_;
  no_protocol.route_protocol = 0;
  EXPECT_THROW(HostRouteReconciler{no_protocol}, PlumbingError);
  PlumbingOptions no_prefix = options_;
  no_prefix.veth_prefix.clear();
  EXPECT_THROW(HostRouteReconciler{no_prefix}, PlumbingError);
}

}  // namespace
}  // namespace brindle::workload
