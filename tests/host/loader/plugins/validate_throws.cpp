// Broken: validate_config() lets a std::exception escape (create() itself works).
#include <stdexcept>

#include "test_plugin.h"

namespace {

brindle_status_t throwing_validate(const brindle_host_services_t*, brindle_error_t*) {
  throw std::invalid_argument("validate_config exploded on its section");
}

}  // namespace

extern "C" BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry() {
  static brindle_plugin_descriptor_t descriptor = TEST_ENCAP_DESCRIPTOR("validatethrows");
  descriptor.validate_config = throwing_validate;
  return &descriptor;
}
