// brindle-encap-none.so, loaded with dlopen through its entry symbol (as the host's loader does)
// and driven only through the C ABI with the shared test host services table.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

#include "brindle/abi.h"
#include "brindle/encap.h"
#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"
#include "brindle/routing.h"
#include "plugin_test_host.hpp"

namespace {

using brindle::netlink::IpPrefix;
using brindle::test::contains;
using brindle::test::PluginLibrary;
using brindle::test::TestHost;

// The plugin library (opened like the host opens plugins) and at most one instance of it.
class EncapNone : public ::testing::Test {
 protected:
  void TearDown() override {
    if (instance_ != nullptr) {
      descriptor_->destroy(instance_);  // before the library goes
    }
  }

  brindle_status_t create(brindle_error_t* err) {
    return descriptor_->create(&host_.services, &instance_, err);
  }
  void create_ok() {
    brindle_error_t err{};
    ASSERT_EQ(create(&err), BRINDLE_OK) << err.message;
  }

  struct Node {
    std::string name;
    brindle_encap_node_t raw{};
    Node(std::string node_name, const char* v4, const char* v6 = nullptr)
        : name(std::move(node_name)) {
      raw.struct_size = sizeof(raw);
      raw.name = brindle_str_t{name.data(), name.size()};
      if (v4 != nullptr) {
        raw.address4 = IpPrefix::parse(v4).to_abi();
      }
      if (v6 != nullptr) {
        raw.address6 = IpPrefix::parse(v6).to_abi();
      }
    }
  };

  brindle_status_t ensure_local(const Node& node, uint32_t underlay_mtu, uint32_t mtu_override,
                                brindle_encap_local_state_t* state, brindle_error_t* err,
                                const std::string& device = "eth0") {
    brindle_encap_local_config_t config{};
    config.struct_size = sizeof(config);
    config.node = &node.raw;
    config.underlay_device = brindle_str_t{device.data(), device.size()};
    config.underlay_mtu = underlay_mtu;
    config.mtu_override = mtu_override;
    std::memset(state, 0x5a, sizeof(*state));  // everything must be written
    state->struct_size = sizeof(*state);
    return vtable_->ensure_local(instance_, &config, state, err);
  }

  brindle_status_t route_form(const Node& remote, const char* block, brindle_route_form_t* form,
                              brindle_error_t* err) {
    const brindle_ip_prefix_t raw_block = IpPrefix::parse(block).to_abi();
    std::memset(form, 0x5a, sizeof(*form));
    form->struct_size = sizeof(*form);
    return vtable_->route_form(instance_, &remote.raw, &raw_block, form, err);
  }

  TestHost host_;
  PluginLibrary library_{BRINDLE_ENCAP_NONE_PLUGIN};
  const brindle_plugin_descriptor_t* descriptor_ = library_.descriptor();
  const brindle_encap_vtable_t* vtable_ = library_.vtable<brindle_encap_vtable_t>();
  brindle_instance_t* instance_ = nullptr;
};

TEST_F(EncapNone, DescriptorIsAnEncapsulationNamedNone) {
  EXPECT_EQ(descriptor_->struct_size, sizeof(brindle_plugin_descriptor_t));
  EXPECT_EQ(descriptor_->abi_major, BRINDLE_ABI_VERSION_MAJOR);
  EXPECT_LE(descriptor_->abi_minor, BRINDLE_ABI_VERSION_MINOR);
  EXPECT_EQ(descriptor_->kind, BRINDLE_KIND_ENCAPSULATION);
  EXPECT_STREQ(descriptor_->name, "none");
  EXPECT_NE(descriptor_->validate_config, nullptr);
  ASSERT_NE(vtable_, nullptr);
  EXPECT_EQ(vtable_->struct_size, sizeof(brindle_encap_vtable_t));
}

TEST_F(EncapNone, EnsureLocalReportsNoDeviceNoOverheadAndTheUnderlayMtu) {
  create_ok();
  brindle_encap_local_state_t state{};
  brindle_error_t err{};
  const Node self("node-a", "198.19.0.1/24");
  ASSERT_EQ(ensure_local(self, 1500, 0, &state, &err), BRINDLE_OK) << err.message;
  EXPECT_EQ(state.struct_size, sizeof(state));
  EXPECT_STREQ(state.device, "");
  EXPECT_EQ(state.mtu_overhead4, 0u);
  EXPECT_EQ(state.mtu_overhead6, 0u);
  EXPECT_EQ(state.pod_mtu, 1500u);
  EXPECT_EQ(state.has_vtep_mac, 0);
  EXPECT_EQ(state.needs_tunnel_address, 0);

  ASSERT_EQ(ensure_local(self, 9000, 0, &state, &err), BRINDLE_OK) << err.message;
  EXPECT_EQ(state.pod_mtu, 9000u);
  ASSERT_EQ(ensure_local(self, 1500, 1400, &state, &err), BRINDLE_OK) << err.message;
  EXPECT_EQ(state.pod_mtu, 1400u) << "the host's override wins over the underlay";
}

TEST_F(EncapNone, ConfiguredMtuWinsOverEverything) {
  host_.set_int("mtu", 1300);
  create_ok();
  brindle_encap_local_state_t state{};
  brindle_error_t err{};
  ASSERT_EQ(ensure_local(Node("node-a", "198.19.0.1/24"), 1500, 1400, &state, &err), BRINDLE_OK)
      << err.message;
  EXPECT_EQ(state.pod_mtu, 1300u);
}

TEST_F(EncapNone, DetectsTheUnderlayMtuFromTheKernelWhenTheHostGaveNone) {
  create_ok();
  auto ns = brindle::netlink::ScratchNetns::create();
  ns.run([] {
    brindle::netlink::Netlink netlink;
    netlink.create_veth({.name = "uplink0", .peer_name = "uplink1", .mtu = 1360});
  });
  brindle_encap_local_state_t state{};
  brindle_error_t err{};
  const Node self("node-a", "198.19.0.1/24");
  // The plugin acts in the namespace of the thread that calls it.
  const brindle_status_t status =
      ns.run([&] { return ensure_local(self, 0, 0, &state, &err, "uplink0"); });
  ASSERT_EQ(status, BRINDLE_OK) << err.message;
  EXPECT_EQ(state.pod_mtu, 1360u);

  const brindle_status_t missing =
      ns.run([&] { return ensure_local(self, 0, 0, &state, &err, "nosuch0"); });
  EXPECT_EQ(missing, BRINDLE_ERR_NOT_FOUND);
  EXPECT_TRUE(contains(err.message, "\"nosuch0\"")) << err.message;
  EXPECT_EQ(ensure_local(self, 0, 0, &state, &err, ""), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(err.message, "MTU")) << err.message;
}

TEST_F(EncapNone, RouteFormIsAPlainViaTheNodeAddress) {
  create_ok();
  brindle_encap_local_state_t state{};
  brindle_error_t err{};
  ASSERT_EQ(
      ensure_local(Node("node-a", "198.19.0.1/24", "2001:db8:19::1/64"), 1500, 0, &state, &err),
      BRINDLE_OK);
  const Node remote("node-b", "198.19.0.2/24", "2001:db8:19::2/64");
  brindle_route_form_t form{};
  ASSERT_EQ(route_form(remote, "198.18.1.0/26", &form, &err), BRINDLE_OK) << err.message;
  EXPECT_EQ(form.struct_size, sizeof(form));
  EXPECT_STREQ(form.device, "");
  EXPECT_EQ(IpPrefix::from_abi(form.gateway).to_string(), "198.19.0.2/32");
  EXPECT_EQ(form.flags & BRINDLE_ROUTE_ONLINK, 0u);
  EXPECT_EQ(form.flags, 0u);

  ASSERT_EQ(route_form(remote, "2001:db8:18:1::/64", &form, &err), BRINDLE_OK) << err.message;
  EXPECT_EQ(IpPrefix::from_abi(form.gateway).to_string(), "2001:db8:19::2/128");
  EXPECT_STREQ(form.device, "");
}

TEST_F(EncapNone, RouteFormRefusesANodeThatIsNotOnLinkNamingEverything) {
  create_ok();
  brindle_encap_local_state_t state{};
  brindle_error_t err{};
  ASSERT_EQ(ensure_local(Node("node-a", "198.19.0.1/24"), 1500, 0, &state, &err), BRINDLE_OK);
  brindle_route_form_t form{};
  const Node far("node-c", "198.19.1.2/24");
  EXPECT_EQ(route_form(far, "198.18.2.0/26", &form, &err), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(err.code, BRINDLE_ERR_INVALID_ARGUMENT);
  const std::string message = err.message;
  for (const char* part : {"\"node-c\"", "198.19.1.2/24", "198.19.1.0/24", "198.19.0.0/24",
                           "198.19.0.1/24", "\"node-a\"", "198.18.2.0/26", "not on-link"}) {
    EXPECT_TRUE(contains(message, part)) << "missing " << part << " in: " << message;
  }
}

TEST_F(EncapNone, RouteFormWithoutAnAddressOfTheBlocksFamily) {
  create_ok();
  brindle_route_form_t form{};
  brindle_error_t err{};
  // Before ensure_local the host's node address (198.19.0.1/24, no IPv6) is used.
  EXPECT_EQ(route_form(Node("node-b", "198.19.0.2/24"), "198.18.1.0/26", &form, &err), BRINDLE_OK)
      << err.message;
  EXPECT_EQ(route_form(Node("node-b", "198.19.0.2/24"), "2001:db8:18::/64", &form, &err),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(err.message, "no IPv6 underlay address")) << err.message;
  EXPECT_EQ(route_form(Node("node-b", nullptr), "198.18.1.0/26", &form, &err),
            BRINDLE_ERR_UNAVAILABLE);
  EXPECT_TRUE(contains(err.message, "\"node-b\" has no IPv4")) << err.message;
}

TEST_F(EncapNone, RemoteSetupAndTeardownAreNoOps) {
  create_ok();
  brindle_error_t err{};
  const Node remote("node-b", "198.19.0.2/24");
  EXPECT_EQ(vtable_->upsert_remote(instance_, &remote.raw, &err), BRINDLE_OK);
  EXPECT_EQ(vtable_->remove_remote(instance_, brindle_str_t{"node-b", 6}, &err), BRINDLE_OK);
  EXPECT_EQ(vtable_->remove_remote(instance_, brindle_str_t{"never-seen", 10}, &err), BRINDLE_OK);
  EXPECT_EQ(vtable_->in_sync(instance_, &err), BRINDLE_OK);
  EXPECT_EQ(vtable_->apply(instance_, &err), BRINDLE_OK);
  EXPECT_EQ(vtable_->refresh(instance_, &err), BRINDLE_OK);
}

struct BadConfig {
  const char* what;
  void (*set)(TestHost&);
  const char* expected;  // in the message, besides the location
};

TEST_F(EncapNone, BadConfigurationIsRefusedWithItsLocation) {
  const BadConfig cases[] = {
      {"mtu too small", [](TestHost& h) { h.set_int("mtu", 100); }, "between 576 and 65535"},
      {"mtu too large", [](TestHost& h) { h.set_int("mtu", 70000); }, "between 576 and 65535"},
      {"mtu not an integer", [](TestHost& h) { h.set_string("mtu", "big"); }, "an integer"},
      {"unknown key",
       [](TestHost& h) {
         h.set_int("mtu", 1500);
         h.set_int("vni", 4096);
       },
       "vni: unknown key"},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.what);
    TestHost host;
    c.set(host);
    const std::string line = std::to_string(host.line_of(host.section.back().key));
    brindle_error_t err{};
    EXPECT_EQ(descriptor_->validate_config(&host.services, &err), BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(err.message, "/etc/brindle/brindle.toml:" + line + ":1")) << err.message;
    EXPECT_TRUE(contains(err.message, c.expected)) << err.message;
    brindle_instance_t* instance = nullptr;
    EXPECT_EQ(descriptor_->create(&host.services, &instance, &err), BRINDLE_ERR_CONFIG);
    EXPECT_EQ(instance, nullptr);
  }
  TestHost good;
  good.set_int("mtu", 576);
  brindle_error_t err{};
  EXPECT_EQ(descriptor_->validate_config(&good.services, &err), BRINDLE_OK) << err.message;
}

}  // namespace
