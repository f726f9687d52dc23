/*
 * Brindle plugin ABI: policy plugins (iptables through libiptc/libipset, nftables).
 *
 * The host compiles every policy source (Kubernetes NetworkPolicy, Brindle NetworkPolicy and
 * GlobalNetworkPolicy, Profiles, NetworkSets) into one per-node model and sends it incrementally:
 *  - IP sets: selectors, network sets and named ports become sets (addresses/CIDRs, or
 *    address + protocol + port for named ports);
 *  - policies and profiles: ordered rule lists over sets, CIDRs, ports and protocols, each
 *    rendered once however many endpoints use it;
 *  - endpoints: this node's workload interfaces with their ordered policy and profile lists;
 *  - globals: pools (for NAT outgoing), failsafe ports, this node's addresses.
 *
 * Evaluation, per endpoint and direction (ingress = traffic to the workload, egress = from it):
 * established/related replies are accepted and invalid packets dropped first; then each policy in
 * order: the first rule that matches decides (ALLOW accepts, DENY drops, PASS skips the remaining
 * policies and goes to the profiles, LOG logs and continues). If at least one policy applies and
 * none matched, the packet is dropped. Profiles are then evaluated the same way; if no profile
 * rule matched, the packet is dropped. An endpoint with no policies in a direction goes straight
 * to its profiles.
 *
 * Order of programming at apply(): sets are created/updated before rules that use them, rules
 * removed before sets they used. Nothing is removed before in_sync(); the plugin's previous rules
 * stay in place until the first apply() after in_sync() replaces them atomically.
 *
 * Threading: the host never calls into one instance from two threads at once.
 */
#ifndef BRINDLE_POLICY_H
#define BRINDLE_POLICY_H

#include "brindle/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum brindle_ipset_type {
  BRINDLE_IPSET_NET = 1,     /* addresses and CIDRs */
  BRINDLE_IPSET_NET_PORT = 2 /* address + protocol + port (named ports) */
} brindle_ipset_type_t;

/* Frozen layout (passed in arrays): never grows. */
typedef struct brindle_ipset_member {
  brindle_ip_prefix_t net;
  uint8_t protocol; /* IPPROTO_*, NET_PORT sets only */
  uint16_t port;    /* NET_PORT sets only */
} brindle_ipset_member_t;

typedef struct brindle_ipset {
  uint32_t struct_size;
  brindle_str_t id; /* stable, short, [A-Za-z0-9_-]; the plugin derives kernel names from it */
  brindle_ipset_type_t type;
  uint8_t family; /* 4 or 6: a set holds one family */
  const brindle_ipset_member_t* members;
  size_t n_members;
} brindle_ipset_t;

/* Frozen layout (passed in arrays): an inclusive port range. */
typedef struct brindle_port_range {
  uint16_t first;
  uint16_t last;
} brindle_port_range_t;

/* One side (source or destination) of a rule. Every present criterion must hold:
 *  - address in any of `nets` (when n_nets > 0) and in none of `not_nets`;
 *  - address in every one of `ipsets` and in none of `not_ipsets`;
 *  - port in any of `ports` or (address, protocol, port) in any of `named_port_ipsets`, when
 *    either list is non-empty; port in none of `not_ports`. */
typedef struct brindle_rule_match {
  uint32_t struct_size;
  const brindle_ip_prefix_t* nets;
  size_t n_nets;
  const brindle_ip_prefix_t* not_nets;
  size_t n_not_nets;
  const brindle_str_t* ipsets;
  size_t n_ipsets;
  const brindle_str_t* not_ipsets;
  size_t n_not_ipsets;
  const brindle_port_range_t* ports;
  size_t n_ports;
  const brindle_port_range_t* not_ports;
  size_t n_not_ports;
  const brindle_str_t* named_port_ipsets;
  size_t n_named_port_ipsets;
} brindle_rule_match_t;

typedef enum brindle_rule_action {
  BRINDLE_ACTION_ALLOW = 1,
  BRINDLE_ACTION_DENY = 2,
  BRINDLE_ACTION_PASS = 3,
  BRINDLE_ACTION_LOG = 4
} brindle_rule_action_t;

typedef struct brindle_rule {
  uint32_t struct_size;
  brindle_str_t id; /* stable hash of the rule's content, for comments and counters */
  brindle_rule_action_t action;
  uint8_t ip_version;                      /* 0: both, 4, 6 */
  uint8_t protocol;                        /* 0: any, else IPPROTO_* */
  uint8_t not_protocol;                    /* 0: none, else IPPROTO_* that must not match */
  int16_t icmp_type;                       /* -1: any */
  int16_t icmp_code;                       /* -1: any */
  const brindle_rule_match_t* source;      /* NULL: any */
  const brindle_rule_match_t* destination; /* NULL: any */
  brindle_str_t log_prefix;                /* for LOG */
} brindle_rule_t;

typedef enum brindle_policy_kind {
  BRINDLE_POLICY_KIND_POLICY = 1,
  BRINDLE_POLICY_KIND_PROFILE = 2
} brindle_policy_kind_t;

typedef struct brindle_policy {
  uint32_t struct_size;
  brindle_str_t id; /* stable, short, [A-Za-z0-9_.-] */
  brindle_policy_kind_t kind;
  const brindle_rule_t* const* ingress;
  size_t n_ingress;
  const brindle_rule_t* const* egress;
  size_t n_egress;
} brindle_policy_t;

typedef struct brindle_endpoint {
  uint32_t struct_size;
  brindle_str_t id;        /* stable endpoint identifier */
  brindle_str_t interface; /* host-side interface name */
  const brindle_ip_prefix_t* addresses;
  size_t n_addresses;
  brindle_mac_t mac;
  const brindle_str_t* ingress_policies; /* ordered policy ids */
  size_t n_ingress_policies;
  const brindle_str_t* egress_policies;
  size_t n_egress_policies;
  const brindle_str_t* profiles; /* ordered profile ids, both directions */
  size_t n_profiles;
} brindle_endpoint_t;

/* Frozen layout (passed in arrays). */
typedef struct brindle_proto_port {
  uint8_t protocol;
  uint16_t port;
} brindle_proto_port_t;

typedef struct brindle_policy_globals {
  uint32_t struct_size;
  brindle_str_t interface_prefix;       /* host-side workload interfaces start with it */
  const brindle_ip_prefix_t* all_pools; /* every enabled pool */
  size_t n_all_pools;
  const brindle_ip_prefix_t* nat_outgoing_pools;
  size_t n_nat_outgoing_pools;
  const brindle_proto_port_t* failsafe_inbound;
  size_t n_failsafe_inbound;
  const brindle_proto_port_t* failsafe_outbound;
  size_t n_failsafe_outbound;
  const brindle_ip_prefix_t* node_addresses; /* traffic from these to local pods is allowed */
  size_t n_node_addresses;
} brindle_policy_globals_t;

typedef struct brindle_policy_vtable {
  uint32_t struct_size;
  brindle_status_t (*set_globals)(brindle_instance_t* inst, const brindle_policy_globals_t* g,
                                  brindle_error_t* err);
  /* Replaces a set's membership (creating it if new). */
  brindle_status_t (*upsert_ipset)(brindle_instance_t* inst, const brindle_ipset_t* set,
                                   brindle_error_t* err);
  /* Adds and removes members of an existing set. */
  brindle_status_t (*update_ipset_members)(brindle_instance_t* inst, brindle_str_t id,
                                           const brindle_ipset_member_t* added, size_t n_added,
                                           const brindle_ipset_member_t* removed, size_t n_removed,
                                           brindle_error_t* err);
  brindle_status_t (*remove_ipset)(brindle_instance_t* inst, brindle_str_t id,
                                   brindle_error_t* err);
  brindle_status_t (*upsert_policy)(brindle_instance_t* inst, const brindle_policy_t* policy,
                                    brindle_error_t* err);
  brindle_status_t (*remove_policy)(brindle_instance_t* inst, brindle_policy_kind_t kind,
                                    brindle_str_t id, brindle_error_t* err);
  brindle_status_t (*upsert_endpoint)(brindle_instance_t* inst, const brindle_endpoint_t* endpoint,
                                      brindle_error_t* err);
  brindle_status_t (*remove_endpoint)(brindle_instance_t* inst, brindle_str_t id,
                                      brindle_error_t* err);
  brindle_status_t (*in_sync)(brindle_instance_t* inst, brindle_error_t* err);
  /* Programs everything recorded so far; when it returns OK the dataplane enforces it. */
  brindle_status_t (*apply)(brindle_instance_t* inst, brindle_error_t* err);
  /* Verifies the programmed state against the model and repairs any difference. */
  brindle_status_t (*refresh)(brindle_instance_t* inst, brindle_error_t* err);
} brindle_policy_vtable_t;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRINDLE_POLICY_H */
