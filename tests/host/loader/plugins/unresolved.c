/* Broken: needs a symbol nothing provides. Immediate binding must refuse it at load time rather
 * than crash the first time create() runs. (Linked without -z defs on purpose.) */
#include "test_plugin.h"

extern int brindle_test_symbol_that_does_not_exist(void);

static brindle_status_t unresolved_create(const brindle_host_services_t* host,
                                          brindle_instance_t** out, brindle_error_t* err) {
  (void)host, (void)err;
  *out = NULL;
  return brindle_test_symbol_that_does_not_exist() == 0 ? BRINDLE_OK : BRINDLE_ERR_INTERNAL;
}

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("unresolved");
  descriptor.create = unresolved_create;
  return &descriptor;
}
