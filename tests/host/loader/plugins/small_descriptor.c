/* Broken: struct_size covers the ABI version but not the rest of the ABI 0.1 descriptor. */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("smalldesc");
  descriptor.struct_size = offsetof(brindle_plugin_descriptor_t, name);
  return &descriptor;
}
