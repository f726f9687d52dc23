// Broken: create() lets an exception of a plugin-defined type (not a std::exception) escape.
#include "test_plugin.h"

namespace {

struct PluginPrivateFailure {
  int code;
};

brindle_status_t throwing_create(const brindle_host_services_t*, brindle_instance_t**,
                                 brindle_error_t*) {
  throw PluginPrivateFailure{42};
}

}  // namespace

extern "C" BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry() {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("createthrows");
  descriptor.create = throwing_create;
  return &descriptor;
}
