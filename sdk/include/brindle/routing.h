/*
 * Brindle plugin ABI: routing plugins (static netlink routes, BGP through BIRD 2).
 *
 * The host computes the desired routes of this node and hands them over incrementally:
 *  - REMOTE_BLOCK routes: another node's IPAM block, already expressed in the form the
 *    encapsulation plugin dictates (device, gateway, onlink). `static` installs them; `bgp` learns
 *    them from peers instead and uses them only to know each pool's encapsulation;
 *  - LOCAL_BLOCK routes: this node's own blocks. `static` installs a blackhole route; `bgp` also
 *    advertises them (unless the pool says otherwise).
 * Pools and BGP settings/peers are replaced as a whole when the host sends them.
 *
 * Threading: the host never calls into one instance from two threads at once. Nothing is removed
 * from the kernel before in_sync(): until then the plugin only adds and replaces, so that an agent
 * restart never withdraws a route that is still wanted.
 */
#ifndef BRINDLE_ROUTING_H
#define BRINDLE_ROUTING_H

#include "brindle/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum brindle_route_type {
  BRINDLE_ROUTE_REMOTE_BLOCK = 1,
  BRINDLE_ROUTE_LOCAL_BLOCK = 2
} brindle_route_type_t;

typedef enum brindle_encap_mode {
  BRINDLE_ENCAP_NONE = 0,
  BRINDLE_ENCAP_IPIP = 1,
  BRINDLE_ENCAP_VXLAN = 2
} brindle_encap_mode_t;

/* Route flags. */
#define BRINDLE_ROUTE_ONLINK 0x1u    /* the gateway is on-link on `device` (tunnels) */
#define BRINDLE_ROUTE_NO_EXPORT 0x2u /* never advertise (pool has disableBGPExport) */
#define BRINDLE_ROUTE_CROSS_SUBNET \
  0x4u /* encapsulated only because the node is in another subnet */

typedef struct brindle_route {
  uint32_t struct_size;
  brindle_route_type_t type;
  brindle_ip_prefix_t destination; /* the block */
  brindle_ip_prefix_t gateway;     /* family 0: none (blackhole for LOCAL_BLOCK) */
  brindle_str_t device;            /* empty: let the kernel pick */
  uint32_t flags;
  brindle_encap_mode_t encap;       /* how packets to this block are carried */
  brindle_str_t node;               /* owning node */
  brindle_ip_prefix_t node_address; /* owning node's underlay address (BGP next hop) */
  brindle_str_t pool;               /* name of the IPPool the block belongs to */
} brindle_route_t;

/* Pool modes, as in IPPool ipipMode / vxlanMode. */
typedef enum brindle_pool_mode {
  BRINDLE_POOL_MODE_NEVER = 0,
  BRINDLE_POOL_MODE_ALWAYS = 1,
  BRINDLE_POOL_MODE_CROSS_SUBNET = 2
} brindle_pool_mode_t;

#define BRINDLE_POOL_NO_EXPORT 0x1u /* disableBGPExport */
#define BRINDLE_POOL_DISABLED 0x2u

typedef struct brindle_routing_pool {
  uint32_t struct_size;
  brindle_str_t name;
  brindle_ip_prefix_t cidr;
  brindle_encap_mode_t encap;
  brindle_pool_mode_t mode;
  brindle_str_t tunnel_device; /* the encapsulation's device for this pool, empty for none */
  uint32_t flags;
} brindle_routing_pool_t;

typedef enum brindle_bgp_peer_type {
  BRINDLE_BGP_PEER_MESH = 1,     /* node-to-node mesh */
  BRINDLE_BGP_PEER_GLOBAL = 2,   /* a BGPPeer without node/nodeSelector */
  BRINDLE_BGP_PEER_NODE = 3,     /* a BGPPeer for this node specifically */
  BRINDLE_BGP_PEER_RR_CLIENT = 4 /* this node is a route reflector and the peer is its client */
} brindle_bgp_peer_type_t;

typedef struct brindle_bgp_settings {
  uint32_t struct_size;
  uint32_t local_asn;
  brindle_ip_prefix_t router_id;            /* IPv4 */
  uint16_t listen_port;                     /* 179 unless configured */
  brindle_str_t route_reflector_cluster_id; /* non-empty: this node is a route reflector */
  uint32_t graceful_restart_seconds;        /* 0 disables graceful restart */
  uint8_t bfd;                              /* non-zero: BFD on every session */
} brindle_bgp_settings_t;

typedef struct brindle_bgp_peer {
  uint32_t struct_size;
  brindle_str_t name; /* stable identifier used as the protocol name */
  brindle_bgp_peer_type_t type;
  brindle_ip_prefix_t address;
  uint32_t asn;
  uint16_t port;          /* 0: 179 */
  brindle_str_t password; /* empty: none; resolved by the host from the secret reference */
  brindle_str_t source;   /* e.g. the BGPPeer resource's name, for status output */
} brindle_bgp_peer_t;

/* An update of the desired routing state. Every array is of pointers so that element structs may
 * grow. `pools`, `bgp` and `peers` replace the previous value only when their `set_*` flag is
 * non-zero. */
typedef struct brindle_routing_update {
  uint32_t struct_size;
  const brindle_route_t* const* upserts; /* keyed by destination */
  size_t n_upserts;
  const brindle_ip_prefix_t* removals; /* destinations no longer wanted */
  size_t n_removals;
  uint8_t set_pools;
  const brindle_routing_pool_t* const* pools;
  size_t n_pools;
  uint8_t set_bgp;
  const brindle_bgp_settings_t* bgp;
  const brindle_bgp_peer_t* const* peers;
  size_t n_peers;
} brindle_routing_update_t;

typedef struct brindle_routing_peer_status {
  uint32_t struct_size;
  brindle_str_t name;
  brindle_ip_prefix_t address;
  brindle_str_t type;  /* "mesh", "global", "node", "rr-client" */
  brindle_str_t state; /* "Established", "Active", ... */
  brindle_str_t since;
  brindle_str_t info;
  uint8_t established;
} brindle_routing_peer_status_t;

typedef void (*brindle_routing_peer_sink_fn)(void* user,
                                             const brindle_routing_peer_status_t* status);

typedef struct brindle_routing_vtable {
  uint32_t struct_size;
  /* Records desired-state changes; they take effect at the next apply(). */
  brindle_status_t (*update)(brindle_instance_t* inst, const brindle_routing_update_t* update,
                             brindle_error_t* err);
  /* The host has delivered the complete desired state: from the next apply() on, anything the
   * plugin owns that is not desired is removed. */
  brindle_status_t (*in_sync)(brindle_instance_t* inst, brindle_error_t* err);
  /* Programs the recorded changes. Per-route failures are reported in err (first few named) and
   * retried at the next apply(); the rest is still programmed. */
  brindle_status_t (*apply)(brindle_instance_t* inst, brindle_error_t* err);
  /* Periodic or requested housekeeping (re-verify kernel state, supervise a daemon). */
  brindle_status_t (*refresh)(brindle_instance_t* inst, brindle_error_t* err);
  /* Reports peers (BGP sessions); static routing reports none. Returns BRINDLE_OK with no calls
   * to sink when there is nothing to report. `ready` is set to 0 while the plugin considers the
   * node not ready to route (e.g. no BGP session established). */
  brindle_status_t (*status)(brindle_instance_t* inst, brindle_routing_peer_sink_fn sink,
                             void* user, int* ready, brindle_error_t* err);
} brindle_routing_vtable_t;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRINDLE_ROUTING_H */
