/* Broken: the entry returns no descriptor at all. */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  return NULL;
}
