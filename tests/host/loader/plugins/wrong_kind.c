/* Broken for its slot: installed as brindle-encap-wrongkind.so but it is a routing plugin. */
#include "test_plugin.h"

BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) {
  static const brindle_plugin_descriptor_t descriptor = {sizeof(brindle_plugin_descriptor_t),
                                                         BRINDLE_ABI_VERSION_MAJOR,
                                                         BRINDLE_ABI_VERSION_MINOR,
                                                         BRINDLE_KIND_ROUTING,
                                                         "wrongkind",
                                                         "0.0.1",
                                                         "a routing plugin in an encap file",
                                                         test_create_nothing,
                                                         NULL,
                                                         test_destroy_nothing,
                                                         &test_routing_vtable};
  return &descriptor;
}
