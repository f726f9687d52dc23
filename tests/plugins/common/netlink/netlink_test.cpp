// The rtnetlink adapter against the real kernel. Every test runs in a fresh network namespace of
// its own (anonymous: it disappears with the test, even if the test crashes); iproute2, entered
// into it with nsenter, checks the kernel state independently of the adapter.
#include <gtest/gtest.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"

namespace {

using namespace brindle::netlink;

constexpr uint8_t kOurProtocol = 201;
constexpr uint8_t kForeignProtocol = 202;

class NetlinkTest : public ::testing::Test {
 protected:
  ScratchNetns ns_ = ScratchNetns::create();
  Netlink nl_ = Netlink::open_in_netns(ns_.fd());

  // Runs `<tool> <args>` (ip, bridge) inside the test's namespace and returns its output; fails
  // the test on a non-zero exit.
  std::string ip(const std::string& args, const std::string& tool = "ip") {
    std::string command = "nsenter --net=" + ns_.path() + " " + tool + " " + args + " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    std::string output;
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
      output.append(buffer.data(), n);
    }
    int status = pclose(pipe.release());
    EXPECT_EQ(status, 0) << command << ": " << output;
    return output;
  }

  // veth0 (198.19.0.1/24, 2001:db8:19::1/64) <-> veth1, both up. Returns veth0's index.
  int make_underlay() {
    nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
    const int index = nl_.link("veth0").index;
    nl_.add_address(index, IpPrefix::parse("198.19.0.1/24"));
    nl_.add_address(index, IpPrefix::parse("2001:db8:19::1/64"));
    nl_.set_link_up(index, true);
    nl_.set_link_up(nl_.link("veth1").index, true);
    return index;
  }

  static RouteSpec route(const std::string& destination, const std::string& gateway = {},
                         uint8_t protocol = kOurProtocol) {
    RouteSpec spec;
    spec.destination = IpPrefix::parse(destination);
    if (!gateway.empty()) {
      spec.gateway = IpPrefix::parse(gateway);
    }
    spec.protocol = protocol;
    return spec;
  }

  std::vector<RouteSpec> our_routes(int family = 0) {
    return nl_.routes({.protocol = kOurProtocol, .table = std::nullopt, .family = family});
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- links ------------------------------------------------------------------------------------

TEST_F(NetlinkTest, CreatesVethPairAndChangesMtuStateAndMac) {
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const LinkInfo veth0 = nl_.link("veth0");
  EXPECT_EQ(veth0.kind, "veth");
  EXPECT_FALSE(veth0.up);
  ASSERT_TRUE(nl_.find_link(veth0.index).has_value());
  EXPECT_EQ(nl_.find_link(veth0.index)->name, "veth0");

  nl_.set_link_mtu(veth0.index, 1400);
  nl_.set_link_up(veth0.index, true);
  const MacAddress mac = MacAddress::parse("66:42:19:00:00:01");
  nl_.set_link_mac(veth0.index, mac);
  const LinkInfo changed = nl_.link("veth0");
  EXPECT_EQ(changed.mtu, 1400u);
  EXPECT_TRUE(changed.up);
  EXPECT_EQ(changed.mac, mac);
  EXPECT_TRUE(contains(ip("link show veth0"), "mtu 1400"));
  EXPECT_TRUE(contains(ip("link show veth0"), "66:42:19:00:00:01"));

  nl_.set_link_up(veth0.index, false);
  EXPECT_FALSE(nl_.link("veth0").up);

  auto names = nl_.links();
  EXPECT_EQ(names.size(), 3u);  // lo, veth0, veth1
  nl_.delete_link("veth0");
  EXPECT_FALSE(nl_.find_link("veth0").has_value());
  EXPECT_FALSE(nl_.find_link("veth1").has_value()) << "deleting one end removes the pair";
}

TEST_F(NetlinkTest, CreatesVethPeerInAnotherNamespace) {
  ScratchNetns pod = ScratchNetns::create();
  nl_.create_veth({.name = "cali0", .peer_name = "eth0", .peer_netns_fd = pod.fd(), .mtu = 1450});
  EXPECT_EQ(nl_.link("cali0").mtu, 1450u);
  EXPECT_FALSE(nl_.find_link("eth0").has_value());
  Netlink in_pod = Netlink::open_in_netns(pod.fd());
  const LinkInfo eth0 = in_pod.link("eth0");
  EXPECT_EQ(eth0.mtu, 1450u);
  EXPECT_EQ(eth0.kind, "veth");
}

TEST_F(NetlinkTest, CreatesVethWithMacsStateAndMtuInOneRequestAndReportsTheNewLink) {
  ScratchNetns pod = ScratchNetns::create();
  const MacAddress host_mac = MacAddress::parse("ee:ee:ee:ee:ee:ee");
  const MacAddress pod_mac = MacAddress::parse("66:42:19:00:00:02");
  const LinkInfo created = nl_.create_veth({.name = "cali1",
                                            .peer_name = "eth0",
                                            .peer_netns_fd = pod.fd(),
                                            .mtu = 1410,
                                            .mac = host_mac,
                                            .peer_mac = pod_mac,
                                            .up = true});
  // The returned link is the kernel's view of the host end.
  const LinkInfo host = nl_.link("cali1");
  EXPECT_EQ(created.name, "cali1");
  EXPECT_EQ(created.index, host.index);
  EXPECT_EQ(created.kind, "veth");
  EXPECT_EQ(created.mac, host_mac);
  EXPECT_EQ(created.mtu, 1410u);
  EXPECT_TRUE(created.up);
  EXPECT_TRUE(contains(ip("link show cali1"), "ee:ee:ee:ee:ee:ee"));

  Netlink in_pod = Netlink::open_in_netns(pod.fd());
  const LinkInfo eth0 = in_pod.link("eth0");
  EXPECT_EQ(created.link_index, eth0.index) << "IFLA_LINK names the peer in its namespace";
  EXPECT_EQ(eth0.mac, pod_mac);
  EXPECT_EQ(eth0.mtu, 1410u);
  EXPECT_FALSE(eth0.up);

  // Without options: both ends down, random MACs; a name taken fails without creating anything.
  const LinkInfo other = nl_.create_veth({.name = "cali2", .peer_name = "cali2p"});
  EXPECT_FALSE(other.up);
  EXPECT_EQ(other.link_index, nl_.link("cali2p").index);
  EXPECT_NE(other.mac, nl_.link("cali2p").mac);
  try {
    nl_.create_veth({.name = "cali3", .peer_name = "eth0", .peer_netns_fd = pod.fd()});
    ADD_FAILURE() << "a peer name taken in the pod's namespace must fail";
  } catch (const NetlinkError& e) {
    EXPECT_TRUE(e.is_exists()) << e.what();
  }
  EXPECT_FALSE(nl_.find_link("cali3").has_value());
}

// BIG TCP sizes (Linux >= 6.3 for the IPv4 ones; this suite runs on such kernels).
constexpr uint32_t kBigTcpSize = 196608;
constexpr GsoLimits kBigTcp{.gso_max_size = kBigTcpSize,
                            .gro_max_size = kBigTcpSize,
                            .gso_ipv4_max_size = kBigTcpSize,
                            .gro_ipv4_max_size = kBigTcpSize};
constexpr GsoLimits kLegacyLimits{.gso_max_size = 65536,
                                  .gro_max_size = 65536,
                                  .gso_ipv4_max_size = 65536,
                                  .gro_ipv4_max_size = 65536};

TEST_F(NetlinkTest, CreatesVethWithGsoLimitsOnBothEndsInOneRequest) {
  ScratchNetns pod = ScratchNetns::create();
  const LinkInfo created = nl_.create_veth(
      {.name = "cali4", .peer_name = "eth0", .peer_netns_fd = pod.fd(), .gso = kBigTcp});
  EXPECT_EQ(created.gso, kBigTcp) << created.gso.to_string();
  EXPECT_GE(created.tso_max_size, kBigTcpSize);
  Netlink in_pod = Netlink::open_in_netns(pod.fd());
  EXPECT_EQ(in_pod.link("eth0").gso, kBigTcp) << in_pod.link("eth0").gso.to_string();
  // iproute2 (6.1) shows the two it knows.
  const std::string shown = ip("-d link show cali4");
  EXPECT_TRUE(contains(shown, "gso_max_size 196608")) << shown;
  EXPECT_TRUE(contains(shown, "gro_max_size 196608")) << shown;

  // Without: the kernel defaults, on both ends.
  const LinkInfo plain = nl_.create_veth({.name = "cali5", .peer_name = "cali5p"});
  EXPECT_EQ(plain.gso, kLegacyLimits) << plain.gso.to_string();
  EXPECT_EQ(nl_.link("cali5p").gso, kLegacyLimits);
  EXPECT_TRUE(contains(ip("-d link show cali5p"), "gso_max_size 65536"));

  // Listings report them too.
  const auto links = nl_.links();
  const auto listed =
      std::find_if(links.begin(), links.end(), [](const LinkInfo& l) { return l.name == "cali4"; });
  ASSERT_NE(listed, links.end());
  EXPECT_EQ(listed->gso, kBigTcp);
}

TEST_F(NetlinkTest, RefusedGsoLimitsAtCreationCreateNothing) {
  // Above GRO_MAX_SIZE (8 * 65535): the kernel's attribute policy refuses it.
  try {
    nl_.create_veth(
        {.name = "cali6", .peer_name = "cali6p", .gso = {.gro_ipv4_max_size = 8 * 65535 + 1}});
    ADD_FAILURE() << "a GRO size above the kernel's maximum was accepted";
  } catch (const NetlinkError& e) {
    EXPECT_NE(e.kernel_errno(), 0) << e.what();
    EXPECT_TRUE(contains(e.what(), "create veth \"cali6\"")) << e.what();
    EXPECT_TRUE(contains(e.what(), "gro_ipv4_max_size 524281")) << e.what();
  }
  EXPECT_FALSE(nl_.find_link("cali6").has_value());
  EXPECT_FALSE(nl_.find_link("cali6p").has_value());
}

TEST_F(NetlinkTest, SetsGsoLimitsOnALinkAndReadsThemBack) {
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int index = nl_.link("veth0").index;
  const LinkInfo raised = nl_.set_link_gso_limits(index, kBigTcp);
  EXPECT_EQ(raised.index, index);
  EXPECT_EQ(raised.gso, kBigTcp);
  EXPECT_EQ(nl_.link("veth0").gso, kBigTcp);
  EXPECT_EQ(nl_.link("veth1").gso, kLegacyLimits) << "the peer is a device of its own";
  EXPECT_TRUE(contains(ip("-d link show veth0"), "gso_max_size 196608"));

  // Only the members given change.
  const LinkInfo ipv4_only = nl_.set_link_gso_limits(index, {.gso_ipv4_max_size = 131072});
  EXPECT_EQ(ipv4_only.gso.gso_ipv4_max_size, 131072u);
  EXPECT_EQ(ipv4_only.gso.gro_ipv4_max_size, kBigTcpSize);
  EXPECT_EQ(ipv4_only.gso.gso_max_size, kBigTcpSize);
  EXPECT_EQ(nl_.set_link_gso_limits(index, kLegacyLimits).gso, kLegacyLimits);

  // The same through a batch, with other link changes.
  const std::vector<Change> batch{LinkChange{.ifindex = index, .up = true, .gso = kBigTcp}};
  const auto results = nl_.apply(batch);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0].message;
  EXPECT_EQ(nl_.link("veth0").gso, kBigTcp);
  EXPECT_TRUE(nl_.link("veth0").up);

  EXPECT_THROW(nl_.set_link_gso_limits(index, {}), std::invalid_argument);
}

TEST_F(NetlinkTest, ReportsADeviceRefusingGsoLimitsAboveItsTsoMaximum) {
  // A bridge without ports offers no more than 64 KB (tso_max_size 65536).
  nl_.create_bridge("br0");
  const LinkInfo bridge = nl_.link("br0");
  ASSERT_EQ(bridge.tso_max_size, 65536u);
  try {
    nl_.set_link_gso_limits(bridge.index, {.gso_ipv4_max_size = kBigTcpSize});
    ADD_FAILURE() << "the bridge took a GSO size above its tso_max_size";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.kernel_errno(), EINVAL) << e.what();
    EXPECT_TRUE(contains(e.what(), "gso_ipv4_max_size 196608")) << e.what();
    EXPECT_TRUE(contains(e.kernel_message(), "too big")) << e.what();
  }
  EXPECT_EQ(nl_.link("br0").gso.gso_ipv4_max_size, 65536u);

  const std::vector<Change> batch{
      LinkChange{.ifindex = bridge.index, .gso = {.gso_max_size = kBigTcpSize}},
      LinkChange{.ifindex = bridge.index, .group = 7}};
  const auto results = nl_.apply(batch);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].kernel_errno, EINVAL);
  EXPECT_TRUE(results[1].ok()) << "a refusal does not stop the rest of the batch";
  EXPECT_EQ(nl_.link("br0").gso.gso_max_size, 65536u);
  EXPECT_EQ(nl_.link("br0").group, 7u);
}

TEST_F(NetlinkTest, MixedBatchAppliesLinksAddressesAndRoutesInOrder) {
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int veth0 = nl_.link("veth0").index;
  nl_.set_link_up(nl_.link("veth1").index, true);
  // The route needs the link up and the address first: in order, one exchange.
  std::vector<Change> changes{
      LinkChange{.ifindex = veth0, .up = true, .group = 0x6272},
      AddressChange{.ifindex = veth0, .address = IpPrefix::parse("198.19.0.1/24")},
      AddressChange{.ifindex = veth0, .address = IpPrefix::parse("2001:db8:19::1/64")},
      RouteChange{RouteOp::add, route("198.18.0.0/26", "198.19.0.2")},
      AddressChange{.ifindex = veth0, .address = IpPrefix::parse("198.19.0.1/24")},  // present
      AddressChange{.ifindex = veth0, .address = IpPrefix{}},                        // not sent
      LinkChange{.ifindex = 0, .up = true},                                          // not sent
  };
  auto results = nl_.apply(changes);
  ASSERT_EQ(results.size(), changes.size());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].message;
  }
  EXPECT_EQ(results[4].error, Errc::exists) << results[4].message;
  EXPECT_TRUE(contains(results[4].message, "add address 198.19.0.1/24")) << results[4].message;
  EXPECT_EQ(results[5].error, Errc::invalid) << results[5].message;
  EXPECT_EQ(results[6].error, Errc::invalid) << results[6].message;
  EXPECT_TRUE(nl_.link("veth0").up);
  EXPECT_TRUE(contains(ip("-d link show veth0"), "group 25202")) << ip("-d link show veth0");
  EXPECT_EQ(nl_.addresses(veth0, 4), std::vector<IpPrefix>{IpPrefix::parse("198.19.0.1/24")});
  EXPECT_EQ(our_routes(4).size(), 1u);

  results = nl_.apply(std::vector<Change>{
      AddressChange{
          .op = AddressOp::remove, .ifindex = veth0, .address = IpPrefix::parse("198.19.0.1/24")},
      LinkChange{.ifindex = veth0, .up = false},
  });
  EXPECT_TRUE(results[0].ok()) << results[0].message;
  EXPECT_TRUE(results[1].ok()) << results[1].message;
  EXPECT_TRUE(nl_.addresses(veth0, 4).empty());
  EXPECT_FALSE(nl_.link("veth0").up);
  EXPECT_TRUE(our_routes(4).empty()) << "the route went with its address";
}

TEST_F(NetlinkTest, LinksReportTheirDeviceGroupAndIpSettings) {
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int veth0 = nl_.link("veth0").index;
  EXPECT_EQ(nl_.link("veth0").group, 0u);
  ip("link set veth0 group 25202");
  // The kernel's values, set behind the adapter's back through /proc.
  ip("-c 'echo 1 > /proc/sys/net/ipv4/conf/veth0/proxy_arp; "
     "echo 1 > /proc/sys/net/ipv6/conf/veth0/proxy_ndp; "
     "echo 2 > /proc/sys/net/ipv6/conf/veth0/accept_ra'",
     "sh");

  auto check = [&](const LinkInfo& link) {
    EXPECT_EQ(link.group, 25202u);
    ASSERT_GE(link.ipv4_conf.size(), static_cast<size_t>(IPV4_DEVCONF_FORWARDING));
    EXPECT_EQ(link.ipv4_conf[IPV4_DEVCONF_PROXY_ARP - 1], 1u);
    EXPECT_EQ(link.ipv4_conf[IPV4_DEVCONF_FORWARDING - 1], 0u);
    ASSERT_GT(link.ipv6_conf.size(), static_cast<size_t>(DEVCONF_PROXY_NDP));
    EXPECT_EQ(link.ipv6_conf[DEVCONF_PROXY_NDP], 1);
    EXPECT_EQ(link.ipv6_conf[DEVCONF_ACCEPT_RA], 2);
    EXPECT_EQ(link.ipv6_conf[DEVCONF_FORWARDING], 0);
  };
  check(nl_.link("veth0"));
  ASSERT_TRUE(nl_.find_link(veth0).has_value());
  check(*nl_.find_link(veth0));
  const std::vector<LinkInfo> links = nl_.links();
  auto listed = std::find_if(links.begin(), links.end(),
                             [](const LinkInfo& link) { return link.name == "veth0"; });
  ASSERT_NE(listed, links.end());
  check(*listed);
  auto peer = std::find_if(links.begin(), links.end(),
                           [](const LinkInfo& link) { return link.name == "veth1"; });
  ASSERT_NE(peer, links.end());
  EXPECT_EQ(peer->group, 0u);
  ASSERT_GT(peer->ipv6_conf.size(), static_cast<size_t>(DEVCONF_PROXY_NDP));
  EXPECT_EQ(peer->ipv6_conf[DEVCONF_PROXY_NDP], 0);

  // Below 1280 bytes of MTU a device has no IPv6, nor IPv6 settings.
  nl_.set_link_mtu(peer->index, 1200);
  EXPECT_TRUE(nl_.link("veth1").ipv6_conf.empty());
  EXPECT_FALSE(nl_.link("veth1").ipv4_conf.empty());
}

TEST_F(NetlinkTest, NeighbourTableParametersPerDevice) {
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int veth0 = nl_.link("veth0").index;
  const int veth1 = nl_.link("veth1").index;
  // /proc shows USER_HZ ticks (1/100 s), netlink milliseconds (the kernel keeps jiffies: values
  // that are whole at any HZ).
  ip("-c 'echo 0 > /proc/sys/net/ipv4/neigh/veth0/proxy_delay; "
     "echo 50 > /proc/sys/net/ipv4/neigh/veth1/proxy_delay; "
     "echo 20 > /proc/sys/net/ipv6/neigh/veth0/proxy_delay'",
     "sh");

  auto find = [](const std::vector<NeighbourTableParms>& all, int family, int ifindex) {
    auto it = std::find_if(all.begin(), all.end(), [&](const NeighbourTableParms& parms) {
      return parms.family == family && parms.ifindex == ifindex;
    });
    return it == all.end() ? std::nullopt : std::optional<NeighbourTableParms>(*it);
  };
  const std::vector<NeighbourTableParms> arp = nl_.neighbour_table_parms(4);
  for (const NeighbourTableParms& parms : arp) {
    EXPECT_EQ(parms.family, 4);
    EXPECT_EQ(parms.table, "arp_cache");
  }
  const auto arp0 = find(arp, 4, veth0);
  const auto arp1 = find(arp, 4, veth1);
  const auto arp_defaults = find(arp, 4, 0);
  ASSERT_TRUE(arp0 && arp1 && arp_defaults);
  EXPECT_EQ(arp0->proxy_delay_ms, 0u);
  EXPECT_EQ(arp1->proxy_delay_ms, 500u);
  EXPECT_TRUE(arp_defaults->proxy_delay_ms.has_value());
  EXPECT_FALSE(find(arp, 4, 99999).has_value());

  const std::vector<NeighbourTableParms> ndp = nl_.neighbour_table_parms(6);
  const auto ndp0 = find(ndp, 6, veth0);
  ASSERT_TRUE(ndp0);
  EXPECT_EQ(ndp0->table, "ndisc_cache");
  EXPECT_EQ(ndp0->proxy_delay_ms, 200u);
  EXPECT_FALSE(find(ndp, 4, veth0).has_value());

  const std::vector<NeighbourTableParms> both = nl_.neighbour_table_parms();
  EXPECT_TRUE(find(both, 4, veth1).has_value());
  EXPECT_TRUE(find(both, 6, veth1).has_value());

  nl_.delete_link("veth0");
  EXPECT_FALSE(find(nl_.neighbour_table_parms(4), 4, veth0).has_value());
}

TEST_F(NetlinkTest, ListedRoutesReportScopeAndGatewaysOfTheOtherFamily) {
  const int veth0 = make_underlay();
  nl_.add_route([&] {
    RouteSpec device = route("198.18.0.0/26");
    device.ifindex = veth0;
    return device;
  }());
  nl_.add_route(route("198.18.0.64/26", "198.19.0.2"));
  ip("route add 198.18.0.128/26 via inet6 2001:db8:19::2 dev veth0 proto 201");
  std::vector<RouteSpec> routes = our_routes(4);
  ASSERT_EQ(routes.size(), 3u);
  std::sort(routes.begin(), routes.end(),
            [](const RouteSpec& a, const RouteSpec& b) { return a.destination < b.destination; });
  EXPECT_EQ(routes[0].scope, RT_SCOPE_LINK);
  EXPECT_TRUE(routes[0].gateway.empty());
  EXPECT_EQ(routes[1].scope, RT_SCOPE_UNIVERSE);
  EXPECT_EQ(routes[1].gateway.to_string(true), "198.19.0.2");
  EXPECT_EQ(routes[2].gateway.to_string(true), "2001:db8:19::2");
  EXPECT_EQ(routes[2].ifindex, veth0);
}

TEST_F(NetlinkTest, BridgeAndMaster) {
  nl_.create_bridge("br0");
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int bridge = nl_.link("br0").index;
  EXPECT_EQ(nl_.link("br0").kind, "bridge");
  nl_.set_link_master(nl_.link("veth0").index, bridge);
  EXPECT_EQ(nl_.link("veth0").master_index, bridge);
  nl_.set_link_master(nl_.link("veth0").index, 0);
  EXPECT_EQ(nl_.link("veth0").master_index, 0);
}

TEST_F(NetlinkTest, MissingAndDuplicateLinksAreNamedErrors) {
  EXPECT_FALSE(nl_.find_link("nosuch0").has_value());
  EXPECT_FALSE(nl_.find_link(4242).has_value());
  // A route without interface reports ifindex 0: looking it up is "no such link", not an abort.
  EXPECT_FALSE(nl_.find_link(0).has_value());
  EXPECT_FALSE(nl_.find_link(-1).has_value());
  try {
    nl_.link("nosuch0");
    FAIL() << "found a missing link";
  } catch (const NetlinkError& e) {
    EXPECT_TRUE(e.is_not_found());
    EXPECT_TRUE(contains(e.what(), "\"nosuch0\"")) << e.what();
  }
  nl_.create_bridge("br0");
  try {
    nl_.create_bridge("br0");
    FAIL() << "created a duplicate";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.code(), Errc::exists);
    EXPECT_EQ(e.kernel_errno(), EEXIST);
    EXPECT_TRUE(contains(e.what(), "create bridge \"br0\": Object exists")) << e.what();
  }
  EXPECT_THROW(nl_.create_bridge("a-name-longer-than-15"), std::invalid_argument);
  try {
    nl_.delete_link("nosuch0");
    FAIL() << "deleted a missing link";
  } catch (const NetlinkError& e) {
    EXPECT_TRUE(e.is_not_found()) << e.what();
  }
}

// --- addresses ------------------------------------------------------------------------------

TEST_F(NetlinkTest, AddsListsAndDeletesAddresses) {
  nl_.create_veth({.name = "veth0", .peer_name = "veth1"});
  const int index = nl_.link("veth0").index;
  const IpPrefix v4 = IpPrefix::parse("198.19.0.1/24");
  const IpPrefix v6 = IpPrefix::parse("2001:db8:19::1/64");
  nl_.add_address(index, v4);
  nl_.add_address(index, v6);
  EXPECT_EQ(nl_.addresses(index, 4), std::vector<IpPrefix>{v4});
  auto v6_addresses = nl_.addresses(index, 6);
  EXPECT_NE(std::find(v6_addresses.begin(), v6_addresses.end(), v6), v6_addresses.end());
  EXPECT_TRUE(contains(ip("addr show dev veth0"), "inet 198.19.0.1/24"));
  try {
    nl_.add_address(index, v4);
    FAIL() << "added a duplicate address";
  } catch (const NetlinkError& e) {
    EXPECT_TRUE(e.is_exists()) << e.what();
    EXPECT_TRUE(contains(e.what(), "198.19.0.1/24")) << e.what();
  }
  nl_.delete_address(index, v4);
  EXPECT_TRUE(nl_.addresses(index, 4).empty());
  EXPECT_THROW(nl_.delete_address(index, v4), NetlinkError);
}

// --- routes -----------------------------------------------------------------------------------

TEST_F(NetlinkTest, RoutesWithOurProtocolLeaveForeignRoutesAlone) {
  make_underlay();
  // A foreign route (another protocol number), added with iproute2 like an operator would.
  ip("route add 198.18.9.0/26 via 198.19.0.9 proto " + std::to_string(kForeignProtocol));

  nl_.add_route(route("198.18.1.0/26", "198.19.0.2"));
  nl_.add_route(route("2001:db8:18:1::/64", "2001:db8:19::2"));
  auto ours = our_routes();
  ASSERT_EQ(ours.size(), 2u);
  auto v4 = our_routes(4);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].destination.to_string(), "198.18.1.0/26");
  EXPECT_EQ(v4[0].gateway.to_string(true), "198.19.0.2");
  EXPECT_EQ(v4[0].protocol, kOurProtocol);
  EXPECT_EQ(v4[0].table, kMainTable);
  EXPECT_EQ(v4[0].ifindex, nl_.link("veth0").index) << "the kernel resolved the device";
  EXPECT_TRUE(contains(ip("route show 198.18.1.0/26"), "via 198.19.0.2 dev veth0 proto 201"));

  // add refuses an existing route; replace changes it.
  EXPECT_THROW(nl_.add_route(route("198.18.1.0/26", "198.19.0.3")), NetlinkError);
  nl_.replace_route(route("198.18.1.0/26", "198.19.0.3"));
  v4 = our_routes(4);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].gateway.to_string(true), "198.19.0.3");

  // Deleting with our protocol never touches the foreign route, even for its destination.
  try {
    nl_.delete_route(route("198.18.9.0/26"));
    FAIL() << "deleted a foreign route";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.code(), Errc::not_found) << e.what();
  }
  nl_.delete_route(route("198.18.1.0/26"));
  nl_.delete_route(route("2001:db8:18:1::/64"));
  EXPECT_TRUE(our_routes().empty());
  auto foreign = nl_.routes({.protocol = kForeignProtocol});
  ASSERT_EQ(foreign.size(), 1u);
  EXPECT_EQ(foreign[0].destination.to_string(), "198.18.9.0/26");
  EXPECT_TRUE(contains(ip("route show proto " + std::to_string(kForeignProtocol)),
                       "198.18.9.0/26 via 198.19.0.9"));
}

TEST_F(NetlinkTest, BlackholeRoutesInAnotherTable) {
  RouteSpec v4 = route("198.18.0.0/26");
  v4.type = RouteType::blackhole;
  v4.table = 100;
  RouteSpec v6 = route("2001:db8:18::/64");
  v6.type = RouteType::blackhole;
  v6.table = 100;
  nl_.replace_route(v4);
  nl_.replace_route(v6);
  nl_.replace_route(v4);  // idempotent
  auto listed = nl_.routes({.protocol = kOurProtocol, .table = 100u});
  ASSERT_EQ(listed.size(), 2u);
  for (const RouteSpec& r : listed) {
    EXPECT_EQ(r.type, RouteType::blackhole);
    EXPECT_EQ(r.table, 100u);
    EXPECT_TRUE(r.gateway.empty());
  }
  EXPECT_TRUE(nl_.routes({.protocol = kOurProtocol, .table = kMainTable}).empty());
  EXPECT_TRUE(contains(ip("route show table 100"), "blackhole 198.18.0.0/26 proto 201"));
  nl_.delete_route(v4);
  nl_.delete_route(v6);
  EXPECT_TRUE(nl_.routes({.protocol = kOurProtocol, .table = 100u}).empty());
}

TEST_F(NetlinkTest, OnlinkRoutesViaADeviceAndTheKernelsReasonWithout) {
  const int underlay = make_underlay();
  // A gateway outside every local subnet is only accepted with onlink (as VXLAN routes need).
  RouteSpec spec = route("198.18.3.0/26", "198.18.250.1");
  spec.ifindex = underlay;
  try {
    nl_.add_route(spec);
    FAIL() << "the kernel accepted an off-link gateway without onlink";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.kernel_errno(), ENETUNREACH) << e.what();
    EXPECT_FALSE(e.kernel_message().empty()) << "the kernel's extended ack is kept: " << e.what();
    EXPECT_TRUE(contains(e.what(), "add route 198.18.3.0/26 via 198.18.250.1")) << e.what();
  }
  spec.onlink = true;
  nl_.add_route(spec);
  auto ours = our_routes(4);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_TRUE(ours[0].onlink);
  EXPECT_EQ(ours[0].ifindex, underlay);
  EXPECT_TRUE(
      contains(ip("route show 198.18.3.0/26"), "via 198.18.250.1 dev veth0 proto 201 onlink"));

  // A device-only route (no gateway) is link scoped.
  RouteSpec device_route = route("198.18.4.0/26");
  device_route.ifindex = underlay;
  nl_.add_route(device_route);
  EXPECT_TRUE(contains(ip("route show 198.18.4.0/26"), "dev veth0 proto 201 scope link"));
}

TEST_F(NetlinkTest, DeletingAMissingRouteIsANamedError) {
  try {
    nl_.delete_route(route("198.18.7.0/26", "198.19.0.2"));
    FAIL() << "deleted a missing route";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.code(), Errc::not_found);
    EXPECT_EQ(e.code().category().name(), std::string("libnl"));
    EXPECT_EQ(e.kernel_errno(), ESRCH);
    EXPECT_TRUE(contains(e.what(),
                         "delete route 198.18.7.0/26 via 198.19.0.2 table 254 proto 201: "
                         "Object not found"))
        << e.what();
    EXPECT_EQ(to_status(e.code(), e.kernel_errno()), BRINDLE_ERR_NOT_FOUND);
  }
}

TEST_F(NetlinkTest, BatchReportsEachFailureAndProgramsTheRest) {
  make_underlay();
  std::vector<RouteChange> changes;
  for (int i = 0; i < 1000; ++i) {
    changes.push_back({RouteOp::replace, route("198.18." + std::to_string(i / 4) + "." +
                                                   std::to_string(i % 4 * 64) + "/26",
                                               "198.19.0.2")});
  }
  changes[500].route.gateway = IpPrefix::parse("198.18.250.1");    // not reachable: refused
  changes[700].route.gateway = IpPrefix::parse("2001:db8:19::2");  // wrong family: not even sent
  auto results = nl_.apply_routes(changes);
  ASSERT_EQ(results.size(), changes.size());
  for (size_t i = 0; i < results.size(); ++i) {
    if (i == 500) {
      EXPECT_EQ(results[i].kernel_errno, ENETUNREACH) << results[i].message;
      EXPECT_TRUE(contains(results[i].message, "198.18.125.0/26 via 198.18.250.1"))
          << results[i].message;
    } else if (i == 700) {
      EXPECT_EQ(results[i].error, Errc::invalid) << results[i].message;
      EXPECT_TRUE(contains(results[i].message, "different IP families")) << results[i].message;
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].message;
    }
  }
  EXPECT_EQ(our_routes(4).size(), 998u);

  for (auto& change : changes) {
    change.op = RouteOp::remove;
  }
  results = nl_.apply_routes(changes);
  EXPECT_EQ(std::count_if(results.begin(), results.end(), [](auto& r) { return r.ok(); }), 998);
  EXPECT_EQ(results[500].error, Errc::not_found) << results[500].message;
  EXPECT_TRUE(our_routes().empty());
}

// --- VXLAN, neighbours, FDB -----------------------------------------------------------------

TEST_F(NetlinkTest, VxlanDeviceWithExplicitPortAndLearningOff) {
  const int underlay = make_underlay();
  VxlanSpec spec;
  spec.name = "vxlan.brindle";
  spec.attributes.vni = 4096;
  spec.attributes.port = 4789;
  spec.attributes.learning = false;
  spec.attributes.local = IpPrefix::parse("198.19.0.1");
  spec.attributes.underlay_ifindex = underlay;
  spec.mtu = 1450;
  spec.mac = MacAddress::parse("66:42:19:00:00:0a");
  nl_.create_vxlan(spec);

  const LinkInfo link = nl_.link("vxlan.brindle");
  EXPECT_EQ(link.kind, "vxlan");
  EXPECT_EQ(link.mtu, 1450u);
  EXPECT_EQ(link.mac, *spec.mac);
  ASSERT_TRUE(link.vxlan.has_value());
  EXPECT_EQ(link.vxlan->vni, 4096u);
  EXPECT_EQ(link.vxlan->port, 4789);
  EXPECT_FALSE(link.vxlan->learning);
  EXPECT_EQ(link.vxlan->local.to_string(true), "198.19.0.1");
  EXPECT_EQ(link.vxlan->underlay_ifindex, underlay);
  const std::string details = ip("-d link show vxlan.brindle");
  EXPECT_TRUE(contains(details, "vxlan id 4096")) << details;
  EXPECT_TRUE(contains(details, "dstport 4789")) << details;
  EXPECT_TRUE(contains(details, "nolearning")) << details;
  EXPECT_TRUE(contains(details, "local 198.19.0.1 dev veth0")) << details;
  EXPECT_THROW(nl_.create_vxlan({.name = "vx0", .attributes = {.vni = 0}}), std::invalid_argument);
}

TEST_F(NetlinkTest, PermanentNeighbourAndFdbEntries) {
  make_underlay();
  VxlanSpec spec;
  spec.name = "vxlan.brindle";
  spec.attributes.vni = 4096;
  nl_.create_vxlan(spec);
  const int vxlan = nl_.link("vxlan.brindle").index;
  nl_.set_link_up(vxlan, true);

  const MacAddress remote_vtep = MacAddress::parse("66:42:19:00:00:02");
  const NeighbourEntry neighbour{vxlan, IpPrefix::parse("198.18.0.129"), remote_vtep};
  const FdbEntry fdb{vxlan, remote_vtep, IpPrefix::parse("198.19.0.2")};
  nl_.replace_neighbour(neighbour);
  nl_.replace_neighbour(neighbour);  // replace is idempotent
  nl_.replace_fdb(fdb);
  nl_.replace_fdb(fdb);

  auto neighbours = nl_.neighbours(vxlan, 4);
  ASSERT_EQ(neighbours.size(), 1u);
  EXPECT_EQ(neighbours[0].address.to_string(true), "198.18.0.129");
  EXPECT_EQ(neighbours[0].mac, remote_vtep);
  EXPECT_EQ(neighbours[0].state, NUD_PERMANENT);
  EXPECT_TRUE(contains(ip("neigh show dev vxlan.brindle"),
                       "198.18.0.129 lladdr 66:42:19:00:00:02 PERMANENT"));

  auto entries = nl_.fdb_entries(vxlan);
  auto ours = std::find_if(entries.begin(), entries.end(),
                           [&](const FdbEntry& e) { return e.mac == remote_vtep; });
  ASSERT_NE(ours, entries.end());
  EXPECT_EQ(ours->destination.to_string(true), "198.19.0.2");
  EXPECT_TRUE(ours->self);
  EXPECT_EQ(ours->state, NUD_PERMANENT);
  const std::string bridge_fdb = ip("fdb show dev vxlan.brindle", "bridge");
  EXPECT_TRUE(contains(bridge_fdb, "66:42:19:00:00:02 dst 198.19.0.2 self permanent"))
      << bridge_fdb;

  // NDP works the same way.
  const NeighbourEntry neighbour6{vxlan, IpPrefix::parse("2001:db8:18::81"), remote_vtep};
  nl_.replace_neighbour(neighbour6);
  auto neighbours6 = nl_.neighbours(vxlan, 6);
  auto found6 = std::find_if(neighbours6.begin(), neighbours6.end(), [&](const NeighbourEntry& n) {
    return n.address == neighbour6.address;
  });
  ASSERT_NE(found6, neighbours6.end());
  EXPECT_EQ(found6->state, NUD_PERMANENT);
  EXPECT_EQ(found6->mac, remote_vtep);
  nl_.delete_neighbour(neighbour6);

  nl_.delete_neighbour(neighbour);
  nl_.delete_fdb(fdb);
  EXPECT_TRUE(nl_.neighbours(vxlan, 4).empty());
  entries = nl_.fdb_entries(vxlan);
  EXPECT_EQ(std::count_if(entries.begin(), entries.end(),
                          [&](const FdbEntry& e) { return e.mac == remote_vtep; }),
            0);
  EXPECT_THROW(nl_.delete_neighbour(neighbour), NetlinkError);
}

TEST_F(NetlinkTest, SocketsAreMovableAndStayInTheirNamespace) {
  nl_.create_bridge("br0");
  Netlink moved = std::move(nl_);
  // Used from this thread (in the test's own namespace), the socket still acts in the scratch one.
  std::vector<std::string> names;
  for (const LinkInfo& link : moved.links()) {
    names.push_back(link.name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"br0", "lo"}));
}

}  // namespace
