/* Broken: same ABI major as the host but a newer minor (it may use services the host lacks). */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("abiminor");
  descriptor.abi_minor = BRINDLE_ABI_VERSION_MINOR + 1;
  return &descriptor;
}
