// Brindle C++ SDK: include this one header to write a plugin. Header-only, on top of the C ABI.
// See docs/sdk.md for the contract of each plugin kind.
#pragma once

#include "brindle/sdk/core.hpp"       // Error, IpPrefix, Host, Config, Metric
#include "brindle/sdk/datastore.hpp"  // DatastorePlugin
#include "brindle/sdk/encap.hpp"      // EncapPlugin
#include "brindle/sdk/plugin.hpp"     // BRINDLE_PLUGIN
#include "brindle/sdk/policy.hpp"     // PolicyPlugin
#include "brindle/sdk/routing.hpp"    // RoutingPlugin
