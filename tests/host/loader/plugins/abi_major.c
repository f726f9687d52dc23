/* Broken: claims the next ABI major version, as a plugin built against a future SDK would. */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("abimajor");
  descriptor.abi_major = BRINDLE_ABI_VERSION_MAJOR + 1;
  return &descriptor;
}
