// A real two-node VXLAN data path: two "node" namespaces joined by a veth underlay, each with the
// plugin's device(s) and a "pod" namespace behind a veth, the routes the plugin's route_form asks
// for installed with ip(8) (routing is another plugin's job), then pod-to-pod pings across the
// tunnel and DF pings at exactly the computed pod MTU (pass) and one byte more (fail).
// Every namespace is a ScratchNetns: removed when the test ends, whatever happens.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>

#include "vxlan_test_support.hpp"

namespace vxlan_test {
namespace {

struct NodeSpec {
  std::string name;
  std::string underlay4;  // "198.19.0.1"
  std::string underlay6;  // "2001:db8:19::1"
  std::string block4;     // "198.18.1.0/26"
  std::string tunnel4;    // "198.18.1.1"
  std::string pod4;       // "198.18.1.2"
  std::string block6;     // "2001:db8:18:1::/64"
  std::string tunnel6;
  std::string pod6;
};

const NodeSpec kNodeA{"node-a",          "198.19.0.1", "2001:db8:19::1",     "198.18.1.0/26",
                      "198.18.1.1",      "198.18.1.2", "2001:db8:18:1::/64", "2001:db8:18:1::1",
                      "2001:db8:18:1::2"};
const NodeSpec kNodeB{"node-b",          "198.19.0.2", "2001:db8:19::2",     "198.18.2.0/26",
                      "198.18.2.1",      "198.18.2.2", "2001:db8:18:2::/64", "2001:db8:18:2::1",
                      "2001:db8:18:2::2"};

std::string netns_exec(const ScratchNetns& ns, const std::string& command) {
  return "ip netns exec " + ns.name() + " " + command;
}

// One node: its namespace, its pod's namespace, the plugin instance that runs it.
struct LabNode {
  NodeSpec spec;
  bool dual_stack;
  ScratchNetns node = ScratchNetns::create_named("vxn");
  ScratchNetns pod = ScratchNetns::create_named("vxp");
  TestHost host;
  Plugin plugin;
  brindle_encap_local_state_t state{};

  LabNode(NodeSpec s, bool dual)
      : spec(std::move(s)),
        dual_stack(dual),
        host(spec.name, (spec.underlay4 + "/24").c_str(),
             dual ? (spec.underlay6 + "/64").c_str() : nullptr) {}

  // This node as the host would describe it (to itself and to others).
  Node describe(bool with_mac) const {
    const std::string a4 = spec.underlay4 + "/24";
    const std::string t4 = spec.tunnel4 + "/32";
    const std::string a6 = spec.underlay6 + "/64";
    const std::string t6 = spec.tunnel6 + "/128";
    const std::string mac = mac_string(state.vtep_mac);
    return Node(spec.name, a4.c_str(), t4.c_str(), with_mac ? mac.c_str() : nullptr,
                dual_stack ? a6.c_str() : nullptr, dual_stack ? t6.c_str() : nullptr);
  }

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
    if (dual_stack) {
      ip(pod, "-6 addr add " + spec.pod6 + "/128 dev eth0 nodad");
      ip(node, "-6 addr add fe80::1/64 dev vethpod nodad");
      ip(pod, "-6 route add default via fe80::1 dev eth0");
      ip(node, "-6 route add " + spec.pod6 + "/128 dev vethpod");
      must(netns_exec(node, "sysctl -qw net.ipv6.conf.all.forwarding=1"));
    }
  }

  // Installs the route to `remote`'s block in the form route_form dictates.
  void route_to(const LabNode& remote, const std::string& block) {
    const Plugin::Form form = plugin.route_form(remote.describe(true), block.c_str());
    ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
    ASSERT_EQ(form.form.flags & BRINDLE_ROUTE_ONLINK, BRINDLE_ROUTE_ONLINK);
    const std::string gateway = IpPrefix::from_abi(form.form.gateway).to_string(true);
    ip(node, "route add " + block + " via " + gateway + " dev " + form.form.device + " onlink");
  }

  uint64_t counter(const std::string& path) {
    return std::stoull(must(netns_exec(node, "cat " + path)));
  }
  // IPv4 fragments this node created (the outer packets must never need any).
  uint64_t fragments_created() {
    std::istringstream snmp(must(netns_exec(node, "cat /proc/net/snmp")));
    std::string names_line;
    std::string values_line;
    std::getline(snmp, names_line);  // "Ip: Forwarding DefaultTTL ..."
    std::getline(snmp, values_line);
    std::istringstream names(names_line);
    std::istringstream values(values_line);
    std::string name;
    std::string value;
    while (names >> name && values >> value) {
      if (name == "FragCreates") {
        return std::stoull(value);
      }
    }
    ADD_FAILURE() << "no FragCreates in /proc/net/snmp:\n" << names_line;
    return 0;
  }
};

class VxlanDatapath : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const bool dual = GetParam();
    a_ = std::make_unique<LabNode>(kNodeA, dual);
    b_ = std::make_unique<LabNode>(kNodeB, dual);
    // The underlay: one veth pair between the node namespaces.
    ip(a_->node, "link add eth0 type veth peer name eth0 netns " + b_->node.name());
    for (LabNode* n : {a_.get(), b_.get()}) {
      ip(n->node, "link set lo up");
      ip(n->node, "addr add " + n->spec.underlay4 + "/24 dev eth0");
      if (dual) {
        ip(n->node, "-6 addr add " + n->spec.underlay6 + "/64 dev eth0 nodad");
      }
      ip(n->node, "link set eth0 mtu 1500 up");
    }
    for (LabNode* n : {a_.get(), b_.get()}) {
      n->plugin.create_ok(n->host);
      n->state = n->plugin.ensure_local_ok(n->node, n->describe(false), "eth0");
    }
    // The host publishes each node's VTEP MAC; every node learns of the others.
    for (auto [self, remote] : {std::pair{a_.get(), b_.get()}, std::pair{b_.get(), a_.get()}}) {
      const Node described = remote->describe(true);
      const Plugin::Result up = self->plugin.upsert(self->node, described);
      ASSERT_EQ(up.status, BRINDLE_OK) << up.message;
      ASSERT_EQ(self->plugin.in_sync(self->node).status, BRINDLE_OK);
      ASSERT_EQ(self->plugin.apply(self->node).status, BRINDLE_OK);
      self->route_to(*remote, remote->spec.block4);
      if (dual) {
        self->route_to(*remote, remote->spec.block6);
      }
    }
  }

  std::unique_ptr<LabNode> a_;
  std::unique_ptr<LabNode> b_;
};

Shell ping(const LabNode& from, const std::string& to, const std::string& options = "") {
  return sh(netns_exec(from.pod, "ping -n -c 2 -i 0.2 -W 2 " + options + " " + to));
}

TEST_P(VxlanDatapath, PodsPingEachOtherAcrossTheTunnelAndTheComputedMtuIsExact) {
  const uint32_t pod_mtu = a_->state.pod_mtu;
  ASSERT_EQ(pod_mtu, GetParam() ? 1430u : 1450u);
  ASSERT_EQ(b_->state.pod_mtu, pod_mtu);
  a_->set_up_pod(pod_mtu);  // as the CNI does
  b_->set_up_pod(pod_mtu);

  const uint64_t tx_before = a_->counter("/sys/class/net/vxlan.brindle/statistics/tx_packets");
  Shell r = ping(*a_, kNodeB.pod4);
  EXPECT_EQ(r.status, 0) << r.output;
  r = ping(*b_, kNodeA.pod4);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_GT(a_->counter("/sys/class/net/vxlan.brindle/statistics/tx_packets"), tx_before)
      << "the traffic went through the VXLAN device";

  // DF at exactly the pod MTU (ICMP payload = MTU - 20 IP - 8 ICMP) passes, one byte more fails.
  const uint64_t fragments_before = a_->fragments_created();
  r = ping(*a_, kNodeB.pod4, "-M do -s " + std::to_string(pod_mtu - 28));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(a_->fragments_created(), fragments_before)
      << "a full-size pod packet must fit the underlay without fragmenting the outer packet";
  r = ping(*a_, kNodeB.pod4, "-M do -s " + std::to_string(pod_mtu - 27));
  EXPECT_NE(r.status, 0) << r.output;

  if (GetParam()) {
    r = ping(*a_, kNodeB.pod6);
    EXPECT_EQ(r.status, 0) << r.output;
    r = ping(*b_, kNodeA.pod6);
    EXPECT_EQ(r.status, 0) << r.output;
    // IPv6: 40 header + 8 ICMPv6.
    r = ping(*a_, kNodeB.pod6, "-M do -s " + std::to_string(pod_mtu - 48));
    EXPECT_EQ(r.status, 0) << r.output;
    r = ping(*a_, kNodeB.pod6, "-M do -s " + std::to_string(pod_mtu - 47));
    EXPECT_NE(r.status, 0) << r.output;
  }
}

TEST_P(VxlanDatapath, TheTunnelDeviceItselfEnforcesThePodMtu) {
  // Pods with the underlay's MTU (a misconfigured CNI): the VXLAN device still refuses one byte
  // more than the pod MTU with "fragmentation needed", and carries exactly the pod MTU.
  const uint32_t device_mtu = 1450;  // vxlan.brindle over IPv4, whatever the pod MTU is
  a_->set_up_pod(1500);
  b_->set_up_pod(1500);
  Shell r = ping(*a_, kNodeB.pod4, "-M do -s " + std::to_string(device_mtu - 27));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "mtu = " + std::to_string(device_mtu))) << r.output;
  r = ping(*a_, kNodeB.pod4, "-M do -s " + std::to_string(device_mtu - 28));
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_P(VxlanDatapath, TrafficStopsWhenTheRemoteIsRemovedAndFlowsAgainAfterAnAgentRestart) {
  a_->set_up_pod(a_->state.pod_mtu);
  b_->set_up_pod(b_->state.pod_mtu);
  ASSERT_EQ(ping(*a_, kNodeB.pod4).status, 0);

  ASSERT_EQ(a_->plugin.remove(a_->node, "node-b").status, BRINDLE_OK);
  EXPECT_NE(ping(*a_, kNodeB.pod4).status, 0) << "no neighbour/FDB entry: no path";

  // Restart of node A's agent: the entries come back and traffic flows again.
  a_->plugin.destroy();
  a_->plugin.create_ok(a_->host);
  a_->plugin.ensure_local_ok(a_->node, a_->describe(false), "eth0");
  ASSERT_EQ(a_->plugin.upsert(a_->node, b_->describe(true)).status, BRINDLE_OK);
  const Shell r = ping(*a_, kNodeB.pod4);
  EXPECT_EQ(r.status, 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Underlay, VxlanDatapath, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("DualStack") : std::string("IPv4");
                         });

}  // namespace
}  // namespace vxlan_test
