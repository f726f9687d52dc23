// [workload] big_tcp: the pod veth sizes chosen from the uplink of a scratch "node" namespace
// (TestNode: uplink brt-up0 with 198.19.0.1/24 and 2001:db8:ff::1/64).
#include "brindle/workload/big_tcp.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brindle/netlink/netlink.hpp"
#include "cni_test_support.hpp"

namespace brindle::workload {
namespace {

using cni::testing::TestNode;
using netlink::GsoLimits;
using ::testing::HasSubstr;

constexpr GsoLimits kAll(uint32_t size) {
  return {.gso_max_size = size,
          .gro_max_size = size,
          .gso_ipv4_max_size = size,
          .gro_ipv4_max_size = size};
}

TEST(BigTcpLimits, TakeTheUplinksSizesUpTo196608AndNothingAt64KbOrLess) {
  EXPECT_EQ(big_tcp_limits(kAll(196608)), kAll(196608));
  EXPECT_EQ(big_tcp_limits(kAll(524280)), kAll(196608));
  EXPECT_EQ(big_tcp_limits(kAll(131072)), kAll(131072));
  EXPECT_EQ(big_tcp_limits(kAll(65536)), GsoLimits{});
  EXPECT_EQ(big_tcp_limits(kAll(16384)), GsoLimits{});
  // An uplink reporting no IPv4 limits (Linux < 6.3): only the IPv6 ones.
  EXPECT_EQ(big_tcp_limits({.gso_max_size = 262144, .gro_max_size = 65536}),
            (GsoLimits{.gso_max_size = 196608}));
}

class BigTcpChoiceTest : public ::testing::Test {
 protected:
  TestNode node_;
  netlink::Netlink nl_ = netlink::Netlink::open_in_netns(node_.fd());

  // The uplink as the agent finds it: brt-up0 as the kernel reports it now.
  BigTcpRequest request(std::string encapsulation = "none") {
    return {
        .enabled = true, .encapsulation = std::move(encapsulation), .uplink = nl_.link("brt-up0")};
  }
  void set_uplink(uint32_t size) { nl_.set_link_gso_limits(nl_.link("brt-up0").index, kAll(size)); }
};

TEST_F(BigTcpChoiceTest, AnUplinkAt64KbRaisesNothing) {
  const BigTcpChoice choice = choose_big_tcp(request());
  EXPECT_EQ(choice.uplink, "brt-up0");
  EXPECT_TRUE(choice.veth_gso.empty()) << choice.veth_gso.to_string();
  EXPECT_THAT(choice.reason, HasSubstr("brt-up0 offers no more than 65536"));
}

TEST_F(BigTcpChoiceTest, PodsGetWhatTheUplinkOffersUpTo196608) {
  set_uplink(196608);
  BigTcpChoice choice = choose_big_tcp(request());
  EXPECT_EQ(choice.uplink, "brt-up0");
  EXPECT_EQ(choice.veth_gso, kAll(196608));
  EXPECT_EQ(choice.reason, "");

  set_uplink(131072);
  EXPECT_EQ(choose_big_tcp(request()).veth_gso, kAll(131072));
  set_uplink(400000);
  EXPECT_EQ(choose_big_tcp(request()).veth_gso, kAll(196608));
}

TEST_F(BigTcpChoiceTest, NeverWithATunnelOrWhenOff) {
  set_uplink(196608);
  for (const char* encapsulation : {"vxlan", "ipip", ""}) {
    const BigTcpChoice choice = choose_big_tcp(request(encapsulation));
    EXPECT_TRUE(choice.veth_gso.empty()) << encapsulation;
    EXPECT_THAT(choice.reason, HasSubstr("only applied with encapsulation \"none\""));
  }
  BigTcpRequest off = request();
  off.enabled = false;
  EXPECT_TRUE(choose_big_tcp(off).veth_gso.empty());
}

TEST_F(BigTcpChoiceTest, AnUplinkThatCannotBeFoundRaisesNothing) {
  set_uplink(196608);
  BigTcpRequest elsewhere = request();
  elsewhere.uplink.reset();
  const BigTcpChoice choice = choose_big_tcp(elsewhere);
  EXPECT_TRUE(choice.veth_gso.empty());
  EXPECT_EQ(choice.uplink, "");
  EXPECT_THAT(choice.reason, HasSubstr("no device carries the node's address"));
}

}  // namespace
}  // namespace brindle::workload
