/* Loads fine, but create() fails with its own code and message (as when a backend is down) —
 * unless the file named by $BRINDLE_TEST_FROBNICATOR_UP exists (the backend came up): then it is
 * created like a good plugin. brindled's tests use that to see a transient failure retried. */
#include <stdlib.h>
#include <unistd.h>

#include "test_plugin.h"

static brindle_status_t failing_create(const brindle_host_services_t* host,
                                       brindle_instance_t** out, brindle_error_t* err) {
  const char* up = getenv("BRINDLE_TEST_FROBNICATOR_UP");
  if (up != NULL && access(up, F_OK) == 0) {
    return test_create_nothing(host, out, err);
  }
  test_set_error(err, BRINDLE_ERR_UNAVAILABLE,
                 "cannot reach the frobnicator at 198.19.0.9:4789 (connection refused)");
  return BRINDLE_ERR_UNAVAILABLE;
}

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("createfails");
  descriptor.create = failing_create;
  return &descriptor;
}
