// brindle-routing-bgp.so loaded through the host's loader and driven through the routing C ABI,
// with the real bird2 in two scratch network namespaces joined by a veth (198.19.0.1 and
// 198.19.0.2, AS 64512; 2001:db8::1 and 2001:db8::2 for the dual-stack and IPv6-only cases;
// passwords are real TCP MD5 signatures between the two kernels). Every call into a
// plugin runs on a thread inside its node's namespace, so BIRD starts there; every BIRD is stopped
// at the end, also on failure.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "brindle/calc/bgp_calculator.hpp"
#include "brindle/common/strings.hpp"
#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"
#include "brindle/netlink/netns.hpp"
#include "brindle/routing.h"
#include "brindle/sdk/core.hpp"

namespace {

namespace nl = brindle::netlink;
using brindle::loader::LoadedPlugin;
using brindle::loader::PluginKind;
using namespace std::chrono_literals;

brindle_ip_prefix_t abi(const std::string& text) {
  return text.empty() ? brindle_ip_prefix_t{} : brindle::IpPrefix::parse(text).raw();
}
brindle_str_t str(const std::string& text) {
  return {text.data(), text.size()};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Output of a shell command.
std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  char buf[512];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) {
    output += buf;
  }
  if (pipe != nullptr) {
    pclose(pipe);
  }
  return output;
}

// Polls `condition` until it holds or `limit` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return condition();
}

struct CallResult {
  brindle_status_t status = BRINDLE_OK;
  std::string message;
  bool ok() const { return status == BRINDLE_OK; }
};

struct Peer {
  std::string name, address, type, state, since, info;
  bool established = false;
};

struct Status {
  CallResult result;
  int ready = -1;
  std::vector<Peer> peers;
};

// The desired state a test hands to one node's plugin.
const std::string kVxlanDevice = "vxlan.brindle";
const std::string kIpipDevice = "tunl0";
const std::string kNoDevice;

struct TestPool {
  std::string name;
  std::string cidr;
  brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE;
  uint32_t flags = 0;
  brindle_pool_mode_t mode = BRINDLE_POOL_MODE_ALWAYS;  // unless encap is none
};

// Another node's block as the host formed it (REMOTE_BLOCK).
struct TestRemoteBlock {
  std::string cidr, pool, gateway, device;
  uint32_t flags = 0;
  brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE;
};

struct Desired {
  std::vector<TestPool> pools;
  std::vector<std::pair<std::string, std::string>> local_blocks;  // cidr, pool
  std::vector<std::pair<std::string, std::string>> mesh_peers;    // name, address
  std::vector<TestRemoteBlock> remote_blocks = {};
  std::map<std::string, std::string> passwords = {};  // peer name -> TCP MD5 password
  std::string router_id = {};                         // empty: the node's IPv4 address
};

// One node: a plugin instance created (and always called) inside the node's namespace.
class Node {
 public:
  Node(const nl::ScratchNetns& ns, const std::string& address, const std::string& state_dir,
       bool stop_on_destroy = true, const std::string& address6 = {})
      : ns_(ns), state_dir_(state_dir) {
    const std::string toml = "state_dir = \"" + state_dir +
                             "\"\nstop_on_destroy = " + (stop_on_destroy ? "true" : "false") + "\n";
    brindle::loader::HostEnvironment env;
    env.node.name = "node-" + (address.empty() ? address6 : address);
    if (!address.empty()) {
      env.node.ipv4 = brindle::strings::parse_ip_prefix(address);
    }
    if (!address6.empty()) {
      env.node.ipv6 = brindle::strings::parse_ip_prefix(address6);
    }
    env.request_refresh = [this](PluginKind) { ++refresh_requests_; };
    plugin_ = ns.run([&] {
      return std::make_unique<LoadedPlugin>(
          brindle::loader::open_plugin(BRINDLE_ROUTING_BGP_PLUGIN, {PluginKind::routing, "bgp"}),
          brindle::config::PluginSection::from_toml(toml, "brindle.toml"), env);
    });
    vtable_ = plugin_->library().routing();
  }
  ~Node() {
    destroy();
    kill_leftover_bird();
  }

  void destroy() {
    if (plugin_) {
      ns_.run([&] { plugin_.reset(); });
    }
  }

  CallResult update(const Desired& d, const std::vector<std::string>& removals = {}) {
    std::vector<brindle_routing_pool_t> pools(d.pools.size());
    std::vector<const brindle_routing_pool_t*> pool_ptrs;
    for (size_t i = 0; i < d.pools.size(); ++i) {
      const TestPool& p = d.pools[i];
      pools[i] = {sizeof(brindle_routing_pool_t),
                  str(p.name),
                  abi(p.cidr),
                  p.encap,
                  p.encap == BRINDLE_ENCAP_NONE ? BRINDLE_POOL_MODE_NEVER : p.mode,
                  str(p.encap == BRINDLE_ENCAP_VXLAN  ? kVxlanDevice
                      : p.encap == BRINDLE_ENCAP_IPIP ? kIpipDevice
                                                      : kNoDevice),
                  p.flags};
      pool_ptrs.push_back(&pools[i]);
    }
    std::vector<brindle_route_t> routes(d.local_blocks.size() + d.remote_blocks.size());
    std::vector<const brindle_route_t*> route_ptrs;
    for (size_t i = 0; i < d.local_blocks.size(); ++i) {
      routes[i] = brindle_route_t{};
      routes[i].struct_size = sizeof(brindle_route_t);
      routes[i].type = BRINDLE_ROUTE_LOCAL_BLOCK;
      routes[i].destination = abi(d.local_blocks[i].first);
      routes[i].pool = str(d.local_blocks[i].second);
      route_ptrs.push_back(&routes[i]);
    }
    for (size_t j = 0; j < d.remote_blocks.size(); ++j) {
      const TestRemoteBlock& rb = d.remote_blocks[j];
      brindle_route_t& r = routes[d.local_blocks.size() + j];
      r = brindle_route_t{};
      r.struct_size = sizeof(brindle_route_t);
      r.type = BRINDLE_ROUTE_REMOTE_BLOCK;
      r.destination = abi(rb.cidr);
      r.gateway = abi(rb.gateway);
      r.device = str(rb.device);
      r.flags = rb.flags;
      r.encap = rb.encap;
      r.pool = str(rb.pool);
      route_ptrs.push_back(&r);
    }
    std::vector<brindle_ip_prefix_t> removed;
    for (const std::string& r : removals) {
      removed.push_back(abi(r));
    }
    brindle_bgp_settings_t settings{};
    settings.struct_size = sizeof(settings);
    settings.local_asn = 64512;
    settings.listen_port = 179;
    settings.graceful_restart_seconds = 120;
    settings.router_id = abi(d.router_id);
    std::vector<brindle_bgp_peer_t> peers(d.mesh_peers.size());
    std::vector<const brindle_bgp_peer_t*> peer_ptrs;
    for (size_t i = 0; i < d.mesh_peers.size(); ++i) {
      peers[i] = brindle_bgp_peer_t{};
      peers[i].struct_size = sizeof(brindle_bgp_peer_t);
      peers[i].name = str(d.mesh_peers[i].first);
      peers[i].type = BRINDLE_BGP_PEER_MESH;
      peers[i].address = abi(d.mesh_peers[i].second);
      peers[i].asn = 64512;
      if (auto pw = d.passwords.find(d.mesh_peers[i].first); pw != d.passwords.end()) {
        peers[i].password = str(pw->second);
      }
      peer_ptrs.push_back(&peers[i]);
    }
    brindle_routing_update_t u{};
    u.struct_size = sizeof(u);
    u.upserts = route_ptrs.data();
    u.n_upserts = route_ptrs.size();
    u.removals = removed.data();
    u.n_removals = removed.size();
    u.set_pools = 1;
    u.pools = pool_ptrs.data();
    u.n_pools = pool_ptrs.size();
    u.set_bgp = 1;
    u.bgp = &settings;
    u.peers = peer_ptrs.data();
    u.n_peers = peer_ptrs.size();
    return call(
        [&](brindle_error_t* err) { return vtable_->update(plugin_->instance(), &u, err); });
  }
  CallResult in_sync() {
    return call([&](brindle_error_t* err) { return vtable_->in_sync(plugin_->instance(), err); });
  }
  CallResult apply() {
    return call([&](brindle_error_t* err) { return vtable_->apply(plugin_->instance(), err); });
  }
  CallResult refresh() {
    return call([&](brindle_error_t* err) { return vtable_->refresh(plugin_->instance(), err); });
  }
  Status status() {
    Status s;
    s.result = call([&](brindle_error_t* err) {
      return vtable_->status(
          plugin_->instance(),
          [](void* user, const brindle_routing_peer_status_t* p) {
            const auto text = [](brindle_str_t v) { return std::string(v.data, v.size); };
            static_cast<std::vector<Peer>*>(user)->push_back(
                {text(p->name), brindle::IpPrefix(p->address).address_string(), text(p->type),
                 text(p->state), text(p->since), text(p->info), p->established != 0});
          },
          &s.peers, &s.ready, err);
    });
    return s;
  }
  // The one peer's status, once it is Established.
  std::optional<Peer> established_peer() {
    const Status s = status();
    if (s.result.ok() && s.peers.size() == 1 && s.peers[0].established) {
      return s.peers[0];
    }
    return std::nullopt;
  }

  // Every peer, once all `count` of them are Established.
  std::optional<std::vector<Peer>> all_established(size_t count) {
    const Status s = status();
    if (!s.result.ok() || s.peers.size() != count) {
      return std::nullopt;
    }
    for (const Peer& p : s.peers) {
      if (!p.established) {
        return std::nullopt;
      }
    }
    return s.peers;
  }

  // The pid BIRD wrote, if that process still runs (a zombie does not).
  pid_t bird_pid() const {
    const std::string text = read_file(state_dir_ + "/bird.pid");
    if (text.empty()) {
      return -1;
    }
    const pid_t pid = static_cast<pid_t>(std::atol(text.c_str()));
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    if (stat.find("(bird)") == std::string::npos || paren + 2 >= stat.size() ||
        stat[paren + 2] == 'Z') {
      return -1;
    }
    return pid;
  }
  int refresh_requests() const { return refresh_requests_.load(); }
  // `birdc` against this node's BIRD.
  std::string birdc(const std::string& command) const {
    return run("birdc -s " + state_dir_ + "/bird.ctl " + command + " 2>&1");
  }
  std::string ip(const std::string& args) const {
    return run("ip -n " + ns_.name() + " " + args + " 2>&1");
  }

 private:
  template <typename Fn>
  CallResult call(Fn&& fn) {
    return ns_.run([&] {
      brindle_error_t err{};
      CallResult result;
      result.status = fn(&err);
      result.message = err.message;
      return result;
    });
  }
  // Safety net: a BIRD the plugin failed to stop never outlives the test.
  void kill_leftover_bird() const {
    const pid_t pid = bird_pid();
    if (pid > 0) {
      ::kill(pid, SIGKILL);
    }
  }

  const nl::ScratchNetns& ns_;
  std::string state_dir_;
  std::atomic<int> refresh_requests_{0};
  std::unique_ptr<LoadedPlugin> plugin_;
  const brindle_routing_vtable_t* vtable_ = nullptr;
};

class RoutingBgpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/brindle-bgp-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    const std::string link = "ip -n " + ns_a_.name() +
                             " link add bgp-a type veth peer name bgp-b "
                             "netns " +
                             ns_b_.name();
    ASSERT_EQ(std::system(link.c_str()), 0);
    for (const auto& [ns, dev, address] : {std::tuple{&ns_a_, "bgp-a", "198.19.0.1/24"},
                                           std::tuple{&ns_b_, "bgp-b", "198.19.0.2/24"}}) {
      const std::string prefix = "ip -n " + ns->name() + " ";
      ASSERT_EQ(std::system((prefix + "addr add " + address + " dev " + dev).c_str()), 0);
      ASSERT_EQ(std::system((prefix + "link set " + dev + " up").c_str()), 0);
      ASSERT_EQ(std::system((prefix + "link set lo up").c_str()), 0);
    }
  }
  void TearDown() override {
    node_a_.reset();
    node_b_.reset();
    std::filesystem::remove_all(dir_);
  }

  Node& start_a(const std::string& address6 = {}) {
    node_a_ = std::make_unique<Node>(ns_a_, "198.19.0.1/24", dir_ + "/a", true, address6);
    return *node_a_;
  }
  Node& start_b(const std::string& address6 = {}) {
    node_b_ = std::make_unique<Node>(ns_b_, "198.19.0.2/24", dir_ + "/b", true, address6);
    return *node_b_;
  }
  // IPv6 on the underlay too (nodad: usable at once, BIRD can bind to it).
  void add_ipv6_underlay() {
    for (const auto& [ns, dev, address] : {std::tuple{&ns_a_, "bgp-a", "2001:db8::1/64"},
                                           std::tuple{&ns_b_, "bgp-b", "2001:db8::2/64"}}) {
      const std::string command =
          "ip -n " + ns->name() + " addr add " + address + " dev " + dev + " nodad";
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
  }

  static Desired desired_a() {
    return {{{"default", "198.18.0.0/18", BRINDLE_ENCAP_NONE, 0}},
            {{"198.18.1.0/26", "default"}},
            {{"node-b", "198.19.0.2"}}};
  }
  static Desired desired_b() {
    return {{{"default", "198.18.0.0/18", BRINDLE_ENCAP_NONE, 0}},
            {{"198.18.2.0/26", "default"}},
            {{"node-a", "198.19.0.1"}}};
  }
  static Desired desired_b_with(const std::vector<TestPool>& pools) {
    Desired d = desired_b();
    d.pools = pools;
    return d;
  }
  // Each node given its desired state: update, in_sync, apply.
  static void configure(Node& a, const Desired& da, Node& b, const Desired& db) {
    for (auto [node, d] : {std::pair{&a, &da}, std::pair{&b, &db}}) {
      ASSERT_TRUE(node->update(*d).ok());
      ASSERT_TRUE(node->in_sync().ok());
      const CallResult applied = node->apply();
      ASSERT_TRUE(applied.ok()) << applied.message;
    }
  }
  // A's 2001:db8:1::/122 in B's kernel and B's 2001:db8:1::40/122 in A's, each through the other
  // node's IPv6 underlay address.
  static void expect_ipv6_blocks_exchanged(Node& a, Node& b) {
    EXPECT_TRUE(eventually([&] {
      return b.ip("-6 route show 2001:db8:1::/122 proto bird").find("via 2001:db8::1 dev bgp-b") !=
             std::string::npos;
    })) << b.ip("-6 route")
        << b.birdc("show route all");
    EXPECT_TRUE(eventually([&] {
      return a.ip("-6 route show 2001:db8:1::40/122 proto bird")
                 .find("via 2001:db8::2 dev bgp-a") != std::string::npos;
    })) << a.ip("-6 route");
  }
  // Both nodes configured and their session Established.
  void bring_up_both() {
    Node& a = start_a();
    Node& b = start_b();
    ASSERT_NO_FATAL_FAILURE(configure(a, desired_a(), b, desired_b()));
    ASSERT_TRUE(eventually([&] { return a.established_peer() && b.established_peer(); }))
        << a.birdc("show protocols") << b.birdc("show protocols");
  }

  nl::ScratchNetns ns_a_ = nl::ScratchNetns::create_named("bgpa");
  nl::ScratchNetns ns_b_ = nl::ScratchNetns::create_named("bgpb");
  std::string dir_;
  std::unique_ptr<Node> node_a_;
  std::unique_ptr<Node> node_b_;
};

// "2026-11-26 17:12:12.186" -> milliseconds since midnight (enough to compare within a test).
long since_ms(const std::string& since) {
  int h = 0, m = 0, sec = 0, ms = 0;
  const auto time = since.find(' ');
  if (std::sscanf(since.c_str() + (time == std::string::npos ? 0 : time + 1), "%d:%d:%d.%d", &h, &m,
                  &sec, &ms) < 3) {
    return -1000000;
  }
  return ((h * 60L + m) * 60L + sec) * 1000L + ms;
}

TEST_F(RoutingBgpTest, NothingRunsBeforeInSyncAndNotReadyWithoutSession) {
  Node& a = start_a();
  ASSERT_TRUE(a.update(desired_a()).ok());
  ASSERT_TRUE(a.apply().ok());
  EXPECT_EQ(a.bird_pid(), -1) << "BIRD must not start before the host is in sync";
  EXPECT_EQ(a.status().ready, 0);

  ASSERT_TRUE(a.in_sync().ok());
  const CallResult applied = a.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_GT(a.bird_pid(), 0);
  // BIRD runs in the node's namespace: its blackhole is there, not in ours.
  EXPECT_TRUE(eventually([&] {
    return a.ip("route show 198.18.1.0/26").find("blackhole 198.18.1.0/26 proto bird") !=
           std::string::npos;
  })) << a.ip("route");
  // Node B is not running: the session cannot come up, so the node is not ready.
  const Status s = a.status();
  ASSERT_TRUE(s.result.ok()) << s.result.message;
  EXPECT_EQ(s.ready, 0);
  ASSERT_EQ(s.peers.size(), 1u);
  EXPECT_EQ(s.peers[0].name, "node-b");
  EXPECT_EQ(s.peers[0].address, "198.19.0.2");
  EXPECT_EQ(s.peers[0].type, "mesh");
  EXPECT_NE(s.peers[0].state, "Established");
  EXPECT_FALSE(s.peers[0].established);
}

TEST_F(RoutingBgpTest, MeshSessionCarriesBlocksBothWaysAndWithdraws) {
  bring_up_both();
  Node& a = *node_a_;
  Node& b = *node_b_;
  const Status sa = a.status();
  EXPECT_EQ(sa.ready, 1);
  ASSERT_EQ(sa.peers.size(), 1u);
  EXPECT_EQ(sa.peers[0].state, "Established");
  EXPECT_EQ(sa.peers[0].address, "198.19.0.2");
  EXPECT_FALSE(sa.peers[0].since.empty());

  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1 dev bgp-b") !=
           std::string::npos;
  })) << b.ip("route");
  EXPECT_TRUE(eventually([&] {
    return a.ip("route show 198.18.2.0/26 proto bird").find("via 198.19.0.2 dev bgp-a") !=
           std::string::npos;
  })) << a.ip("route");

  // Node A gives its block up: node B loses the route, A its blackhole.
  Desired without = desired_a();
  without.local_blocks.clear();
  ASSERT_TRUE(a.update(without, {"198.18.1.0/26"}).ok());
  ASSERT_TRUE(a.apply().ok());
  EXPECT_TRUE(eventually([&] { return b.ip("route show 198.18.1.0/26").empty(); }))
      << b.ip("route");
  EXPECT_TRUE(a.ip("route show 198.18.1.0/26").empty()) << a.ip("route");
}

TEST_F(RoutingBgpTest, FilterOnlyChangeReconfiguresWithoutResettingTheSession) {
  bring_up_both();
  Node& a = *node_a_;
  Node& b = *node_b_;
  const std::string since_a = a.established_peer()->since;
  const std::string since_b = b.established_peer()->since;
  const auto last_reconfiguration = [&] {
    const std::string out = a.birdc("show status");
    const size_t at = out.find("Last reconfiguration on");
    return at == std::string::npos ? std::string{} : out.substr(at, out.find('\n', at) - at);
  };
  const std::string before = last_reconfiguration();
  ASSERT_FALSE(before.empty());

  // Nothing changed: BIRD is not reconfigured.
  std::this_thread::sleep_for(20ms);  // timestamps have millisecond resolution
  ASSERT_TRUE(a.apply().ok());
  EXPECT_EQ(last_reconfiguration(), before);

  // A new pool and block: filters and the static protocol change, the session does not.
  Desired more = desired_a();
  more.pools.push_back({"second", "198.18.64.0/18", BRINDLE_ENCAP_NONE, 0});
  more.local_blocks.push_back({"198.18.69.0/26", "second"});
  Desired more_b = desired_b();
  more_b.pools.push_back({"second", "198.18.64.0/18", BRINDLE_ENCAP_NONE, 0});
  ASSERT_TRUE(a.update(more).ok());
  ASSERT_TRUE(b.update(more_b).ok());
  const CallResult applied_a = a.apply();
  ASSERT_TRUE(applied_a.ok()) << applied_a.message;
  ASSERT_TRUE(b.apply().ok());
  EXPECT_NE(last_reconfiguration(), before);
  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.69.0/26 proto bird").find("via 198.19.0.1") != std::string::npos;
  })) << b.ip("route");
  const std::optional<Peer> after_a = a.established_peer();
  const std::optional<Peer> after_b = b.established_peer();
  ASSERT_TRUE(after_a && after_b);
  // BIRD prints "since" by converting its monotonic timestamp to wall time at each query, so the
  // same instant may print 1 ms apart; a reset session would move it by at least the reconnect.
  EXPECT_LE(std::abs(since_ms(after_a->since) - since_ms(since_a)), 5)
      << after_a->since << " vs " << since_a;
  EXPECT_LE(std::abs(since_ms(after_b->since) - since_ms(since_b)), 5)
      << after_b->since << " vs " << since_b;
}

TEST_F(RoutingBgpTest, VxlanBlocksAreLearnedButNotInstalledAndNoExportPoolsStayLocal) {
  bring_up_both();
  Node& a = *node_a_;
  Node& b = *node_b_;
  const std::vector<TestPool> pools = {
      {"default", "198.18.0.0/18", BRINDLE_ENCAP_NONE, 0},
      {"vxlan", "198.18.64.0/18", BRINDLE_ENCAP_VXLAN, 0},
      {"private", "198.18.128.0/18", BRINDLE_ENCAP_NONE, BRINDLE_POOL_NO_EXPORT}};
  Desired da = desired_a();
  da.pools = pools;
  da.local_blocks = {
      {"198.18.1.0/26", "default"}, {"198.18.65.0/26", "vxlan"}, {"198.18.129.0/26", "private"}};
  Desired db = desired_b();
  db.pools = pools;
  ASSERT_TRUE(a.update(da).ok());
  ASSERT_TRUE(b.update(db).ok());
  const CallResult applied = a.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  ASSERT_TRUE(b.apply().ok());

  // B's BIRD learns the VXLAN block (a reflector would pass it on) but leaves the kernel to the
  // VXLAN plugin; the private pool's block is never advertised; A blackholes all three.
  EXPECT_TRUE(eventually([&] {
    return b.birdc("show route 198.18.65.0/26").find("198.18.65.0/26") != std::string::npos;
  })) << b.birdc("show route");
  EXPECT_NE(b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1"), std::string::npos);
  EXPECT_EQ(b.ip("route show 198.18.65.0/26"), "") << b.ip("route");
  EXPECT_EQ(b.birdc("show route 198.18.129.0/26").find("198.18.129.0/26"), std::string::npos)
      << b.birdc("show route");
  for (const std::string block : {"198.18.1.0/26", "198.18.65.0/26", "198.18.129.0/26"}) {
    EXPECT_NE(a.ip("route show " + block).find("blackhole"), std::string::npos) << block;
  }
}

// The host's routes to VXLAN pools' remote blocks (through the tunnel device, onlink, to the
// remote tunnel address) are installed as given, preferred over what BGP learns for the same
// block, and withdrawn when the host removes them even though BGP still carries the block.
TEST_F(RoutingBgpTest, VxlanRoutesFromTheHostAreInstalledAsFormed) {
  ASSERT_EQ(std::system(("ip -n " + ns_b_.name() +
                         " link add vxlan.brindle type vxlan id 4096 dstport 4789 local "
                         "198.19.0.2 dev bgp-b nolearning")
                            .c_str()),
            0);
  ASSERT_EQ(std::system(("ip -n " + ns_b_.name() + " link set vxlan.brindle up").c_str()), 0);
  bring_up_both();
  Node& a = *node_a_;
  Node& b = *node_b_;
  const std::vector<TestPool> pools = {{"default", "198.18.0.0/18", BRINDLE_ENCAP_NONE, 0},
                                       {"vxlan", "198.18.64.0/18", BRINDLE_ENCAP_VXLAN, 0}};
  Desired da = desired_a();
  da.pools = pools;
  da.local_blocks = {{"198.18.1.0/26", "default"}, {"198.18.65.0/26", "vxlan"}};
  Desired db = desired_b();
  db.pools = pools;
  db.remote_blocks = {{"198.18.65.0/26", "vxlan", "198.18.65.0", kVxlanDevice, BRINDLE_ROUTE_ONLINK,
                       BRINDLE_ENCAP_VXLAN}};
  ASSERT_TRUE(a.update(da).ok());
  ASSERT_TRUE(b.update(db).ok());
  const CallResult applied_a = a.apply();
  ASSERT_TRUE(applied_a.ok()) << applied_a.message;
  const CallResult applied_b = b.apply();
  ASSERT_TRUE(applied_b.ok()) << applied_b.message;
  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.65.0/26 proto bird").find("via 198.18.65.0 dev vxlan.brindle") !=
           std::string::npos;
  })) << b.ip("route")
      << b.birdc("show route all");
  EXPECT_NE(b.ip("route show 198.18.65.0/26 proto bird").find("onlink"), std::string::npos);
  // BGP carries the block too (and the other pool's block is installed from BGP as before).
  EXPECT_TRUE(eventually([&] {
    return b.birdc("show route 198.18.65.0/26 protocol Mesh_node_a").find("198.18.65.0/26") !=
           std::string::npos;
  })) << b.birdc("show route all");
  EXPECT_NE(b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1"), std::string::npos);

  // The host removes its route: gone from the kernel although BGP still has the block.
  ASSERT_TRUE(b.update(desired_b_with(pools), {"198.18.65.0/26"}).ok());
  ASSERT_TRUE(b.apply().ok());
  EXPECT_TRUE(eventually([&] { return b.ip("route show 198.18.65.0/26").empty(); }))
      << b.ip("route");
  EXPECT_NE(b.birdc("show route 198.18.65.0/26").find("198.18.65.0/26"), std::string::npos);
}

// The kernel here has no ipip (nor dummy) module, so node B's "tunl0" is one end of a veth pair:
// enough for BIRD to install what the IPIP import filter asks for.
TEST_F(RoutingBgpTest, IpipBlocksGoThroughTheTunnelOnlinkCrossSubnetOnlyAcrossSubnets) {
  ASSERT_EQ(
      std::system(
          ("ip -n " + ns_b_.name() + " link add tunl0 type veth peer name tunl0-end").c_str()),
      0);
  ASSERT_EQ(std::system(("ip -n " + ns_b_.name() + " link set tunl0 up").c_str()), 0);
  ASSERT_EQ(std::system(("ip -n " + ns_b_.name() + " link set tunl0-end up").c_str()), 0);
  bring_up_both();
  Node& a = *node_a_;
  Node& b = *node_b_;
  const std::vector<TestPool> pools = {
      {"ipip", "198.18.0.0/18", BRINDLE_ENCAP_IPIP, 0, BRINDLE_POOL_MODE_ALWAYS},
      {"cross", "198.18.64.0/18", BRINDLE_ENCAP_IPIP, 0, BRINDLE_POOL_MODE_CROSS_SUBNET}};
  Desired da = desired_a();
  da.pools = pools;
  da.local_blocks = {{"198.18.1.0/26", "ipip"}, {"198.18.65.0/26", "cross"}};
  Desired db = desired_b();
  db.pools = pools;
  ASSERT_TRUE(a.update(da).ok());
  ASSERT_TRUE(b.update(db).ok());
  const CallResult applied_a = a.apply();
  ASSERT_TRUE(applied_a.ok()) << applied_a.message;
  const CallResult applied_b = b.apply();
  ASSERT_TRUE(applied_b.ok()) << applied_b.message;
  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1 dev tunl0") !=
           std::string::npos;
  })) << b.ip("route")
      << b.birdc("show route all");
  EXPECT_NE(b.ip("route show 198.18.1.0/26 proto bird").find("onlink"), std::string::npos)
      << b.ip("route");
  // CrossSubnet: A is in B's subnet, so no tunnel.
  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.65.0/26 proto bird").find("via 198.19.0.1 dev bgp-b") !=
           std::string::npos;
  })) << b.ip("route")
      << b.birdc("show route all");
}

TEST_F(RoutingBgpTest, KilledBirdIsRestartedByRefreshWithBackoff) {
  bring_up_both();
  Node& a = *node_a_;
  Node& b = *node_b_;
  ASSERT_TRUE(eventually([&] {
    return b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1") != std::string::npos;
  }));
  const pid_t first = a.bird_pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return a.bird_pid() != first; }, 5s));
  // The plugin notices on its own and asks the host for a refresh.
  const int requests = a.refresh_requests();
  EXPECT_TRUE(eventually([&] { return a.refresh_requests() > requests; }, 5s));
  // Graceful restart: B keeps A's routes while A's BIRD is down.
  EXPECT_NE(b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1"), std::string::npos);
  EXPECT_EQ(a.status().ready, 0);

  // The first death is restarted at once.
  const CallResult refreshed = a.refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.message;
  const pid_t second = a.bird_pid();
  ASSERT_GT(second, 0);
  EXPECT_NE(second, first);
  EXPECT_TRUE(eventually([&] { return a.established_peer().has_value(); }))
      << a.birdc("show protocols");
  EXPECT_EQ(a.status().ready, 1);

  // Dying again soon after: the restart waits (1 s backoff).
  ASSERT_EQ(::kill(second, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return a.bird_pid() != second; }, 5s));
  const auto died = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.refresh().ok());
  EXPECT_EQ(a.bird_pid(), -1) << "restarted without backoff";
  ASSERT_TRUE(eventually(
      [&] {
        EXPECT_TRUE(a.refresh().ok());
        return a.bird_pid() > 0;
      },
      10s));
  EXPECT_GE(std::chrono::steady_clock::now() - died, 900ms);
  EXPECT_TRUE(eventually([&] { return a.established_peer().has_value(); }))
      << a.birdc("show protocols");
}

TEST_F(RoutingBgpTest, DestroyKeepsBirdRunningByDefaultAndTheNextInstanceAdoptsIt) {
  auto first = std::make_unique<Node>(ns_a_, "198.19.0.1/24", dir_ + "/a", false);
  ASSERT_TRUE(first->update(desired_a()).ok());
  ASSERT_TRUE(first->in_sync().ok());
  ASSERT_TRUE(first->apply().ok());
  const pid_t pid = first->bird_pid();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(eventually([&] {
    return first->ip("route show 198.18.1.0/26").find("blackhole") != std::string::npos;
  }));
  // An agent restart: the instance goes, BIRD and its kernel routes stay.
  first->destroy();
  EXPECT_EQ(first->bird_pid(), pid);
  EXPECT_NE(first->ip("route show 198.18.1.0/26").find("blackhole"), std::string::npos);

  // The next instance (stop_on_destroy = true) takes the running BIRD over instead of starting
  // another one, reconfigures it once in sync, and stops it when destroyed.
  Node& next = start_a();
  Desired moved = desired_a();
  moved.local_blocks = {{"198.18.3.0/26", "default"}};
  ASSERT_TRUE(next.update(moved).ok());
  ASSERT_TRUE(next.in_sync().ok());
  const CallResult applied = next.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_EQ(next.bird_pid(), pid);
  EXPECT_TRUE(eventually([&] {
    return next.ip("route show 198.18.3.0/26").find("blackhole") != std::string::npos &&
           next.ip("route show 198.18.1.0/26").empty();
  })) << next.ip("route");
  const Status s = next.status();
  ASSERT_TRUE(s.result.ok()) << s.result.message;
  EXPECT_EQ(s.peers.size(), 1u);
  next.destroy();
  EXPECT_EQ(next.bird_pid(), -1);
  first.reset();
}

// Dual stack as in Calico: the IPv4 session carries IPv4 blocks, a second session between the
// nodes' IPv6 addresses carries IPv6 blocks (next hop: the node's IPv6 address). IPv6 blocks are
// blackholed locally, installed in the peer's IPv6 table with `proto bird`, and withdrawn when
// the block goes; IPv6 routes with `proto bird` that BIRD does not want are removed at its start
// (as for IPv4), other IPv6 routes are left alone.
TEST_F(RoutingBgpTest, DualStackCarriesIpv6BlocksOverAnIpv6Session) {
  add_ipv6_underlay();
  // A previous BIRD's route (its protocol number, BIRD's kernel metric 32): ours.
  const std::string stale = "2001:db8:1:ff::/122";
  const std::string foreign = "2001:db8:1:fe::/122";  // someone else's
  const std::string add = "ip -n " + ns_a_.name() + " -6 route add blackhole ";
  ASSERT_EQ(std::system((add + stale + " proto bird metric 32").c_str()), 0);
  ASSERT_EQ(std::system((add + foreign + " proto static metric 32").c_str()), 0);
  Node& a = start_a("2001:db8::1/64");
  Node& b = start_b("2001:db8::2/64");
  const std::vector<TestPool> pools = {{"default", "198.18.0.0/18", BRINDLE_ENCAP_NONE, 0},
                                       {"default-v6", "2001:db8:1::/64", BRINDLE_ENCAP_NONE, 0}};
  const Desired da = {pools,
                      {{"198.18.1.0/26", "default"}, {"2001:db8:1::/122", "default-v6"}},
                      {{"mesh-node-b", "198.19.0.2"}, {"mesh6-node-b", "2001:db8::2"}}};
  const Desired db = {pools,
                      {{"198.18.2.0/26", "default"}, {"2001:db8:1::40/122", "default-v6"}},
                      {{"mesh-node-a", "198.19.0.1"}, {"mesh6-node-a", "2001:db8::1"}}};
  ASSERT_NO_FATAL_FAILURE(configure(a, da, b, db));
  ASSERT_TRUE(eventually([&] { return a.all_established(2) && b.all_established(2); }))
      << a.birdc("show protocols all") << b.birdc("show protocols all");
  const std::vector<Peer> peers_a = *a.all_established(2);
  const auto v6 = std::find_if(peers_a.begin(), peers_a.end(),
                               [](const Peer& p) { return p.name == "mesh6-node-b"; });
  ASSERT_NE(v6, peers_a.end());
  EXPECT_EQ(v6->address, "2001:db8::2");
  EXPECT_EQ(v6->type, "mesh");
  EXPECT_EQ(a.status().ready, 1);

  // Each block in the other node's kernel, through the underlay address of its family.
  expect_ipv6_blocks_exchanged(a, b);
  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1 dev bgp-b") !=
           std::string::npos;
  })) << b.ip("route");
  EXPECT_NE(a.ip("-6 route show 2001:db8:1::/122").find("blackhole"), std::string::npos)
      << a.ip("-6 route");
  EXPECT_NE(a.ip("-6 route show 2001:db8:1::/122").find("proto bird"), std::string::npos);
  // Each session carries its own family only.
  const std::string over_v6 = b.birdc("show route protocol Mesh_mesh6_node_a");
  EXPECT_NE(over_v6.find("2001:db8:1::/122"), std::string::npos) << over_v6;
  EXPECT_EQ(over_v6.find("198.18."), std::string::npos) << over_v6;
  const std::string over_v4 = b.birdc("show route protocol Mesh_mesh_node_a");
  EXPECT_NE(over_v4.find("198.18.1.0/26"), std::string::npos) << over_v4;
  EXPECT_EQ(over_v4.find("2001:db8:"), std::string::npos) << over_v4;

  // Ownership in the IPv6 table: the stale `proto bird` route goes, the foreign one stays.
  EXPECT_TRUE(eventually([&] { return a.ip("-6 route show " + stale).empty(); }))
      << a.ip("-6 route");
  EXPECT_NE(a.ip("-6 route show " + foreign).find("blackhole"), std::string::npos)
      << a.ip("-6 route");

  // Node A gives its IPv6 block up: B loses the route, A its blackhole; IPv4 is untouched.
  Desired without = da;
  without.local_blocks = {{"198.18.1.0/26", "default"}};
  ASSERT_TRUE(a.update(without, {"2001:db8:1::/122"}).ok());
  const CallResult applied = a.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_TRUE(eventually([&] { return b.ip("-6 route show 2001:db8:1::/122").empty(); }))
      << b.ip("-6 route");
  EXPECT_TRUE(eventually([&] { return a.ip("-6 route show 2001:db8:1::/122").empty(); }))
      << a.ip("-6 route");
  EXPECT_NE(b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1"), std::string::npos)
      << b.ip("route");
  EXPECT_NE(a.ip("-6 route show 2001:db8:1::40/122 proto bird").find("via 2001:db8::2"),
            std::string::npos)
      << a.ip("-6 route");
  EXPECT_TRUE(a.all_established(2).has_value()) << a.birdc("show protocols");
}

// BGP passwords are TCP MD5 signatures (RFC 2385) set by BIRD: with different passwords the
// kernels drop each other's segments and the session never comes up; once the passwords match
// (a password change reaches BIRD through `configure`, which restarts that session) it does.
TEST_F(RoutingBgpTest, PasswordsMustMatchForTheSessionToComeUp) {
  Node& a = start_a();
  Node& b = start_b();
  Desired da = desired_a();
  da.passwords = {{"node-b", "s3cret pass"}};
  Desired db = desired_b();
  db.passwords = {{"node-a", "another one"}};
  ASSERT_NO_FATAL_FAILURE(configure(a, da, b, db));
  EXPECT_NE(read_file(dir_ + "/a/bird.conf").find("  password \"s3cret pass\";\n"),
            std::string::npos)
      << read_file(dir_ + "/a/bird.conf");
  // Both BIRDs try to connect at once and keep trying; none of it may get through.
  const auto deadline = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(a.established_peer() || b.established_peer())
        << "a session with mismatched passwords: " << a.birdc("show protocols all");
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(a.status().ready, 0);
  EXPECT_TRUE(b.ip("route show 198.18.1.0/26 proto bird").empty()) << b.ip("route");

  // B's password is rotated to A's: the session comes up and carries the blocks.
  db.passwords = {{"node-a", "s3cret pass"}};
  ASSERT_TRUE(b.update(db).ok());
  const CallResult applied = b.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  ASSERT_TRUE(eventually([&] { return a.established_peer() && b.established_peer(); }, 25s))
      << a.birdc("show protocols all") << b.birdc("show protocols all");
  EXPECT_TRUE(eventually([&] {
    return b.ip("route show 198.18.1.0/26 proto bird").find("via 198.19.0.1 dev bgp-b") !=
           std::string::npos;
  })) << b.ip("route");
}

// An IPv6-only node (no IPv4 address at all): the host gives it Calico's hash router id, and its
// IPv6 session (here with a password) carries 2001:db8:: blocks both ways.
TEST_F(RoutingBgpTest, Ipv6OnlyNodesExchangeBlocksWithHashRouterIds) {
  for (const auto& [ns, dev, address] : {std::tuple{&ns_a_, "bgp-a", "2001:db8::1/64"},
                                         std::tuple{&ns_b_, "bgp-b", "2001:db8::2/64"}}) {
    const std::string prefix = "ip -n " + ns->name() + " addr ";
    ASSERT_EQ(std::system((prefix + "flush dev " + dev).c_str()), 0);
    ASSERT_EQ(std::system((prefix + "add " + address + " dev " + dev + " nodad").c_str()), 0);
  }
  node_a_ = std::make_unique<Node>(ns_a_, "", dir_ + "/a", true, "2001:db8::1/64");
  node_b_ = std::make_unique<Node>(ns_b_, "", dir_ + "/b", true, "2001:db8::2/64");
  Node& a = *node_a_;
  Node& b = *node_b_;
  const std::string id_a = brindle::calc::hash_router_id("node-a").to_string();
  const std::string id_b = brindle::calc::hash_router_id("node-b").to_string();
  ASSERT_NE(id_a, id_b);
  const std::vector<TestPool> pools = {{"default-v6", "2001:db8:1::/64", BRINDLE_ENCAP_NONE, 0}};
  Desired da = {pools, {{"2001:db8:1::/122", "default-v6"}}, {{"mesh6-node-b", "2001:db8::2"}}};
  da.router_id = id_a;
  da.passwords = {{"mesh6-node-b", "v6 secret"}};
  Desired db = {pools, {{"2001:db8:1::40/122", "default-v6"}}, {{"mesh6-node-a", "2001:db8::1"}}};
  db.router_id = id_b;
  db.passwords = {{"mesh6-node-a", "v6 secret"}};
  ASSERT_NO_FATAL_FAILURE(configure(a, da, b, db));
  ASSERT_TRUE(eventually([&] { return a.established_peer() && b.established_peer(); }))
      << a.birdc("show protocols all") << b.birdc("show protocols all");
  EXPECT_EQ(a.established_peer()->address, "2001:db8::2");
  EXPECT_NE(a.birdc("show status").find("Router ID is " + id_a), std::string::npos)
      << a.birdc("show status");
  EXPECT_NE(b.birdc("show status").find("Router ID is " + id_b), std::string::npos)
      << b.birdc("show status");
  expect_ipv6_blocks_exchanged(a, b);
  EXPECT_EQ(a.ip("-4 route show proto bird"), "");  // no IPv4 at all
  EXPECT_EQ(a.status().ready, 1);
}

TEST_F(RoutingBgpTest, UnknownAndBadKeysAreConfigErrorsNamingTheLocation) {
  const auto create_error = [&](const std::string& toml) {
    try {
      ns_a_.run([&] {
        brindle::loader::HostEnvironment env;
        env.node.name = "node-a";
        LoadedPlugin p(
            brindle::loader::open_plugin(BRINDLE_ROUTING_BGP_PLUGIN, {PluginKind::routing, "bgp"}),
            brindle::config::PluginSection::from_toml(toml, "brindle.toml"), env);
      });
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string e = create_error("state_dir = \"" + dir_ + "\"\nbird_binnary = \"/x\"\n");
  EXPECT_NE(e.find("brindle.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("bird_binnary: unknown key"), std::string::npos) << e;
  e = create_error("state_dir = \"relative/dir\"\n");
  EXPECT_NE(e.find("brindle.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("state_dir: must be an absolute path"), std::string::npos) << e;
  e = create_error("state_dir = \"" + dir_ + "\"\nbird_binary = \"/nonexistent/bird\"\n");
  EXPECT_NE(e.find("BIRD binary /nonexistent/bird is not executable"), std::string::npos) << e;
  e = create_error("state_dir = \"" + dir_ + "\"\nrequire_established_session = \"yes\"\n");
  EXPECT_NE(e.find("require_established_session: must be a boolean"), std::string::npos) << e;
}

}  // namespace
