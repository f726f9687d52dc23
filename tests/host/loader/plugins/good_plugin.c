/*
 * A good, minimal plugin named "fake", compiled once per kind (TEST_KIND_DATASTORE, ..._ROUTING,
 * ..._ENCAP, ..._POLICY). It exercises the host services so that tests can see them work:
 *  - create() logs "fake plugin created", registers the counter creates_total and the gauge up;
 *  - validate_config() and create() refuse `reject = true` and a non-integer `value`, naming
 *    the location the host reports;
 *  - `request_refresh = true` makes create() ask the host for a refresh; refresh() counts
 *    refreshes_total;
 *  - destroy() logs "fake plugin destroyed" and sets up to 0.
 */
#include <stdlib.h>

#include "test_plugin.h"

#if defined(TEST_KIND_DATASTORE)
#define TEST_KIND BRINDLE_KIND_DATASTORE
#elif defined(TEST_KIND_ROUTING)
#define TEST_KIND BRINDLE_KIND_ROUTING
#elif defined(TEST_KIND_ENCAP)
#define TEST_KIND BRINDLE_KIND_ENCAPSULATION
#elif defined(TEST_KIND_POLICY)
#define TEST_KIND BRINDLE_KIND_POLICY
#else
#error "define one of TEST_KIND_DATASTORE, TEST_KIND_ROUTING, TEST_KIND_ENCAP, TEST_KIND_POLICY"
#endif

struct brindle_instance {
  const brindle_host_services_t* host;
  uint32_t up_metric;
  uint32_t refresh_metric;
};

static brindle_str_t str(const char* text) {
  brindle_str_t s = {text, strlen(text)};
  return s;
}

static void copy_location(void* user, brindle_str_t value) {
  char* out = (char*)user;
  size_t n = value.size < 255 ? value.size : 255;
  memcpy(out, value.data, n);
  out[n] = '\0';
}

static brindle_status_t check_config(const brindle_host_services_t* host, brindle_error_t* err) {
  brindle_host_context_t* ctx = host->context;
  char location[256] = "";
  int reject = 0;
  if (host->config_get_bool(ctx, str("reject"), &reject) == BRINDLE_OK && reject) {
    host->config_location(ctx, str("reject"), copy_location, location);
    snprintf(err->message, sizeof(err->message),
             "%s: reject = true asks the fake plugin to refuse its configuration", location);
    err->code = BRINDLE_ERR_CONFIG;
    return BRINDLE_ERR_CONFIG;
  }
  brindle_config_type_t type = host->config_type(ctx, str("value"));
  if (type != BRINDLE_CONFIG_ABSENT && type != BRINDLE_CONFIG_INTEGER) {
    host->config_location(ctx, str("value"), copy_location, location);
    snprintf(err->message, sizeof(err->message), "%s: value must be an integer", location);
    err->code = BRINDLE_ERR_CONFIG;
    return BRINDLE_ERR_CONFIG;
  }
  return BRINDLE_OK;
}

static brindle_status_t fake_validate(const brindle_host_services_t* host, brindle_error_t* err) {
  return check_config(host, err);
}

static brindle_status_t fake_create(const brindle_host_services_t* host, brindle_instance_t** out,
                                    brindle_error_t* err) {
  brindle_status_t status = check_config(host, err);
  if (status != BRINDLE_OK) {
    return status;
  }
  brindle_instance_t* self = (brindle_instance_t*)calloc(1, sizeof(*self));
  if (self == NULL) {
    test_set_error(err, BRINDLE_ERR_RESOURCE_EXHAUSTED, "out of memory");
    return BRINDLE_ERR_RESOURCE_EXHAUSTED;
  }
  self->host = host;
  brindle_host_context_t* ctx = host->context;

  uint32_t creates = host->metric_register(ctx, BRINDLE_METRIC_COUNTER, str("creates_total"),
                                           str("Instances created."));
  host->metric_add(ctx, creates, str(""), 1);
  self->up_metric = host->metric_register(ctx, BRINDLE_METRIC_GAUGE, str("up"),
                                          str("1 while an instance exists."));
  host->metric_set(ctx, self->up_metric, str(""), 1);
  self->refresh_metric = host->metric_register(ctx, BRINDLE_METRIC_COUNTER, str("refreshes_total"),
                                               str("Refresh calls."));

  int64_t value = 0;
  char fields[128] = "";
  if (host->config_get_int(ctx, str("value"), &value) == BRINDLE_OK) {
    snprintf(fields, sizeof(fields), "value=%lld", (long long)value);
  }
  char node[96] = "";
  snprintf(node, sizeof(node), "node=%.*s", (int)host->node_name.size, host->node_name.data);
  host->log(ctx, BRINDLE_LOG_INFO, str("fake plugin created"), str(fields[0] ? fields : node));

  int refresh = 0;
  if (host->config_get_bool(ctx, str("request_refresh"), &refresh) == BRINDLE_OK && refresh) {
    host->request_refresh(ctx);
  }
  *out = self;
  return BRINDLE_OK;
}

static void fake_destroy(brindle_instance_t* self) {
  brindle_host_context_t* ctx = self->host->context;
  self->host->metric_set(ctx, self->up_metric, str(""), 0);
  self->host->log(ctx, BRINDLE_LOG_INFO, str("fake plugin destroyed"), str(""));
  free(self);
}

TEST_UNUSED static brindle_status_t fake_refresh(brindle_instance_t* self, brindle_error_t* err) {
  (void)err;
  self->host->metric_add(self->host->context, self->refresh_metric, str(""), 1);
  return BRINDLE_OK;
}

#if defined(TEST_KIND_DATASTORE)
static const brindle_datastore_vtable_t* const vtable = &test_datastore_vtable;
#elif defined(TEST_KIND_ROUTING)
static const brindle_routing_vtable_t vtable_storage = {sizeof(brindle_routing_vtable_t),
                                                        test_rt_update,
                                                        test_noop,
                                                        test_noop,
                                                        fake_refresh,
                                                        test_rt_status};
static const brindle_routing_vtable_t* const vtable = &vtable_storage;
#elif defined(TEST_KIND_ENCAP)
static const brindle_encap_vtable_t vtable_storage = {sizeof(brindle_encap_vtable_t),
                                                      test_en_ensure_local,
                                                      test_en_upsert_remote,
                                                      test_en_remove_remote,
                                                      test_en_route_form,
                                                      test_noop,
                                                      test_noop,
                                                      fake_refresh};
static const brindle_encap_vtable_t* const vtable = &vtable_storage;
#else
static const brindle_policy_vtable_t vtable_storage = {sizeof(brindle_policy_vtable_t),
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
                                                       fake_refresh};
static const brindle_policy_vtable_t* const vtable = &vtable_storage;
#endif

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = {sizeof(brindle_plugin_descriptor_t),
                                                   BRINDLE_ABI_VERSION_MAJOR,
                                                   BRINDLE_ABI_VERSION_MINOR,
                                                   TEST_KIND,
                                                   "fake",
                                                   "1.2.3",
                                                   "a minimal plugin for host tests",
                                                   fake_create,
                                                   fake_validate,
                                                   fake_destroy,
                                                   NULL};
  descriptor.vtable = vtable;
  return &descriptor;
}
