/* Loads fine, but create() fails with its own code and message (as when a backend is down). */
#include "test_plugin.h"

static brindle_status_t failing_create(const brindle_host_services_t* host,
                                       brindle_instance_t** out, brindle_error_t* err) {
  (void)host, (void)out;
  test_set_error(err, BRINDLE_ERR_UNAVAILABLE,
                 "cannot reach the frobnicator at 198.19.0.9:4789 (connection refused)");
  return BRINDLE_ERR_UNAVAILABLE;
}

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("createfails");
  descriptor.create = failing_create;
  return &descriptor;
}
