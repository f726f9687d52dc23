// The ipip plugin tests use the shared encapsulation-plugin test support.
#pragma once

#include "encap_plugin_test_support.hpp"

namespace ipip_test {
using namespace brindle::encap_test;  // NOLINT(google-build-using-namespace): test shorthand
}  // namespace ipip_test
