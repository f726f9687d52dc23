/* Broken: exports a function, but not brindle_plugin_entry (a typo in the entry's name). */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entrypoint(void) {
  static const brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("noentry");
  return &descriptor;
}
