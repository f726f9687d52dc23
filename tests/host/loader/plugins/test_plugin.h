/*
 * Pieces shared by the loader's test plugins: trivial function tables of every kind and a
 * create/destroy pair that do nothing. Each test plugin then differs from a good one in exactly
 * the way it is meant to be broken. Only the SDK's C headers are used, as for real plugins.
 */
#ifndef BRINDLE_TEST_PLUGIN_H
#define BRINDLE_TEST_PLUGIN_H

#include <brindle/brindle.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define TEST_UNUSED __attribute__((unused))
#else
#define TEST_UNUSED
#endif

static inline void test_set_error(brindle_error_t* err, brindle_status_t code, const char* text) {
  err->code = code;
  snprintf(err->message, sizeof(err->message), "%s", text);
}

/* Datastore. */
static inline brindle_status_t test_ds_get(brindle_instance_t* inst,
                                           const brindle_resource_key_t* key,
                                           brindle_resource_sink_fn sink, void* user,
                                           brindle_error_t* err) {
  (void)inst, (void)key, (void)sink, (void)user;
  test_set_error(err, BRINDLE_ERR_NOT_FOUND, "the test datastore is empty");
  return BRINDLE_ERR_NOT_FOUND;
}
static inline brindle_status_t test_ds_list(brindle_instance_t* inst, brindle_str_t kind,
                                            brindle_str_t namespace_, brindle_resource_sink_fn sink,
                                            void* user, brindle_str_sink_fn revision_sink,
                                            void* revision_user, brindle_error_t* err) {
  brindle_str_t revision = {"1", 1};
  (void)inst, (void)kind, (void)namespace_, (void)sink, (void)user, (void)err;
  revision_sink(revision_user, revision);
  return BRINDLE_OK;
}
static inline brindle_status_t test_ds_write(brindle_instance_t* inst,
                                             const brindle_resource_t* resource,
                                             brindle_resource_sink_fn sink, void* user,
                                             brindle_error_t* err) {
  (void)inst, (void)resource, (void)sink, (void)user;
  test_set_error(err, BRINDLE_ERR_UNSUPPORTED, "the test datastore is read-only");
  return BRINDLE_ERR_UNSUPPORTED;
}
static inline brindle_status_t test_ds_remove(brindle_instance_t* inst,
                                              const brindle_resource_key_t* key,
                                              brindle_str_t revision, brindle_error_t* err) {
  (void)inst, (void)key, (void)revision;
  test_set_error(err, BRINDLE_ERR_NOT_FOUND, "the test datastore is empty");
  return BRINDLE_ERR_NOT_FOUND;
}
static inline brindle_status_t test_ds_watch(brindle_instance_t* inst, brindle_str_t kind,
                                             brindle_str_t from_revision,
                                             brindle_watch_handler_fn handler, void* user,
                                             brindle_watch_t** out, brindle_error_t* err) {
  (void)inst, (void)kind, (void)from_revision, (void)handler, (void)user, (void)out;
  test_set_error(err, BRINDLE_ERR_UNSUPPORTED, "the test datastore cannot watch");
  return BRINDLE_ERR_UNSUPPORTED;
}
static inline void test_ds_cancel_watch(brindle_instance_t* inst, brindle_watch_t* watch) {
  (void)inst, (void)watch;
}

/* Shared by routing, encapsulation and policy: in_sync, apply, refresh. */
static inline brindle_status_t test_noop(brindle_instance_t* inst, brindle_error_t* err) {
  (void)inst, (void)err;
  return BRINDLE_OK;
}

/* Routing. */
static inline brindle_status_t test_rt_update(brindle_instance_t* inst,
                                              const brindle_routing_update_t* update,
                                              brindle_error_t* err) {
  (void)inst, (void)update, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_rt_status(brindle_instance_t* inst,
                                              brindle_routing_peer_sink_fn sink, void* user,
                                              int* ready, brindle_error_t* err) {
  (void)inst, (void)sink, (void)user, (void)err;
  *ready = 1;
  return BRINDLE_OK;
}

/* Encapsulation. */
static inline brindle_status_t test_en_ensure_local(brindle_instance_t* inst,
                                                    const brindle_encap_local_config_t* config,
                                                    brindle_encap_local_state_t* state,
                                                    brindle_error_t* err) {
  (void)inst, (void)config, (void)state, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_en_upsert_remote(brindle_instance_t* inst,
                                                     const brindle_encap_node_t* remote,
                                                     brindle_error_t* err) {
  (void)inst, (void)remote, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_en_remove_remote(brindle_instance_t* inst,
                                                     brindle_str_t node_name,
                                                     brindle_error_t* err) {
  (void)inst, (void)node_name, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_en_route_form(brindle_instance_t* inst,
                                                  const brindle_encap_node_t* remote,
                                                  const brindle_ip_prefix_t* block,
                                                  brindle_route_form_t* form,
                                                  brindle_error_t* err) {
  (void)inst, (void)remote, (void)block, (void)form, (void)err;
  return BRINDLE_OK;
}

/* Policy. */
static inline brindle_status_t test_po_globals(brindle_instance_t* inst,
                                               const brindle_policy_globals_t* g,
                                               brindle_error_t* err) {
  (void)inst, (void)g, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_po_upsert_ipset(brindle_instance_t* inst,
                                                    const brindle_ipset_t* set,
                                                    brindle_error_t* err) {
  (void)inst, (void)set, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_po_update_members(brindle_instance_t* inst, brindle_str_t id,
                                                      const brindle_ipset_member_t* added,
                                                      size_t n_added,
                                                      const brindle_ipset_member_t* removed,
                                                      size_t n_removed, brindle_error_t* err) {
  (void)inst, (void)id, (void)added, (void)n_added, (void)removed, (void)n_removed, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_po_remove_by_id(brindle_instance_t* inst, brindle_str_t id,
                                                    brindle_error_t* err) {
  (void)inst, (void)id, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_po_upsert_policy(brindle_instance_t* inst,
                                                     const brindle_policy_t* policy,
                                                     brindle_error_t* err) {
  (void)inst, (void)policy, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_po_remove_policy(brindle_instance_t* inst,
                                                     brindle_policy_kind_t kind, brindle_str_t id,
                                                     brindle_error_t* err) {
  (void)inst, (void)kind, (void)id, (void)err;
  return BRINDLE_OK;
}
static inline brindle_status_t test_po_upsert_endpoint(brindle_instance_t* inst,
                                                       const brindle_endpoint_t* endpoint,
                                                       brindle_error_t* err) {
  (void)inst, (void)endpoint, (void)err;
  return BRINDLE_OK;
}

static const brindle_datastore_vtable_t test_datastore_vtable TEST_UNUSED = {
    sizeof(brindle_datastore_vtable_t),
    test_ds_get,
    test_ds_list,
    test_ds_write,
    test_ds_write,
    test_ds_remove,
    test_ds_watch,
    test_ds_cancel_watch,
    NULL /* txn (ABI 0.2): none */};

static const brindle_routing_vtable_t test_routing_vtable TEST_UNUSED = {
    sizeof(brindle_routing_vtable_t),
    test_rt_update,
    test_noop,
    test_noop,
    test_noop,
    test_rt_status};

static const brindle_encap_vtable_t test_encap_vtable TEST_UNUSED = {sizeof(brindle_encap_vtable_t),
                                                                     test_en_ensure_local,
                                                                     test_en_upsert_remote,
                                                                     test_en_remove_remote,
                                                                     test_en_route_form,
                                                                     test_noop,
                                                                     test_noop,
                                                                     test_noop};

static const brindle_policy_vtable_t test_policy_vtable TEST_UNUSED = {
    sizeof(brindle_policy_vtable_t),
    test_po_globals,
    test_po_upsert_ipset,
    test_po_update_members,
    test_po_remove_by_id,
    test_po_upsert_policy,
    test_po_remove_policy,
    test_po_upsert_endpoint,
    test_po_remove_by_id,
    test_noop,
    test_noop,
    test_noop};

static inline brindle_status_t test_create_nothing(const brindle_host_services_t* host,
                                                   brindle_instance_t** out, brindle_error_t* err) {
  (void)host, (void)err;
  *out = NULL;
  return BRINDLE_OK;
}
static inline void test_destroy_nothing(brindle_instance_t* instance) {
  (void)instance;
}

/* A good encapsulation descriptor named `name`; broken plugins start from it and spoil one part. */
#define TEST_ENCAP_DESCRIPTOR(name)                                                            \
  {                                                                                            \
    sizeof(brindle_plugin_descriptor_t), BRINDLE_ABI_VERSION_MAJOR, BRINDLE_ABI_VERSION_MINOR, \
        BRINDLE_KIND_ENCAPSULATION, name, "0.0.1", "loader test plugin", test_create_nothing,  \
        NULL, test_destroy_nothing, &test_encap_vtable                                         \
  }

#endif /* BRINDLE_TEST_PLUGIN_H */
