// brindle-encap-vxlan.so against the real kernel in scratch network namespaces: the device, its
// parameters and MAC, per-remote neighbour and FDB entries, the in_sync contract, repair, route
// forms and configuration errors. Inspected with ip(8) and bridge(8) as an operator would.
#include <gtest/gtest.h>

#include <string>

#include "vxlan_test_support.hpp"

namespace vxlan_test {
namespace {

constexpr const char* kMacB = "0e:00:00:00:00:0b";
constexpr const char* kMacC = "0e:00:00:00:00:0c";
constexpr const char* kMacB2 = "0e:00:00:00:01:0b";

// A node namespace with an underlay device eth0 (198.19.0.1/24, 2001:db8:19::1/64, MTU 1500).
ScratchNetns node_namespace(uint32_t mtu = 1500) {
  ScratchNetns ns = ScratchNetns::create_named("vxl");
  ip(ns, "link add eth0 mtu " + std::to_string(mtu) + " type veth peer name eth0-peer");
  ip(ns, "addr add 198.19.0.1/24 dev eth0");
  ip(ns, "addr add 2001:db8:19::1/64 dev eth0 nodad");
  ip(ns, "link set eth0 up");
  ip(ns, "link set eth0-peer up");
  return ns;
}

int ifindex_of(const ScratchNetns& ns, const std::string& device) {
  const std::string line = ip(ns, "-o link show dev " + device);
  return std::stoi(line);
}

class EncapVxlan : public ::testing::Test {
 protected:
  ScratchNetns ns_ = node_namespace();
  TestHost host_;
  Plugin plugin_;
  const Node self_{"node-a", "198.19.0.1/24", "198.18.1.1/32"};
  const Node b_{"node-b", "198.19.0.2/24", "198.18.2.1/32", kMacB};
  const Node c_{"node-c", "198.19.0.3/24", "198.18.3.1/32", kMacC};

  std::string neighbours(const std::string& device = "vxlan.brindle") {
    return ip(ns_, "neigh show dev " + device);
  }
  std::string fdb(const std::string& device = "vxlan.brindle") {
    return must("bridge -n " + ns_.name() + " fdb show dev " + device);
  }
  void expect_entries_of_b(bool present) {
    const std::string n = neighbours();
    const std::string f = fdb();
    EXPECT_EQ(contains(n, "198.18.2.1 lladdr 0e:00:00:00:00:0b PERMANENT"), present) << n;
    EXPECT_EQ(contains(f, "0e:00:00:00:00:0b dst 198.19.0.2 self permanent"), present) << f;
  }
  void expect_entries_of_c(bool present) {
    const std::string n = neighbours();
    const std::string f = fdb();
    EXPECT_EQ(contains(n, "198.18.3.1 lladdr 0e:00:00:00:00:0c PERMANENT"), present) << n;
    EXPECT_EQ(contains(f, "0e:00:00:00:00:0c dst 198.19.0.3 self permanent"), present) << f;
  }
  void expect_ok(const Plugin::Result& r) { EXPECT_EQ(r.status, BRINDLE_OK) << r.message; }
};

TEST_F(EncapVxlan, DescriptorIsAnEncapsulationNamedVxlan) {
  const brindle_plugin_descriptor_t* d = plugin_.descriptor();
  EXPECT_EQ(d->struct_size, sizeof(brindle_plugin_descriptor_t));
  EXPECT_EQ(d->abi_major, BRINDLE_ABI_VERSION_MAJOR);
  EXPECT_EQ(d->abi_minor, BRINDLE_ABI_VERSION_MINOR);
  EXPECT_EQ(d->kind, BRINDLE_KIND_ENCAPSULATION);
  EXPECT_STREQ(d->name, "vxlan");
  EXPECT_NE(d->validate_config, nullptr);
  ASSERT_NE(plugin_.vtable(), nullptr);
  EXPECT_EQ(plugin_.vtable()->struct_size, sizeof(brindle_encap_vtable_t));
}

TEST_F(EncapVxlan, CreatesTheDeviceWithVniPortNoLearningLocalUnderlayAndMtu) {
  plugin_.create_ok(host_);
  const Node without_tunnel("node-a", "198.19.0.1/24");
  const brindle_encap_local_state_t state = plugin_.ensure_local_ok(ns_, without_tunnel, "eth0");
  EXPECT_EQ(state.struct_size, sizeof(state));
  EXPECT_STREQ(state.device, "vxlan.brindle");
  EXPECT_EQ(state.mtu_overhead4, 50u);
  EXPECT_EQ(state.mtu_overhead6, 70u);
  EXPECT_EQ(state.pod_mtu, 1450u) << "detected from eth0 (1500) minus 50";
  EXPECT_EQ(state.has_vtep_mac, 1);
  EXPECT_EQ(state.needs_tunnel_address, 1);

  const std::string link = ip(ns_, "-d link show dev vxlan.brindle");
  for (const char* part : {"mtu 1450", "vxlan id 4096 ", "local 198.19.0.1 ", "dev eth0 ",
                           "dstport 4789 ", "nolearning", ",UP,"}) {
    EXPECT_TRUE(contains(link, part)) << "missing \"" << part << "\" in\n" << link;
  }
  EXPECT_TRUE(contains(link, "link/ether " + mac_string(state.vtep_mac))) << link;
  EXPECT_FALSE(contains(ip(ns_, "-4 addr show dev vxlan.brindle"), "inet "))
      << "no tunnel address before IPAM assigned one";

  // Called again once the tunnel address is known: the same device gets it as a /32.
  const int ifindex = ifindex_of(ns_, "vxlan.brindle");
  const brindle_encap_local_state_t again = plugin_.ensure_local_ok(ns_, self_, "eth0");
  EXPECT_EQ(mac_string(again.vtep_mac), mac_string(state.vtep_mac));
  EXPECT_EQ(again.pod_mtu, 1450u);
  EXPECT_EQ(ifindex_of(ns_, "vxlan.brindle"), ifindex);
  EXPECT_TRUE(contains(ip(ns_, "-4 addr show dev vxlan.brindle"), "inet 198.18.1.1/32 "));
  // Idempotent: a third call changes nothing.
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  EXPECT_EQ(ifindex_of(ns_, "vxlan.brindle"), ifindex);
  const std::string addresses = ip(ns_, "-4 -o addr show dev vxlan.brindle");
  EXPECT_EQ(std::count(addresses.begin(), addresses.end(), '\n'), 1) << addresses;
  EXPECT_FALSE(host_.logged("re-creating")) << host_.all_logs();

  // A new tunnel address replaces the old one.
  const Node moved("node-a", "198.19.0.1/24", "198.18.1.65/32");
  plugin_.ensure_local_ok(ns_, moved, "eth0");
  const std::string moved_addresses = ip(ns_, "-4 addr show dev vxlan.brindle");
  EXPECT_TRUE(contains(moved_addresses, "inet 198.18.1.65/32 ")) << moved_addresses;
  EXPECT_FALSE(contains(moved_addresses, "198.18.1.1/")) << moved_addresses;
}

TEST_F(EncapVxlan, MtuComesFromConfigurationThenTheHostsOverrideThenTheUnderlay) {
  ip(ns_, "link set eth0 mtu 9000");
  plugin_.create_ok(host_);
  EXPECT_EQ(plugin_.ensure_local_ok(ns_, self_, "eth0").pod_mtu, 8950u)
      << "detected from the underlay device";
  EXPECT_TRUE(contains(ip(ns_, "link show dev vxlan.brindle"), "mtu 8950 "));
  EXPECT_EQ(plugin_.ensure_local_ok(ns_, self_, "eth0", 4000).pod_mtu, 3950u)
      << "the host's underlay MTU is used as given";
  EXPECT_TRUE(contains(ip(ns_, "link show dev vxlan.brindle"), "mtu 3950 "));
  const Plugin::Local overridden = plugin_.ensure_local(ns_, self_, "eth0", 1500, 1300);
  ASSERT_EQ(overridden.status, BRINDLE_OK) << overridden.message;
  EXPECT_EQ(overridden.state.pod_mtu, 1300u);
  EXPECT_TRUE(contains(ip(ns_, "link show dev vxlan.brindle"), "mtu 1300"));

  TestHost configured;
  configured.set_int("mtu", 1400);
  plugin_.create_ok(configured);
  const Plugin::Local fixed = plugin_.ensure_local(ns_, self_, "eth0", 1500, 1300);
  ASSERT_EQ(fixed.status, BRINDLE_OK) << fixed.message;
  EXPECT_EQ(fixed.state.pod_mtu, 1400u) << "the plugin's own mtu wins";
  EXPECT_TRUE(contains(ip(ns_, "link show dev vxlan.brindle"), "mtu 1400"));
}

TEST_F(EncapVxlan, ConfiguredDeviceNameVniAndPort) {
  host_.set_string("device", "vx-test0");
  host_.set_int("vni", 77);
  host_.set_int("port", 4790);
  plugin_.create_ok(host_);
  const brindle_encap_local_state_t state = plugin_.ensure_local_ok(ns_, self_, "eth0");
  EXPECT_STREQ(state.device, "vx-test0");
  const std::string link = ip(ns_, "-d link show dev vx-test0");
  EXPECT_TRUE(contains(link, "vxlan id 77 ")) << link;
  EXPECT_TRUE(contains(link, "dstport 4790 ")) << link;
  const Plugin::Form form = plugin_.route_form(b_, "198.18.2.0/26");
  ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
  EXPECT_STREQ(form.form.device, "vx-test0");
}

TEST_F(EncapVxlan, VtepMacIsStableAcrossRestartsAndLocallyAdministeredUnicast) {
  plugin_.create_ok(host_);
  const brindle_encap_local_state_t first = plugin_.ensure_local_ok(ns_, self_, "eth0");
  const MacAddress mac = MacAddress::from_abi(first.vtep_mac);
  EXPECT_EQ(mac.bytes()[0] & 0x02, 0x02) << "locally administered: " << mac.to_string();
  EXPECT_EQ(mac.bytes()[0] & 0x01, 0x00) << "unicast: " << mac.to_string();
  const int ifindex = ifindex_of(ns_, "vxlan.brindle");

  // Agent restart: the device is kept, the MAC reported again is the same.
  plugin_.destroy();
  TestHost restarted;
  plugin_.create_ok(restarted);
  const brindle_encap_local_state_t second = plugin_.ensure_local_ok(ns_, self_, "eth0");
  EXPECT_EQ(mac_string(second.vtep_mac), mac.to_string());
  EXPECT_EQ(ifindex_of(ns_, "vxlan.brindle"), ifindex) << "kept, not re-created";
  EXPECT_FALSE(restarted.logged("re-creating")) << restarted.all_logs();

  // Even a device deleted meanwhile comes back with the same MAC (it is derived from the name).
  ip(ns_, "link del vxlan.brindle");
  plugin_.destroy();
  plugin_.create_ok(restarted);
  EXPECT_EQ(mac_string(plugin_.ensure_local_ok(ns_, self_, "eth0").vtep_mac), mac.to_string());
  EXPECT_TRUE(contains(ip(ns_, "link show dev vxlan.brindle"), "link/ether " + mac.to_string()));

  // Someone changed it: put back.
  ip(ns_, "link set dev vxlan.brindle address 02:11:22:33:44:55");
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  const std::string link = ip(ns_, "link show dev vxlan.brindle");
  EXPECT_TRUE(contains(link, "link/ether " + mac.to_string())) << link;
  EXPECT_TRUE(contains(link, ",UP,")) << link;

  // Another node name gives another MAC.
  TestHost other("node-b");
  plugin_.create_ok(other);
  const Node other_self("node-b", "198.19.0.1/24");
  EXPECT_NE(mac_string(plugin_.ensure_local_ok(ns_, other_self, "eth0").vtep_mac), mac.to_string());
}

TEST_F(EncapVxlan, DeviceWithWrongParametersIsRecreatedAndLogged) {
  ip(ns_, "link add vxlan.brindle type vxlan id 42 dstport 8472 local 198.19.0.9 learning");
  const int before = ifindex_of(ns_, "vxlan.brindle");
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  EXPECT_NE(ifindex_of(ns_, "vxlan.brindle"), before);
  const std::string link = ip(ns_, "-d link show dev vxlan.brindle");
  EXPECT_TRUE(contains(link, "vxlan id 4096 ")) << link;
  EXPECT_TRUE(contains(link, "dstport 4789 ")) << link;
  EXPECT_TRUE(contains(link, "local 198.19.0.1 ")) << link;
  EXPECT_TRUE(contains(link, "nolearning")) << link;
  for (const char* part :
       {"re-creating VXLAN device", "vni 42 (want 4096)", "port 8472 (want 4789)",
        "learning on (want off)", "local 198.19.0.9 (want 198.19.0.1)"}) {
    EXPECT_TRUE(host_.logged(part)) << "missing \"" << part << "\" in\n" << host_.all_logs();
  }

  // Not a VXLAN device at all.
  ip(ns_, "link del vxlan.brindle");
  ip(ns_, "link add vxlan.brindle type veth peer name vxl-other");
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  EXPECT_TRUE(contains(ip(ns_, "-d link show dev vxlan.brindle"), "vxlan id 4096 "));
  EXPECT_TRUE(host_.logged("it is a \"veth\" device")) << host_.all_logs();
}

TEST_F(EncapVxlan, RemoteNodeGetsPermanentNeighbourAndFdbEntriesUntilRemoved) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, b_));
  expect_entries_of_b(true);
  expect_ok(plugin_.upsert(ns_, b_));  // idempotent
  expect_entries_of_b(true);
  expect_ok(plugin_.in_sync(ns_));
  expect_ok(plugin_.apply(ns_));
  expect_entries_of_b(true);

  expect_ok(plugin_.remove(ns_, "node-b"));
  expect_entries_of_b(false);
  expect_ok(plugin_.remove(ns_, "node-b"));  // already gone
  expect_ok(plugin_.remove(ns_, "never-seen"));
  EXPECT_FALSE(contains(neighbours(), "PERMANENT")) << neighbours();
  EXPECT_FALSE(contains(fdb(), "permanent")) << fdb();
}

TEST_F(EncapVxlan, RemotesUpsertedBeforeTheDeviceExistsAreProgrammedWithIt) {
  plugin_.create_ok(host_);
  expect_ok(plugin_.upsert(ns_, b_));  // recorded only: no device yet
  EXPECT_FALSE(contains(ip(ns_, "link show"), "vxlan.brindle"));
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_entries_of_b(true);
}

TEST_F(EncapVxlan, RemoteWithoutMacOrTunnelGetsOnlyWhatItsDataAllows) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, Node("node-b", "198.19.0.2/24", "198.18.2.1/32")));
  EXPECT_FALSE(contains(neighbours(), "198.18.2.1")) << "no MAC, no entry";
  EXPECT_FALSE(contains(fdb(), "198.19.0.2"));
  expect_ok(plugin_.upsert(ns_, Node("node-b", "198.19.0.2/24", nullptr, kMacB)));
  EXPECT_FALSE(contains(neighbours(), "198.18.2.1")) << "no tunnel address, no neighbour";
  EXPECT_TRUE(contains(fdb(), "0e:00:00:00:00:0b dst 198.19.0.2 self permanent")) << fdb();
  expect_ok(plugin_.upsert(ns_, b_));
  expect_entries_of_b(true);
}

TEST_F(EncapVxlan, ChangedMacOrAddressReplacesStaleEntries) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, b_));

  // Before in_sync: the new entries are written, the old MAC's FDB entry stays (no removals).
  expect_ok(plugin_.upsert(ns_, Node("node-b", "198.19.0.2/24", "198.18.2.1/32", kMacB2)));
  EXPECT_TRUE(contains(neighbours(), "198.18.2.1 lladdr 0e:00:00:00:01:0b PERMANENT"))
      << neighbours();
  EXPECT_TRUE(contains(fdb(), "0e:00:00:00:01:0b dst 198.19.0.2 self permanent")) << fdb();
  EXPECT_TRUE(contains(fdb(), "0e:00:00:00:00:0b dst 198.19.0.2")) << fdb();
  expect_ok(plugin_.in_sync(ns_));
  expect_ok(plugin_.apply(ns_));
  EXPECT_FALSE(contains(fdb(), "0e:00:00:00:00:0b")) << fdb();
  EXPECT_TRUE(host_.logged("removed stale VXLAN fdb entry")) << host_.all_logs();

  // After in_sync: stale entries go at once. New underlay address: the FDB entry is replaced.
  expect_ok(plugin_.upsert(ns_, Node("node-b", "198.19.0.22/24", "198.18.2.1/32", kMacB2)));
  EXPECT_TRUE(contains(fdb(), "0e:00:00:00:01:0b dst 198.19.0.22 self permanent")) << fdb();
  EXPECT_FALSE(contains(fdb(), "dst 198.19.0.2 ")) << fdb();
  // New MAC and tunnel address.
  expect_ok(plugin_.upsert(ns_, b_));
  expect_ok(plugin_.upsert(ns_, Node("node-b", "198.19.0.2/24", "198.18.2.65/32", kMacB)));
  EXPECT_TRUE(contains(neighbours(), "198.18.2.65 lladdr 0e:00:00:00:00:0b PERMANENT"))
      << neighbours();
  EXPECT_FALSE(contains(neighbours(), "198.18.2.1 ")) << neighbours();
  EXPECT_FALSE(contains(fdb(), "0e:00:00:00:01:0b")) << fdb();
  EXPECT_TRUE(contains(fdb(), "0e:00:00:00:00:0b dst 198.19.0.2 self permanent")) << fdb();
}

TEST_F(EncapVxlan, EntriesOfVanishedNodesStayUntilTheFirstApplyAfterInSync) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, b_));
  expect_ok(plugin_.upsert(ns_, c_));

  // Restart: node-c is gone from the datastore meanwhile.
  plugin_.destroy();
  TestHost restarted;
  plugin_.create_ok(restarted);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, b_));
  expect_ok(plugin_.apply(ns_));
  expect_ok(plugin_.refresh(ns_));
  expect_entries_of_c(true);  // nothing removed before in_sync
  expect_ok(plugin_.in_sync(ns_));
  expect_entries_of_c(true);  // ... nor by in_sync itself
  expect_ok(plugin_.apply(ns_));
  expect_entries_of_c(false);
  expect_entries_of_b(true);
}

TEST_F(EncapVxlan, RemovalBeforeInSyncIsDeferredToTheFirstApplyAfterIt) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, b_));
  expect_ok(plugin_.remove(ns_, "node-b"));
  expect_ok(plugin_.apply(ns_));
  expect_entries_of_b(true);
  expect_ok(plugin_.in_sync(ns_));
  expect_ok(plugin_.apply(ns_));
  expect_entries_of_b(false);
}

TEST_F(EncapVxlan, RefreshRepairsMissingAndAlteredEntriesAndTheDevice) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  expect_ok(plugin_.upsert(ns_, b_));
  expect_ok(plugin_.upsert(ns_, c_));
  expect_ok(plugin_.in_sync(ns_));
  expect_ok(plugin_.apply(ns_));

  ip(ns_, "neigh del 198.18.2.1 dev vxlan.brindle");
  must("bridge -n " + ns_.name() + " fdb del 0e:00:00:00:00:0b dev vxlan.brindle self");
  ip(ns_, "neigh replace 198.18.3.1 lladdr 0e:00:00:00:99:99 dev vxlan.brindle nud permanent");
  expect_ok(plugin_.refresh(ns_));
  expect_entries_of_b(true);
  expect_entries_of_c(true);
  EXPECT_FALSE(contains(neighbours(), "0e:00:00:00:99:99")) << neighbours();

  ip(ns_, "link del vxlan.brindle");
  expect_ok(plugin_.refresh(ns_));
  const std::string link = ip(ns_, "-d link show dev vxlan.brindle");
  EXPECT_TRUE(contains(link, "vxlan id 4096 ")) << link;
  EXPECT_TRUE(contains(ip(ns_, "-4 addr show dev vxlan.brindle"), "inet 198.18.1.1/32 "));
  expect_entries_of_b(true);
  expect_entries_of_c(true);
}

TEST_F(EncapVxlan, RouteFormIsViaTheTunnelAddressOnlinkOnTheDevice) {
  plugin_.create_ok(host_);
  // Pure: works before ensure_local too (from the host's node address).
  Plugin::Form form = plugin_.route_form(b_, "198.18.2.0/26");
  ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
  EXPECT_EQ(form.form.struct_size, sizeof(brindle_route_form_t));
  EXPECT_STREQ(form.form.device, "vxlan.brindle");
  EXPECT_EQ(IpPrefix::from_abi(form.form.gateway).to_string(), "198.18.2.1/32");
  EXPECT_EQ(form.form.flags, BRINDLE_ROUTE_ONLINK);

  // A tunnel address given with its block's prefix length still gives a host gateway.
  form =
      plugin_.route_form(Node("node-b", "198.19.0.2/24", "198.18.2.1/26", kMacB), "198.18.2.0/26");
  ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
  EXPECT_EQ(IpPrefix::from_abi(form.form.gateway).to_string(), "198.18.2.1/32");
}

TEST_F(EncapVxlan, RouteFormIsUnavailableWithoutTunnelAddressOrVtepMac) {
  plugin_.create_ok(host_);
  plugin_.ensure_local_ok(ns_, self_, "eth0");
  Plugin::Form form =
      plugin_.route_form(Node("node-b", "198.19.0.2/24", nullptr, kMacB), "198.18.2.0/26");
  EXPECT_EQ(form.status, BRINDLE_ERR_UNAVAILABLE);
  for (const char* part : {"\"node-b\"", "198.18.2.0/26", "no IPv4 VXLAN tunnel address"}) {
    EXPECT_TRUE(contains(form.message, part)) << "missing " << part << " in: " << form.message;
  }
  form = plugin_.route_form(Node("node-b", "198.19.0.2/24", "198.18.2.1/32"), "198.18.2.0/26");
  EXPECT_EQ(form.status, BRINDLE_ERR_UNAVAILABLE);
  EXPECT_TRUE(contains(form.message, "not published a VTEP MAC")) << form.message;
  EXPECT_TRUE(contains(form.message, "\"node-b\"")) << form.message;
  form = plugin_.route_form(Node("node-b", nullptr, "198.18.2.1/32", kMacB), "198.18.2.0/26");
  EXPECT_EQ(form.status, BRINDLE_ERR_UNAVAILABLE);
  EXPECT_TRUE(contains(form.message, "no IPv4 underlay address")) << form.message;

  // IPv6 block on a node without IPv6 underlay: not a matter of waiting.
  form = plugin_.route_form(Node("node-b", "198.19.0.2/24", "198.18.2.1/32", kMacB,
                                 "2001:db8:19::2/64", "2001:db8:18:2::1/128"),
                            "2001:db8:18:2::/64");
  EXPECT_EQ(form.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(form.message, "\"node-a\" has no IPv6 underlay address")) << form.message;
}

TEST_F(EncapVxlan, IPv6UnderlayGetsASecondDeviceForIPv6Pools) {
  TestHost dual("node-a", "198.19.0.1/24", "2001:db8:19::1/64");
  plugin_.create_ok(dual);
  const Node self("node-a", "198.19.0.1/24", "198.18.1.1/32", nullptr, "2001:db8:19::1/64",
                  "2001:db8:18:1::1/128");
  const brindle_encap_local_state_t state = plugin_.ensure_local_ok(ns_, self, "eth0");
  EXPECT_STREQ(state.device, "vxlan.brindle");
  EXPECT_EQ(state.pod_mtu, 1430u) << "the smaller of 1500-50 and 1500-70";
  const std::string v4 = ip(ns_, "-d link show dev vxlan.brindle");
  EXPECT_TRUE(contains(v4, "mtu 1450 ")) << v4;
  const std::string v6 = ip(ns_, "-d link show dev vxlan6.brindle");
  for (const char* part : {"mtu 1430 ", "vxlan id 4096 ", "local 2001:db8:19::1 ", "dev eth0 ",
                           "dstport 4789 ", "nolearning", ",UP,"}) {
    EXPECT_TRUE(contains(v6, part)) << "missing \"" << part << "\" in\n" << v6;
  }
  EXPECT_TRUE(contains(v6, "link/ether " + mac_string(state.vtep_mac))) << "one VTEP MAC";
  EXPECT_TRUE(contains(ip(ns_, "-6 addr show dev vxlan6.brindle"), "inet6 2001:db8:18:1::1/128 "));

  const Node remote("node-b", "198.19.0.2/24", "198.18.2.1/32", kMacB, "2001:db8:19::2/64",
                    "2001:db8:18:2::1/128");
  expect_ok(plugin_.upsert(ns_, remote));
  expect_entries_of_b(true);
  const std::string n6 = neighbours("vxlan6.brindle");
  EXPECT_TRUE(contains(n6, "2001:db8:18:2::1 lladdr 0e:00:00:00:00:0b PERMANENT")) << n6;
  const std::string f6 = fdb("vxlan6.brindle");
  EXPECT_TRUE(contains(f6, "0e:00:00:00:00:0b dst 2001:db8:19::2 self permanent")) << f6;

  const Plugin::Form form = plugin_.route_form(remote, "2001:db8:18:2::/64");
  ASSERT_EQ(form.status, BRINDLE_OK) << form.message;
  EXPECT_STREQ(form.form.device, "vxlan6.brindle");
  EXPECT_EQ(IpPrefix::from_abi(form.form.gateway).to_string(), "2001:db8:18:2::1/128");
  EXPECT_EQ(form.form.flags, BRINDLE_ROUTE_ONLINK);

  expect_ok(plugin_.in_sync(ns_));
  expect_ok(plugin_.remove(ns_, "node-b"));
  EXPECT_FALSE(contains(neighbours("vxlan6.brindle"), "PERMANENT"));
  EXPECT_FALSE(contains(fdb("vxlan6.brindle"), "permanent"));
}

TEST_F(EncapVxlan, LocalSetupErrorsNameWhatIsMissing) {
  plugin_.create_ok(host_);
  Plugin::Local local = plugin_.ensure_local(ns_, self_, "nosuch0");
  EXPECT_EQ(local.status, BRINDLE_ERR_NOT_FOUND);
  EXPECT_TRUE(contains(local.message, "\"nosuch0\"")) << local.message;

  local = plugin_.ensure_local(ns_, self_, "");
  EXPECT_EQ(local.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(local.message, "underlay MTU is unknown")) << local.message;

  TestHost no_address("node-a", nullptr, nullptr);
  plugin_.create_ok(no_address);
  local = plugin_.ensure_local(ns_, Node("node-a"), "eth0");
  EXPECT_EQ(local.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(local.message, "no underlay address")) << local.message;

  // A VNI clash with a foreign device is reported with the kernel's own words.
  ip(ns_, "link add other-vx type vxlan id 4096 dstport 4789 local 198.19.0.1");
  plugin_.create_ok(host_);
  local = plugin_.ensure_local(ns_, self_, "eth0");
  EXPECT_NE(local.status, BRINDLE_OK);
  EXPECT_TRUE(contains(local.message, "\"vxlan.brindle\"")) << local.message;
  EXPECT_TRUE(contains(local.message, "VNI")) << local.message;
}

struct BadConfig {
  const char* what;
  void (*set)(TestHost&);
  const char* expected;  // in the message, besides the location
};

TEST(EncapVxlanConfig, BadConfigurationIsRefusedWithItsLocation) {
  Plugin plugin;
  const BadConfig cases[] = {
      {"vni zero", [](TestHost& h) { h.set_int("vni", 0); }, "vni: must be between 1 and 16777215"},
      {"vni too large", [](TestHost& h) { h.set_int("vni", 16777216); }, "between 1 and 16777215"},
      {"vni a string", [](TestHost& h) { h.set_string("vni", "4096"); }, "vni: must be an integer"},
      {"port zero", [](TestHost& h) { h.set_int("port", 0); }, "port: must be between 1 and 65535"},
      {"port too large", [](TestHost& h) { h.set_int("port", 65536); }, "between 1 and 65535"},
      {"mtu too small", [](TestHost& h) { h.set_int("mtu", 100); }, "between 576 and 65535"},
      {"device too long", [](TestHost& h) { h.set_string("device", "vxlan-v6.brindle"); },
       "1 to 15 characters"},
      {"device empty", [](TestHost& h) { h.set_string("device", ""); }, "1 to 15 characters"},
      {"device with a slash", [](TestHost& h) { h.set_string("device", "vx/0"); },
       "not a valid interface name"},
      {"device6 same as device", [](TestHost& h) { h.set_string("device6", "vxlan.brindle"); },
       "device6: must differ from device"},
      {"unknown key",
       [](TestHost& h) {
         h.set_int("vni", 4096);
         h.set_string("vxlan_mode", "Always");
       },
       "vxlan_mode: unknown key; expected one of: device, device6, vni, port, mtu"},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.what);
    TestHost host;
    c.set(host);
    const std::string where =
        "/etc/brindle/brindle.toml:" + std::to_string(host.line_of(host.section.back().key)) + ":1";
    brindle_error_t err{};
    EXPECT_EQ(plugin.descriptor()->validate_config(&host.services, &err), BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(err.message, where)) << err.message;
    EXPECT_TRUE(contains(err.message, c.expected)) << err.message;
    EXPECT_EQ(plugin.create(host, &err), BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(err.message, c.expected)) << err.message;
  }
  TestHost good;
  good.set_string("device", "vxlan.brindle");
  good.set_string("device6", "vxlan6.brindle");
  good.set_int("vni", 16777215);
  good.set_int("port", 1);
  good.set_int("mtu", 576);
  brindle_error_t err{};
  EXPECT_EQ(plugin.descriptor()->validate_config(&good.services, &err), BRINDLE_OK) << err.message;
}

}  // namespace
}  // namespace vxlan_test
