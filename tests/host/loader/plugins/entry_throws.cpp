// Broken: a C++ plugin whose entry lets an exception escape, against the contract.
#include <stdexcept>

#include "test_plugin.h"

extern "C" BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry() {
  throw std::runtime_error("entry exploded while building its descriptor");
}
