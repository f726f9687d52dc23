/* Broken: the encapsulation function table claims to hold only its struct_size field. */
#include "test_plugin.h"

static const brindle_encap_vtable_t short_vtable = {
    sizeof(uint32_t), NULL, NULL, NULL, NULL, NULL, NULL, NULL};

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("smallvtable");
  descriptor.vtable = &short_vtable;
  return &descriptor;
}
