// brindle-encap-ipip.so through the C ABI on the machine's own kernel: descriptor, configuration,
// route forms, and ensure_local in a scratch network namespace. The project's machines have no
// IPIP in their kernel, so there ensure_local must fail with UNSUPPORTED naming the missing kernel
// support; the test finds out independently (ip(8) asked for an ipip link in the same namespace)
// which answer is right, so that it also holds on a kernel with IPIP (inside the VM harness, where
// datapath_test.cpp covers the working device).
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "ipip_test_support.hpp"

namespace ipip_test {
namespace {

TEST(EncapIpip, DescriptorNamesTheIpipEncapsulation) {
  Plugin plugin;
  ASSERT_NE(plugin.descriptor(), nullptr);
  EXPECT_EQ(plugin.descriptor()->kind, BRINDLE_KIND_ENCAPSULATION);
  EXPECT_STREQ(plugin.descriptor()->name, "ipip");
}

TEST(EncapIpip, RouteFormIsViaTheNodeAddressOnTunl0Onlink) {
  TestHost host;
  Plugin plugin;
  plugin.create_ok(host);
  const Node remote("node-b", "198.19.7.2/24", "198.18.2.1/32");
  const Plugin::Form form = plugin.route_form(remote, "198.18.2.0/26");
  ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
  EXPECT_STREQ(form.form.device, "tunl0");
  EXPECT_EQ(IpPrefix::from_abi(form.form.gateway).to_string(), "198.19.7.2/32");
  EXPECT_EQ(form.form.flags, BRINDLE_ROUTE_ONLINK);
}

TEST(EncapIpip, RouteFormRefusesIpv6BlocksAndNodesWithoutIpv4) {
  TestHost host;
  Plugin plugin;
  plugin.create_ok(host);
  const Node dual("node-b", "198.19.7.2/24", nullptr, nullptr, "2001:db8:19::2/64");
  Plugin::Form form = plugin.route_form(dual, "2001:db8:18:2::/64");
  EXPECT_EQ(form.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(form.message, "IPv4 only")) << form.message;
  EXPECT_TRUE(contains(form.message, "2001:db8:18:2::/64")) << form.message;

  const Node v6_only("node-c", nullptr, nullptr, nullptr, "2001:db8:19::3/64");
  form = plugin.route_form(v6_only, "198.18.3.0/26");
  EXPECT_EQ(form.status, BRINDLE_ERR_UNAVAILABLE);
  EXPECT_TRUE(contains(form.message, "\"node-c\" has no IPv4 underlay address")) << form.message;
}

TEST(EncapIpip, BadConfigurationIsRejectedNamingTheKey) {
  TestHost out_of_range;
  out_of_range.set_int("mtu", 100);
  Plugin plugin;
  brindle_error_t err{};
  EXPECT_NE(plugin.create(out_of_range, &err), BRINDLE_OK);
  EXPECT_TRUE(contains(err.message, "mtu")) << err.message;

  TestHost unknown;
  unknown.set_string("device", "tunl1");
  err = {};
  EXPECT_NE(plugin.create(unknown, &err), BRINDLE_OK);
  EXPECT_TRUE(contains(err.message, "device")) << err.message;
}

TEST(EncapIpip, EnsureLocalMatchesWhatTheKernelCanDo) {
  const ScratchNetns node = ScratchNetns::create_named("ipu");
  ip(node, "link add eth0 type veth peer name eth1");
  ip(node, "link set eth0 mtu 1500 up");
  // The same question the plugin asks, through ip(8), in a namespace of its own (so that the
  // plugin still finds no tunl0 in `node` on a kernel where the module is not loaded yet).
  const ScratchNetns probe_ns = ScratchNetns::create_named("ipq");
  const Shell probe = sh("ip -n " + probe_ns.name() +
                         " link add probe0 type ipip local 198.19.7.8 remote 198.19.7.9");
  const bool kernel_has_ipip = probe.status == 0;

  TestHost host;
  Plugin plugin;
  plugin.create_ok(host);
  const Node self("node-a", "198.19.7.1/24", "198.18.1.1/32");
  const Plugin::Local local = plugin.ensure_local(node, self, "eth0");
  if (!kernel_has_ipip) {
    ASSERT_TRUE(contains(probe.output, "Unknown device type")) << probe.output;
    EXPECT_EQ(local.status, BRINDLE_ERR_UNSUPPORTED) << local.message;
    std::cout << "ensure_local on this kernel: " << local.message << "\n";
    EXPECT_TRUE(contains(local.message, "no IPIP tunnel support")) << local.message;
    EXPECT_TRUE(contains(local.message, "CONFIG_NET_IPIP")) << local.message;
    EXPECT_TRUE(contains(local.message, "tunl0")) << local.message;
    EXPECT_EQ(sh("ip -n " + node.name() + " link show tunl0").status, 1) << "nothing was left";
  } else {
    ASSERT_EQ(local.status, BRINDLE_OK) << local.message;
    EXPECT_STREQ(local.state.device, "tunl0");
    EXPECT_EQ(local.state.pod_mtu, 1480u);
    const std::string link = ip(node, "-d link show tunl0");
    EXPECT_TRUE(contains(link, "mtu 1480")) << link;
    EXPECT_TRUE(contains(link, "ipip")) << link;
  }
}

}  // namespace
}  // namespace ipip_test
