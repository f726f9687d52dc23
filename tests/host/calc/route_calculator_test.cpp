#include "brindle/calc/route_calculator.hpp"

#include <gtest/gtest.h>

namespace brindle::calc {
namespace {

using model::EncapsulationMode;
using model::IpPrefix;

NodeInfo node(const std::string& name, const std::string& ipv4) {
  NodeInfo n;
  n.name = name;
  n.ipv4 = IpPrefix::parse(ipv4);
  return n;
}

PoolInfo pool(const std::string& name, const std::string& cidr,
              EncapsulationMode vxlan = EncapsulationMode::kNever) {
  PoolInfo p;
  p.name = name;
  p.cidr = IpPrefix::parse(cidr);
  p.vxlan = vxlan;
  return p;
}

const DesiredRoute* find(const RouteChanges& c, const std::string& block) {
  for (const auto& r : c.upserts) {
    if (r.block == IpPrefix::parse(block)) {
      return &r;
    }
  }
  return nullptr;
}

class RouteCalculatorTest : public ::testing::Test {
 protected:
  RouteCalculator calc{"node-a"};
  void SetUp() override {
    calc.upsert_node(node("node-a", "198.19.1.1/24"));
    calc.upsert_node(node("node-b", "198.19.1.2/24"));  // same subnet
    calc.upsert_node(node("node-c", "198.19.2.3/24"));  // another subnet
    calc.upsert_affinity(IpPrefix::parse("198.18.0.0/26"), "node-a");
    calc.upsert_affinity(IpPrefix::parse("198.18.0.64/26"), "node-b");
    calc.upsert_affinity(IpPrefix::parse("198.18.0.128/26"), "node-c");
  }
};

TEST_F(RouteCalculatorTest, OwnBlocksAreLocalRemoteBlocksGoViaTheirNode) {
  calc.upsert_pool(pool("p", "198.18.0.0/16"));
  const RouteChanges c = calc.take_route_changes();
  ASSERT_EQ(c.upserts.size(), 3u);
  EXPECT_TRUE(find(c, "198.18.0.0/26")->local);
  const DesiredRoute* b = find(c, "198.18.0.64/26");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->local);
  EXPECT_EQ(b->node, "node-b");
  EXPECT_EQ(b->encap, Encap::none);
  EXPECT_EQ(b->node_address->address().to_string(), "198.19.1.2");
  EXPECT_TRUE(calc.take_route_changes().empty()) << "nothing changed";
}

TEST_F(RouteCalculatorTest, VxlanAlwaysAndCrossSubnet) {
  calc.upsert_pool(pool("p", "198.18.0.0/16", EncapsulationMode::kAlways));
  RouteChanges c = calc.take_route_changes();
  EXPECT_EQ(find(c, "198.18.0.64/26")->encap, Encap::vxlan);
  EXPECT_EQ(find(c, "198.18.0.128/26")->encap, Encap::vxlan);

  calc.upsert_pool(pool("p", "198.18.0.0/16", EncapsulationMode::kCrossSubnet));
  c = calc.take_route_changes();
  ASSERT_NE(find(c, "198.18.0.64/26"), nullptr);
  EXPECT_EQ(find(c, "198.18.0.64/26")->encap, Encap::none) << "same subnet: direct";
  ASSERT_NE(find(c, "198.18.0.128/26"), nullptr);
  EXPECT_EQ(find(c, "198.18.0.128/26")->encap, Encap::vxlan) << "other subnet: encapsulated";
  EXPECT_TRUE(find(c, "198.18.0.128/26")->cross_subnet);
  EXPECT_EQ(find(c, "198.18.0.0/26"), nullptr) << "the local route did not change";
}

TEST_F(RouteCalculatorTest, RemovedNodesPoolsAndAffinitiesWithdrawRoutes) {
  calc.upsert_pool(pool("p", "198.18.0.0/16"));
  calc.take_route_changes();
  calc.remove_node("node-c");
  RouteChanges c = calc.take_route_changes();
  ASSERT_EQ(c.removals.size(), 1u);
  EXPECT_EQ(c.removals[0], IpPrefix::parse("198.18.0.128/26"));

  calc.remove_affinity(IpPrefix::parse("198.18.0.64/26"));
  c = calc.take_route_changes();
  EXPECT_EQ(c.removals, std::vector<IpPrefix>{IpPrefix::parse("198.18.0.64/26")});

  calc.remove_pool("p");
  c = calc.take_route_changes();
  EXPECT_EQ(c.removals, std::vector<IpPrefix>{IpPrefix::parse("198.18.0.0/26")});
  EXPECT_TRUE(calc.desired_routes().empty());
}

TEST_F(RouteCalculatorTest, NodeWithoutAddressOfTheFamilyGetsNoRoute) {
  calc.upsert_pool(pool("v6", "2001:db8:1::/64"));
  calc.upsert_affinity(IpPrefix::parse("2001:db8:1::40/122"), "node-b");
  const RouteChanges c = calc.take_route_changes();
  EXPECT_EQ(find(c, "2001:db8:1::40/122"), nullptr);
}

TEST_F(RouteCalculatorTest, RemoteNodeChangesExcludeThisNode) {
  NodeChanges n = calc.take_node_changes();
  ASSERT_EQ(n.upserts.size(), 2u);
  EXPECT_EQ(n.upserts[0].name, "node-b");
  EXPECT_EQ(n.upserts[1].name, "node-c");
  EXPECT_TRUE(calc.take_node_changes().empty());
  NodeInfo b = node("node-b", "198.19.1.2/24");
  b.vtep_mac = model::MacAddress::parse("66:11:22:33:44:55");
  calc.upsert_node(b);
  calc.remove_node("node-c");
  n = calc.take_node_changes();
  ASSERT_EQ(n.upserts.size(), 1u);
  EXPECT_EQ(n.upserts[0].vtep_mac->to_string(), "66:11:22:33:44:55");
  EXPECT_EQ(n.removals, std::vector<std::string>{"node-c"});
}

}  // namespace
}  // namespace brindle::calc
