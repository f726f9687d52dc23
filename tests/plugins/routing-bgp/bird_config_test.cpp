// The BIRD 2 configuration renderer: golden files for each topology (mesh, route reflector,
// global peer, IPIP filters, VXLAN pools' routes as the host formed them), every one accepted by
// the real `bird -p`, and clear errors for input BIRD could not take.
//
// BRINDLE_UPDATE_GOLDEN=1 rewrites the golden files from the renderer (review the diff!).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bird_config.hpp"

namespace {

using brindle::BgpPeer;
using brindle::Error;
using brindle::IpPrefix;
using brindle::Route;
using brindle::RoutingPool;
using brindle::bgp::BirdInputs;
using brindle::bgp::render_bird_config;

std::string golden_path(const std::string& name) {
  return std::string(BRINDLE_BGP_GOLDEN_DIR) + "/" + name + ".conf";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `bird -p -c` on the text; returns "" when BIRD accepts it, else BIRD's output.
std::string bird_parse(const std::string& text) {
  char dir_template[] = "/tmp/brindle-bgp-golden-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  EXPECT_NE(dir, nullptr);
  const std::string file = std::string(dir) + "/bird.conf";
  std::ofstream(file) << text;
  const std::string command = "/usr/sbin/bird -p -c " + file + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  char buf[512];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) {
    output += buf;
  }
  const int status = pipe != nullptr ? pclose(pipe) : -1;
  std::filesystem::remove_all(dir);
  if (status == 0) {
    return "";
  }
  return output.empty() ? "bird -p failed with status " + std::to_string(status) : output;
}

void expect_golden(const std::string& name, const BirdInputs& inputs) {
  const std::string text = render_bird_config(inputs).text;
  if (std::getenv("BRINDLE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(golden_path(name)) << text;
  }
  EXPECT_EQ(text, read_file(golden_path(name))) << "golden file " << golden_path(name);
  EXPECT_EQ(bird_parse(text), "") << text;
}

RoutingPool pool(const std::string& name, const std::string& cidr,
                 brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE,
                 brindle_pool_mode_t mode = BRINDLE_POOL_MODE_NEVER, const std::string& device = "",
                 uint32_t flags = 0) {
  return {name, IpPrefix::parse(cidr), encap, mode, device, flags};
}

Route local_block(const std::string& cidr, const std::string& pool_name, uint32_t flags = 0) {
  Route r;
  r.type = BRINDLE_ROUTE_LOCAL_BLOCK;
  r.destination = IpPrefix::parse(cidr);
  r.pool = pool_name;
  r.flags = flags;
  r.node = "node-a";
  return r;
}

// Another node's block in the form the host (and the encapsulation) made it.
Route remote_block(const std::string& cidr, const std::string& pool_name,
                   const std::string& gateway, const std::string& device = "", uint32_t flags = 0,
                   brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE) {
  Route r;
  r.type = BRINDLE_ROUTE_REMOTE_BLOCK;
  r.destination = IpPrefix::parse(cidr);
  r.pool = pool_name;
  r.gateway = IpPrefix::parse(gateway);
  r.device = device;
  r.flags = flags;
  r.encap = encap;
  r.node = "node-b";
  r.node_address = IpPrefix::parse("198.19.0.2/24");
  return r;
}

BgpPeer peer(const std::string& name, brindle_bgp_peer_type_t type, const std::string& address,
             uint32_t asn = 0) {
  BgpPeer p;
  p.name = name;
  p.type = type;
  p.address = IpPrefix::parse(address);
  p.asn = asn;
  p.source = name;
  return p;
}

BirdInputs base() {
  BirdInputs in;
  in.settings.local_asn = 64512;
  in.node_address = IpPrefix::parse("198.19.0.1/24");
  in.pools = {pool("default", "198.18.0.0/16")};
  in.local_blocks = {local_block("198.18.1.0/26", "default"),
                     local_block("198.18.1.64/26", "default")};
  return in;
}

TEST(BirdConfig, FullMesh) {
  BirdInputs in = base();
  in.peers = {peer("node-b", BRINDLE_BGP_PEER_MESH, "198.19.0.2"),
              peer("node-c", BRINDLE_BGP_PEER_MESH, "198.19.0.3")};
  expect_golden("mesh", in);
}

TEST(BirdConfig, RouteReflectorSkipsMeshAndReflectsToClients) {
  BirdInputs in = base();
  in.settings.route_reflector_cluster_id = "224.0.0.1";
  in.settings.listen_port = 1790;
  in.settings.bfd = true;
  in.peers = {peer("node-b", BRINDLE_BGP_PEER_MESH, "198.19.0.2"),
              peer("node-b", BRINDLE_BGP_PEER_RR_CLIENT, "198.19.0.2"),
              peer("node-c", BRINDLE_BGP_PEER_RR_CLIENT, "198.19.0.3")};
  const auto rendered = render_bird_config(in);
  EXPECT_EQ(rendered.peers_by_protocol.count("Mesh_node_b"), 0u);
  EXPECT_EQ(rendered.peers_by_protocol.count("RRClient_node_b"), 1u);
  expect_golden("route-reflector", in);
}

TEST(BirdConfig, GlobalAndNodePeersWithPasswordAndPort) {
  BirdInputs in = base();
  in.settings.graceful_restart_seconds = 0;
  BgpPeer tor = peer("tor-1", BRINDLE_BGP_PEER_GLOBAL, "198.19.0.254", 65001);
  tor.password = "s3cret\\with backslash";
  tor.port = 1179;
  in.peers = {tor, peer("rack-rr", BRINDLE_BGP_PEER_NODE, "198.19.0.253")};
  expect_golden("global-peer", in);
}

TEST(BirdConfig, IpipPoolsAlwaysAndCrossSubnet) {
  BirdInputs in = base();
  in.pools = {
      pool("ipip-always", "198.18.0.0/17", BRINDLE_ENCAP_IPIP, BRINDLE_POOL_MODE_ALWAYS, "tunl0"),
      pool("ipip-cross", "198.18.128.0/17", BRINDLE_ENCAP_IPIP, BRINDLE_POOL_MODE_CROSS_SUBNET,
           "tunl0")};
  in.local_blocks = {local_block("198.18.1.0/26", "ipip-always"),
                     local_block("198.18.129.0/26", "ipip-cross")};
  in.peers = {peer("node-b", BRINDLE_BGP_PEER_MESH, "198.19.0.2")};
  const std::string text = render_bird_config(in).text;
  // The order BIRD 2.0.12 needs to install `via <node> dev tunl0 onlink`.
  EXPECT_NE(text.find("onlink = true;\n    ifname = \"tunl0\";\n    gw = bgp_next_hop;"),
            std::string::npos);
  EXPECT_NE(text.find("!(bgp_next_hop ~ 198.19.0.0/24)"), std::string::npos);
  expect_golden("ipip", in);
}

// VXLAN pools: BGP-learned routes are not installed; the host's routes (through the tunnel to
// the remote tunnel address, or direct within the subnet for CrossSubnet) are, as given.
TEST(BirdConfig, VxlanPoolsInstalledAsFormedAndNoExportPoolsNotAdvertised) {
  BirdInputs in = base();
  in.pools = {pool("vxlan", "198.18.0.0/17", BRINDLE_ENCAP_VXLAN, BRINDLE_POOL_MODE_ALWAYS,
                   "vxlan.brindle"),
              pool("private", "198.18.128.0/17", BRINDLE_ENCAP_NONE, BRINDLE_POOL_MODE_NEVER, "",
                   BRINDLE_POOL_NO_EXPORT)};
  in.local_blocks = {local_block("198.18.1.0/26", "vxlan"),
                     local_block("198.18.129.0/26", "private"),
                     local_block("198.18.2.0/26", "vxlan", BRINDLE_ROUTE_NO_EXPORT)};
  in.remote_blocks = {remote_block("198.18.3.0/26", "vxlan", "198.18.3.0", "vxlan.brindle",
                                   BRINDLE_ROUTE_ONLINK, BRINDLE_ENCAP_VXLAN),
                      // CrossSubnet within the subnet: direct to the node, still the host's route.
                      remote_block("198.18.4.0/26", "vxlan", "198.19.0.3"),
                      // Not a VXLAN pool: learned over BGP, not rendered.
                      remote_block("198.18.130.0/26", "private", "198.19.0.2")};
  in.peers = {peer("node-b", BRINDLE_BGP_PEER_MESH, "198.19.0.2")};
  const std::string text = render_bird_config(in).text;
  EXPECT_NE(text.find("if net ~ [ 198.18.0.0/17+ ] then reject;"), std::string::npos);
  EXPECT_NE(text.find("  route 198.18.3.0/26 via 198.18.3.0%'vxlan.brindle' onlink;\n"
                      "  route 198.18.4.0/26 via 198.19.0.3;\n}"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("198.18.130.0/26"), std::string::npos);
  EXPECT_NE(text.find("if proto = \"brindle_tunnels\" then accept;"), std::string::npos);
  // Only the exportable block is advertised; all three are blackholed.
  EXPECT_NE(text.find("net ~ [ 198.18.1.0/26 ] then accept;"), std::string::npos);
  EXPECT_NE(text.find("route 198.18.129.0/26 blackhole;"), std::string::npos);
  expect_golden("vxlan", in);
}

TEST(BirdConfig, EmptyStateIsValid) {
  BirdInputs in;
  in.node_address = IpPrefix::parse("198.19.0.1/24");
  EXPECT_EQ(bird_parse(render_bird_config(in).text), "");
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_INVALID_ARGUMENT);
    return e.what();
  }
  return "";
}

TEST(BirdConfig, InputBirdCannotTakeIsRefusedByName) {
  BirdInputs in = base();
  in.node_address = IpPrefix();
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: no IPv4 router id: set the node's IPv4 address or BGP router id");

  in = base();
  BgpPeer bad = peer("tor", BRINDLE_BGP_PEER_GLOBAL, "198.19.0.254");
  bad.password = "a\"b";
  in.peers = {bad};
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: password of peer tor contains a double quote or a control character, "
            "which BIRD cannot read");

  in = base();
  in.peers = {peer("node-b", BRINDLE_BGP_PEER_RR_CLIENT, "198.19.0.2")};
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: peer \"node-b\" is a route reflector client but this node has no "
            "cluster id");

  in.settings.route_reflector_cluster_id = "not-an-id";
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: route reflector cluster id \"not-an-id\" is neither an IPv4 address "
            "nor a number");

  in = base();
  in.pools = {pool("ipip", "198.18.0.0/16", BRINDLE_ENCAP_IPIP, BRINDLE_POOL_MODE_ALWAYS, "")};
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: IPIP pool \"ipip\" has no valid tunnel device (got \"\")");

  in = base();
  in.pools = {pool("vxlan", "198.18.0.0/16", BRINDLE_ENCAP_VXLAN, BRINDLE_POOL_MODE_ALWAYS,
                   "vxlan.brindle")};
  in.remote_blocks = {remote_block("198.18.3.0/26", "vxlan", "198.18.3.0", "vx'lan",
                                   BRINDLE_ROUTE_ONLINK, BRINDLE_ENCAP_VXLAN)};
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: route to 198.18.3.0/26 has an invalid device \"vx'lan\"");
  in.remote_blocks[0].gateway = IpPrefix();
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: route to 198.18.3.0/26 (VXLAN pool \"vxlan\") has no IPv4 gateway");
}

}  // namespace
