/* Broken: a required descriptor field (create) is NULL. */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("nullcreate");
  descriptor.create = NULL;
  return &descriptor;
}
