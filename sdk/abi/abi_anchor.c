/*
 * ABI anchor: a tiny shared object whose exported functions take every type of the contract, so
 * that `abidw` can dump the whole C ABI of the SDK headers (which by themselves contain no code).
 * The dump is compared against the committed baseline (baseline.abi) by check-abi.sh.
 */
#include "brindle/brindle.h"

/* The ABI version the headers declare, so a version change is visible in the dump too. */
const uint16_t brindle_abi_anchor_version[2] = {BRINDLE_ABI_VERSION_MAJOR,
                                                BRINDLE_ABI_VERSION_MINOR};

void brindle_abi_anchor_common(brindle_plugin_descriptor_t* d, brindle_host_services_t* h,
                               brindle_error_t* e, brindle_plugin_entry_fn entry) {
  (void)d;
  (void)h;
  (void)e;
  (void)entry;
}

void brindle_abi_anchor_datastore(brindle_datastore_vtable_t* v, brindle_watch_event_t* e,
                                  brindle_resource_t* r) {
  (void)v;
  (void)e;
  (void)r;
}

void brindle_abi_anchor_routing(brindle_routing_vtable_t* v, brindle_routing_update_t* u,
                                brindle_route_t* r, brindle_routing_pool_t* p,
                                brindle_bgp_settings_t* s, brindle_bgp_peer_t* b,
                                brindle_routing_peer_status_t* st) {
  (void)v;
  (void)u;
  (void)r;
  (void)p;
  (void)s;
  (void)b;
  (void)st;
}

void brindle_abi_anchor_encap(brindle_encap_vtable_t* v, brindle_encap_node_t* n,
                              brindle_encap_local_config_t* c, brindle_encap_local_state_t* s,
                              brindle_route_form_t* f) {
  (void)v;
  (void)n;
  (void)c;
  (void)s;
  (void)f;
}

void brindle_abi_anchor_policy(brindle_policy_vtable_t* v, brindle_ipset_t* s,
                               brindle_ipset_member_t* m, brindle_rule_t* r,
                               brindle_rule_match_t* rm, brindle_policy_t* p, brindle_endpoint_t* e,
                               brindle_policy_globals_t* g, brindle_port_range_t* pr,
                               brindle_proto_port_t* pp) {
  (void)v;
  (void)s;
  (void)m;
  (void)r;
  (void)rm;
  (void)p;
  (void)e;
  (void)g;
  (void)pr;
  (void)pp;
}
