/* Broken: the encapsulation function table has the right size but no route_form. */
#include "test_plugin.h"

static const brindle_encap_vtable_t incomplete_vtable = {sizeof(brindle_encap_vtable_t),
                                                         test_en_ensure_local,
                                                         test_en_upsert_remote,
                                                         test_en_remove_remote,
                                                         NULL,
                                                         test_noop,
                                                         test_noop,
                                                         test_noop};

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("nullfunction");
  descriptor.vtable = &incomplete_vtable;
  return &descriptor;
}
