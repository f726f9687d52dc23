/*
 * Brindle plugin ABI: encapsulation plugins (ipip, vxlan, none).
 *
 * An encapsulation plugin owns this node's tunnel device (if any) and the per-remote-node state
 * the tunnel needs (for VXLAN: a permanent neighbour entry and a permanent FDB entry per remote
 * VTEP). It also says how a route to a remote node's block must be expressed; the routing plugin
 * then programs exactly that form.
 *
 * Whether a given pool's traffic to a given node is encapsulated at all (Always / CrossSubnet /
 * Never) is decided by the host; for unencapsulated traffic the host uses a direct route via the
 * node address without asking the plugin.
 *
 * Threading: the host never calls into one instance from two threads at once.
 */
#ifndef BRINDLE_ENCAP_H
#define BRINDLE_ENCAP_H

#include "brindle/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRINDLE_IFNAME_CAPACITY 16 /* IFNAMSIZ, including the NUL */

typedef struct brindle_encap_node {
  uint32_t struct_size;
  brindle_str_t name;
  brindle_ip_prefix_t address4;        /* underlay IPv4 with its subnet prefix, family 0 if none */
  brindle_ip_prefix_t address6;        /* underlay IPv6 with its subnet prefix, family 0 if none */
  brindle_ip_prefix_t tunnel_address4; /* from IPAM, family 0 if not (yet) assigned */
  brindle_ip_prefix_t tunnel_address6;
  uint8_t has_vtep_mac;
  brindle_mac_t vtep_mac;
} brindle_encap_node_t;

typedef struct brindle_encap_local_config {
  uint32_t struct_size;
  const brindle_encap_node_t* node; /* this node */
  brindle_str_t underlay_device;    /* interface carrying node->address4/6 */
  uint32_t underlay_mtu;            /* detected MTU of the underlay device */
  uint32_t mtu_override;            /* 0: underlay_mtu minus the plugin's overhead */
} brindle_encap_local_config_t;

/* Written by the plugin into a host-owned struct. The host sets struct_size to the size it knows;
 * the plugin writes only fields that both sides know. */
typedef struct brindle_encap_local_state {
  uint32_t struct_size;
  char device[BRINDLE_IFNAME_CAPACITY]; /* tunnel device, "" for none */
  uint32_t mtu_overhead4;               /* bytes the encapsulation adds over an IPv4 underlay */
  uint32_t mtu_overhead6;               /* ... over an IPv6 underlay */
  uint32_t pod_mtu;                     /* MTU pods and the tunnel device must use */
  uint8_t has_vtep_mac;
  brindle_mac_t vtep_mac;       /* to publish on this node's Node resource */
  uint8_t needs_tunnel_address; /* the host should assign one from IPAM */
} brindle_encap_local_state_t;

/* The form of a route to a remote block (host-owned, filled by the plugin). */
typedef struct brindle_route_form {
  uint32_t struct_size;
  char device[BRINDLE_IFNAME_CAPACITY]; /* "" for none */
  brindle_ip_prefix_t gateway;          /* next hop, family 0: none */
  uint32_t flags;                       /* BRINDLE_ROUTE_ONLINK from routing.h */
} brindle_route_form_t;

typedef struct brindle_encap_vtable {
  uint32_t struct_size;
  /* Creates or adjusts this node's device; idempotent, called again whenever the config changes
   * (e.g. once a tunnel address has been assigned). Fails with BRINDLE_ERR_UNSUPPORTED and a
   * message naming the missing kernel support when the kernel cannot do it. */
  brindle_status_t (*ensure_local)(brindle_instance_t* inst,
                                   const brindle_encap_local_config_t* config,
                                   brindle_encap_local_state_t* state, brindle_error_t* err);
  /* Adds or updates the state needed to reach a remote node. */
  brindle_status_t (*upsert_remote)(brindle_instance_t* inst, const brindle_encap_node_t* remote,
                                    brindle_error_t* err);
  /* Removes the state for a remote node; succeeds if there is none. */
  brindle_status_t (*remove_remote)(brindle_instance_t* inst, brindle_str_t node_name,
                                    brindle_error_t* err);
  /* How to route `block` (owned by `remote`) through this encapsulation. Pure: no kernel change.
   * Fails with BRINDLE_ERR_UNAVAILABLE if the remote lacks what is needed (e.g. no VTEP yet) and
   * BRINDLE_ERR_INVALID_ARGUMENT if the node cannot be reached this way (e.g. not on-link). */
  brindle_status_t (*route_form)(brindle_instance_t* inst, const brindle_encap_node_t* remote,
                                 const brindle_ip_prefix_t* block, brindle_route_form_t* form,
                                 brindle_error_t* err);
  /* Same contract as routing: nothing removed before in_sync(); apply() programs. */
  brindle_status_t (*in_sync)(brindle_instance_t* inst, brindle_error_t* err);
  brindle_status_t (*apply)(brindle_instance_t* inst, brindle_error_t* err);
  brindle_status_t (*refresh)(brindle_instance_t* inst, brindle_error_t* err);
} brindle_encap_vtable_t;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRINDLE_ENCAP_H */
