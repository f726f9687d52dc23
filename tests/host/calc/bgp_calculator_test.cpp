#include "brindle/calc/bgp_calculator.hpp"

#include <gtest/gtest.h>

namespace brindle::calc {
namespace {

model::Node node(const std::string& name, const std::string& ipv4,
                 std::map<std::string, std::string> labels = {}, const std::string& cluster = {},
                 const std::string& ipv6 = {}) {
  model::Node n;
  n.metadata.name = name;
  for (const auto& [k, v] : labels) {
    n.metadata.labels[k] = v;
  }
  if (!ipv4.empty()) {
    n.spec.ipv4_address = model::IpPrefix::parse(ipv4);
  }
  if (!ipv6.empty()) {
    n.spec.ipv6_address = model::IpPrefix::parse(ipv6);
  }
  if (!cluster.empty()) {
    n.spec.bgp = model::NodeBGPSpec{};
    n.spec.bgp->route_reflector_cluster_id = model::IpAddress::parse(cluster);
  }
  return n;
}

std::vector<std::string> names(const BgpState& s) {
  std::vector<std::string> out;
  for (const auto& p : s.peers) {
    out.push_back(p.name);
  }
  return out;
}

TEST(BgpCalculator, FullMeshByDefault) {
  const std::map<std::string, model::Node> nodes = {{"a", node("a", "198.19.0.1/24")},
                                                    {"b", node("b", "198.19.0.2/24")},
                                                    {"c", node("c", "198.19.0.3/24")}};
  const BgpState s = compute_bgp("a", nodes, {}, {});
  EXPECT_EQ(s.local_asn, 64512u);
  EXPECT_EQ(s.router_id->to_string(), "198.19.0.1");
  EXPECT_EQ(names(s), (std::vector<std::string>{"mesh-b", "mesh-c"}));
  EXPECT_EQ(s.peers[0].type, PeerType::mesh);
  EXPECT_EQ(s.peers[0].address.to_string(), "198.19.0.2");
}

TEST(BgpCalculator, ConfigurationAndGlobalPeers) {
  const std::map<std::string, model::Node> nodes = {{"a", node("a", "198.19.0.1/24")},
                                                    {"b", node("b", "198.19.0.2/24")}};
  model::BGPConfiguration config;
  config.metadata.name = "default";
  config.spec.as_number = 64600;
  config.spec.node_to_node_mesh_enabled = false;
  config.spec.listen_port = 1790;
  model::BGPPeer tor;
  tor.metadata.name = "tor";
  tor.spec.peer_ip = model::PeerAddress::try_parse("198.19.0.254");
  tor.spec.as_number = 65000;
  const BgpState s = compute_bgp("a", nodes, {{"default", config}}, {{"tor", tor}});
  EXPECT_EQ(s.local_asn, 64600u);
  EXPECT_EQ(s.listen_port, 1790);
  ASSERT_EQ(names(s), (std::vector<std::string>{"peer-tor"}));
  EXPECT_EQ(s.peers[0].type, PeerType::global);
  EXPECT_EQ(s.peers[0].asn, 65000u);
}

TEST(BgpCalculator, RouteReflectorTopology) {
  const std::map<std::string, model::Node> nodes = {
      {"rr", node("rr", "198.19.0.1/24", {{"role", "rr"}}, "198.19.0.1")},
      {"b", node("b", "198.19.0.2/24")},
      {"c", node("c", "198.19.0.3/24")}};
  model::BGPConfiguration config;
  config.metadata.name = "default";
  config.spec.node_to_node_mesh_enabled = false;
  model::BGPPeer to_rr;  // every node peers with the reflectors
  to_rr.metadata.name = "to-rr";
  to_rr.spec.peer_selector = "role == \"rr\"";
  model::BGPPeer rr_to_all;  // the reflector peers with every node
  rr_to_all.metadata.name = "rr-to-all";
  rr_to_all.spec.node_selector = "role == \"rr\"";
  rr_to_all.spec.peer_selector = "all()";
  const std::map<std::string, model::BGPPeer> peers = {{"to-rr", to_rr}, {"rr-to-all", rr_to_all}};
  const BgpState rr = compute_bgp("rr", nodes, {{"default", config}}, peers);
  EXPECT_EQ(rr.route_reflector_cluster_id, "198.19.0.1");
  ASSERT_EQ(names(rr), (std::vector<std::string>{"node-b", "node-c"}));
  EXPECT_EQ(rr.peers[0].type, PeerType::rr_client);
  const BgpState b = compute_bgp("b", nodes, {{"default", config}}, peers);
  ASSERT_EQ(names(b), (std::vector<std::string>{"node-rr"}));
  EXPECT_EQ(b.peers[0].type, PeerType::node);
}

TEST(BgpCalculator, NodeWithoutAddressHasNoSessions) {
  model::Node a;
  a.metadata.name = "a";
  const BgpState s = compute_bgp("a", {{"a", a}, {"b", node("b", "198.19.0.2/24")}}, {}, {});
  EXPECT_FALSE(s.router_id);
  EXPECT_TRUE(s.peers.empty());
}

model::Node dual(const std::string& name, const std::string& ipv4, const std::string& ipv6,
                 std::map<std::string, std::string> labels = {}, const std::string& cluster = {}) {
  return node(name, ipv4, std::move(labels), cluster, ipv6);
}

const BgpPeerInfo* find(const BgpState& s, const std::string& name) {
  for (const auto& p : s.peers) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

// IPv6 sessions between the nodes' IPv6 addresses, beside the IPv4 ones, when both ends have one.
TEST(BgpCalculator, DualStackMeshAddsIpv6SessionsBetweenIpv6Nodes) {
  const std::map<std::string, model::Node> nodes = {
      {"a", dual("a", "198.19.0.1/24", "2001:db8::1/64")},
      {"b", dual("b", "198.19.0.2/24", "2001:db8::2/64")},
      {"c", node("c", "198.19.0.3/24")},                // IPv4 only
      {"d", node("d", "", {}, {}, "2001:db8::4/64")}};  // IPv6 only
  const BgpState a = compute_bgp("a", nodes, {}, {});
  EXPECT_EQ(a.router_id->to_string(), "198.19.0.1");
  EXPECT_EQ(names(a), (std::vector<std::string>{"mesh-b", "mesh-c", "mesh6-b", "mesh6-d"}));
  ASSERT_NE(find(a, "mesh6-b"), nullptr);
  EXPECT_EQ(find(a, "mesh6-b")->address.to_string(), "2001:db8::2");
  EXPECT_EQ(find(a, "mesh6-b")->type, PeerType::mesh);
  EXPECT_EQ(find(a, "mesh6-b")->asn, 64512u);
  EXPECT_EQ(find(a, "mesh-b")->address.to_string(), "198.19.0.2");
  // An IPv4-only node has no IPv6 sessions: it has nothing to speak IPv6 from.
  const BgpState c = compute_bgp("c", nodes, {}, {});
  EXPECT_EQ(names(c), (std::vector<std::string>{"mesh-a", "mesh-b"}));
  // An IPv6-only node has no IPv4 router id, hence no sessions (as before).
  const BgpState d = compute_bgp("d", nodes, {}, {});
  EXPECT_FALSE(d.router_id);
  EXPECT_TRUE(d.peers.empty());
}

TEST(BgpCalculator, Ipv6PeerIpOnlyForNodesWithAnIpv6Address) {
  const std::map<std::string, model::Node> nodes = {
      {"a", dual("a", "198.19.0.1/24", "2001:db8::1/64")}, {"c", node("c", "198.19.0.3/24")}};
  model::BGPConfiguration config;
  config.metadata.name = "default";
  config.spec.node_to_node_mesh_enabled = false;
  model::BGPPeer tor6;
  tor6.metadata.name = "tor6";
  tor6.spec.peer_ip = model::PeerAddress::try_parse("[2001:db8::fe]:1790");
  tor6.spec.as_number = 65000;
  model::BGPPeer tor4;
  tor4.metadata.name = "tor4";
  tor4.spec.peer_ip = model::PeerAddress::try_parse("198.19.0.254");
  tor4.spec.as_number = 65000;
  tor4.spec.node = "a";
  const std::map<std::string, model::BGPPeer> peers = {{"tor6", tor6}, {"tor4", tor4}};
  const BgpState a = compute_bgp("a", nodes, {{"default", config}}, peers);
  ASSERT_EQ(names(a), (std::vector<std::string>{"peer-tor4", "peer-tor6"}));
  const BgpPeerInfo* p6 = find(a, "peer-tor6");
  EXPECT_EQ(p6->address.to_string(), "2001:db8::fe");
  EXPECT_EQ(p6->port, 1790);
  EXPECT_EQ(p6->asn, 65000u);
  EXPECT_EQ(p6->type, PeerType::global);
  EXPECT_EQ(find(a, "peer-tor4")->type, PeerType::node);
  EXPECT_TRUE(compute_bgp("c", nodes, {{"default", config}}, peers).peers.empty());
}

TEST(BgpCalculator, RouteReflectorOverBothFamilies) {
  const std::map<std::string, model::Node> nodes = {
      {"rr", dual("rr", "198.19.0.1/24", "2001:db8::1/64", {{"role", "rr"}}, "198.19.0.1")},
      {"b", dual("b", "198.19.0.2/24", "2001:db8::2/64")},
      {"c", node("c", "198.19.0.3/24")}};
  model::BGPConfiguration config;
  config.metadata.name = "default";
  config.spec.node_to_node_mesh_enabled = false;
  model::BGPPeer to_rr;
  to_rr.metadata.name = "to-rr";
  to_rr.spec.peer_selector = "role == \"rr\"";
  model::BGPPeer rr_to_all;
  rr_to_all.metadata.name = "rr-to-all";
  rr_to_all.spec.node_selector = "role == \"rr\"";
  rr_to_all.spec.peer_selector = "all()";
  const std::map<std::string, model::BGPPeer> peers = {{"to-rr", to_rr}, {"rr-to-all", rr_to_all}};
  const BgpState rr = compute_bgp("rr", nodes, {{"default", config}}, peers);
  ASSERT_EQ(names(rr), (std::vector<std::string>{"node-b", "node-c", "node6-b"}));
  EXPECT_EQ(find(rr, "node6-b")->type, PeerType::rr_client);
  EXPECT_EQ(find(rr, "node6-b")->address.to_string(), "2001:db8::2");
  const BgpState b = compute_bgp("b", nodes, {{"default", config}}, peers);
  ASSERT_EQ(names(b), (std::vector<std::string>{"node-rr", "node6-rr"}));
  EXPECT_EQ(find(b, "node6-rr")->type, PeerType::node);
  const BgpState c = compute_bgp("c", nodes, {{"default", config}}, peers);
  EXPECT_EQ(names(c), (std::vector<std::string>{"node-rr"}));
}

}  // namespace
}  // namespace brindle::calc
