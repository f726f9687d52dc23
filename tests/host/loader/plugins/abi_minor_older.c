/* Broken while the ABI is 0.x: an older minor. Pre-release minors are not compatible with each
 * other, so the host refuses it (from 1.0 on, an older minor loads). */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("abiolder");
  descriptor.abi_minor = BRINDLE_ABI_VERSION_MINOR - 1;
  return &descriptor;
}
