#include "brindle/calc/bgp_calculator.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

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
  // An IPv6-only node has IPv6 sessions only, with the nodes that have an IPv6 address.
  const BgpState d = compute_bgp("d", nodes, {}, {});
  EXPECT_EQ(names(d), (std::vector<std::string>{"mesh6-a", "mesh6-b"}));
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

// ---- IPv6-only nodes: Calico's hash router id -----------------------------------------------

// The expected ids are the first 4 bytes of `printf %s NAME | sha256sum`, as Calico's
// CALICO_ROUTER_ID=hash computes them (first byte above 223 lowered by 32).
TEST(BgpCalculator, HashRouterIdIsCalicosSha256OfTheNodeName) {
  EXPECT_EQ(hash_router_id("node-a").to_string(), "102.87.15.240");     // 66570ff0...
  EXPECT_EQ(hash_router_id("node-b").to_string(), "147.239.55.198");    // 93ef37c6...
  EXPECT_EQ(hash_router_id("node-18").to_string(), "213.194.139.227");  // f5c28be3: 245 - 32
  EXPECT_EQ(hash_router_id("node-a"), hash_router_id("node-a"));
  // Never 0.0.0.0, never multicast or class E, distinct for distinct names (1000 names).
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const model::IpAddress id = hash_router_id("worker-" + std::to_string(i));
    ASSERT_TRUE(id.is_v4());
    EXPECT_NE(id.to_string(), "0.0.0.0");
    EXPECT_LE(id.bytes()[0], 223) << id.to_string();
    seen.insert(id.to_string());
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(BgpCalculator, Ipv6OnlyNodeGetsAHashRouterIdAndIpv6SessionsOnly) {
  const std::map<std::string, model::Node> nodes = {
      {"node-a", node("node-a", "", {}, {}, "2001:db8::1/64")},
      {"node-b", node("node-b", "", {}, {}, "2001:db8::2/64")},
      {"node-c", dual("node-c", "198.19.0.3/24", "2001:db8::3/64")},
      {"node-d", node("node-d", "198.19.0.4/24")}};  // IPv4 only: nothing in common
  model::BGPPeer tor4;
  tor4.metadata.name = "tor4";
  tor4.spec.peer_ip = model::PeerAddress::try_parse("198.19.0.254");
  tor4.spec.as_number = 65000;
  model::BGPPeer tor6;
  tor6.metadata.name = "tor6";
  tor6.spec.peer_ip = model::PeerAddress::try_parse("2001:db8::fe");
  tor6.spec.as_number = 65000;
  const std::map<std::string, model::BGPPeer> peers = {{"tor4", tor4}, {"tor6", tor6}};
  const BgpState a = compute_bgp("node-a", nodes, {}, peers);
  ASSERT_TRUE(a.router_id);
  EXPECT_EQ(*a.router_id, hash_router_id("node-a"));
  EXPECT_EQ(a.router_id->to_string(), "102.87.15.240");
  EXPECT_EQ(names(a), (std::vector<std::string>{"mesh6-node-b", "mesh6-node-c", "peer-tor6"}));
  EXPECT_EQ(find(a, "mesh6-node-b")->address.to_string(), "2001:db8::2");
  EXPECT_EQ(find(a, "mesh6-node-c")->address.to_string(), "2001:db8::3");
  EXPECT_EQ(compute_bgp("node-a", nodes, {}, peers), a);  // stable
  // Each IPv6-only node has its own id; a node with an IPv4 address keeps it as its id.
  const BgpState b = compute_bgp("node-b", nodes, {}, peers);
  EXPECT_EQ(b.router_id->to_string(), "147.239.55.198");
  EXPECT_NE(*a.router_id, *b.router_id);
  EXPECT_EQ(names(b), (std::vector<std::string>{"mesh6-node-a", "mesh6-node-c", "peer-tor6"}));
  EXPECT_EQ(compute_bgp("node-c", nodes, {}, {}).router_id->to_string(), "198.19.0.3");
  // A node without any address still has no sessions.
  model::Node bare;
  bare.metadata.name = "bare";
  const BgpState none =
      compute_bgp("bare", {{"bare", bare}, {"node-a", nodes.at("node-a")}}, {}, peers);
  EXPECT_FALSE(none.router_id);
  EXPECT_TRUE(none.peers.empty());
}

// ---- BGP passwords from a secrets directory ---------------------------------------------------

// A scratch secrets directory: <dir>/<secret>/<key>.
class SecretsDir {
 public:
  SecretsDir() {
    char name[] = "/tmp/brindle-secrets-test-XXXXXX";
    if (mkdtemp(name) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    dir_ = name;
  }
  ~SecretsDir() { std::filesystem::remove_all(dir_); }
  void write(const std::string& secret, const std::string& key, const std::string& value) const {
    std::filesystem::create_directories(dir_ / secret);
    std::ofstream(dir_ / secret / key, std::ios::binary | std::ios::trunc) << value;
  }
  SecretLookup lookup() const {
    return [reader = SecretsDirectory(dir_)](const model::SecretKeySelector& ref) {
      return reader.read(ref);
    };
  }
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

model::BGPPeer peer_with_password(const std::string& name, const std::string& peer_ip,
                                  const std::string& secret, const std::string& key) {
  model::BGPPeer p;
  p.metadata.name = name;
  p.spec.peer_ip = model::PeerAddress::try_parse(peer_ip);
  p.spec.as_number = 65000;
  p.spec.password = model::BGPPassword{model::SecretKeySelector{secret, key}};
  return p;
}

const BgpPeerInfo* find_withheld(const BgpState& s, const std::string& name) {
  for (const auto& p : s.withheld_peers) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

const std::map<std::string, model::Node> kTwoNodes = {{"a", node("a", "198.19.0.1/24")},
                                                      {"b", node("b", "198.19.0.2/24")}};

TEST(BgpPasswords, ThePasswordIsTheKeysFileAsItIsAndFollowsItsChanges) {
  SecretsDir secrets;
  secrets.write("bgp-passwords", "tor", "s3cret with spaces\\and backslash");
  const std::map<std::string, model::BGPPeer> peers = {
      {"tor", peer_with_password("tor", "198.19.0.254", "bgp-passwords", "tor")}};
  const BgpState s = compute_bgp("a", kTwoNodes, {}, peers, secrets.lookup());
  ASSERT_EQ(names(s), (std::vector<std::string>{"mesh-b", "peer-tor"}));
  EXPECT_TRUE(s.withheld_peers.empty());
  EXPECT_EQ(find(s, "peer-tor")->password, "s3cret with spaces\\and backslash");
  EXPECT_EQ(find(s, "mesh-b")->password, "");  // the mesh has no password
  // A rotated secret changes the state (the agent compares it with what it sent).
  secrets.write("bgp-passwords", "tor", "rotated");
  const BgpState rotated = compute_bgp("a", kTwoNodes, {}, peers, secrets.lookup());
  EXPECT_EQ(find(rotated, "peer-tor")->password, "rotated");
  EXPECT_NE(rotated, s);
}

TEST(BgpPasswords, APeerSelectorPeerGivesItsPasswordToEverySelectedNode) {
  SecretsDir secrets;
  secrets.write("mesh-auth", "password", "meshpw");
  std::map<std::string, model::Node> nodes = kTwoNodes;
  nodes["c"] = dual("c", "198.19.0.3/24", "2001:db8::3/64");
  nodes["a"] = dual("a", "198.19.0.1/24", "2001:db8::1/64");
  model::BGPConfiguration config;
  config.metadata.name = "default";
  config.spec.node_to_node_mesh_enabled = false;
  model::BGPPeer all;
  all.metadata.name = "all";
  all.spec.peer_selector = "all()";
  all.spec.password = model::BGPPassword{model::SecretKeySelector{"mesh-auth", "password"}};
  const BgpState s =
      compute_bgp("a", nodes, {{"default", config}}, {{"all", all}}, secrets.lookup());
  ASSERT_EQ(names(s), (std::vector<std::string>{"node-b", "node-c", "node6-c"}));
  for (const BgpPeerInfo& p : s.peers) {
    EXPECT_EQ(p.password, "meshpw") << p.name;
  }
}

TEST(BgpPasswords, AMissingSecretOrKeyWithholdsOnlyThatPeersSessions) {
  SecretsDir secrets;
  secrets.write("bgp-passwords", "tor", "s3cret");
  const std::map<std::string, model::BGPPeer> peers = {
      {"good", peer_with_password("good", "198.19.0.254", "bgp-passwords", "tor")},
      {"no-secret", peer_with_password("no-secret", "198.19.0.253", "absent", "tor")},
      {"no-key", peer_with_password("no-key", "198.19.0.252", "bgp-passwords", "other")}};
  const BgpState s = compute_bgp("a", kTwoNodes, {}, peers, secrets.lookup());
  EXPECT_EQ(names(s), (std::vector<std::string>{"mesh-b", "peer-good"}));
  ASSERT_EQ(s.withheld_peers.size(), 2u);
  const BgpPeerInfo* no_secret = find_withheld(s, "peer-no-secret");
  ASSERT_NE(no_secret, nullptr);
  EXPECT_EQ(no_secret->address.to_string(), "198.19.0.253");
  EXPECT_EQ(no_secret->type, PeerType::global);
  EXPECT_EQ(no_secret->password, "");
  EXPECT_EQ(no_secret->error,
            "password of BGPPeer \"no-secret\": secret \"absent\" not found (no "
            "directory " +
                (secrets.path() / "absent").string() + ")");
  const BgpPeerInfo* no_key = find_withheld(s, "peer-no-key");
  ASSERT_NE(no_key, nullptr);
  EXPECT_EQ(no_key->error,
            "password of BGPPeer \"no-key\": secret \"bgp-passwords\" has no key "
            "\"other\" (no file " +
                (secrets.path() / "bgp-passwords" / "other").string() + ")");
  // Without a secrets source at all, a password cannot be resolved either.
  const BgpState no_source = compute_bgp("a", kTwoNodes, {}, peers);
  EXPECT_EQ(names(no_source), (std::vector<std::string>{"mesh-b"}));
  ASSERT_EQ(no_source.withheld_peers.size(), 3u);
  EXPECT_EQ(find_withheld(no_source, "peer-good")->error,
            "password of BGPPeer \"good\": no secrets source configured");
}

TEST(BgpPasswords, AWithheldSessionIsNotReplacedByAnUnauthenticatedMeshSession) {
  SecretsDir secrets;  // empty: no secret at all
  model::BGPPeer to_b;
  to_b.metadata.name = "to-b";
  to_b.spec.peer_selector = "role == \"b\"";
  to_b.spec.password = model::BGPPassword{model::SecretKeySelector{"absent", "password"}};
  std::map<std::string, model::Node> nodes = kTwoNodes;
  nodes["b"] = node("b", "198.19.0.2/24", {{"role", "b"}});
  nodes["c"] = node("c", "198.19.0.3/24");
  const BgpState s = compute_bgp("a", nodes, {}, {{"to-b", to_b}}, secrets.lookup());
  EXPECT_EQ(names(s), (std::vector<std::string>{"mesh-c"}));  // no mesh-b
  ASSERT_EQ(s.withheld_peers.size(), 1u);
  EXPECT_EQ(s.withheld_peers[0].name, "node-b");
  EXPECT_EQ(s.withheld_peers[0].address.to_string(), "198.19.0.2");
  // Once the secret exists, the authenticated session is there.
  secrets.write("absent", "password", "pw");
  const BgpState fixed = compute_bgp("a", nodes, {}, {{"to-b", to_b}}, secrets.lookup());
  EXPECT_EQ(names(fixed), (std::vector<std::string>{"mesh-c", "node-b"}));
  EXPECT_EQ(find(fixed, "node-b")->password, "pw");
  EXPECT_TRUE(fixed.withheld_peers.empty());
}

TEST(BgpPasswords, ValuesBirdOrTcpMd5CannotTakeAreRefusedClearly) {
  SecretsDir secrets;
  const std::string prefix = "password of BGPPeer \"tor\": secret \"s\" key \"k\" ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"s3cret\n",
       "ends with a newline (write the value without one, e.g. printf '%s' or echo -n)"},
      {"s3cret\r\n",
       "ends with a newline (write the value without one, e.g. printf '%s' or echo -n)"},
      {"two\nlines", "contains a newline"},
      {"a\"b", "contains a double quote, which a BIRD configuration cannot carry"},
      {std::string("tab\there"),
       "contains a control character, which a BIRD configuration cannot carry"},
      {"", "is empty"},
      {std::string(81, 'x'), "is 81 bytes long; TCP MD5 passwords take at most 80"},
  };
  for (const auto& [value, why] : cases) {
    secrets.write("s", "k", value);
    const BgpState s = compute_bgp("a", kTwoNodes, {},
                                   {{"tor", peer_with_password("tor", "198.19.0.254", "s", "k")}},
                                   secrets.lookup());
    EXPECT_EQ(names(s), (std::vector<std::string>{"mesh-b"})) << why;
    ASSERT_EQ(s.withheld_peers.size(), 1u) << why;
    EXPECT_EQ(s.withheld_peers[0].error, prefix + why);
  }
  secrets.write("s", "k", std::string(80, 'x'));  // the longest that works
  EXPECT_EQ(find(compute_bgp("a", kTwoNodes, {},
                             {{"tor", peer_with_password("tor", "198.19.0.254", "s", "k")}},
                             secrets.lookup()),
                 "peer-tor")
                ->password.size(),
            80u);
}

TEST(BgpPasswords, TheSecretsDirectoryReportsWhatIsWrong) {
  SecretsDir secrets;
  const SecretsDirectory reader(secrets.path());
  secrets.write("s", "k", "v");
  EXPECT_EQ(reader.read({"s", "k"}).value, "v");
  EXPECT_EQ(reader.read({"s", "k"}).error, "");
  // A key that is a directory: unreadable, with the system's reason.
  std::filesystem::create_directories(secrets.path() / "s" / "dir");
  EXPECT_EQ(reader.read({"s", "dir"}).error, "secret \"s\" key \"dir\": cannot read " +
                                                 (secrets.path() / "s" / "dir").string() +
                                                 ": Is a directory");
  // Keys that would leave the secret's directory (the model allows dots in keys).
  for (const std::string key : {"..", ".", "..data"}) {
    EXPECT_EQ(reader.read({"s", key}).error,
              "secret \"s\" key \"" + key + "\": not a valid secret name and key");
  }
  // Kubernetes mounts a secret as symbolic links into a ..data directory: followed.
  std::filesystem::create_directories(secrets.path() / "mounted" / "..data");
  std::ofstream(secrets.path() / "mounted" / "..data" / "password") << "linked";
  std::filesystem::create_symlink("..data/password", secrets.path() / "mounted" / "password");
  EXPECT_EQ(reader.read({"mounted", "password"}).value, "linked");
  // A file far larger than any password is not read whole.
  secrets.write("s", "big", std::string(10000, 'x'));
  EXPECT_NE(reader.read({"s", "big"}).error.find("is larger than 4096 bytes"), std::string::npos);
}

}  // namespace
}  // namespace brindle::calc
