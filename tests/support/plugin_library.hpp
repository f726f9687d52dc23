// A plugin .so opened like the host's loader opens it (dlopen with local, immediate binding, then
// the entry symbol for the descriptor), closed on destruction. Free of gtest, so that benchmarks
// can use it too; tests include plugin_test_host.hpp, which includes this.
#pragma once

#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include "brindle/abi.h"

namespace brindle::test {

class PluginLibrary {
 public:
  // Throws std::runtime_error (with dlerror()) when the library or its entry symbol is missing.
  explicit PluginLibrary(const char* path) : handle_(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {
    if (handle_ == nullptr) {
      throw std::runtime_error(std::string("dlopen: ") + dlerror());
    }
    auto entry =
        reinterpret_cast<brindle_plugin_entry_fn>(dlsym(handle_, BRINDLE_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
      const std::string error = std::string("dlsym: ") + dlerror();
      dlclose(handle_);
      throw std::runtime_error(error);
    }
    descriptor_ = entry();
    if (descriptor_ == nullptr) {
      dlclose(handle_);
      throw std::runtime_error(std::string(path) + ": the entry symbol returned no descriptor");
    }
  }
  // Every instance of the plugin must be destroyed before.
  ~PluginLibrary() { dlclose(handle_); }
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const brindle_plugin_descriptor_t* descriptor() const { return descriptor_; }
  // The descriptor's vtable as the kind's table (brindle_encap_vtable_t, brindle_policy_vtable_t).
  template <typename VTable>
  const VTable* vtable() const {
    return static_cast<const VTable*>(descriptor_->vtable);
  }

 private:
  void* handle_ = nullptr;
  const brindle_plugin_descriptor_t* descriptor_ = nullptr;
};

}  // namespace brindle::test
