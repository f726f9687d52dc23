// Test support for encapsulation plugins (vxlan, ipip): a host services stub, the plugin (the
// .so named by BRINDLE_TEST_ENCAP_PLUGIN) opened through its
// entry symbol (as the host's loader does) and driven through the C ABI, and shell helpers that
// inspect namespaces with ip(8) and bridge(8).
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "brindle/abi.h"
#include "brindle/encap.h"
#include "brindle/netlink/netns.hpp"
#include "brindle/netlink/types.hpp"
#include "brindle/routing.h"

namespace brindle::encap_test {

using brindle::netlink::IpPrefix;
using brindle::netlink::MacAddress;
using brindle::netlink::ScratchNetns;

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs a shell command; returns its exit status and stdout+stderr.
struct Shell {
  int status = -1;
  std::string output;
};
inline Shell sh(const std::string& command) {
  Shell result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("popen failed: " + command);
  }
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  const int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}
// Runs a command that must succeed (a failed gtest assertion otherwise) and returns its output.
inline std::string must(const std::string& command) {
  const Shell r = sh(command);
  EXPECT_EQ(r.status, 0) << command << "\n" << r.output;
  return r.output;
}
// `ip -n <ns> <args>`
inline std::string ip(const ScratchNetns& ns, const std::string& args) {
  return must("ip -n " + ns.name() + " " + args);
}

// A host services table: the configuration section is a list of integer or string keys, each
// "located" at a line of a pretend brindle.toml; log lines are recorded.
struct TestHost {
  struct Value {
    std::string key;
    brindle_config_type_t type = BRINDLE_CONFIG_ABSENT;
    int64_t integer = 0;
    std::string text;
  };
  std::vector<Value> section;
  std::string node_name;
  std::vector<std::string> logs;
  brindle_host_services_t services{};

  static TestHost& self(brindle_host_context_t* c) { return *reinterpret_cast<TestHost*>(c); }
  static std::string text(brindle_str_t s) { return std::string(s.data, s.size); }
  const Value* find(const std::string& path) const {
    for (const Value& v : section) {
      if (v.key == path) {
        return &v;
      }
    }
    return nullptr;
  }
  int line_of(const std::string& path) const {
    for (size_t i = 0; i < section.size(); ++i) {
      if (section[i].key == path) {
        return static_cast<int>(10 + i);
      }
    }
    return 9;  // the section header
  }

  explicit TestHost(std::string name = "node-a", const char* ipv4 = "198.19.0.1/24",
                    const char* ipv6 = nullptr)
      : node_name(std::move(name)) {
    services.struct_size = sizeof(services);
    services.abi_major = BRINDLE_ABI_VERSION_MAJOR;
    services.abi_minor = BRINDLE_ABI_VERSION_MINOR;
    services.context = reinterpret_cast<brindle_host_context_t*>(this);
    services.log = [](brindle_host_context_t* c, brindle_log_level_t, brindle_str_t m,
                      brindle_str_t f) { self(c).logs.push_back(text(m) + " " + text(f)); };
    services.log_enabled = [](brindle_host_context_t*, brindle_log_level_t) { return 1; };
    services.metric_register = [](brindle_host_context_t*, brindle_metric_type_t, brindle_str_t,
                                  brindle_str_t) -> uint32_t { return 1; };
    services.metric_add = [](brindle_host_context_t*, uint32_t, brindle_str_t, double) {};
    services.metric_set = [](brindle_host_context_t*, uint32_t, brindle_str_t, double) {};
    services.clock_monotonic_ns = [](brindle_host_context_t*) -> uint64_t { return 1; };
    services.clock_realtime_ns = [](brindle_host_context_t*) -> uint64_t { return 1; };
    services.config_type = [](brindle_host_context_t* c, brindle_str_t p) {
      if (p.size == 0) {
        return BRINDLE_CONFIG_TABLE;
      }
      const Value* v = self(c).find(text(p));
      return v != nullptr ? v->type : BRINDLE_CONFIG_ABSENT;
    };
    services.config_get_string = [](brindle_host_context_t* c, brindle_str_t p,
                                    brindle_str_t* out) {
      const Value* v = self(c).find(text(p));
      if (v == nullptr) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      if (v->type != BRINDLE_CONFIG_STRING) {
        return BRINDLE_ERR_INVALID_ARGUMENT;
      }
      *out = brindle_str_t{v->text.data(), v->text.size()};
      return BRINDLE_OK;
    };
    services.config_get_int = [](brindle_host_context_t* c, brindle_str_t p, int64_t* out) {
      const Value* v = self(c).find(text(p));
      if (v == nullptr) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      if (v->type != BRINDLE_CONFIG_INTEGER) {
        return BRINDLE_ERR_INVALID_ARGUMENT;
      }
      *out = v->integer;
      return BRINDLE_OK;
    };
    services.config_get_double = [](brindle_host_context_t* c, brindle_str_t p, double*) {
      return self(c).find(text(p)) != nullptr ? BRINDLE_ERR_INVALID_ARGUMENT
                                              : BRINDLE_ERR_NOT_FOUND;
    };
    services.config_get_bool = [](brindle_host_context_t* c, brindle_str_t p, int*) {
      return self(c).find(text(p)) != nullptr ? BRINDLE_ERR_INVALID_ARGUMENT
                                              : BRINDLE_ERR_NOT_FOUND;
    };
    services.config_size = [](brindle_host_context_t* c, brindle_str_t p) -> size_t {
      return p.size == 0 ? self(c).section.size() : 0;
    };
    services.config_keys = [](brindle_host_context_t* c, brindle_str_t p, brindle_str_sink_fn sink,
                              void* user) {
      if (p.size != 0) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      for (const Value& v : self(c).section) {
        sink(user, brindle_str_t{v.key.data(), v.key.size()});
      }
      return BRINDLE_OK;
    };
    services.config_location = [](brindle_host_context_t* c, brindle_str_t p,
                                  brindle_str_sink_fn sink, void* user) {
      std::string where =
          "/etc/brindle/brindle.toml:" + std::to_string(self(c).line_of(text(p))) + ":1";
      sink(user, brindle_str_t{where.data(), where.size()});
    };
    services.node_name = brindle_str_t{node_name.data(), node_name.size()};
    services.node_ipv4 = ipv4 != nullptr ? IpPrefix::parse(ipv4).to_abi() : brindle_ip_prefix_t{};
    services.node_ipv6 = ipv6 != nullptr ? IpPrefix::parse(ipv6).to_abi() : brindle_ip_prefix_t{};
    services.request_refresh = [](brindle_host_context_t*) {};
  }
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  void set_int(const std::string& k, int64_t value) {
    section.push_back({k, BRINDLE_CONFIG_INTEGER, value, {}});
  }
  void set_string(const std::string& k, const std::string& value) {
    section.push_back({k, BRINDLE_CONFIG_STRING, 0, value});
  }
  bool logged(const std::string& part) const {
    for (const std::string& line : logs) {
      if (contains(line, part)) {
        return true;
      }
    }
    return false;
  }
  std::string all_logs() const {
    std::string out;
    for (const std::string& line : logs) {
      out += line + "\n";
    }
    return out;
  }
};

// A node as the host describes it through the ABI (owns the strings the raw struct points to).
struct Node {
  std::string name;
  brindle_encap_node_t raw{};

  explicit Node(std::string node_name, const char* address4 = nullptr,
                const char* tunnel4 = nullptr, const char* mac = nullptr,
                const char* address6 = nullptr, const char* tunnel6 = nullptr)
      : name(std::move(node_name)) {
    raw.struct_size = sizeof(raw);
    raw.name = brindle_str_t{name.data(), name.size()};
    set(raw.address4, address4);
    set(raw.tunnel_address4, tunnel4);
    set(raw.address6, address6);
    set(raw.tunnel_address6, tunnel6);
    if (mac != nullptr) {
      raw.has_vtep_mac = 1;
      raw.vtep_mac = MacAddress::parse(mac).to_abi();
    }
  }
  Node(const Node& other) : name(other.name), raw(other.raw) {
    raw.name = brindle_str_t{name.data(), name.size()};
  }
  Node& operator=(const Node&) = delete;

  static void set(brindle_ip_prefix_t& field, const char* text) {
    field = text != nullptr ? IpPrefix::parse(text).to_abi() : brindle_ip_prefix_t{};
  }
};

// The plugin library opened like the host opens plugins (local, immediate binding) and one
// instance of it at a time. Every kernel-touching call runs inside `ns` (the plugin acts in the
// network namespace of the thread that calls it).
class Plugin {
 public:
  Plugin() {
    library_ = dlopen(BRINDLE_TEST_ENCAP_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) {
      throw std::runtime_error(std::string("dlopen: ") + dlerror());
    }
    auto entry =
        reinterpret_cast<brindle_plugin_entry_fn>(dlsym(library_, BRINDLE_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
      throw std::runtime_error(std::string("dlsym: ") + dlerror());
    }
    descriptor_ = entry();
    vtable_ = static_cast<const brindle_encap_vtable_t*>(descriptor_->vtable);
  }
  ~Plugin() {
    destroy();
    dlclose(library_);
  }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const brindle_plugin_descriptor_t* descriptor() const { return descriptor_; }
  const brindle_encap_vtable_t* vtable() const { return vtable_; }

  brindle_status_t create(TestHost& host, brindle_error_t* err) {
    destroy();
    return descriptor_->create(&host.services, &instance_, err);
  }
  void create_ok(TestHost& host) {
    brindle_error_t err{};
    ASSERT_EQ(create(host, &err), BRINDLE_OK) << err.message;
  }
  // Simulates an agent restart: the instance goes, kernel state stays.
  void destroy() {
    if (instance_ != nullptr) {
      descriptor_->destroy(instance_);
      instance_ = nullptr;
    }
  }

  struct Local {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    brindle_encap_local_state_t state{};
    std::string message;
  };
  Local ensure_local(const ScratchNetns& ns, const Node& self, const std::string& underlay_device,
                     uint32_t underlay_mtu = 0, uint32_t mtu_override = 0) {
    return ns.run([&] {
      brindle_encap_local_config_t config{};
      config.struct_size = sizeof(config);
      config.node = &self.raw;
      config.underlay_device = brindle_str_t{underlay_device.data(), underlay_device.size()};
      config.underlay_mtu = underlay_mtu;
      config.mtu_override = mtu_override;
      Local out;
      std::memset(&out.state, 0x5a, sizeof(out.state));  // everything must be written
      out.state.struct_size = sizeof(out.state);
      brindle_error_t err{};
      out.status = vtable_->ensure_local(instance_, &config, &out.state, &err);
      out.message = out.status == BRINDLE_OK ? "" : err.message;
      return out;
    });
  }
  brindle_encap_local_state_t ensure_local_ok(const ScratchNetns& ns, const Node& self,
                                              const std::string& underlay_device,
                                              uint32_t underlay_mtu = 0) {
    const Local local = ensure_local(ns, self, underlay_device, underlay_mtu);
    EXPECT_EQ(local.status, BRINDLE_OK) << local.message;
    return local.state;
  }

  struct Result {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    std::string message;
  };
  template <typename Call>
  Result call(const ScratchNetns& ns, Call&& body) {
    return ns.run([&] {
      brindle_error_t err{};
      Result r;
      r.status = body(&err);
      r.message = r.status == BRINDLE_OK ? "" : err.message;
      return r;
    });
  }
  Result upsert(const ScratchNetns& ns, const Node& remote) {
    return call(ns, [&](brindle_error_t* err) {
      return vtable_->upsert_remote(instance_, &remote.raw, err);
    });
  }
  Result remove(const ScratchNetns& ns, const std::string& name) {
    return call(ns, [&](brindle_error_t* err) {
      return vtable_->remove_remote(instance_, brindle_str_t{name.data(), name.size()}, err);
    });
  }
  Result in_sync(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->in_sync(instance_, err); });
  }
  Result apply(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->apply(instance_, err); });
  }
  Result refresh(const ScratchNetns& ns) {
    return call(ns, [&](brindle_error_t* err) { return vtable_->refresh(instance_, err); });
  }

  struct Form {
    brindle_status_t status = BRINDLE_ERR_INTERNAL;
    brindle_route_form_t form{};
    std::string message;
  };
  // Pure: no namespace needed.
  Form route_form(const Node& remote, const char* block) {
    Form out;
    const brindle_ip_prefix_t raw_block = IpPrefix::parse(block).to_abi();
    std::memset(&out.form, 0x5a, sizeof(out.form));
    out.form.struct_size = sizeof(out.form);
    brindle_error_t err{};
    out.status = vtable_->route_form(instance_, &remote.raw, &raw_block, &out.form, &err);
    out.message = out.status == BRINDLE_OK ? "" : err.message;
    return out;
  }

 private:
  void* library_ = nullptr;
  const brindle_plugin_descriptor_t* descriptor_ = nullptr;
  const brindle_encap_vtable_t* vtable_ = nullptr;
  brindle_instance_t* instance_ = nullptr;
};

inline std::string mac_string(const brindle_mac_t& mac) {
  return MacAddress::from_abi(mac).to_string();
}

}  // namespace brindle::encap_test
