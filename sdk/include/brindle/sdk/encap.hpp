// Brindle C++ SDK: encapsulation plugins. See brindle/encap.h for the contract.
#pragma once

#include <string>
#include <string_view>

#include "brindle/encap.h"
#include "brindle/routing.h"
#include "brindle/sdk/core.hpp"

namespace brindle {

struct EncapNode {
  std::string name;
  IpPrefix address4;
  IpPrefix address6;
  IpPrefix tunnel_address4;
  IpPrefix tunnel_address6;
  bool has_vtep_mac = false;
  Mac vtep_mac;

  static EncapNode from(const brindle_encap_node_t* raw) {
    const brindle_encap_node_t n = read_struct(raw);
    return {std::string(view(n.name)),
            IpPrefix(n.address4),
            IpPrefix(n.address6),
            IpPrefix(n.tunnel_address4),
            IpPrefix(n.tunnel_address6),
            n.has_vtep_mac != 0,
            Mac{n.vtep_mac}};
  }
};

struct EncapLocalConfig {
  EncapNode node;
  std::string underlay_device;
  uint32_t underlay_mtu = 0;
  uint32_t mtu_override = 0;

  static EncapLocalConfig from(const brindle_encap_local_config_t* raw) {
    const brindle_encap_local_config_t c = read_struct(raw);
    return {EncapNode::from(c.node), std::string(view(c.underlay_device)), c.underlay_mtu,
            c.mtu_override};
  }
};

struct EncapLocalState {
  std::string device;  // at most BRINDLE_IFNAME_CAPACITY - 1 characters
  uint32_t mtu_overhead4 = 0;
  uint32_t mtu_overhead6 = 0;
  uint32_t pod_mtu = 0;
  bool has_vtep_mac = false;
  Mac vtep_mac;
  bool needs_tunnel_address = false;
};

struct RouteForm {
  std::string device;  // empty: none
  IpPrefix gateway;
  uint32_t flags = 0;  // BRINDLE_ROUTE_ONLINK
};

class EncapPlugin : public PluginBase {
 public:
  static constexpr brindle_plugin_kind_t kKind = BRINDLE_KIND_ENCAPSULATION;
  using PluginBase::PluginBase;

  virtual EncapLocalState ensure_local(const EncapLocalConfig& config) = 0;
  virtual void upsert_remote(const EncapNode& remote) = 0;
  virtual void remove_remote(std::string_view node_name) = 0;
  virtual RouteForm route_form(const EncapNode& remote, const IpPrefix& block) = 0;
  virtual void in_sync() {}
  virtual void apply() {}
  virtual void refresh() {}
};

namespace detail {

inline void copy_ifname(char (&target)[BRINDLE_IFNAME_CAPACITY], const std::string& name) {
  if (name.size() >= BRINDLE_IFNAME_CAPACITY) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "interface name too long: \"" + name + "\"");
  }
  std::memset(target, 0, sizeof(target));
  std::memcpy(target, name.data(), name.size());
}

template <typename Plugin>
struct EncapAdapter {
  static Plugin& self(brindle_instance_t* inst) { return *reinterpret_cast<Plugin*>(inst); }

  static brindle_status_t ensure_local(brindle_instance_t* inst,
                                       const brindle_encap_local_config_t* config,
                                       brindle_encap_local_state_t* state, brindle_error_t* err) {
    return guard(err, [&] {
      const EncapLocalState s = self(inst).ensure_local(EncapLocalConfig::from(config));
      brindle_encap_local_state_t raw{};
      raw.struct_size = sizeof(raw);
      copy_ifname(raw.device, s.device);
      raw.mtu_overhead4 = s.mtu_overhead4;
      raw.mtu_overhead6 = s.mtu_overhead6;
      raw.pod_mtu = s.pod_mtu;
      raw.has_vtep_mac = s.has_vtep_mac ? 1 : 0;
      raw.vtep_mac = s.vtep_mac.raw;
      raw.needs_tunnel_address = s.needs_tunnel_address ? 1 : 0;
      write_struct(state, raw);
    });
  }
  static brindle_status_t upsert_remote(brindle_instance_t* inst,
                                        const brindle_encap_node_t* remote, brindle_error_t* err) {
    return guard(err, [&] { self(inst).upsert_remote(EncapNode::from(remote)); });
  }
  static brindle_status_t remove_remote(brindle_instance_t* inst, brindle_str_t node_name,
                                        brindle_error_t* err) {
    return guard(err, [&] { self(inst).remove_remote(view(node_name)); });
  }
  static brindle_status_t route_form(brindle_instance_t* inst, const brindle_encap_node_t* remote,
                                     const brindle_ip_prefix_t* block, brindle_route_form_t* form,
                                     brindle_error_t* err) {
    return guard(err, [&] {
      const RouteForm f = self(inst).route_form(EncapNode::from(remote), IpPrefix(*block));
      brindle_route_form_t raw{};
      raw.struct_size = sizeof(raw);
      copy_ifname(raw.device, f.device);
      raw.gateway = f.gateway.raw();
      raw.flags = f.flags;
      write_struct(form, raw);
    });
  }
  static brindle_status_t in_sync(brindle_instance_t* inst, brindle_error_t* err) {
    return guard(err, [&] { self(inst).in_sync(); });
  }
  static brindle_status_t apply(brindle_instance_t* inst, brindle_error_t* err) {
    return guard(err, [&] { self(inst).apply(); });
  }
  static brindle_status_t refresh(brindle_instance_t* inst, brindle_error_t* err) {
    return guard(err, [&] { self(inst).refresh(); });
  }

  static constexpr brindle_encap_vtable_t kVtable{sizeof(brindle_encap_vtable_t),
                                                  &ensure_local,
                                                  &upsert_remote,
                                                  &remove_remote,
                                                  &route_form,
                                                  &in_sync,
                                                  &apply,
                                                  &refresh};
};

}  // namespace detail
}  // namespace brindle
