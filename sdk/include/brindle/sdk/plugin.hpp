// Brindle C++ SDK: the registration macro that turns a plugin class into the exported entry symbol.
//
//   class VxlanPlugin : public brindle::EncapPlugin {
//    public:
//     explicit VxlanPlugin(brindle::Host host);        // reads and validates host.config()
//     static void validate_config(const brindle::Host& host);  // optional, side-effect free
//     ...
//   };
//   BRINDLE_PLUGIN(VxlanPlugin, "vxlan", "0.1.0", "VXLAN overlay between nodes")
//
// The macro must be used exactly once per plugin library, at namespace scope.
#pragma once

#include <memory>
#include <type_traits>

#include "brindle/sdk/core.hpp"
#include "brindle/sdk/datastore.hpp"
#include "brindle/sdk/encap.hpp"
#include "brindle/sdk/policy.hpp"
#include "brindle/sdk/routing.hpp"

namespace brindle::detail {

template <typename Plugin>
constexpr const void* vtable_for() {
  if constexpr (std::is_base_of_v<DatastorePlugin, Plugin>) {
    return &DatastoreAdapter<Plugin>::kVtable;
  } else if constexpr (std::is_base_of_v<RoutingPlugin, Plugin>) {
    return &RoutingAdapter<Plugin>::kVtable;
  } else if constexpr (std::is_base_of_v<EncapPlugin, Plugin>) {
    return &EncapAdapter<Plugin>::kVtable;
  } else {
    static_assert(std::is_base_of_v<PolicyPlugin, Plugin>,
                  "a plugin class derives from DatastorePlugin, RoutingPlugin, EncapPlugin or "
                  "PolicyPlugin");
    return &PolicyAdapter<Plugin>::kVtable;
  }
}

template <typename Plugin>
struct Lifecycle {
  static brindle_status_t create(const brindle_host_services_t* services, brindle_instance_t** out,
                                 brindle_error_t* err) {
    return guard(err, [&] {
      auto plugin = std::make_unique<Plugin>(Host(services));
      *out = reinterpret_cast<brindle_instance_t*>(plugin.release());
    });
  }
  static void destroy(brindle_instance_t* inst) noexcept {
    try {
      delete reinterpret_cast<Plugin*>(inst);
    } catch (...) {  // nothing may cross the boundary
    }
  }
  static brindle_status_t validate_config(const brindle_host_services_t* services,
                                          brindle_error_t* err) {
    return guard(err, [&] { Plugin::validate_config(Host(services)); });
  }
  static constexpr auto validate_fn() {
    using Fn = brindle_status_t (*)(const brindle_host_services_t*, brindle_error_t*);
    if constexpr (requires(const Host& h) { Plugin::validate_config(h); }) {
      return Fn{&validate_config};
    } else {
      return Fn{nullptr};
    }
  }
};

}  // namespace brindle::detail

#define BRINDLE_PLUGIN(PluginClass, plugin_name, plugin_version, plugin_description)        \
  namespace {                                                                               \
  const brindle_plugin_descriptor_t brindle_sdk_descriptor{                                 \
      sizeof(brindle_plugin_descriptor_t),                                                  \
      BRINDLE_ABI_VERSION_MAJOR,                                                            \
      BRINDLE_ABI_VERSION_MINOR,                                                            \
      PluginClass::kKind,                                                                   \
      plugin_name,                                                                          \
      plugin_version,                                                                       \
      plugin_description,                                                                   \
      &::brindle::detail::Lifecycle<PluginClass>::create,                                   \
      ::brindle::detail::Lifecycle<PluginClass>::validate_fn(),                             \
      &::brindle::detail::Lifecycle<PluginClass>::destroy,                                  \
      ::brindle::detail::vtable_for<PluginClass>()};                                        \
  }                                                                                         \
  extern "C" BRINDLE_EXPORT const brindle_plugin_descriptor_t* brindle_plugin_entry(void) { \
    return &brindle_sdk_descriptor;                                                         \
  }
