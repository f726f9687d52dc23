/* Broken: the descriptor's struct_size is larger than the descriptor of the ABI version it
 * claims (the memory behind it exists, so a host that copied it all would not crash). */
#include "test_plugin.h"

struct grown_descriptor {
  brindle_plugin_descriptor_t base;
  void* extra[4];
};

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static struct grown_descriptor grown = {TEST_ENCAP_DESCRIPTOR("oversized"), {0}};
  grown.base.struct_size = sizeof(grown);
  return &grown.base;
}
