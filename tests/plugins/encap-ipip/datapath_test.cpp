// The ipip plugin on a kernel WITH IPIP support: runs inside the VM harness (tests/vm/run-in-vm),
// registered as a `vm` test. Two "node" namespaces joined by a veth underlay, each with tunl0 set
// up by the plugin and a "pod" namespace behind a veth; the routes the plugin's route_form asks
// for installed with ip(8) (routing is another plugin's job); then pod-to-pod pings through tunl0
// and DF pings at exactly the pod MTU (pass) and one byte more (fail).
// Every namespace is a ScratchNetns: removed when the test ends, whatever happens.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ipip_test_support.hpp"

namespace ipip_test {
namespace {

struct NodeSpec {
  std::string name;
  std::string underlay4;  // "198.19.0.1"
  std::string block4;     // "198.18.1.0/26"
  std::string tunnel4;    // "198.18.1.1"
  std::string pod4;       // "198.18.1.2"
};

const NodeSpec kNodeA{"node-a", "198.19.0.1", "198.18.1.0/26", "198.18.1.1", "198.18.1.2"};
const NodeSpec kNodeB{"node-b", "198.19.0.2", "198.18.2.0/26", "198.18.2.1", "198.18.2.2"};

std::string netns_exec(const ScratchNetns& ns, const std::string& command) {
  return "ip netns exec " + ns.name() + " " + command;
}

// One node: its namespace, its pod's namespace, the plugin instance that runs it.
struct LabNode {
  NodeSpec spec;
  ScratchNetns node = ScratchNetns::create_named("ipn");
  ScratchNetns pod = ScratchNetns::create_named("ipp");
  TestHost host;
  Plugin plugin;
  brindle_encap_local_state_t state{};

  explicit LabNode(NodeSpec s)
      : spec(std::move(s)), host(spec.name, (spec.underlay4 + "/24").c_str()) {}

  Node describe(const std::string& tunnel) const {
    const std::string a4 = spec.underlay4 + "/24";
    const std::string t4 = tunnel + "/32";
    return Node(spec.name, a4.c_str(), tunnel.empty() ? nullptr : t4.c_str());
  }
  Node describe() const { return describe(spec.tunnel4); }

  void set_up_pod(uint32_t mtu) {
    const std::string m = std::to_string(mtu);
    ip(node, "link add vethpod mtu " + m + " type veth peer name eth0 netns " + pod.name());
    ip(pod, "link set lo up");
    ip(pod, "link set eth0 mtu " + m + " up");
    ip(pod, "addr add " + spec.pod4 + "/32 dev eth0");
    ip(pod, "route add default dev eth0");
    ip(node, "link set vethpod up");
    ip(node, "route add " + spec.pod4 + "/32 dev vethpod scope link");
    must(netns_exec(node, "sysctl -qw net.ipv4.ip_forward=1"));
    must(netns_exec(node, "sysctl -qw net.ipv4.conf.vethpod.proxy_arp=1"));
  }

  // Installs the route to `remote`'s block in the form route_form dictates.
  void route_to(const LabNode& remote) {
    const Plugin::Form form = plugin.route_form(remote.describe(), remote.spec.block4.c_str());
    ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
    ASSERT_EQ(form.form.flags & BRINDLE_ROUTE_ONLINK, BRINDLE_ROUTE_ONLINK);
    const std::string gateway = IpPrefix::from_abi(form.form.gateway).to_string(true);
    ip(node, "route replace " + remote.spec.block4 + " via " + gateway + " dev " +
                 form.form.device + " onlink");
  }

  uint64_t counter(const std::string& path) {
    return std::stoull(must(netns_exec(node, "cat " + path)));
  }
};

// One lab for the whole suite (each exec costs a fraction of a second under emulation, so the
// namespaces are built once); every test leaves it as it found it.
class IpipDatapath : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    a_ = new LabNode(kNodeA);
    b_ = new LabNode(kNodeB);
    ip(a_->node, "link add eth0 type veth peer name eth0 netns " + b_->node.name());
    for (LabNode* n : {a_, b_}) {
      ip(n->node, "link set lo up");
      ip(n->node, "addr add " + n->spec.underlay4 + "/24 dev eth0");
      ip(n->node, "link set eth0 mtu 1500 up");
    }
    for (LabNode* n : {a_, b_}) {
      n->plugin.create_ok(n->host);
      n->state = n->plugin.ensure_local_ok(n->node, n->describe(), "eth0");
    }
    for (auto [self, remote] : {std::pair{a_, b_}, std::pair{b_, a_}}) {
      ASSERT_EQ(self->plugin.upsert(self->node, remote->describe()).status, BRINDLE_OK);
      ASSERT_EQ(self->plugin.in_sync(self->node).status, BRINDLE_OK);
      ASSERT_EQ(self->plugin.apply(self->node).status, BRINDLE_OK);
      self->route_to(*remote);
    }
    // Pods get the MTU the plugin computed, as the CNI does.
    a_->set_up_pod(a_->state.pod_mtu);
    b_->set_up_pod(b_->state.pod_mtu);
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    a_ = b_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(a_, nullptr); }

  static LabNode* a_;
  static LabNode* b_;
};
LabNode* IpipDatapath::a_ = nullptr;
LabNode* IpipDatapath::b_ = nullptr;

Shell ping(const LabNode& from, const std::string& to, const std::string& options = "") {
  return sh(netns_exec(from.pod, "ping -n -c 2 -i 0.2 -W 2 " + options + " " + to));
}

TEST_F(IpipDatapath, EnsureLocalSetsUpTunl0WithMtuAndTunnelAddress) {
  EXPECT_STREQ(a_->state.device, "tunl0");
  EXPECT_EQ(a_->state.pod_mtu, 1480u);
  EXPECT_EQ(a_->state.mtu_overhead4, 20u);
  EXPECT_EQ(a_->state.needs_tunnel_address, 1);
  EXPECT_EQ(a_->state.has_vtep_mac, 0);
  const std::string link = ip(a_->node, "-d link show tunl0");
  EXPECT_TRUE(contains(link, "mtu 1480")) << link;
  EXPECT_TRUE(contains(link, "ipip any remote any local any")) << link;
  EXPECT_TRUE(contains(link, "UP")) << link;
  const std::string addresses = ip(a_->node, "-4 -o addr show dev tunl0");
  EXPECT_TRUE(contains(addresses, "inet 198.18.1.1/32")) << addresses;

  // Idempotent; a new tunnel address replaces the old one; an override sets the MTU.
  ASSERT_EQ(a_->plugin.ensure_local(a_->node, a_->describe(), "eth0").status, BRINDLE_OK);
  const Plugin::Local moved = a_->plugin.ensure_local(a_->node, a_->describe("198.18.1.9"), "eth0",
                                                      0, /*mtu_override=*/1400);
  ASSERT_EQ(moved.status, BRINDLE_OK) << moved.message;
  EXPECT_EQ(moved.state.pod_mtu, 1400u);
  const std::string after = ip(a_->node, "-4 -o addr show dev tunl0");
  EXPECT_TRUE(contains(after, "inet 198.18.1.9/32")) << after;
  EXPECT_FALSE(contains(after, "198.18.1.1/")) << after;
  EXPECT_TRUE(contains(ip(a_->node, "link show tunl0"), "mtu 1400"));
  // The route through tunl0 survived the address change (never without an address).
  EXPECT_TRUE(contains(ip(a_->node, "route show " + kNodeB.block4), "dev tunl0"));

  const Plugin::Local back = a_->plugin.ensure_local(a_->node, a_->describe(), "eth0");
  ASSERT_EQ(back.status, BRINDLE_OK) << back.message;
  EXPECT_EQ(back.state.pod_mtu, 1480u);
  EXPECT_TRUE(contains(ip(a_->node, "-4 -o addr show dev tunl0"), "inet 198.18.1.1/32"));
}

TEST_F(IpipDatapath, PodsPingEachOtherThroughTunl0AndThePodMtuIsExact) {
  const uint32_t pod_mtu = a_->state.pod_mtu;
  ASSERT_EQ(pod_mtu, 1480u);
  const std::string route = ip(a_->node, "route show " + kNodeB.block4);
  EXPECT_TRUE(contains(route, "via 198.19.0.2 dev tunl0")) << route;
  EXPECT_TRUE(contains(route, "onlink")) << route;

  const uint64_t tx_before = a_->counter("/sys/class/net/tunl0/statistics/tx_packets");
  Shell r = ping(*a_, kNodeB.pod4);
  EXPECT_EQ(r.status, 0) << r.output;
  r = ping(*b_, kNodeA.pod4);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_GT(a_->counter("/sys/class/net/tunl0/statistics/tx_packets"), tx_before)
      << "the traffic went through tunl0";

  // DF at exactly the pod MTU (ICMP payload = MTU - 20 IP - 8 ICMP) passes, one byte more fails.
  r = ping(*a_, kNodeB.pod4, "-M do -s " + std::to_string(pod_mtu - 28));
  EXPECT_EQ(r.status, 0) << r.output;
  r = ping(*a_, kNodeB.pod4, "-M do -s " + std::to_string(pod_mtu - 27));
  EXPECT_NE(r.status, 0) << r.output;
}

TEST_F(IpipDatapath, RefreshRepairsATamperedTunl0) {
  ip(a_->node, "link set tunl0 mtu 1300");
  ip(a_->node, "addr flush dev tunl0");
  ip(a_->node, "link set tunl0 down");
  ASSERT_NE(ping(*a_, kNodeB.pod4).status, 0) << "tampering broke the path";
  ASSERT_EQ(a_->plugin.refresh(a_->node).status, BRINDLE_OK);
  const std::string link = ip(a_->node, "link show tunl0");
  EXPECT_TRUE(contains(link, "mtu 1480")) << link;
  EXPECT_TRUE(contains(link, ",UP")) << link;
  EXPECT_TRUE(contains(ip(a_->node, "-4 -o addr show dev tunl0"), "inet 198.18.1.1/32"));
  // A device going down takes its routes with it; putting them back is the routing plugin's job
  // (its own refresh), done here by hand.
  a_->route_to(*b_);
  const Shell r = ping(*a_, kNodeB.pod4);
  EXPECT_EQ(r.status, 0) << r.output;
}

}  // namespace
}  // namespace ipip_test
