// brindle-encap-none.so, loaded with dlopen through its entry symbol (as the host's loader does)
// and driven only through the C ABI with a small host services table.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "brindle/abi.h"
#include "brindle/encap.h"
#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"
#include "brindle/routing.h"

namespace {

using brindle::netlink::IpPrefix;

// A host services table whose configuration section is a list of keys with integer or string
// values, each "located" at a line of a pretend brindle.toml.
struct TestHost {
  struct Value {
    std::string key;
    brindle_config_type_t type = BRINDLE_CONFIG_ABSENT;
    int64_t integer = 0;
    std::string text;
  };
  std::vector<Value> section;
  std::string node_name = "node-a";
  std::vector<std::string> logs;
  brindle_host_services_t services{};

  static TestHost& self(brindle_host_context_t* c) { return *reinterpret_cast<TestHost*>(c); }
  static std::string key(brindle_str_t s) { return std::string(s.data, s.size); }
  const Value* find(const std::string& path) const {
    for (const Value& v : section) {
      if (v.key == path) {
        return &v;
      }
    }
    return nullptr;
  }
  static int line_of(const TestHost& h, const std::string& path) {
    for (size_t i = 0; i < h.section.size(); ++i) {
      if (h.section[i].key == path) {
        return static_cast<int>(10 + i);
      }
    }
    return 9;  // the section header
  }

  TestHost() {
    services.struct_size = sizeof(services);
    services.abi_major = BRINDLE_ABI_VERSION_MAJOR;
    services.abi_minor = BRINDLE_ABI_VERSION_MINOR;
    services.context = reinterpret_cast<brindle_host_context_t*>(this);
    services.log = [](brindle_host_context_t* c, brindle_log_level_t, brindle_str_t m,
                      brindle_str_t f) { self(c).logs.push_back(key(m) + " " + key(f)); };
    services.log_enabled = [](brindle_host_context_t*, brindle_log_level_t) { return 1; };
    services.metric_register = [](brindle_host_context_t*, brindle_metric_type_t, brindle_str_t,
                                  brindle_str_t) -> uint32_t { return 1; };
    services.metric_add = [](brindle_host_context_t*, uint32_t, brindle_str_t, double) {};
    services.metric_set = [](brindle_host_context_t*, uint32_t, brindle_str_t, double) {};
    services.clock_monotonic_ns = [](brindle_host_context_t*) -> uint64_t { return 1; };
    services.clock_realtime_ns = [](brindle_host_context_t*) -> uint64_t { return 1; };
    services.config_type = [](brindle_host_context_t* c, brindle_str_t p) {
      if (p.size == 0) {
        return BRINDLE_CONFIG_TABLE;
      }
      const Value* v = self(c).find(key(p));
      return v != nullptr ? v->type : BRINDLE_CONFIG_ABSENT;
    };
    services.config_get_string = [](brindle_host_context_t* c, brindle_str_t p,
                                    brindle_str_t* out) {
      const Value* v = self(c).find(key(p));
      if (v == nullptr) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      if (v->type != BRINDLE_CONFIG_STRING) {
        return BRINDLE_ERR_INVALID_ARGUMENT;
      }
      *out = brindle_str_t{v->text.data(), v->text.size()};
      return BRINDLE_OK;
    };
    services.config_get_int = [](brindle_host_context_t* c, brindle_str_t p, int64_t* out) {
      const Value* v = self(c).find(key(p));
      if (v == nullptr) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      if (v->type != BRINDLE_CONFIG_INTEGER) {
        return BRINDLE_ERR_INVALID_ARGUMENT;
      }
      *out = v->integer;
      return BRINDLE_OK;
    };
    services.config_get_double = [](brindle_host_context_t* c, brindle_str_t p, double*) {
      return self(c).find(key(p)) != nullptr ? BRINDLE_ERR_INVALID_ARGUMENT : BRINDLE_ERR_NOT_FOUND;
    };
    services.config_get_bool = [](brindle_host_context_t* c, brindle_str_t p, int*) {
      return self(c).find(key(p)) != nullptr ? BRINDLE_ERR_INVALID_ARGUMENT : BRINDLE_ERR_NOT_FOUND;
    };
    services.config_size = [](brindle_host_context_t* c, brindle_str_t p) -> size_t {
      return p.size == 0 ? self(c).section.size() : 0;
    };
    services.config_keys = [](brindle_host_context_t* c, brindle_str_t p, brindle_str_sink_fn sink,
                              void* user) {
      if (p.size != 0) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      for (const Value& v : self(c).section) {
        sink(user, brindle_str_t{v.key.data(), v.key.size()});
      }
      return BRINDLE_OK;
    };
    services.config_location = [](brindle_host_context_t* c, brindle_str_t p,
                                  brindle_str_sink_fn sink, void* user) {
      std::string where =
          "/etc/brindle/brindle.toml:" + std::to_string(line_of(self(c), key(p))) + ":1";
      sink(user, brindle_str_t{where.data(), where.size()});
    };
    services.node_name = brindle_str_t{node_name.data(), node_name.size()};
    services.node_ipv4 = IpPrefix::parse("198.19.0.1/24").to_abi();
    services.node_ipv6 = brindle_ip_prefix_t{};
    services.request_refresh = [](brindle_host_context_t*) {};
  }

  void set_int(const std::string& k, int64_t value) {
    section.push_back({k, BRINDLE_CONFIG_INTEGER, value, {}});
  }
  void set_string(const std::string& k, const std::string& value) {
    section.push_back({k, BRINDLE_CONFIG_STRING, 0, value});
  }
};

// The plugin library, opened like the host opens plugins: local and immediate binding.
class EncapNone : public ::testing::Test {
 protected:
  void SetUp() override {
    library_ = dlopen(BRINDLE_ENCAP_NONE_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library_, nullptr) << dlerror();
    auto entry =
        reinterpret_cast<brindle_plugin_entry_fn>(dlsym(library_, BRINDLE_PLUGIN_ENTRY_SYMBOL));
    ASSERT_NE(entry, nullptr) << dlerror();
    descriptor_ = entry();
    ASSERT_NE(descriptor_, nullptr);
    vtable_ = static_cast<const brindle_encap_vtable_t*>(descriptor_->vtable);
  }
  void TearDown() override {
    if (instance_ != nullptr) {
      descriptor_->destroy(instance_);  // before the library goes
    }
    if (library_ != nullptr) {
      dlclose(library_);
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
  void* library_ = nullptr;
  const brindle_plugin_descriptor_t* descriptor_ = nullptr;
  const brindle_encap_vtable_t* vtable_ = nullptr;
  brindle_instance_t* instance_ = nullptr;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

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
    const std::string line = std::to_string(TestHost::line_of(host, host.section.back().key));
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
