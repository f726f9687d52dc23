#include "brindle/daemon/daemon.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>

// Boost 1.74 Asio uses std::exchange without including <utility> (C++20 coroutine support).
#include <utility>

#include <boost/asio.hpp>

#include "brindle/agent/agent.hpp"
#include "brindle/build_info.hpp"
#include "brindle/common/metrics.hpp"
#include "brindle/common/strings.hpp"
#include "brindle/config/config.hpp"
#include "brindle/daemon/command_line.hpp"
#include "brindle/daemon/http_server.hpp"
#include "brindle/daemon/node_identity.hpp"
#include "brindle/daemon/notify.hpp"
#include "brindle/daemon/plugin_set.hpp"

namespace brindle::daemon {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using json = nlohmann::json;
using loader::PluginKind;

namespace {

// Waits between attempts to create plugins that could not be created for now.
constexpr std::chrono::milliseconds kPluginRetryFirst{500};
constexpr std::chrono::milliseconds kPluginRetryMax{30000};

log::Level to_log_level(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::trace:
      return log::Level::trace;
    case config::LogLevel::debug:
      return log::Level::debug;
    case config::LogLevel::info:
      return log::Level::info;
    case config::LogLevel::warn:
      return log::Level::warn;
    case config::LogLevel::error:
      return log::Level::error;
  }
  return log::Level::info;
}

json prefix_json(const std::optional<strings::IpPrefix>& prefix) {
  return prefix ? json(strings::format_ip_prefix(*prefix)) : json(nullptr);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct Daemon::Impl {
  explicit Impl(DaemonOptions daemon_options)
      : options(std::move(daemon_options)),
        signals(io),
        build_info_metric(registry, "brindle_build_info", "Version of this brindled; always 1."),
        ready_metric(registry, "brindle_ready", "1 when brindled is ready (as /readyz)."),
        start_time_metric(registry, "brindle_start_time_seconds",
                          "Start time of brindled since the Unix epoch, in seconds."),
        reloads_metric(registry, "brindle_config_reloads_total",
                       "Configuration reloads (SIGHUP or the reload method), by result."),
        plugin_metric(registry, "brindle_plugin_info",
                      "Plugins in use by slot, name, version and ABI; always 1."),
        refresh_metric(registry, "brindle_plugin_refreshes_total",
                       "Refresh hooks run (periodically or at a plugin's request), by slot and "
                       "result."),
        control_metric(registry, "brindle_control_requests_total",
                       "Control socket requests, by method and result."),
        http_metric(registry, "brindle_http_requests_total",
                    "Requests to the health and metrics endpoints, by path and status.") {
    build_info_metric.set(1, "version=\"" + std::string(build_info::kVersion) + "\"");
    start_time_metric.set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    ready_metric.set(0);
    reloads_metric.inc("result=\"success\"", 0);
    reloads_metric.inc("result=\"failure\"", 0);
    register_methods();
  }

  // Declaration order is destruction order reversed: the method table and the registry outlive
  // the event loop, which outlives the plugins and the endpoints.
  DaemonOptions options;
  MethodTable methods;
  metrics::Registry registry;
  asio::io_context io;
  asio::signal_set signals;

  metrics::Gauge build_info_metric;
  metrics::Gauge ready_metric;
  metrics::Gauge start_time_metric;
  metrics::Counter reloads_metric;
  metrics::Gauge plugin_metric;
  metrics::Counter refresh_metric;
  metrics::Counter control_metric;
  metrics::Counter http_metric;
  std::vector<std::string> plugin_series;  // label sets of brindle_plugin_info now at 1

  config::Config config;
  loader::NodeIdentity node;
  PluginSet plugins;
  std::unique_ptr<::brindle::agent::Agent> agent;  // after `plugins`: destroyed before them
  std::unique_ptr<HttpServer> health_server;
  std::unique_ptr<HttpServer> metrics_server;  // null when it shares health_server
  std::unique_ptr<ControlServer> control_server;
  std::unique_ptr<asio::steady_timer> refresh_timer;  // [plugins] refresh_interval_seconds

  bool ready = false;
  bool stopping = false;
  std::string not_ready_reason = "starting";
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  uint64_t reloads_succeeded = 0;
  uint64_t reloads_failed = 0;
  std::string last_reload_error;
  std::array<std::atomic<bool>, 5> refresh_pending{};  // by brindle_plugin_kind_t

  void set_ready(bool is_ready, std::string reason = {}) {
    ready = is_ready;
    not_ready_reason = std::move(reason);
    ready_metric.set(is_ready ? 1 : 0);
  }

  void apply_log_level() {
    log::logger().set_level(options.log_level.value_or(to_log_level(config.log_level)));
  }

  loader::HostEnvironment environment(metrics::Registry* metrics_registry) {
    loader::HostEnvironment env;
    env.metrics = metrics_registry;
    env.node = node;
    env.request_refresh = [this](PluginKind kind) { request_refresh(kind); };
    return env;
  }

  // Called from any plugin thread: coalesce per slot and run on the loop.
  void request_refresh(PluginKind kind) {
    const auto index = static_cast<std::size_t>(kind);
    if (index >= refresh_pending.size() || refresh_pending[index].exchange(true)) {
      return;
    }
    asio::post(io, [this, kind, index] {
      refresh_pending[index] = false;
      loader::LoadedPlugin* plugin = plugins.get(kind);
      if (plugin == nullptr || stopping) {
        return;
      }
      const std::string labels = "slot=\"" + std::string(loader::kind_name(kind)) + "\"";
      if (auto error = plugin->refresh()) {
        refresh_metric.inc(labels + ",result=\"failure\"");
        log::warn("plugin refresh failed", {{"plugin", std::string(loader::kind_short_name(kind)) +
                                                           "/" + plugin->info().name},
                                            {"error", *error}});
      } else {
        refresh_metric.inc(labels + ",result=\"success\"");
      }
    });
  }

  // Every [plugins] refresh_interval_seconds, each dataplane plugin verifies what it programmed
  // and repairs what someone else changed. Only once the agent is ready: before the first
  // in-sync apply a plugin's state is the previous run's, which must stay untouched.
  void schedule_periodic_refresh() {
    if (config.plugin_refresh_seconds == 0 || stopping) {
      return;
    }
    if (!refresh_timer) {
      refresh_timer = std::make_unique<asio::steady_timer>(io);
    }
    refresh_timer->expires_after(std::chrono::seconds(config.plugin_refresh_seconds));
    refresh_timer->async_wait([this](boost::system::error_code ec) {
      if (ec || stopping) {
        return;
      }
      if (!agent || agent->ready()) {
        for (PluginKind kind :
             {PluginKind::routing, PluginKind::encapsulation, PluginKind::policy}) {
          if (plugins.get(kind) != nullptr) {
            request_refresh(kind);
          }
        }
      }
      schedule_periodic_refresh();
    });
  }

  // Series of plugins no longer in use drop to 0 (the registry never forgets a series).
  void update_plugin_metric() {
    for (const std::string& labels : plugin_series) {
      plugin_metric.set(0, labels);
    }
    plugin_series.clear();
    for (const loader::LoadedPlugin* plugin : plugins.all()) {
      const loader::PluginInfo& info = plugin->info();
      const std::string labels = "slot=\"" + std::string(loader::kind_name(info.kind)) +
                                 "\",name=\"" + info.name + "\",version=\"" + info.version +
                                 "\",abi=\"" + std::to_string(info.abi_major) + "." +
                                 std::to_string(info.abi_minor) + "\"";
      plugin_metric.set(1, labels);
      plugin_series.push_back(labels);
    }
  }

  // --- endpoints ---------------------------------------------------------------------------

  HttpResponse counted(const std::string& path, HttpResponse response) {
    http_metric.inc("path=\"" + path + "\",code=\"" + std::to_string(response.status) + "\"");
    return response;
  }

  std::map<std::string, HttpHandler> health_routes() {
    return {
        {"/livez",
         [this] {
           return counted("/livez", {200, "text/plain; charset=utf-8", "ok\n"});
         }},
        {"/readyz",
         [this] {
           if (ready && (!agent || agent->ready())) {
             return counted("/readyz", {200, "text/plain; charset=utf-8", "ready\n"});
           }
           const std::string reason = ready ? agent->not_ready_reason() : not_ready_reason;
           return counted("/readyz",
                          {503, "text/plain; charset=utf-8", "not ready: " + reason + "\n"});
         }},
    };
  }

  std::map<std::string, HttpHandler> metrics_routes() {
    return {{"/metrics", [this] {
               HttpResponse response{200, "text/plain; version=0.0.4; charset=utf-8",
                                     registry.render()};
               // Counted after rendering: this request shows up in the next scrape.
               return counted("/metrics", std::move(response));
             }}};
  }

  // Starts (or, on reload, moves) the endpoints to what `cfg` says. Throws std::runtime_error.
  void start_endpoints(const config::Config& cfg, const config::Config* previous) {
    const bool http_changed = previous == nullptr || previous->health_listen != cfg.health_listen ||
                              previous->metrics_listen != cfg.metrics_listen;
    if (http_changed) {
      health_server.reset();
      metrics_server.reset();
      if (!cfg.health_listen.empty() && cfg.health_listen == cfg.metrics_listen) {
        auto routes = health_routes();
        routes.merge(metrics_routes());
        health_server = std::make_unique<HttpServer>(io, cfg.health_listen, std::move(routes));
      } else {
        if (!cfg.health_listen.empty()) {
          health_server = std::make_unique<HttpServer>(io, cfg.health_listen, health_routes());
        }
        if (!cfg.metrics_listen.empty()) {
          metrics_server = std::make_unique<HttpServer>(io, cfg.metrics_listen, metrics_routes());
        }
      }
      if (health_server) {
        log::info("serving health endpoints",
                  {{"address", health_server->address()},
                   {"metrics", cfg.health_listen == cfg.metrics_listen}});
      }
      if (metrics_server) {
        log::info("serving metrics", {{"address", metrics_server->address()}});
      }
    }
    if (previous == nullptr || previous->control_socket != cfg.control_socket) {
      control_server.reset();
      control_server = std::make_unique<ControlServer>(io, cfg.control_socket, methods);
      log::info("control socket listening", {{"path", cfg.control_socket}});
    }
  }

  void stop_endpoints() {
    health_server.reset();
    metrics_server.reset();
    control_server.reset();
  }

  // --- control methods -----------------------------------------------------------------------

  json status() {
    json plugin_list = json::array();
    for (const loader::LoadedPlugin* plugin : plugins.all()) {
      const loader::PluginInfo& info = plugin->info();
      plugin_list.push_back(
          {{"slot", loader::kind_name(info.kind)},
           {"name", info.name},
           {"version", info.version},
           {"abi", std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor)},
           {"path", info.path.string()}});
    }
    json result = {
        {"version", build_info::kVersion},
        {"abi", std::to_string(BRINDLE_ABI_VERSION_MAJOR) + "." +
                    std::to_string(BRINDLE_ABI_VERSION_MINOR)},
        {"pid", static_cast<int64_t>(::getpid())},
        {"ready", ready},
        {"uptime_seconds", seconds_since(started)},
        {"config_file", config.source_file},
        {"log_level", log::level_name(log::logger().level())},
        {"node",
         {{"name", node.name}, {"ipv4", prefix_json(node.ipv4)}, {"ipv6", prefix_json(node.ipv6)}}},
        {"plugins", plugin_list},
        {"reloads", {{"succeeded", reloads_succeeded}, {"failed", reloads_failed}}},
    };
    if (agent) {
      result["agent"] = agent->status();
      result["ready"] = ready && agent->ready();
      if (ready && !agent->ready()) {
        result["not_ready_reason"] = agent->not_ready_reason();
      }
    }
    if (!ready) {
      result["not_ready_reason"] = not_ready_reason;
    }
    if (!last_reload_error.empty()) {
      result["last_reload_error"] = last_reload_error;
    }
    return result;
  }

  void register_methods() {
    auto counted_method = [this](const std::string& name, MethodTable::Handler handler) {
      return [this, name, handler = std::move(handler)](const json& params) {
        try {
          json result = handler(params);
          control_metric.inc("method=\"" + name + "\",result=\"ok\"");
          return result;
        } catch (...) {
          control_metric.inc("method=\"" + name + "\",result=\"error\"");
          throw;
        }
      };
    };
    methods.add("status", "daemon version, readiness, node identity, plugins and reload counts",
                counted_method("status", [this](const json&) { return status(); }));
    methods.add("methods", "the methods of this control API with a one-line summary each",
                counted_method("methods", [this](const json&) {
                  json list = json::array();
                  for (const auto& [name, summary] : methods.summaries()) {
                    list.push_back({{"name", name}, {"summary", summary}});
                  }
                  return json{{"methods", list}};
                }));
    methods.add("reload",
                "re-read the configuration file like SIGHUP; fails with reload_failed (and keeps "
                "the running configuration) when it is invalid",
                counted_method("reload", [this](const json&) {
                  if (!reload()) {
                    throw ControlError("reload_failed", last_reload_error);
                  }
                  return json{{"reloaded", true}, {"config_file", config.source_file}};
                }));
  }

  // --- lifecycle -----------------------------------------------------------------------------

  bool start() {
    try {
      config = config::load_config(options.config_file);
    } catch (const std::exception& e) {
      log::error("invalid configuration", {{"error", e.what()}});
      return false;
    }
    apply_log_level();
    log::info("brindled starting", {{"version", build_info::kVersion},
                                    {"config", config.source_file},
                                    {"pid", static_cast<long>(::getpid())}});
    try {
      node = resolve_node_identity(config.node);
    } catch (const std::exception& e) {
      log::error("invalid node identity", {{"error", e.what()}});
      return false;
    }
    log::info("node identity", {{"name", node.name},
                                {"ipv4", node.ipv4 ? strings::format_ip_prefix(*node.ipv4) : ""},
                                {"ipv6", node.ipv6 ? strings::format_ip_prefix(*node.ipv6) : ""}});
    if (!create_plugins()) {
      return false;
    }
    update_plugin_metric();
    try {
      start_endpoints(config, nullptr);
    } catch (const std::exception& e) {
      log::error("cannot start endpoints", {{"error", e.what()}});
      stop_endpoints();
      plugins.clear();
      return false;
    }
    if (!start_agent()) {
      stop_endpoints();
      plugins.clear();
      return false;
    }
    return true;
  }

  // Creates the configured plugins. A plugin that cannot be created for now (its datastore or
  // peer unreachable, a timeout: common while a node boots) is tried again with backoff until it
  // can be or a signal stops the daemon; anything else fails the start.
  bool create_plugins() {
    std::chrono::milliseconds wait = kPluginRetryFirst;
    while (true) {
      try {
        plugins = PluginSet(config, options.plugin_dirs, environment(&registry));
        return true;
      } catch (const SlotError& e) {
        if (!e.transient()) {
          log::error("cannot load plugins", {{"error", e.what()}});
          return false;
        }
        log::warn("cannot create the plugins yet; trying again",
                  {{"error", e.what()}, {"retry_in_ms", static_cast<long>(wait.count())}});
      } catch (const std::exception& e) {
        log::error("cannot load plugins", {{"error", e.what()}});
        return false;
      }
      if (!wait_unless_signalled(wait)) {
        return false;
      }
      wait = std::min(wait * 2, kPluginRetryMax);
    }
  }

  // Sleeps for `wait` on the event loop; false when SIGTERM/SIGINT came first (the daemon is then
  // stopping). SIGHUP ends the wait early.
  bool wait_unless_signalled(std::chrono::milliseconds wait) {
    asio::steady_timer timer(io, wait);
    int received = 0;
    timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        signals.cancel(ignored);
      }
    });
    signals.async_wait([&](boost::system::error_code ec, int signal_number) {
      if (!ec) {
        received = signal_number;
        timer.cancel();
      }
    });
    io.run();
    io.restart();
    if (received == SIGTERM || received == SIGINT) {
      log::info("stopping before the plugins could be created",
                {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
      stopping = true;
      return false;
    }
    return true;
  }

  // The agent works on the current plugins; it is re-created whenever they are.
  bool start_agent() {
    try {
      agent = std::make_unique<::brindle::agent::Agent>(io, config, node, plugins);
      agent->register_methods(methods);
      agent->start();
      return true;
    } catch (const std::exception& e) {
      log::error("cannot start the node agent", {{"error", e.what()}});
      agent.reset();
      return false;
    }
  }

  void wait_for_signal() {
    signals.async_wait([this](boost::system::error_code ec, int signal_number) {
      if (ec) {
        return;
      }
      if (signal_number == SIGHUP) {
        log::info("SIGHUP received: reloading the configuration");
        reload();
        wait_for_signal();
        return;
      }
      log::info("stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
      stop();
    });
  }

  void stop() {
    stopping = true;
    set_ready(false, "stopping");
    notify_stopping();
    boost::system::error_code ignored;
    signals.cancel(ignored);
    if (refresh_timer) {
      refresh_timer->cancel();
    }
    stop_endpoints();
    io.stop();
  }

  // Re-reads the configuration. On any error the running configuration stays in effect.
  bool reload() {
    notify_reloading();
    const bool ok = try_reload();
    if (ok) {
      ++reloads_succeeded;
      last_reload_error.clear();
      reloads_metric.inc("result=\"success\"");
      log::info("configuration reloaded", {{"config", config.source_file}});
    } else {
      ++reloads_failed;
      reloads_metric.inc("result=\"failure\"");
    }
    notify_ready();
    return ok;
  }

  bool fail_reload(const std::string& what, const std::string& error) {
    last_reload_error = error;
    log::error(what, {{"error", error}});
    return false;
  }

  bool try_reload() {
    config::Config next;
    loader::NodeIdentity next_node;
    try {
      next = config::load_config(options.config_file);
      next_node = resolve_node_identity(next.node);
    } catch (const std::exception& e) {
      return fail_reload("reload failed: invalid configuration; keeping the running one", e.what());
    }
    // Validate everything that can be validated without side effects before touching anything.
    for (const auto& [table, listen] :
         {std::pair<std::string, std::string>{"[health] listen", next.health_listen},
          std::pair<std::string, std::string>{"[metrics] listen", next.metrics_listen}}) {
      if (!listen.empty() && !strings::parse_host_port(listen)) {
        return fail_reload(
            "reload failed: invalid configuration; keeping the running one",
            next.source_file + ": " + table + " \"" + listen + "\" is not HOST:PORT");
      }
    }
    try {
      loader::HostEnvironment env = environment(nullptr);
      env.node = next_node;
      check_plugins(next, options.plugin_dirs, env);
    } catch (const std::exception& e) {
      return fail_reload(
          "reload failed: a plugin refused the new configuration; keeping the "
          "running one",
          e.what());
    }

    // Re-create the plugins with the new sections. Only one instance per slot exists at a time.
    const loader::NodeIdentity previous_node = node;
    agent.reset();
    plugins.clear();
    node = next_node;
    try {
      plugins = PluginSet(next, options.plugin_dirs, environment(&registry));
    } catch (const std::exception& e) {
      const std::string error = e.what();
      node = previous_node;
      try {
        plugins = PluginSet(config, options.plugin_dirs, environment(&registry));
      } catch (const std::exception& again) {
        set_ready(false, std::string("plugins could not be re-created: ") + again.what());
        log::error("cannot restore the previous plugins; not ready", {{"error", again.what()}});
      }
      update_plugin_metric();
      start_agent();
      return fail_reload(
          "reload failed: a plugin could not be created; restored the running "
          "configuration",
          error);
    }
    update_plugin_metric();

    const config::Config previous = std::move(config);
    config = std::move(next);
    apply_log_level();
    if (!start_agent()) {
      set_ready(false, "the node agent could not be restarted after a reload");
    }
    try {
      start_endpoints(config, &previous);
    } catch (const std::exception& e) {
      const std::string error = e.what();
      // Put the old endpoints back so the node stays observable.
      config.health_listen = previous.health_listen;
      config.metrics_listen = previous.metrics_listen;
      config.control_socket = previous.control_socket;
      try {
        start_endpoints(previous, nullptr);
      } catch (const std::exception& again) {
        log::error("cannot restore the previous endpoints", {{"error", again.what()}});
      }
      return fail_reload(
          "reload applied, but an endpoint could not be moved; kept the old "
          "endpoints",
          error);
    }
    if (!ready && !stopping) {
      set_ready(true);
    }
    return true;
  }

  int run() {
    // Before start(): a stop during its waits for the plugins is a clean stop.
    signals.add(SIGTERM);
    signals.add(SIGINT);
    signals.add(SIGHUP);
    if (!start()) {
      if (stopping) {
        log::info("brindled stopped", {{"exit_code", static_cast<long>(kExitOk)}});
        return kExitOk;
      }
      return kExitFailure;
    }
    wait_for_signal();
    schedule_periodic_refresh();
    set_ready(true);
    notify_ready();
    log::info("brindled ready", {{"plugins", static_cast<long>(plugins.all().size())}});

    int exit_code = kExitOk;
    try {
      io.run();
    } catch (const std::exception& e) {
      log::error("event loop failed", {{"error", e.what()}});
      exit_code = kExitFailure;
      stop();
    }
    // Let aborted handlers finish so nothing refers to the endpoints any more.
    stop_endpoints();
    agent.reset();  // stops its threads before the plugins it drives go away
    io.restart();
    io.poll();
    plugins.clear();  // destroys every instance, then unloads its library
    update_plugin_metric();
    log::info("brindled stopped", {{"exit_code", exit_code}});
    return exit_code;
  }
};

Daemon::Daemon(DaemonOptions options) {
  // Reloads must find the same file whatever the working directory is by then.
  std::error_code ec;
  const fs::path absolute = fs::absolute(options.config_file, ec);
  if (!ec) {
    options.config_file = absolute;
  }
  impl_ = std::make_unique<Impl>(std::move(options));
}
Daemon::~Daemon() = default;
MethodTable& Daemon::control_methods() {
  return impl_->methods;
}
int Daemon::run() {
  return impl_->run();
}

}  // namespace brindle::daemon
