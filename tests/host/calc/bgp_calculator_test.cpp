#include "brindle/calc/bgp_calculator.hpp"

#include <gtest/gtest.h>

namespace brindle::calc {
namespace {

model::Node node(const std::string& name, const std::string& ipv4,
                 std::map<std::string, std::string> labels = {}, const std::string& cluster = {}) {
  model::Node n;
  n.metadata.name = name;
  for (const auto& [k, v] : labels) {
    n.metadata.labels[k] = v;
  }
  n.spec.ipv4_address = model::IpPrefix::parse(ipv4);
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

}  // namespace
}  // namespace brindle::calc
