// Test support for encapsulation plugins (vxlan, ipip): the plugin (the .so named by
// BRINDLE_TEST_ENCAP_PLUGIN) opened through its entry symbol (as the host's loader does) and driven
// through the C ABI with the shared TestHost, and shell helpers that inspect namespaces with ip(8)
// and bridge(8).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

#include "brindle/abi.h"
#include "brindle/encap.h"
#include "brindle/netlink/netns.hpp"
#include "brindle/netlink/types.hpp"
#include "brindle/routing.h"
#include "plugin_test_host.hpp"

namespace brindle::encap_test {

using brindle::netlink::IpPrefix;
using brindle::netlink::MacAddress;
using brindle::netlink::ScratchNetns;
using namespace brindle::test;  // NOLINT(google-build-using-namespace): shared test support

// `ip -n <ns> <args>`
inline std::string ip(const ScratchNetns& ns, const std::string& args) {
  return must("ip -n " + ns.name() + " " + args);
}

// A node as the host describes it through the ABI (owns the strings the raw struct points to).
struct Node {
  std::string name;
  brindle_encap_node_t raw{};

  explicit Node(std::string node_name, const char* address4 = nullptr,
                const char* tunnel4 = nullptr, const char* mac = nullptr,
                const char* address6 = nullptr, const char* tunnel6 = nullptr)
      : name(std::move(node_name)) {
    raw.struct_size = sizeof(raw);
    raw.name = brindle_str_t{name.data(), name.size()};
    set(raw.address4, address4);
    set(raw.tunnel_address4, tunnel4);
    set(raw.address6, address6);
    set(raw.tunnel_address6, tunnel6);
    if (mac != nullptr) {
      raw.has_vtep_mac = 1;
      raw.vtep_mac = MacAddress::parse(mac).to_abi();
    }
  }
  Node(const Node& other) : name(other.name), raw(other.raw) {
    raw.name = brindle_str_t{name.data(), name.size()};
  }
  Node& operator=(const Node&) = delete;

  static void set(brindle_ip_prefix_t& field, const char* text) {
    field = text != nullptr ? IpPrefix::parse(text).to_abi() : brindle_ip_prefix_t{};
  }
};

// The plugin library opened like the host opens plugins (local, immediate binding) and one
// instance of it at a time. Every kernel-touching call runs inside `ns` (the plugin acts in the
// network namespace of the thread that calls it).
class Plugin {
 public:
  Plugin() : library_(BRINDLE_TEST_ENCAP_PLUGIN) {}
  ~Plugin() { destroy(); }  // before the library goes
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const brindle_plugin_descriptor_t* descriptor() const { return descriptor_; }
  const brindle_encap_vtable_t* vtable() const { return vtable_; }

  brindle_status_t create(TestHost& host, brindle_error_t* err) {
    destroy();
    return descriptor_->create(&host.services, &instance_, err);
  }
  void create_ok(TestHost& host) {
    brindle_error_t err{};
    ASSERT_EQ(create(host, &err), BRINDLE_OK) << err.message;
  }
  // Simulates an agent restart: the instance goes, kernel state stays.
  void destroy() {
    if (instance_ != nullptr) {
      descriptor_->destroy(instance_);
      instance_ = nullptr;
    }
  }

  struct Local {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    brindle_encap_local_state_t state{};
    std::string message;
  };
  Local ensure_local(const ScratchNetns& ns, const Node& self, const std::string& underlay_device,
                     uint32_t underlay_mtu = 0, uint32_t mtu_override = 0) {
    return ns.run([&] {
      brindle_encap_local_config_t config{};
      config.struct_size = sizeof(config);
      config.node = &self.raw;
      config.underlay_device = brindle_str_t{underlay_device.data(), underlay_device.size()};
      config.underlay_mtu = underlay_mtu;
      config.mtu_override = mtu_override;
      Local out;
      std::memset(&out.state, 0x5a, sizeof(out.state));  // everything must be written
      out.state.struct_size = sizeof(out.state);
      brindle_error_t err{};
      out.status = vtable_->ensure_local(instance_, &config, &out.state, &err);
      out.message = out.status == BRINDLE_OK ? "" : err.message;
      return out;
    });
  }
  brindle_encap_local_state_t ensure_local_ok(const ScratchNetns& ns, const Node& self,
                                              const std::string& underlay_device,
                                              uint32_t underlay_mtu = 0) {
    const Local local = ensure_local(ns, self, underlay_device, underlay_mtu);
    EXPECT_EQ(local.status, BRINDLE_OK) << local.message;
    return local.state;
  }

  struct Result {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    std::string message;
  };
  template <typename Call>
  Result call(const ScratchNetns& ns, Call&& body) {
    return ns.run([&] {
      brindle_error_t err{};
      Result r;
      r.status = body(&err);
      r.message = r.status == BRINDLE_OK ? "" : err.message;
      return r;
    });
  }
  Result upsert(const ScratchNetns& ns, const Node& remote) {
    return call(ns, [&](brindle_error_t* err) {
      return vtable_->upsert_remote(instance_, &remote.raw, err);
    });
  }
  Result remove(const ScratchNetns& ns, const std::string& name) {
    return call(ns, [&](brindle_error_t* err) {
      return vtable_->remove_remote(instance_, brindle_str_t{name.data(), name.size()}, err);
    });
  }
  Result in_sync(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->in_sync(instance_, err); });
  }
  Result apply(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->apply(instance_, err); });
  }
  Result refresh(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->refresh(instance_, err); });
  }

  struct Form {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    brindle_route_form_t form{};
    std::string message;
  };
  // Pure: no namespace needed.
  Form route_form(const Node& remote, const char* block) {
    Form out;
    const brindle_ip_prefix_t raw_block = IpPrefix::parse(block).to_abi();
    std::memset(&out.form, 0x5a, sizeof(out.form));
    out.form.struct_size = sizeof(out.form);
    brindle_error_t err{};
    out.status = vtable_->route_form(instance_, &remote.raw, &raw_block, &out.form, &err);
    out.message = out.status == BRINDLE_OK ? "" : err.message;
    return out;
  }

 private:
  PluginLibrary library_;
  const brindle_plugin_descriptor_t* descriptor_ = library_.descriptor();
  const brindle_encap_vtable_t* vtable_ = library_.vtable<brindle_encap_vtable_t>();
  brindle_instance_t* instance_ = nullptr;
};

inline std::string mac_string(const brindle_mac_t& mac) {
  return MacAddress::from_abi(mac).to_string();
}

}  // namespace brindle::encap_test
