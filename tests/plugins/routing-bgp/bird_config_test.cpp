// The BIRD 2 configuration renderer: golden files for each topology (mesh, route reflector,
// global peer, IPIP filters, VXLAN pools' routes as the host formed them, dual-stack), every one
// accepted by the real `bird -p`, and clear errors for input BIRD could not take.
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
                   brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE,
                   const std::string& node_address = "198.19.0.2/24") {
  Route r;
  r.type = BRINDLE_ROUTE_REMOTE_BLOCK;
  r.destination = IpPrefix::parse(cidr);
  r.pool = pool_name;
  r.gateway = IpPrefix::parse(gateway);
  r.device = device;
  r.flags = flags;
  r.encap = encap;
  r.node = "node-b";
  r.node_address = IpPrefix::parse(node_address);
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

// The text between `from` and the next line that is exactly "}" (one protocol or filter).
std::string block_of(const std::string& text, const std::string& from) {
  const size_t at = text.find(from);
  if (at == std::string::npos) {
    return {};
  }
  return text.substr(at, text.find("\n}\n", at) + 3 - at);
}

BirdInputs dual_stack() {
  BirdInputs in = base();
  in.node_address6 = IpPrefix::parse("2001:db8::1/64");
  in.pools = {pool("default", "198.18.0.0/16"), pool("default-v6", "2001:db8:1::/64")};
  in.local_blocks = {local_block("198.18.1.0/26", "default"),
                     local_block("2001:db8:1::/122", "default-v6"),
                     local_block("2001:db8:1::40/122", "default-v6")};
  return in;
}

// As in Calico: IPv6 blocks travel over sessions between IPv6 addresses (mesh over the nodes'
// IPv6 addresses, BGPPeers with an IPv6 peerIP), IPv4 blocks over IPv4 sessions; the router id
// stays the IPv4 one; each family has its blackholes, filters and kernel protocol.
TEST(BirdConfig, DualStackMeshAndIpv6Peers) {
  BirdInputs in = dual_stack();
  in.pools.push_back(pool("vxlan-v6", "2001:db8:2::/64", BRINDLE_ENCAP_VXLAN,
                          BRINDLE_POOL_MODE_ALWAYS, "vxlan6.brindle"));
  in.pools.push_back(pool("private-v6", "2001:db8:3::/64", BRINDLE_ENCAP_NONE,
                          BRINDLE_POOL_MODE_NEVER, "", BRINDLE_POOL_NO_EXPORT));
  in.local_blocks.push_back(local_block("2001:db8:3::/122", "private-v6"));
  in.remote_blocks = {
      remote_block("2001:db8:2::40/122", "vxlan-v6", "2001:db8:ffff::2", "vxlan6.brindle",
                   BRINDLE_ROUTE_ONLINK, BRINDLE_ENCAP_VXLAN, "2001:db8::2/64"),
      remote_block("2001:db8:1::80/122", "default-v6", "2001:db8::2", "", 0, BRINDLE_ENCAP_NONE,
                   "2001:db8::2/64")};
  BgpPeer tor6 = peer("peer-tor6", BRINDLE_BGP_PEER_GLOBAL, "2001:db8::fe", 65001);
  tor6.password = "v6secret";
  tor6.port = 1179;
  in.peers = {peer("mesh-node-b", BRINDLE_BGP_PEER_MESH, "198.19.0.2"),
              peer("mesh6-node-b", BRINDLE_BGP_PEER_MESH, "2001:db8::2"), tor6};
  const auto rendered = render_bird_config(in);
  const std::string& text = rendered.text;
  EXPECT_NE(text.find("router id 198.19.0.1;"), std::string::npos);
  EXPECT_EQ(rendered.peers_by_protocol.size(), 3u);
  EXPECT_EQ(rendered.peers_by_protocol.count("Mesh_mesh6_node_b"), 1u);

  const std::string blocks6 = block_of(text, "protocol static brindle_blocks6 {");
  EXPECT_EQ(blocks6,
            "protocol static brindle_blocks6 {\n  ipv6;\n  route 2001:db8:1::/122 blackhole;\n"
            "  route 2001:db8:1::40/122 blackhole;\n  route 2001:db8:3::/122 blackhole;\n}\n")
      << text;
  // IPv4 blocks are not in the IPv6 protocols and the other way round.
  EXPECT_EQ(block_of(text, "protocol static brindle_blocks {").find("2001:db8"), std::string::npos);
  // Only exportable IPv6 blocks are advertised, only over IPv6 sessions.
  EXPECT_NE(block_of(text, "filter brindle_export6 {")
                .find("if proto = \"brindle_blocks6\" && net ~ [ 2001:db8:1::/122, "
                      "2001:db8:1::40/122 ] then accept;"),
            std::string::npos)
      << text;
  // The host's route for the IPv6 VXLAN pool is installed as formed; the other remote block is
  // learned over BGP.
  EXPECT_EQ(block_of(text, "protocol static brindle_tunnels6 {"),
            "protocol static brindle_tunnels6 {\n  ipv6;\n"
            "  route 2001:db8:2::40/122 via 2001:db8:ffff::2%'vxlan6.brindle' onlink;\n}\n");
  EXPECT_NE(block_of(text, "filter brindle_kernel_export6 {")
                .find("if net ~ [ 2001:db8:2::/64+ ] then reject;"),
            std::string::npos);
  const std::string kernel6 = block_of(text, "protocol kernel brindle_kernel6 {");
  EXPECT_NE(kernel6.find("ipv6 {\n    import none;\n    export filter brindle_kernel_export6;"),
            std::string::npos)
      << kernel6;
  EXPECT_NE(kernel6.find("learn off;"), std::string::npos);
  // IPv6 sessions: from the node's IPv6 address, ipv6 channel only.
  const std::string peer6 = block_of(text, "template bgp brindle_peer6 {");
  EXPECT_NE(peer6.find("local 2001:db8::1 as 64512;"), std::string::npos) << peer6;
  EXPECT_NE(peer6.find("ipv6 {\n    import filter brindle_import6;\n"
                       "    export filter brindle_export6;"),
            std::string::npos)
      << peer6;
  EXPECT_EQ(peer6.find("ipv4"), std::string::npos) << peer6;
  EXPECT_EQ(block_of(text, "template bgp brindle_peer {").find("ipv6"), std::string::npos);
  EXPECT_EQ(block_of(text, "protocol bgp Mesh_mesh6_node_b from brindle_peer6 {"),
            "protocol bgp Mesh_mesh6_node_b from brindle_peer6 {\n"
            "  neighbor 2001:db8::2 as 64512;\n}\n");
  EXPECT_EQ(block_of(text, "protocol bgp Global_peer_tor6 from brindle_peer6 {"),
            "protocol bgp Global_peer_tor6 from brindle_peer6 {\n"
            "  neighbor 2001:db8::fe port 1179 as 65001;\n  password \"v6secret\";\n}\n");
  EXPECT_NE(text.find("protocol bgp Mesh_mesh_node_b from brindle_peer {"), std::string::npos);
  expect_golden("dual-stack", in);
}

TEST(BirdConfig, RouteReflectorOverIpv6) {
  BirdInputs in = dual_stack();
  in.settings.route_reflector_cluster_id = "224.0.0.1";
  in.settings.bfd = true;
  in.peers = {peer("mesh6-node-b", BRINDLE_BGP_PEER_MESH, "2001:db8::2"),
              peer("node6-node-b", BRINDLE_BGP_PEER_RR_CLIENT, "2001:db8::2"),
              peer("node-node-b", BRINDLE_BGP_PEER_RR_CLIENT, "198.19.0.2")};
  const auto rendered = render_bird_config(in);
  EXPECT_EQ(rendered.peers_by_protocol.count("Mesh_mesh6_node_b"), 0u);
  EXPECT_EQ(block_of(rendered.text, "protocol bgp RRClient_node6_node_b from brindle_peer6 {"),
            "protocol bgp RRClient_node6_node_b from brindle_peer6 {\n"
            "  neighbor 2001:db8::2 as 64512;\n  rr client;\n  rr cluster id 224.0.0.1;\n"
            "  ipv6 {\n    import filter brindle_import6;\n"
            "    export filter brindle_export_reflect6;\n  };\n}\n")
      << rendered.text;
  EXPECT_NE(block_of(rendered.text, "filter brindle_export_reflect6 {")
                .find("if source = RTS_BGP && net ~ [ 2001:db8:1::/64+ ] then accept;"),
            std::string::npos)
      << rendered.text;
  expect_golden("route-reflector-v6", in);
}

// An IPv6-only node needs a router id from the BGP settings (the host gives Calico's hash of
// the node name: 102.87.15.240 for "node-a"); IPv6 sessions then have their source address,
// there are no IPv4 sessions, and an IPv6 peer may have a password.
TEST(BirdConfig, Ipv6OnlyNodeWithTheHostsRouterId) {
  BirdInputs in = dual_stack();
  in.node_address = IpPrefix();
  in.pools = {pool("default-v6", "2001:db8:1::/64")};
  in.local_blocks = {local_block("2001:db8:1::/122", "default-v6")};
  BgpPeer tor6 = peer("peer-tor6", BRINDLE_BGP_PEER_GLOBAL, "2001:db8::fe", 65001);
  tor6.password = "v6-only secret";
  in.peers = {peer("mesh6-node-b", BRINDLE_BGP_PEER_MESH, "2001:db8::2"),
              peer("mesh6-node-c", BRINDLE_BGP_PEER_MESH, "2001:db8::3"), tor6};
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: no IPv4 router id: set the node's IPv4 address or BGP router id");
  in.settings.router_id = IpPrefix::parse("102.87.15.240");
  const auto rendered = render_bird_config(in);
  const std::string& text = rendered.text;
  EXPECT_NE(text.find("router id 102.87.15.240;"), std::string::npos);
  EXPECT_NE(text.find("template bgp brindle_peer {\n  local as 64512;"), std::string::npos) << text;
  EXPECT_NE(text.find("template bgp brindle_peer6 {\n  local 2001:db8::1 as 64512;"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(" from brindle_peer {"), std::string::npos) << "an IPv4 session: " << text;
  EXPECT_EQ(rendered.peers_by_protocol.size(), 3u);
  EXPECT_EQ(block_of(text, "protocol bgp Global_peer_tor6 from brindle_peer6 {"),
            "protocol bgp Global_peer_tor6 from brindle_peer6 {\n"
            "  neighbor 2001:db8::fe as 65001;\n  password \"v6-only secret\";\n}\n");
  EXPECT_EQ(block_of(text, "protocol static brindle_blocks {"),
            "protocol static brindle_blocks {\n  ipv4;\n}\n");
  expect_golden("ipv6-only", in);
}

TEST(BirdConfig, EmptyStateIsValid) {
  BirdInputs in;
  in.node_address = IpPrefix::parse("198.19.0.1/24");
  EXPECT_EQ(bird_parse(render_bird_config(in).text), "");
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

  in = dual_stack();
  in.pools = {pool("vxlan-v6", "2001:db8:2::/64", BRINDLE_ENCAP_VXLAN, BRINDLE_POOL_MODE_ALWAYS,
                   "vxlan6.brindle")};
  in.remote_blocks = {remote_block("2001:db8:2::40/122", "vxlan-v6", "198.18.3.0", "vxlan6.brindle",
                                   BRINDLE_ROUTE_ONLINK, BRINDLE_ENCAP_VXLAN, "2001:db8::2/64")};
  EXPECT_EQ(error_of([&] { render_bird_config(in); }),
            "routing bgp: route to 2001:db8:2::40/122 (VXLAN pool \"vxlan-v6\") has no IPv6 "
            "gateway");
}

}  // namespace
