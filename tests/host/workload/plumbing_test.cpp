// Pod plumbing against the real kernel: a scratch "node" namespace as the host side and a scratch
// namespace per pod; nothing is done in the test process's own namespace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "brindle/netlink/netlink.hpp"
#include "brindle/workload/cni_adapter.hpp"
#include "brindle/workload/plumbing.hpp"
#include "cni_test_support.hpp"
#include "sha1.hpp"
#include "workload_test_support.hpp"

namespace brindle::workload {
namespace {

using cni::testing::run_shell;
using cni::testing::shell_output;
using cni::testing::TestNode;
using cni::testing::TestPod;
using netlink::IpPrefix;
using ::testing::HasSubstr;
using testing::identity;
using ::testing::IsEmpty;
using testing::network;
using ::testing::Not;

std::string sha1sum(const std::string& text) {
  return shell_output("printf %s '" + text + "' | sha1sum | cut -c1-40");
}

std::optional<netlink::LinkInfo> find_link(int netns_fd, const std::string& name) {
  return netlink::run_in_netns(netns_fd, [&] { return netlink::Netlink().find_link(name); });
}

std::string read_sysctl_in(int netns_fd, const std::string& path) {
  return netlink::run_in_netns(netns_fd, [&] {
    std::ifstream file(path);
    std::string value;
    file >> value;
    return value;
  });
}

PlumbingError::Kind failure_kind(const std::function<void()>& action, std::string* message) {
  try {
    action();
  } catch (const PlumbingError& e) {
    if (message != nullptr) {
      *message = e.what();
    }
    return e.kind();
  }
  ADD_FAILURE() << "no PlumbingError thrown";
  return PlumbingError::Kind::kernel;
}

class PlumbingTest : public ::testing::Test {
 protected:
  TestNode node_;
  PlumbingOptions options_ = node_.options();
};

TEST(HostVethName, IsPrefixPlusElevenHexOfSha1) {
  PodIdentity pod;
  pod.pod_namespace = "ns1";
  pod.pod_name = "web-0";
  pod.container_id = "0123abcd";
  std::string name = host_veth_name(pod);
  EXPECT_EQ(name, "brv" + sha1sum("ns1.web-0").substr(0, 11));
  EXPECT_EQ(host_veth_name(pod, "xy"), "xy" + sha1sum("ns1.web-0").substr(0, 11));
  EXPECT_EQ(host_veth_name(pod, "cali").size(), 15u);
  pod.ifname = "net1";
  EXPECT_EQ(host_veth_name(pod), "brv" + sha1sum("ns1.web-0.net1").substr(0, 11));
  PodIdentity plain;
  plain.container_id = "0123abcd";
  EXPECT_EQ(host_veth_name(plain), "brv" + sha1sum("0123abcd").substr(0, 11));

  std::string message;
  EXPECT_EQ(failure_kind([&] { host_veth_name(plain, "abcde"); }, &message),
            PlumbingError::Kind::invalid_request);
  EXPECT_THAT(message, HasSubstr("1 to 4 characters"));
  EXPECT_EQ(failure_kind([&] { host_veth_name(plain, "b/v"); }, nullptr),
            PlumbingError::Kind::invalid_request);
  EXPECT_EQ(failure_kind([&] { host_veth_name(PodIdentity{}, "brv"); }, nullptr),
            PlumbingError::Kind::invalid_request);
}

TEST(HostVethName, Sha1MatchesFipsVectors) {
  EXPECT_EQ(detail::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(detail::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(detail::sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  std::string million(1000000, 'a');
  EXPECT_EQ(detail::sha1_hex(million), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_F(PlumbingTest, SetupProgramsHostAndPod) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-0");
  PodPlumbing plumbing = setup_pod(id, network({"198.18.10.2/26", "2001:db8:10::2"}), options_);
  const std::string& host = plumbing.host_ifname;
  EXPECT_EQ(host, host_veth_name(id));
  EXPECT_EQ(plumbing.host_mac.to_string(), "ee:ee:ee:ee:ee:ee");
  EXPECT_EQ(plumbing.container_ifname, "eth0");
  EXPECT_EQ(plumbing.mtu, 1450u);
  EXPECT_EQ(plumbing.addresses, (std::vector<IpPrefix>{IpPrefix::parse("198.18.10.2/32"),
                                                       IpPrefix::parse("2001:db8:10::2/128")}));

  // Host side.
  auto host_link = find_link(node_.fd(), host);
  ASSERT_TRUE(host_link);
  EXPECT_EQ(host_link->kind, "veth");
  EXPECT_TRUE(host_link->up);
  EXPECT_EQ(host_link->mtu, 1450u);
  EXPECT_EQ(host_link->mac.to_string(), "ee:ee:ee:ee:ee:ee");
  EXPECT_EQ(host_link->index, plumbing.host_ifindex);
  EXPECT_EQ(read_sysctl_in(node_.fd(), "/proc/sys/net/ipv4/conf/" + host + "/proxy_arp"), "1");
  EXPECT_EQ(read_sysctl_in(node_.fd(), "/proc/sys/net/ipv4/neigh/" + host + "/proxy_delay"), "0");
  EXPECT_EQ(read_sysctl_in(node_.fd(), "/proc/sys/net/ipv4/conf/" + host + "/forwarding"), "1");
  EXPECT_EQ(read_sysctl_in(node_.fd(), "/proc/sys/net/ipv6/conf/" + host + "/proxy_ndp"), "1");
  EXPECT_EQ(read_sysctl_in(node_.fd(), "/proc/sys/net/ipv6/conf/" + host + "/accept_ra"), "0");
  EXPECT_EQ(read_sysctl_in(node_.fd(), "/proc/sys/net/ipv6/conf/" + host + "/forwarding"), "1");
  std::string node = "ip -n " + node_.name() + " ";
  const std::string host_v6 = shell_output(node + "-6 addr show dev " + host);
  EXPECT_THAT(host_v6, HasSubstr("inet6 fe80::ecee:eeff:feee:eeee/64 scope link"));
  // addr_gen_mode took effect before the link had carrier: no automatic link-local address.
  EXPECT_EQ(host_v6.find("inet6 fe80"), host_v6.rfind("inet6 fe80")) << host_v6;
  EXPECT_THAT(shell_output(node + "route show proto 201"),
              HasSubstr("198.18.10.2 dev " + host + " scope link"));
  EXPECT_THAT(shell_output(node + "-6 route show proto 201"),
              HasSubstr("2001:db8:10::2 dev " + host));

  // Pod side.
  auto pod_link = find_link(pod.fd(), "eth0");
  ASSERT_TRUE(pod_link);
  EXPECT_TRUE(pod_link->up);
  EXPECT_EQ(pod_link->mtu, 1450u);
  EXPECT_EQ(pod_link->mac, plumbing.container_mac);
  std::string in_pod = "ip -n " + pod.name() + " ";
  EXPECT_THAT(shell_output(in_pod + "addr show dev eth0"), HasSubstr("inet 198.18.10.2/32"));
  EXPECT_THAT(shell_output(in_pod + "addr show dev eth0"), HasSubstr("inet6 2001:db8:10::2/128"));
  std::string routes = shell_output(in_pod + "route show");
  EXPECT_THAT(routes, HasSubstr("default via 169.254.1.1 dev eth0"));
  EXPECT_THAT(routes, ::testing::ContainsRegex("169\\.254\\.1\\.1 dev eth0 [a-z ]*scope link"));
  EXPECT_THAT(shell_output(in_pod + "-6 route show"),
              HasSubstr("default via fe80::ecee:eeff:feee:eeee dev eth0"));

  // Nothing in the test process's own namespace.
  EXPECT_FALSE(find_link(netlink::NetnsFd::current().get(), host));
  EXPECT_THAT(check_pod(id, network({"198.18.10.2", "2001:db8:10::2"}), options_), IsEmpty());

  cni::Result result = to_cni_result(plumbing);
  ASSERT_EQ(result.interfaces.size(), 2u);
  EXPECT_EQ(result.interfaces[1].sandbox, pod.path());
  EXPECT_EQ(result.ips[0].address, "198.18.10.2/32");
  EXPECT_EQ(result.ips[0].interface, 1);
}

TEST_F(PlumbingTest, AddressRoutedElsewhereFailsAndRollsBack) {
  TestPod pod;
  std::string node = "ip -n " + node_.name() + " ";
  ASSERT_EQ(run_shell(node + "route add 198.18.11.2/32 dev brt-up0"), 0);
  std::string message;
  auto kind = failure_kind(
      [&] { setup_pod(identity(pod, "web-1"), network({"198.18.11.2"}), options_); }, &message);
  EXPECT_EQ(kind, PlumbingError::Kind::address_conflict);
  EXPECT_THAT(message, HasSubstr("198.18.11.2 is already routed to brt-up0"));
  EXPECT_EQ(cni_error_code(PlumbingError(kind, message)), cni::errors::kAddressUnavailable);
  EXPECT_THAT(list_host_veths(options_), IsEmpty());
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
  EXPECT_THAT(shell_output(node + "route show 198.18.11.2"), HasSubstr("dev brt-up0"));
}

// A block of a single address (blockSize 32) has its blackhole exactly at the pod's address: a
// named conflict, never an abort.
TEST_F(PlumbingTest, AddressBlackholedIsANamedConflict) {
  TestPod pod;
  std::string node = "ip -n " + node_.name() + " ";
  ASSERT_EQ(run_shell(node + "route add blackhole 198.18.11.3/32 proto 202"), 0);
  std::string message;
  auto kind = failure_kind(
      [&] { setup_pod(identity(pod, "web-1"), network({"198.18.11.3"}), options_); }, &message);
  EXPECT_EQ(kind, PlumbingError::Kind::address_conflict);
  EXPECT_THAT(message, HasSubstr("198.18.11.3 is already routed to a blackhole"));
  EXPECT_THAT(list_host_veths(options_), IsEmpty());
}

TEST_F(PlumbingTest, PodSideFailureRollsBack) {
  TestPod pod;
  // IPv6 disabled for new interfaces in the pod: the pod's IPv6 default route fails after the veth
  // pair, the host sysctls and the pod's IPv4 routes were done.
  netlink::run_in_netns(
      pod.fd(), [] { std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1"; });
  std::string message;
  auto kind = failure_kind(
      [&] {
        setup_pod(identity(pod, "web-2"), network({"198.18.12.2", "2001:db8:12::2"}), options_);
      },
      &message);
  EXPECT_EQ(kind, PlumbingError::Kind::kernel);
  EXPECT_THAT(message, HasSubstr("add route ::/0"));
  EXPECT_THAT(list_host_veths(options_), IsEmpty());
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
  EXPECT_EQ(shell_output("ip -n " + node_.name() + " route show proto 201"), "");
}

TEST_F(PlumbingTest, ExistingInterfaceInPodIsRefused) {
  TestPod pod;
  ASSERT_EQ(run_shell("ip -n " + pod.name() + " link add eth0 type veth peer name keep0"), 0);
  std::string message;
  EXPECT_EQ(
      failure_kind([&] { setup_pod(identity(pod, "web-3"), network({"198.18.13.2"}), options_); },
                   &message),
      PlumbingError::Kind::interface_exists);
  EXPECT_THAT(message, HasSubstr("\"eth0\" already exists in " + pod.path()));
  EXPECT_THAT(list_host_veths(options_), IsEmpty());
  EXPECT_TRUE(find_link(pod.fd(), "eth0"));
}

// The two halves of setup_pod(): between them the pair exists but nothing routes to the pod.
TEST_F(PlumbingTest, PreparedPodCarriesNothingUntilFinished) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-7");
  PreparedPod prepared = prepare_pod(id, 1400, PodFamilies{true, false}, options_);
  EXPECT_EQ(prepared.host_ifname(), host_veth_name(id));
  ASSERT_TRUE(find_link(node_.fd(), host_veth_name(id)));
  ASSERT_TRUE(find_link(pod.fd(), "eth0"));
  EXPECT_EQ(shell_output("ip -n " + node_.name() + " route show dev " + host_veth_name(id)), "");
  EXPECT_EQ(shell_output("ip -n " + pod.name() + " -4 addr show dev eth0"), "");
  // The pod got an IPv6 address as well, which prepare_pod() was not told of: finish_pod() adds
  // what that family needs, and the result is what setup_pod() would have built.
  const PodNetworkSpec spec = network({"198.18.17.2", "2001:db8:17::2"});
  const PodPlumbing plumbed = finish_pod(std::move(prepared), spec);
  EXPECT_EQ(plumbed.mtu, 1400u);
  EXPECT_EQ(plumbed.routes.size(), 2u);
  PodNetworkSpec with_mtu = spec;
  with_mtu.mtu = 1400;
  EXPECT_THAT(check_pod(id, with_mtu, options_), IsEmpty());
}

TEST_F(PlumbingTest, AnUnfinishedPreparedPodDeletesItsPair) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-8");
  {
    PreparedPod prepared = prepare_pod(id, 0, PodFamilies{true, true}, options_);
    ASSERT_TRUE(find_link(node_.fd(), host_veth_name(id)));
  }
  EXPECT_FALSE(find_link(node_.fd(), host_veth_name(id)));
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
  // Neither does a failed finish leave anything behind.
  PreparedPod prepared = prepare_pod(id, 0, PodFamilies{true, false}, options_);
  EXPECT_EQ(failure_kind([&] { finish_pod(std::move(prepared), PodNetworkSpec{}); }, nullptr),
            PlumbingError::Kind::invalid_request);
  EXPECT_FALSE(find_link(node_.fd(), host_veth_name(id)));
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
}

TEST_F(PlumbingTest, StaleHostVethIsReplaced) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-4");
  ASSERT_EQ(run_shell("ip -n " + node_.name() + " link add " + host_veth_name(id) +
                      " type veth peer name stale0"),
            0);
  setup_pod(id, network({"198.18.14.2"}), options_);
  EXPECT_FALSE(find_link(node_.fd(), "stale0"));
  EXPECT_THAT(check_pod(id, network({"198.18.14.2"}), options_), IsEmpty());
}

TEST_F(PlumbingTest, TeardownIsIdempotentAndToleratesMissingNamespaces) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-5");
  setup_pod(id, network({"198.18.15.2", "2001:db8:15::2"}), options_);
  teardown_pod(id, options_);
  // The routes go at once (the pod is unreachable), the pair with the reaper's next round.
  EXPECT_EQ(shell_output("ip -n " + node_.name() + " route show proto 201; ip -n " + node_.name() +
                         " -6 route show proto 201"),
            "");
  flush_pending_teardowns();
  EXPECT_FALSE(find_link(node_.fd(), host_veth_name(id)));
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
  teardown_pod(id, options_);
  PodIdentity no_netns = id;
  no_netns.netns_path.clear();
  teardown_pod(no_netns, options_);
  PodIdentity gone = id;
  gone.netns_path = "/run/netns/brt-cni-does-not-exist";
  teardown_pod(gone, options_);
  // After all that, the same pod can be set up again, even straight after a DEL whose veth the
  // reaper has not deleted yet.
  setup_pod(id, network({"198.18.15.2"}), options_);
  teardown_pod(id, options_);
  setup_pod(id, network({"198.18.15.2"}), options_);
  EXPECT_THAT(check_pod(id, network({"198.18.15.2"}), options_), IsEmpty());

  // A namespace that lost its path but is still alive keeps the pair: the host name removes it.
  teardown_pod(no_netns, options_);
  EXPECT_EQ(shell_output("ip -n " + node_.name() + " route show proto 201"), "");
  flush_pending_teardowns();
  EXPECT_FALSE(find_link(node_.fd(), host_veth_name(id)));
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
}

TEST_F(PlumbingTest, TeardownLeavesInterfacesThatAreNotOurs) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-6");
  ASSERT_EQ(run_shell("ip -n " + pod.name() + " link add eth0 type bridge"), 0);
  teardown_pod(id, options_);
  EXPECT_TRUE(find_link(pod.fd(), "eth0"));
}

TEST_F(PlumbingTest, CheckReportsEachDifference) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-7");
  PodNetworkSpec spec = network({"198.18.17.2", "2001:db8:17::2"});
  PodPlumbing plumbing = setup_pod(id, spec, options_);
  ASSERT_THAT(check_pod(id, spec, options_), IsEmpty());

  // (Removing the pod's last IPv4 address would also flush its IPv4 routes: take the IPv6 one.)
  ASSERT_EQ(run_shell("ip -n " + pod.name() + " addr del 2001:db8:17::2/128 dev eth0"), 0);
  ASSERT_EQ(run_shell("ip -n " + node_.name() + " route del 198.18.17.2/32"), 0);
  ASSERT_EQ(run_shell("ip -n " + node_.name() + " link set " + plumbing.host_ifname + " mtu 1300"),
            0);
  std::vector<std::string> problems = check_pod(id, spec, options_);
  EXPECT_THAT(problems,
              ::testing::Contains(HasSubstr("address 2001:db8:17::2/128 is missing on eth0")));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("host route 198.18.17.2/32")));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("has MTU 1300 instead of 1450")));
  EXPECT_EQ(problems.size(), 3u) << ::testing::PrintToString(problems);

  PodIdentity gone = id;
  gone.netns_path = "/run/netns/brt-cni-does-not-exist";
  EXPECT_THAT(check_pod(gone, spec, options_),
              ::testing::Contains(HasSubstr("network namespace unavailable")));
  teardown_pod(id, options_);
  flush_pending_teardowns();
  EXPECT_THAT(
      check_pod(id, spec, options_),
      ::testing::Contains(HasSubstr("host interface " + plumbing.host_ifname + " is missing")));
}

TEST_F(PlumbingTest, InvalidRequestsAreRejectedBeforeAnyChange) {
  TestPod pod;
  PodIdentity id = identity(pod, "web-8");
  auto kind_of = [&](PodIdentity who, PodNetworkSpec what) {
    return failure_kind([&] { setup_pod(who, what, options_); }, nullptr);
  };
  EXPECT_EQ(kind_of(id, network({})), PlumbingError::Kind::invalid_request);
  EXPECT_EQ(kind_of(id, network({"198.18.18.2"}, 20)), PlumbingError::Kind::invalid_request);
  PodIdentity bad_ifname = id;
  bad_ifname.ifname = "much-too-long-name";
  EXPECT_EQ(kind_of(bad_ifname, network({"198.18.18.2"})), PlumbingError::Kind::invalid_request);
  PodIdentity no_netns = id;
  no_netns.netns_path.clear();
  EXPECT_EQ(kind_of(no_netns, network({"198.18.18.2"})), PlumbingError::Kind::invalid_request);
  PodIdentity missing = id;
  missing.netns_path = "/run/netns/brt-cni-does-not-exist";
  EXPECT_EQ(kind_of(missing, network({"198.18.18.2"})), PlumbingError::Kind::netns_unavailable);
  PodIdentity not_netns = id;
  not_netns.netns_path = "/proc/self/status";
  EXPECT_EQ(kind_of(not_netns, network({"198.18.18.2"})), PlumbingError::Kind::netns_unavailable);
  PlumbingOptions bad_prefix = options_;
  bad_prefix.veth_prefix = "toolong";
  EXPECT_EQ(failure_kind([&] { setup_pod(id, network({"198.18.18.2"}), bad_prefix); }, nullptr),
            PlumbingError::Kind::invalid_request);
  EXPECT_THAT(list_host_veths(options_), IsEmpty());
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
}

TEST_F(PlumbingTest, ContainerWithoutKubernetesIdentityAndCustomPrefix) {
  TestPod pod;
  PodIdentity id;
  id.container_id = "f00dfeed";
  id.netns_path = pod.path();
  PlumbingOptions options = options_;
  options.veth_prefix = "xy";
  options.route_protocol = 202;
  PodPlumbing plumbing = setup_pod(id, network({"198.18.19.2"}, 0), options);
  EXPECT_EQ(plumbing.host_ifname, "xy" + sha1sum("f00dfeed").substr(0, 11));
  EXPECT_EQ(plumbing.mtu, 1500u);  // kernel default
  EXPECT_THAT(shell_output("ip -n " + node_.name() + " route show proto 202"),
              HasSubstr("198.18.19.2 dev " + plumbing.host_ifname));
  EXPECT_EQ(list_host_veths(options), std::vector<std::string>{plumbing.host_ifname});
  EXPECT_THAT(list_host_veths(options_), IsEmpty());  // other prefix
  delete_host_veth(plumbing.host_ifname, options);
  delete_host_veth(plumbing.host_ifname, options);
  EXPECT_EQ(shell_output("ip -n " + node_.name() + " route show proto 202"), "");
  flush_pending_teardowns();
  EXPECT_THAT(list_host_veths(options), IsEmpty());
  EXPECT_FALSE(find_link(pod.fd(), "eth0"));
}

TEST_F(PlumbingTest, BigTcpSizesAreSetOnBothEndsOnlyWhenAsked) {
  constexpr uint32_t kBig = 196608;
  const netlink::GsoLimits big{.gso_max_size = kBig,
                               .gro_max_size = kBig,
                               .gso_ipv4_max_size = kBig,
                               .gro_ipv4_max_size = kBig};
  const netlink::GsoLimits kernel_defaults{.gso_max_size = 65536,
                                           .gro_max_size = 65536,
                                           .gso_ipv4_max_size = 65536,
                                           .gro_ipv4_max_size = 65536};
  PlumbingOptions with_big_tcp = options_;
  with_big_tcp.veth_gso = big;
  TestPod big_pod;
  const PodPlumbing big_plumbing =
      setup_pod(identity(big_pod, "big-0"), network({"198.18.10.2/26"}), with_big_tcp);
  auto host_side = find_link(node_.fd(), big_plumbing.host_ifname);
  auto pod_side = find_link(big_pod.fd(), "eth0");
  ASSERT_TRUE(host_side && pod_side);
  EXPECT_EQ(host_side->gso, big) << host_side->gso.to_string();
  EXPECT_EQ(pod_side->gso, big) << pod_side->gso.to_string();
  EXPECT_TRUE(host_side->up);
  EXPECT_THAT(shell_output("ip -n " + node_.name() + " -d link show " + big_plumbing.host_ifname),
              HasSubstr("gso_max_size 196608"));
  EXPECT_THAT(shell_output("ip -n " + big_pod.name() + " -d link show eth0"),
              HasSubstr("gro_max_size 196608"));

  TestPod plain_pod;
  const PodPlumbing plain_plumbing =
      setup_pod(identity(plain_pod, "plain-0"), network({"198.18.10.3/26"}), options_);
  EXPECT_EQ(find_link(node_.fd(), plain_plumbing.host_ifname)->gso, kernel_defaults);
  EXPECT_EQ(find_link(plain_pod.fd(), "eth0")->gso, kernel_defaults);

  // Both pods work as usual: host to pod over each veth.
  for (const char* address : {"198.18.10.2", "198.18.10.3"}) {
    EXPECT_EQ(run_shell("ip netns exec " + node_.name() + " ping -c1 -W2 " + address +
                        " >/dev/null 2>&1"),
              0)
        << address;
  }
}

TEST(CniAdapter, IdentityFromRequestParams) {
  cni::Params params;
  params.container_id = "abc";
  params.ifname = "eth0";
  params.netns = "/run/netns/x";
  params.args = {{"K8S_POD_NAMESPACE", "ns1"}, {"K8S_POD_NAME", "web-0"}};
  PodIdentity pod = pod_identity(params);
  EXPECT_EQ(pod.pod_namespace, "ns1");
  EXPECT_EQ(pod.pod_name, "web-0");
  EXPECT_EQ(pod.netns_path, "/run/netns/x");
  params.args = {{"K8S_POD_NAMESPACE", "ns1"}};  // half a Kubernetes identity: not one
  EXPECT_TRUE(pod_identity(params).pod_namespace.empty());
}

}  // namespace
}  // namespace brindle::workload
