// Shared support for tests that load a plugin .so (PluginLibrary) and drive it through the C ABI:
// shell helpers, and a host services table (TestHost) with an in-memory configuration section,
// recorded logs and recorded metrics.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "brindle/abi.h"
#include "brindle/netlink/types.hpp"
#include "plugin_library.hpp"

namespace brindle::test {

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

// A host services table. The configuration section is a list of integer, boolean or string keys,
// each "located" at a line of a pretend brindle.toml (the section header at line 9, the keys from
// line 10 on); log lines and metric values (by name) are recorded; the node has a name and
// optionally an IPv4 and an IPv6 address.
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
  std::vector<std::string> metric_names{""};  // index = metric id
  std::map<std::string, double> metrics;
  brindle_host_services_t services{};

  explicit TestHost(std::string node = "node-a", const char* ipv4 = "198.19.0.1/24",
                    const char* ipv6 = nullptr)
      : node_name(std::move(node)) {
    services.struct_size = sizeof(services);
    services.abi_major = BRINDLE_ABI_VERSION_MAJOR;
    services.abi_minor = BRINDLE_ABI_VERSION_MINOR;
    services.context = reinterpret_cast<brindle_host_context_t*>(this);
    services.log = [](brindle_host_context_t* c, brindle_log_level_t, brindle_str_t m,
                      brindle_str_t f) { self(c).logs.push_back(text(m) + " " + text(f)); };
    services.log_enabled = [](brindle_host_context_t*, brindle_log_level_t) { return 1; };
    services.metric_register = [](brindle_host_context_t* c, brindle_metric_type_t,
                                  brindle_str_t name, brindle_str_t) -> uint32_t {
      self(c).metric_names.push_back(text(name));
      return static_cast<uint32_t>(self(c).metric_names.size() - 1);
    };
    services.metric_add = [](brindle_host_context_t* c, uint32_t id, brindle_str_t, double d) {
      self(c).metrics[self(c).metric_names.at(id)] += d;
    };
    services.metric_set = [](brindle_host_context_t* c, uint32_t id, brindle_str_t, double v) {
      self(c).metrics[self(c).metric_names.at(id)] = v;
    };
    services.clock_monotonic_ns = [](brindle_host_context_t*) -> uint64_t { return 1; };
    services.clock_realtime_ns = [](brindle_host_context_t*) -> uint64_t { return 1; };
    services.config_type = [](brindle_host_context_t* c, brindle_str_t p) {
      if (p.size == 0) {
        return BRINDLE_CONFIG_TABLE;
      }
      const Value* v = self(c).find(text(p));
      return v != nullptr ? v->type : BRINDLE_CONFIG_ABSENT;
    };
    services.config_get_string = &get<BRINDLE_CONFIG_STRING, brindle_str_t>;
    services.config_get_int = &get<BRINDLE_CONFIG_INTEGER, int64_t>;
    services.config_get_double = [](brindle_host_context_t* c, brindle_str_t p, double*) {
      return self(c).find(text(p)) != nullptr ? BRINDLE_ERR_INVALID_ARGUMENT
                                              : BRINDLE_ERR_NOT_FOUND;
    };
    services.config_get_bool = &get<BRINDLE_CONFIG_BOOLEAN, int>;
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
      const std::string where =
          "/etc/brindle/brindle.toml:" + std::to_string(self(c).line_of(text(p))) + ":1";
      sink(user, brindle_str_t{where.data(), where.size()});
    };
    services.node_name = brindle_str_t{node_name.data(), node_name.size()};
    services.node_ipv4 = address(ipv4);
    services.node_ipv6 = address(ipv6);
    services.request_refresh = [](brindle_host_context_t*) {};
  }
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  void set_int(const std::string& k, int64_t value) {
    section.push_back({k, BRINDLE_CONFIG_INTEGER, value, {}});
  }
  void set_bool(const std::string& k, bool value) {
    section.push_back({k, BRINDLE_CONFIG_BOOLEAN, value ? 1 : 0, {}});
  }
  void set_string(const std::string& k, const std::string& value) {
    section.push_back({k, BRINDLE_CONFIG_STRING, 0, value});
  }

  const Value* find(const std::string& path) const {
    for (const Value& v : section) {
      if (v.key == path) {
        return &v;
      }
    }
    return nullptr;
  }
  // The pretend brindle.toml line of a key (of the section header for an unknown one).
  int line_of(const std::string& path) const {
    for (size_t i = 0; i < section.size(); ++i) {
      if (section[i].key == path) {
        return static_cast<int>(10 + i);
      }
    }
    return 9;
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
  // The metric's current value (0 for one never added to or set).
  double metric(const std::string& name) const {
    const auto it = metrics.find(name);
    return it == metrics.end() ? 0 : it->second;
  }

 private:
  static TestHost& self(brindle_host_context_t* c) { return *reinterpret_cast<TestHost*>(c); }
  static std::string text(brindle_str_t s) { return std::string(s.data, s.size); }
  static brindle_ip_prefix_t address(const char* prefix) {
    return prefix != nullptr ? netlink::IpPrefix::parse(prefix).to_abi() : brindle_ip_prefix_t{};
  }
  template <brindle_config_type_t Type, typename Out>
  static brindle_status_t get(brindle_host_context_t* c, brindle_str_t p, Out* out) {
    const Value* v = self(c).find(text(p));
    if (v == nullptr) {
      return BRINDLE_ERR_NOT_FOUND;
    }
    if (v->type != Type) {
      return BRINDLE_ERR_INVALID_ARGUMENT;
    }
    if constexpr (Type == BRINDLE_CONFIG_STRING) {
      *out = brindle_str_t{v->text.data(), v->text.size()};
    } else {
      *out = static_cast<Out>(v->integer);
    }
    return BRINDLE_OK;
  }
};

}  // namespace brindle::test
