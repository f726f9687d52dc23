// Brindle C++ SDK: routing plugins. See brindle/routing.h for the contract.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "brindle/routing.h"
#include "brindle/sdk/core.hpp"

namespace brindle {

struct Route {
  brindle_route_type_t type = BRINDLE_ROUTE_REMOTE_BLOCK;
  IpPrefix destination;
  IpPrefix gateway;  // !valid(): none
  std::string device;
  uint32_t flags = 0;
  brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE;
  std::string node;
  IpPrefix node_address;
  std::string pool;

  static Route from(const brindle_route_t* raw) {
    const brindle_route_t r = read_struct(raw);
    return {r.type,
            IpPrefix(r.destination),
            IpPrefix(r.gateway),
            std::string(view(r.device)),
            r.flags,
            r.encap,
            std::string(view(r.node)),
            IpPrefix(r.node_address),
            std::string(view(r.pool))};
  }
};

struct RoutingPool {
  std::string name;
  IpPrefix cidr;
  brindle_encap_mode_t encap = BRINDLE_ENCAP_NONE;
  brindle_pool_mode_t mode = BRINDLE_POOL_MODE_NEVER;
  std::string tunnel_device;
  uint32_t flags = 0;

  static RoutingPool from(const brindle_routing_pool_t* raw) {
    const brindle_routing_pool_t p = read_struct(raw);
    return {std::string(view(p.name)),          IpPrefix(p.cidr), p.encap, p.mode,
            std::string(view(p.tunnel_device)), p.flags};
  }
};

struct BgpSettings {
  uint32_t local_asn = 64512;
  IpPrefix router_id;
  uint16_t listen_port = 179;
  std::string route_reflector_cluster_id;
  uint32_t graceful_restart_seconds = 120;
  bool bfd = false;

  static BgpSettings from(const brindle_bgp_settings_t* raw) {
    const brindle_bgp_settings_t s = read_struct(raw);
    return {s.local_asn,
            IpPrefix(s.router_id),
            s.listen_port,
            std::string(view(s.route_reflector_cluster_id)),
            s.graceful_restart_seconds,
            s.bfd != 0};
  }
};

struct BgpPeer {
  std::string name;
  brindle_bgp_peer_type_t type = BRINDLE_BGP_PEER_MESH;
  IpPrefix address;
  uint32_t asn = 0;
  uint16_t port = 0;
  std::string password;
  std::string source;

  static BgpPeer from(const brindle_bgp_peer_t* raw) {
    const brindle_bgp_peer_t p = read_struct(raw);
    return {std::string(view(p.name)),
            p.type,
            IpPrefix(p.address),
            p.asn,
            p.port,
            std::string(view(p.password)),
            std::string(view(p.source))};
  }
};

// One update, converted to owned C++ values.
struct RoutingUpdate {
  std::vector<Route> upserts;
  std::vector<IpPrefix> removals;
  std::optional<std::vector<RoutingPool>> pools;  // set: replaces the pools
  struct Bgp {
    BgpSettings settings;
    std::vector<BgpPeer> peers;
  };
  std::optional<Bgp> bgp;  // set: replaces settings and peers

  static RoutingUpdate from(const brindle_routing_update_t* raw) {
    const brindle_routing_update_t u = read_struct(raw);
    RoutingUpdate out;
    for (size_t i = 0; i < u.n_upserts; ++i) {
      out.upserts.push_back(Route::from(u.upserts[i]));
    }
    out.removals = detail::prefixes(u.removals, u.n_removals);
    if (u.set_pools != 0) {
      out.pools.emplace();
      for (size_t i = 0; i < u.n_pools; ++i) {
        out.pools->push_back(RoutingPool::from(u.pools[i]));
      }
    }
    if (u.set_bgp != 0) {
      out.bgp.emplace();
      out.bgp->settings = BgpSettings::from(u.bgp);
      for (size_t i = 0; i < u.n_peers; ++i) {
        out.bgp->peers.push_back(BgpPeer::from(u.peers[i]));
      }
    }
    return out;
  }
};

struct PeerStatus {
  std::string name;
  IpPrefix address;
  std::string type;
  std::string state;
  std::string since;
  std::string info;
  bool established = false;
};

class RoutingPlugin : public PluginBase {
 public:
  static constexpr brindle_plugin_kind_t kKind = BRINDLE_KIND_ROUTING;
  using PluginBase::PluginBase;

  virtual void update(const RoutingUpdate& update) = 0;
  virtual void in_sync() = 0;
  virtual void apply() = 0;
  virtual void refresh() {}
  // Peers and readiness; the default has no peers and is always ready.
  virtual std::vector<PeerStatus> status(bool& ready) {
    ready = true;
    return {};
  }
};

namespace detail {

template <typename Plugin>
struct RoutingAdapter {
  static Plugin& self(brindle_instance_t* inst) { return *reinterpret_cast<Plugin*>(inst); }

  static brindle_status_t update(brindle_instance_t* inst, const brindle_routing_update_t* u,
                                 brindle_error_t* err) {
    return guard(err, [&] { self(inst).update(RoutingUpdate::from(u)); });
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
  static brindle_status_t status(brindle_instance_t* inst, brindle_routing_peer_sink_fn sink,
                                 void* user, int* ready, brindle_error_t* err) {
    return guard(err, [&] {
      bool is_ready = true;
      const std::vector<PeerStatus> peers = self(inst).status(is_ready);
      if (ready != nullptr) {
        *ready = is_ready ? 1 : 0;
      }
      for (const PeerStatus& p : peers) {
        const brindle_routing_peer_status_t raw{sizeof(brindle_routing_peer_status_t),
                                                str(p.name),
                                                p.address.raw(),
                                                str(p.type),
                                                str(p.state),
                                                str(p.since),
                                                str(p.info),
                                                static_cast<uint8_t>(p.established ? 1 : 0)};
        if (sink != nullptr) {
          sink(user, &raw);
        }
      }
    });
  }

  static constexpr brindle_routing_vtable_t kVtable{
      sizeof(brindle_routing_vtable_t), &update, &in_sync, &apply, &refresh, &status};
};

}  // namespace detail
}  // namespace brindle
