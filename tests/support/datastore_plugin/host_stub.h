// A small, real implementation of brindle_host_services_t for plugin tests: the configuration
// section comes from a TOML document (parsed with toml11, so locations are true file:line:column),
// log lines are kept for assertions, metrics are summed per name and label set.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <toml.hpp>
#include <utility>
#include <vector>

#include "brindle/abi.h"

namespace brindle::test {

class HostStub {
 public:
  struct LogLine {
    brindle_log_level_t level;
    std::string message;
    std::string fields;
  };

  // `toml_text` is a whole brindle.toml-style document; the plugin sees the table at
  // `section` (dotted, e.g. "datastore.etcd"), which is created empty when absent.
  HostStub(const std::string& toml_text, const std::string& section,
           const std::string& file_name = "brindle-test.toml");
  HostStub(const HostStub&) = delete;
  HostStub& operator=(const HostStub&) = delete;

  const brindle_host_services_t* services() const { return &services_; }

  std::vector<LogLine> logs() const;
  // True when a line at `level` or above contains `text` in its message or fields.
  bool logged(std::string_view text, brindle_log_level_t level = BRINDLE_LOG_TRACE) const;
  double metric(const std::string& name, const std::string& labels = "") const;

 private:
  using Value = toml::value;
  const Value* find(std::string_view path) const;

  static HostStub& self(brindle_host_context_t* ctx) { return *reinterpret_cast<HostStub*>(ctx); }
  static void log(brindle_host_context_t*, brindle_log_level_t, brindle_str_t, brindle_str_t);
  static int log_enabled(brindle_host_context_t*, brindle_log_level_t);
  static uint32_t metric_register(brindle_host_context_t*, brindle_metric_type_t, brindle_str_t,
                                  brindle_str_t);
  static void metric_add(brindle_host_context_t*, uint32_t, brindle_str_t, double);
  static void metric_set(brindle_host_context_t*, uint32_t, brindle_str_t, double);
  static uint64_t clock_monotonic_ns(brindle_host_context_t*);
  static uint64_t clock_realtime_ns(brindle_host_context_t*);
  static brindle_config_type_t config_type(brindle_host_context_t*, brindle_str_t);
  static brindle_status_t config_get_string(brindle_host_context_t*, brindle_str_t, brindle_str_t*);
  static brindle_status_t config_get_int(brindle_host_context_t*, brindle_str_t, int64_t*);
  static brindle_status_t config_get_double(brindle_host_context_t*, brindle_str_t, double*);
  static brindle_status_t config_get_bool(brindle_host_context_t*, brindle_str_t, int*);
  static size_t config_size(brindle_host_context_t*, brindle_str_t);
  static brindle_status_t config_keys(brindle_host_context_t*, brindle_str_t, brindle_str_sink_fn,
                                      void*);
  static void config_location(brindle_host_context_t*, brindle_str_t, brindle_str_sink_fn, void*);
  static void request_refresh(brindle_host_context_t*);

  std::string file_name_;
  Value root_;
  const Value* section_ = nullptr;
  Value empty_section_;
  brindle_host_services_t services_{};
  std::string node_name_ = "test-node";

  mutable std::mutex mutex_;
  std::vector<LogLine> logs_;
  std::vector<std::string> metric_names_;
  std::map<std::pair<uint32_t, std::string>, double> metric_values_;
};

}  // namespace brindle::test
