#include "host_stub.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

namespace brindle::test {
namespace {

std::string_view view(brindle_str_t s) {
  return s.size == 0 ? std::string_view{} : std::string_view{s.data, s.size};
}

const char* level_name(brindle_log_level_t level) {
  switch (level) {
    case BRINDLE_LOG_TRACE:
      return "trace";
    case BRINDLE_LOG_DEBUG:
      return "debug";
    case BRINDLE_LOG_INFO:
      return "info";
    case BRINDLE_LOG_WARN:
      return "warn";
    case BRINDLE_LOG_ERROR:
      return "error";
  }
  return "?";
}

}  // namespace

HostStub::HostStub(const std::string& toml_text, const std::string& section,
                   const std::string& file_name)
    : file_name_(file_name), empty_section_(toml::table{}) {
  std::istringstream in(toml_text);
  root_ = toml::parse(in, file_name_);
  const Value* node = &root_;
  std::string_view rest = section;
  while (!rest.empty() && node != nullptr) {
    const size_t dot = rest.find('.');
    const std::string part(rest.substr(0, dot));
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    node = node->is_table() && node->as_table().count(part) != 0 ? &node->as_table().at(part)
                                                                 : nullptr;
  }
  section_ = node != nullptr ? node : &empty_section_;

  services_.struct_size = sizeof(services_);
  services_.abi_major = BRINDLE_ABI_VERSION_MAJOR;
  services_.abi_minor = BRINDLE_ABI_VERSION_MINOR;
  services_.context = reinterpret_cast<brindle_host_context_t*>(this);
  services_.log = &log;
  services_.log_enabled = &log_enabled;
  services_.metric_register = &metric_register;
  services_.metric_add = &metric_add;
  services_.metric_set = &metric_set;
  services_.clock_monotonic_ns = &clock_monotonic_ns;
  services_.clock_realtime_ns = &clock_realtime_ns;
  services_.config_type = &config_type;
  services_.config_get_string = &config_get_string;
  services_.config_get_int = &config_get_int;
  services_.config_get_double = &config_get_double;
  services_.config_get_bool = &config_get_bool;
  services_.config_size = &config_size;
  services_.config_keys = &config_keys;
  services_.config_location = &config_location;
  services_.node_name = brindle_str_t{node_name_.data(), node_name_.size()};
  services_.request_refresh = &request_refresh;
}

// Paths: "a.b", "endpoints[1]", "tls.ca_file"; empty = the section.
const HostStub::Value* HostStub::find(std::string_view path) const {
  const Value* node = section_;
  size_t i = 0;
  while (i < path.size() && node != nullptr) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == std::string_view::npos || !node->is_array()) {
        return nullptr;
      }
      const size_t index = std::stoul(std::string(path.substr(i + 1, close - i - 1)));
      const auto& array = node->as_array();
      node = index < array.size() ? &array[index] : nullptr;
      i = close + 1;
      continue;
    }
    const size_t end = path.find_first_of(".[", i);
    const std::string key(path.substr(i, end == std::string_view::npos ? end : end - i));
    if (!node->is_table() || node->as_table().count(key) == 0) {
      return nullptr;
    }
    node = &node->as_table().at(key);
    i = end == std::string_view::npos ? path.size() : end;
  }
  return node;
}

std::vector<HostStub::LogLine> HostStub::logs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return logs_;
}

bool HostStub::logged(std::string_view text, brindle_log_level_t level) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::any_of(logs_.begin(), logs_.end(), [&](const LogLine& line) {
    return line.level >= level && (line.message.find(text) != std::string::npos ||
                                   line.fields.find(text) != std::string::npos);
  });
}

double HostStub::metric(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (uint32_t id = 1; id <= metric_names_.size(); ++id) {
    if (metric_names_[id - 1] == name) {
      auto it = metric_values_.find({id, labels});
      return it == metric_values_.end() ? 0 : it->second;
    }
  }
  return 0;
}

void HostStub::log(brindle_host_context_t* ctx, brindle_log_level_t level, brindle_str_t message,
                   brindle_str_t fields) {
  HostStub& host = self(ctx);
  LogLine line{level, std::string(view(message)), std::string(view(fields))};
  std::fprintf(stderr, "[plugin %s] %s %s\n", level_name(level), line.message.c_str(),
               line.fields.c_str());
  std::lock_guard<std::mutex> lock(host.mutex_);
  host.logs_.push_back(std::move(line));
}

int HostStub::log_enabled(brindle_host_context_t*, brindle_log_level_t) {
  return 1;
}

uint32_t HostStub::metric_register(brindle_host_context_t* ctx, brindle_metric_type_t,
                                   brindle_str_t name, brindle_str_t) {
  HostStub& host = self(ctx);
  if (name.size == 0) {
    return 0;
  }
  std::lock_guard<std::mutex> lock(host.mutex_);
  host.metric_names_.emplace_back(view(name));
  return static_cast<uint32_t>(host.metric_names_.size());
}

void HostStub::metric_add(brindle_host_context_t* ctx, uint32_t id, brindle_str_t labels,
                          double delta) {
  HostStub& host = self(ctx);
  std::lock_guard<std::mutex> lock(host.mutex_);
  host.metric_values_[{id, std::string(view(labels))}] += delta;
}

void HostStub::metric_set(brindle_host_context_t* ctx, uint32_t id, brindle_str_t labels,
                          double value) {
  HostStub& host = self(ctx);
  std::lock_guard<std::mutex> lock(host.mutex_);
  host.metric_values_[{id, std::string(view(labels))}] = value;
}

uint64_t HostStub::clock_monotonic_ns(brindle_host_context_t*) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t HostStub::clock_realtime_ns(brindle_host_context_t*) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

brindle_config_type_t HostStub::config_type(brindle_host_context_t* ctx, brindle_str_t path) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return BRINDLE_CONFIG_ABSENT;
  }
  switch (v->type()) {
    case toml::value_t::string:
      return BRINDLE_CONFIG_STRING;
    case toml::value_t::integer:
      return BRINDLE_CONFIG_INTEGER;
    case toml::value_t::floating:
      return BRINDLE_CONFIG_FLOAT;
    case toml::value_t::boolean:
      return BRINDLE_CONFIG_BOOLEAN;
    case toml::value_t::array:
      return BRINDLE_CONFIG_ARRAY;
    case toml::value_t::table:
      return BRINDLE_CONFIG_TABLE;
    default:
      return BRINDLE_CONFIG_OTHER;
  }
}

brindle_status_t HostStub::config_get_string(brindle_host_context_t* ctx, brindle_str_t path,
                                             brindle_str_t* out) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return BRINDLE_ERR_NOT_FOUND;
  }
  if (!v->is_string()) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  const std::string& s = v->as_string().str;  // lives as long as the parsed document
  *out = brindle_str_t{s.data(), s.size()};
  return BRINDLE_OK;
}

brindle_status_t HostStub::config_get_int(brindle_host_context_t* ctx, brindle_str_t path,
                                          int64_t* out) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return BRINDLE_ERR_NOT_FOUND;
  }
  if (!v->is_integer()) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  *out = v->as_integer();
  return BRINDLE_OK;
}

brindle_status_t HostStub::config_get_double(brindle_host_context_t* ctx, brindle_str_t path,
                                             double* out) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return BRINDLE_ERR_NOT_FOUND;
  }
  if (!v->is_floating()) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  *out = v->as_floating();
  return BRINDLE_OK;
}

brindle_status_t HostStub::config_get_bool(brindle_host_context_t* ctx, brindle_str_t path,
                                           int* out) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return BRINDLE_ERR_NOT_FOUND;
  }
  if (!v->is_boolean()) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  *out = v->as_boolean() ? 1 : 0;
  return BRINDLE_OK;
}

size_t HostStub::config_size(brindle_host_context_t* ctx, brindle_str_t path) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return 0;
  }
  if (v->is_array()) {
    return v->as_array().size();
  }
  return v->is_table() ? v->as_table().size() : 0;
}

brindle_status_t HostStub::config_keys(brindle_host_context_t* ctx, brindle_str_t path,
                                       brindle_str_sink_fn sink, void* user) {
  const Value* v = self(ctx).find(view(path));
  if (v == nullptr) {
    return BRINDLE_ERR_NOT_FOUND;
  }
  if (!v->is_table()) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  // toml11 tables are unordered: restore file order from the values' source positions.
  std::vector<std::pair<std::pair<uint32_t, uint32_t>, std::string>> keys;
  for (const auto& [key, value] : v->as_table()) {
    const toml::source_location where = value.location();
    keys.push_back({{where.line(), where.column()}, key});
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& entry : keys) {
    sink(user, brindle_str_t{entry.second.data(), entry.second.size()});
  }
  return BRINDLE_OK;
}

void HostStub::config_location(brindle_host_context_t* ctx, brindle_str_t path,
                               brindle_str_sink_fn sink, void* user) {
  HostStub& host = self(ctx);
  const Value* v = host.find(view(path));
  if (v == nullptr || view(path).empty()) {
    v = host.section_;
  }
  const toml::source_location where = v->location();
  const std::string text =
      host.file_name_ + ":" + std::to_string(where.line()) + ":" + std::to_string(where.column());
  sink(user, brindle_str_t{text.data(), text.size()});
}

void HostStub::request_refresh(brindle_host_context_t*) {}

}  // namespace brindle::test
