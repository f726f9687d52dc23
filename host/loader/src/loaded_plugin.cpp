#include "brindle/loader/loaded_plugin.hpp"

#include <time.h>

#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <utility>

#include "brindle/common/log.hpp"

namespace brindle::loader {
namespace {

std::string_view view(brindle_str_t text) {
  if (text.data == nullptr) {
    return {};
  }
  return {text.data, text.size};
}

brindle_ip_prefix_t to_abi(const std::optional<strings::IpPrefix>& prefix) {
  brindle_ip_prefix_t out{};
  if (prefix) {
    out.family = prefix->family;
    out.prefix_len = prefix->prefix_len;
    std::memcpy(out.addr, prefix->bytes, sizeof(out.addr));
  }
  return out;
}

log::Level to_level(brindle_log_level_t level) {
  switch (level) {
    case BRINDLE_LOG_TRACE:
      return log::Level::trace;
    case BRINDLE_LOG_DEBUG:
      return log::Level::debug;
    case BRINDLE_LOG_INFO:
      return log::Level::info;
    case BRINDLE_LOG_WARN:
      return log::Level::warn;
    case BRINDLE_LOG_ERROR:
      return log::Level::error;
  }
  return log::Level::error;  // an out-of-range level is shown rather than lost
}

uint64_t clock_ns(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
}

// The plugin-written message of a brindle_error_t, which might not be terminated.
std::string error_message(const brindle_error_t& err) {
  std::string message = strings::bounded_c_string(err.message, sizeof(err.message));
  return message.empty() ? "(no message)" : strings::escape_control(message);
}

std::string describe_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    return std::string("an exception: ") + e.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

}  // namespace

struct HostContext::OwnedMetrics {
  std::mutex mutex;
  std::set<uint32_t> ids;  // a plugin may only write metrics it registered itself
};

// The C side of the services table. Every function catches everything: the host must not throw
// into a plugin either.
struct HostContext::Access {
  static HostContext* self(brindle_host_context_t* ctx) {
    return reinterpret_cast<HostContext*>(ctx);
  }

  static void log(brindle_host_context_t* ctx, brindle_log_level_t level, brindle_str_t message,
                  brindle_str_t fields) noexcept {
    try {
      HostContext* host = self(ctx);
      const log::Level host_level = to_level(level);
      if (!log::logger().enabled(host_level)) {
        return;
      }
      const log::Field plugin_field("plugin", host->log_name_);
      log::logger().write(host_level, view(message), std::span<const log::Field>(&plugin_field, 1),
                          view(fields));
    } catch (...) {
    }
  }

  static int log_enabled(brindle_host_context_t*, brindle_log_level_t level) noexcept {
    return log::logger().enabled(to_level(level)) ? 1 : 0;
  }

  static uint32_t metric_register(brindle_host_context_t* ctx, brindle_metric_type_t type,
                                  brindle_str_t name, brindle_str_t help) noexcept {
    try {
      HostContext* host = self(ctx);
      const std::string_view short_name = view(name);
      // The plugin's part of the name: no colons (reserved for recording rules), no prefix games.
      const bool valid = !short_name.empty() && metrics::valid_metric_name(short_name) &&
                         short_name.find(':') == std::string_view::npos;
      if (host->environment_.metrics == nullptr || !valid ||
          (type != BRINDLE_METRIC_COUNTER && type != BRINDLE_METRIC_GAUGE)) {
        log::debug("plugin metric refused", {{"plugin", host->log_name_}, {"name", short_name}});
        return 0;
      }
      const uint32_t id = host->environment_.metrics->register_metric(
          type == BRINDLE_METRIC_COUNTER ? metrics::Type::counter : metrics::Type::gauge,
          host->metric_prefix_ + std::string(short_name), view(help));
      if (id != 0) {
        std::lock_guard lock(host->owned_metrics_->mutex);
        host->owned_metrics_->ids.insert(id);
      }
      return id;
    } catch (...) {
      return 0;
    }
  }

  static bool owns(HostContext* host, uint32_t metric) {
    std::lock_guard lock(host->owned_metrics_->mutex);
    return host->owned_metrics_->ids.contains(metric);
  }

  static void metric_add(brindle_host_context_t* ctx, uint32_t metric, brindle_str_t labels,
                         double delta) noexcept {
    try {
      HostContext* host = self(ctx);
      if (owns(host, metric)) {
        host->environment_.metrics->add(metric, view(labels), delta);
      }
    } catch (...) {
    }
  }

  static void metric_set(brindle_host_context_t* ctx, uint32_t metric, brindle_str_t labels,
                         double value) noexcept {
    try {
      HostContext* host = self(ctx);
      if (owns(host, metric)) {
        host->environment_.metrics->set(metric, view(labels), value);
      }
    } catch (...) {
    }
  }

  static uint64_t clock_monotonic(brindle_host_context_t*) noexcept {
    return clock_ns(CLOCK_MONOTONIC);
  }
  static uint64_t clock_realtime(brindle_host_context_t*) noexcept {
    return clock_ns(CLOCK_REALTIME);
  }

  static brindle_config_type_t config_type(brindle_host_context_t* ctx,
                                           brindle_str_t path) noexcept {
    try {
      const auto& section = self(ctx)->section_;
      return section ? section->type(view(path)) : BRINDLE_CONFIG_ABSENT;
    } catch (...) {
      return BRINDLE_CONFIG_ABSENT;
    }
  }

  template <typename Out, typename Getter>
  static brindle_status_t get(brindle_host_context_t* ctx, Out* out, Getter getter) noexcept {
    try {
      if (out == nullptr) {
        return BRINDLE_ERR_INVALID_ARGUMENT;
      }
      const auto& section = self(ctx)->section_;
      if (!section) {
        return BRINDLE_ERR_NOT_FOUND;
      }
      return getter(*section);
    } catch (...) {
      return BRINDLE_ERR_INTERNAL;
    }
  }

  static brindle_status_t config_get_string(brindle_host_context_t* ctx, brindle_str_t path,
                                            brindle_str_t* out) noexcept {
    return get(ctx, out,
               [&](const config::PluginSection& s) { return s.get_string(view(path), out); });
  }
  static brindle_status_t config_get_int(brindle_host_context_t* ctx, brindle_str_t path,
                                         int64_t* out) noexcept {
    return get(ctx, out,
               [&](const config::PluginSection& s) { return s.get_int(view(path), out); });
  }
  static brindle_status_t config_get_double(brindle_host_context_t* ctx, brindle_str_t path,
                                            double* out) noexcept {
    return get(ctx, out,
               [&](const config::PluginSection& s) { return s.get_double(view(path), out); });
  }
  static brindle_status_t config_get_bool(brindle_host_context_t* ctx, brindle_str_t path,
                                          int* out) noexcept {
    return get(ctx, out,
               [&](const config::PluginSection& s) { return s.get_bool(view(path), out); });
  }

  static size_t config_size(brindle_host_context_t* ctx, brindle_str_t path) noexcept {
    try {
      const auto& section = self(ctx)->section_;
      return section ? section->size(view(path)) : 0;
    } catch (...) {
      return 0;
    }
  }

  // Not noexcept: `sink` is plugin code, and an exception it throws belongs to the plugin.
  static brindle_status_t config_keys(brindle_host_context_t* ctx, brindle_str_t path,
                                      brindle_str_sink_fn sink, void* user) {
    if (sink == nullptr) {
      return BRINDLE_ERR_INVALID_ARGUMENT;
    }
    const auto& section = self(ctx)->section_;
    if (!section) {
      return view(path).empty() ? BRINDLE_OK : BRINDLE_ERR_NOT_FOUND;  // an empty table
    }
    return section->keys(view(path), sink, user);
  }

  static void config_location(brindle_host_context_t* ctx, brindle_str_t path,
                              brindle_str_sink_fn sink, void* user) {
    if (sink == nullptr) {
      return;
    }
    std::string location;
    try {
      HostContext* host = self(ctx);
      if (host->section_) {
        location = host->section_->location(view(path));
      } else {
        // append() rather than "[" + string: g++ 12 -O3 reports a false -Wrestrict.
        location.append("[").append(kind_name(host->plugin_.kind)).append(".");
        location.append(host->plugin_.name).append("]");
      }
    } catch (...) {
      location = "(unknown location)";
    }
    sink(user, brindle_str_t{location.data(), location.size()});
  }

  static void request_refresh(brindle_host_context_t* ctx) noexcept {
    try {
      HostContext* host = self(ctx);
      if (host->environment_.request_refresh) {
        host->environment_.request_refresh(host->plugin_.kind);
      }
    } catch (...) {
    }
  }
};

HostContext::HostContext(PluginInfo plugin, std::shared_ptr<const config::PluginSection> section,
                         HostEnvironment environment)
    : plugin_(std::move(plugin)),
      log_name_(std::string(kind_short_name(plugin_.kind)) + "/" + plugin_.name),
      metric_prefix_("brindle_" + std::string(kind_short_name(plugin_.kind)) + "_" +
                     strings::sanitize_identifier(plugin_.name) + "_"),
      section_(std::move(section)),
      environment_(std::move(environment)),
      owned_metrics_(std::make_unique<OwnedMetrics>()) {
  services_.struct_size = sizeof(services_);
  services_.abi_major = BRINDLE_ABI_VERSION_MAJOR;
  services_.abi_minor = BRINDLE_ABI_VERSION_MINOR;
  services_.context = reinterpret_cast<brindle_host_context_t*>(this);
  services_.log = &Access::log;
  services_.log_enabled = &Access::log_enabled;
  services_.metric_register = &Access::metric_register;
  services_.metric_add = &Access::metric_add;
  services_.metric_set = &Access::metric_set;
  services_.clock_monotonic_ns = &Access::clock_monotonic;
  services_.clock_realtime_ns = &Access::clock_realtime;
  services_.config_type = &Access::config_type;
  services_.config_get_string = &Access::config_get_string;
  services_.config_get_int = &Access::config_get_int;
  services_.config_get_double = &Access::config_get_double;
  services_.config_get_bool = &Access::config_get_bool;
  services_.config_size = &Access::config_size;
  services_.config_keys = &Access::config_keys;
  services_.config_location = &Access::config_location;
  services_.node_name = brindle_str_t{environment_.node.name.data(), environment_.node.name.size()};
  services_.node_ipv4 = to_abi(environment_.node.ipv4);
  services_.node_ipv6 = to_abi(environment_.node.ipv6);
  services_.request_refresh = &Access::request_refresh;
}

HostContext::~HostContext() = default;

LoadedPlugin::LoadedPlugin(PluginLibrary library,
                           std::shared_ptr<const config::PluginSection> section,
                           HostEnvironment environment)
    : library_(std::move(library)),
      context_(std::make_unique<HostContext>(library_.info(), std::move(section),
                                             std::move(environment))) {
  const PluginInfo& plugin = library_.info();
  brindle_error_t err{};
  err.code = BRINDLE_OK;
  brindle_instance_t* instance = nullptr;
  brindle_status_t status = BRINDLE_ERR_INTERNAL;
  std::string thrown;
  try {
    status = library_.descriptor().create(context_->services(), &instance, &err);
  } catch (...) {
    thrown = describe_exception(std::current_exception());
  }
  if (!thrown.empty()) {
    // Whatever create() built before throwing is lost; the library stays loaded until the
    // members are destroyed, after this exception has been described and released.
    throw LoadError(LoadErrorCode::plugin_threw, plugin.path,
                    "plugin " + context_->log_name() + ": create() threw " + thrown +
                        " (exceptions must not cross the C ABI)");
  }
  if (status != BRINDLE_OK) {
    throw LoadError(LoadErrorCode::create_failed, plugin.path,
                    "plugin " + context_->log_name() + " failed to initialise (" +
                        status_name(status) + "): " + error_message(err),
                    status);
  }
  instance_ = instance;
  created_ = true;
  log::info("plugin created",
            {{"plugin", context_->log_name()}, {"version", plugin.version}, {"path", plugin.path}});
}

LoadedPlugin::~LoadedPlugin() {
  if (created_) {
    try {
      library_.descriptor().destroy(instance_);
    } catch (...) {
      log::error("plugin destroy() threw; its resources may have leaked",
                 {{"plugin", context_->log_name()},
                  {"error", describe_exception(std::current_exception())}});
    }
    created_ = false;
    instance_ = nullptr;
    log::info("plugin destroyed", {{"plugin", context_->log_name()}});
  }
  context_.reset();  // the services table dies before the library (declared first) is unloaded
}

std::optional<std::string> LoadedPlugin::refresh() {
  brindle_status_t (*hook)(brindle_instance_t*, brindle_error_t*) = nullptr;
  if (const auto* routing = library_.routing()) {
    hook = routing->refresh;
  } else if (const auto* encap = library_.encap()) {
    hook = encap->refresh;
  } else if (const auto* policy = library_.policy()) {
    hook = policy->refresh;
  }
  if (hook == nullptr) {
    return std::nullopt;
  }
  brindle_error_t err{};
  brindle_status_t status = BRINDLE_ERR_INTERNAL;
  std::string thrown;
  try {
    status = hook(instance_, &err);
  } catch (...) {
    thrown = describe_exception(std::current_exception());
  }
  if (!thrown.empty()) {
    return "refresh() threw " + thrown;
  }
  if (status != BRINDLE_OK) {
    return "refresh() failed (" + status_name(status) + "): " + error_message(err);
  }
  return std::nullopt;
}

void validate_plugin_config(const PluginLibrary& library,
                            std::shared_ptr<const config::PluginSection> section,
                            const HostEnvironment& environment) {
  const PluginInfo& plugin = library.info();
  const brindle_plugin_descriptor_t& descriptor = library.descriptor();
  HostContext context(plugin, std::move(section), environment);
  // The contract allows a NULL validate_config only when create() has no side effects: then a
  // create()/destroy() round trip is the validation.
  const bool probe = descriptor.validate_config == nullptr;
  const char* hook = probe ? "create()" : "validate_config()";
  brindle_error_t err{};
  brindle_status_t status = BRINDLE_ERR_INTERNAL;
  brindle_instance_t* instance = nullptr;
  std::string thrown;
  try {
    status = probe ? descriptor.create(context.services(), &instance, &err)
                   : descriptor.validate_config(context.services(), &err);
  } catch (...) {
    thrown = describe_exception(std::current_exception());
  }
  if (!thrown.empty()) {
    throw LoadError(LoadErrorCode::plugin_threw, plugin.path,
                    "plugin " + context.log_name() + ": " + hook + " threw " + thrown +
                        " (exceptions must not cross the C ABI)");
  }
  if (status != BRINDLE_OK) {
    throw LoadError(LoadErrorCode::validate_failed, plugin.path,
                    "plugin " + context.log_name() + " rejected its configuration (" +
                        status_name(status) + "): " + error_message(err),
                    status);
  }
  if (probe) {
    try {
      descriptor.destroy(instance);
    } catch (...) {
      throw LoadError(LoadErrorCode::plugin_threw, plugin.path,
                      "plugin " + context.log_name() + ": destroy() threw " +
                          describe_exception(std::current_exception()) +
                          " (exceptions must not cross the C ABI)");
    }
  }
}

}  // namespace brindle::loader
