// brindled as a real process: one-shot modes, then the daemon with its endpoints, control socket,
// reloads (good and bad) and a graceful stop. Plugins are the loader's test plugins.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "brindle/abi.h"
#include "brindle/build_info.hpp"
#include "test_support.hpp"

namespace brindle::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kBrindled = BRINDLE_TEST_BRINDLED;
const fs::path kGoodDir = BRINDLE_TEST_GOOD_DIR;
const fs::path kBrokenDir = BRINDLE_TEST_BROKEN_DIR;

bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

struct Endpoints {
  uint16_t health = 0;
  uint16_t metrics = 0;
  fs::path control;
};

// A configuration using the good test plugins; `slots` is the TOML of the plugin slots.
std::string config_text(const Endpoints& endpoints, const std::string& slots,
                        const std::string& log_level = "info") {
  return "[node]\nname = \"node-a\"\nipv4 = \"198.19.0.1/24\"\nipv6 = \"2001:db8::1/64\"\n"
         "[plugins]\nsearch_path = [\"" +
         kGoodDir.string() + "\"]\n" + slots +
         "[health]\nlisten = \"127.0.0.1:" + std::to_string(endpoints.health) +
         "\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(endpoints.metrics) +
         "\"\n[control]\nsocket = \"" + endpoints.control.string() + "\"\n[log]\nlevel = \"" +
         log_level + "\"\n";
}

const std::string kEncapOnly =
    "[encapsulation]\nplugin = \"fake\"\n[encapsulation.fake]\nvalue = 1\n";

// ---------------------------------------------------------------------------------------------
// One-shot modes.

TEST(BrindledCliTest, VersionAndHelp) {
  const ProcessResult version = run_process({kBrindled, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "brindled " + std::string(build_info::kVersion) + " (plugin ABI " +
                             std::to_string(BRINDLE_ABI_VERSION_MAJOR) + "." +
                             std::to_string(BRINDLE_ABI_VERSION_MINOR) + ")\n");

  const ProcessResult help = run_process({kBrindled, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--config", "--check-config", "--list-plugins", "--plugin-dir",
                             "--log-level", "--version", "--help", "SIGHUP", "SIGTERM", "/livez",
                             "/readyz", "/metrics", build_info::kDefaultConfig}) {
    EXPECT_TRUE(contains(help.out, option)) << option;
  }

  const ProcessResult bad = run_process({kBrindled, "--no-such-option"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "unrecognised option '--no-such-option'")) << bad.err;
  const ProcessResult bad_level = run_process({kBrindled, "--log-level", "loud", "--version"});
  EXPECT_EQ(bad_level.exit_code, 2);
  EXPECT_TRUE(contains(bad_level.err, "\"loud\" is not one of")) << bad_level.err;
  const ProcessResult two_modes = run_process({kBrindled, "--check-config", "--list-plugins"});
  EXPECT_EQ(two_modes.exit_code, 2);
}

TEST(BrindledCliTest, ListPluginsShowsEveryKindAndExplainsBrokenFiles) {
  TempDir dir;
  const ProcessResult good =
      run_process({kBrindled, "--list-plugins", "--plugin-dir", kGoodDir.string(), "--config",
                   (dir.path() / "c.toml").string()});
  // An explicit --config that does not exist is an error...
  EXPECT_EQ(good.exit_code, 1);
  EXPECT_TRUE(contains(good.err, "c.toml")) << good.err;

  // ...while a configuration naming the directory works.
  Endpoints endpoints{1, 2, dir.path() / "ctl.sock"};
  write_file(dir.path() / "c.toml", config_text(endpoints, ""));
  const ProcessResult listed =
      run_process({kBrindled, "--list-plugins", "--config", (dir.path() / "c.toml").string()});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(listed.out.starts_with("NAME  KIND           VERSION  ABI  PATH\n")) << listed.out;
  for (const char* kind : {"datastore", "routing", "encapsulation", "policy"}) {
    const std::string short_kind = std::string(kind) == "encapsulation" ? "encap" : kind;
    EXPECT_TRUE(contains(listed.out, std::string(kind)) &&
                contains(listed.out, (kGoodDir / ("brindle-" + short_kind + "-fake.so")).string()))
        << listed.out;
  }
  EXPECT_TRUE(contains(listed.out, "1.2.3    " + std::to_string(BRINDLE_ABI_VERSION_MAJOR) + "." +
                                       std::to_string(BRINDLE_ABI_VERSION_MINOR)))
      << listed.out;
  EXPECT_EQ(listed.err, "");

  // --plugin-dir adds a directory; broken files are named on stderr and do not stop the listing.
  const ProcessResult with_broken =
      run_process({kBrindled, "--list-plugins", "--config", (dir.path() / "c.toml").string(),
                   "--plugin-dir", kBrokenDir.string()});
  EXPECT_EQ(with_broken.exit_code, 0);
  EXPECT_TRUE(contains(with_broken.out, "wrongkind")) << with_broken.out;
  EXPECT_TRUE(contains(with_broken.err,
                       (kBrokenDir / "brindle-encap-abimajor.so").string() + ": plugin ABI"))
      << with_broken.err;
  EXPECT_TRUE(contains(with_broken.err, "brindle-encap-text.so: not a shared object"));
}

TEST(BrindledCliTest, CheckConfigAcceptsAGoodConfigurationAndNamesEveryError) {
  TempDir dir;
  const fs::path file = dir.path() / "brindle.toml";
  Endpoints endpoints{9099, 9091, dir.path() / "ctl.sock"};

  write_file(file, config_text(endpoints, kEncapOnly + "[policy]\nplugin = \"fake\"\n"));
  ProcessResult result = run_process({kBrindled, "--check-config", "--config", file.string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "configuration " + file.string() + " is valid")) << result.out;
  EXPECT_TRUE(contains(result.out, "encapsulation  fake  1.2.3")) << result.out;
  EXPECT_TRUE(contains(result.out, "policy         fake  1.2.3")) << result.out;

  // TOML the config parser refuses: file, line and column.
  write_file(file, config_text(endpoints, "[encapsulation]\nplugin = \"fake\"\nbogus = 1\n"));
  result = run_process({kBrindled, "--check-config", "--config", file.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, file.string() + ":9:")) << result.err;

  // The plugin rejects its own section: its message, with the location it was given.
  write_file(file, config_text(endpoints,
                               "[encapsulation]\nplugin = \"fake\"\n[encapsulation.fake]\n"
                               "reject = true\n"));
  result = run_process({kBrindled, "--check-config", "--config", file.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "encapsulation plugin \"fake\""));
  EXPECT_TRUE(
      contains(result.err, "rejected its configuration (config): " + file.string() + ":10:"))
      << result.err;

  // A plugin nobody has.
  write_file(file, config_text(endpoints, "[routing]\nplugin = \"bgp\"\n"));
  result = run_process({kBrindled, "--check-config", "--config", file.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "no routing plugin named \"bgp\"")) << result.err;

  // A broken plugin given by path: the loader's message for it, after the slot's location.
  write_file(file, config_text(endpoints, "[encapsulation]\nplugin = \"abimajor\"\npath = \"" +
                                              (kBrokenDir / "brindle-encap-abimajor.so").string() +
                                              "\"\n"));
  result = run_process({kBrindled, "--check-config", "--config", file.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, file.string() + ":8:")) << result.err;
  EXPECT_TRUE(contains(result.err, "is incompatible with host ABI")) << result.err;

  // A plugin whose validate_config throws: caught, named, no crash.
  write_file(file, config_text(endpoints, "[encapsulation]\nplugin = \"validatethrows\"\n"));
  result = run_process({kBrindled, "--check-config", "--config", file.string(), "--plugin-dir",
                        kBrokenDir.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "validate_config() threw an exception")) << result.err;

  // Endpoints the daemon could not use.
  std::string text = config_text(endpoints, "");
  text.replace(text.find("127.0.0.1:9099"), 14, "localhost");
  write_file(file, text);
  result = run_process({kBrindled, "--check-config", "--config", file.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "localhost")) << result.err;
}

TEST(BrindledCliTest, StartupFailsCleanlyWhenAPluginIsRefused) {
  TempDir dir;
  const fs::path file = dir.path() / "brindle.toml";
  Endpoints endpoints{free_port(), free_port(), dir.path() / "ctl" / "brindled.sock"};
  for (const std::string broken : {"createthrows", "entrythrows", "abiminor"}) {
    write_file(file, config_text(endpoints, "[encapsulation]\nplugin = \"" + broken + "\"\n"));
    const ProcessResult result = run_process(
        {kBrindled, "--config", file.string(), "--plugin-dir", kBrokenDir.string()}, 20s);
    EXPECT_EQ(result.exit_code, 1) << broken << "\n" << result.err;
    EXPECT_TRUE(contains(result.err, "level=error msg=\"cannot load plugins\"")) << result.err;
    EXPECT_TRUE(contains(result.err, "brindle-encap-" + broken + ".so")) << result.err;
    EXPECT_FALSE(fs::exists(endpoints.control)) << broken;
  }
}

// A plugin that cannot be created for now (UNAVAILABLE: its backend is down, as an etcd that is not
// up yet while a node boots) is tried again with backoff, with nothing served meanwhile; the daemon
// becomes ready once it can be created, and a stop while it waits is a clean stop.
TEST(BrindledCliTest, UnavailablePluginIsRetriedUntilItCanBeCreated) {
  TempDir dir;
  const fs::path file = dir.path() / "brindle.toml";
  const fs::path log = dir.path() / "brindled.log";
  const fs::path up = dir.path() / "frobnicator-up";
  Endpoints endpoints{free_port(), free_port(), dir.path() / "ctl" / "brindled.sock"};
  write_file(file, config_text(endpoints, "[encapsulation]\nplugin = \"createfails\"\n"));
  NotifySocket notify(dir.path() / "notify.sock");
  ChildProcess process(
      {kBrindled, "--config", file.string(), "--plugin-dir", kBrokenDir.string()}, log,
      {{"NOTIFY_SOCKET", notify.path()}, {"BRINDLE_TEST_FROBNICATOR_UP", up.string()}});
  const auto attempts = [&] {
    const std::string text = read_file(log);
    size_t n = 0;
    for (size_t at = text.find("cannot create the plugins yet"); at != std::string::npos;
         at = text.find("cannot create the plugins yet", at + 1)) {
      ++n;
    }
    return n;
  };
  for (int i = 0; i < 100 && attempts() < 2; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(attempts(), 2u) << read_file(log);
  EXPECT_TRUE(process.running());
  EXPECT_TRUE(contains(read_file(log), "cannot reach the frobnicator")) << read_file(log);
  EXPECT_TRUE(contains(read_file(log), "retry_in_ms=1000")) << read_file(log);
  EXPECT_FALSE(fs::exists(endpoints.control));
  EXPECT_EQ(http_request(endpoints.health, "GET", "/readyz").status, 0);
  write_file(up, "");
  ASSERT_TRUE(notify.wait_for("READY=1", 15s)) << read_file(log);
  EXPECT_EQ(http_request(endpoints.health, "GET", "/readyz").status, 200);
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait(10s), 0) << read_file(log);
}

TEST(BrindledCliTest, StopWhileWaitingForAnUnavailablePluginIsClean) {
  TempDir dir;
  const fs::path file = dir.path() / "brindle.toml";
  const fs::path log = dir.path() / "brindled.log";
  Endpoints endpoints{free_port(), free_port(), dir.path() / "ctl" / "brindled.sock"};
  write_file(file, config_text(endpoints, "[encapsulation]\nplugin = \"createfails\"\n"));
  ChildProcess process({kBrindled, "--config", file.string(), "--plugin-dir", kBrokenDir.string()},
                       log);
  for (int i = 0; i < 100 && !contains(read_file(log), "cannot create the plugins yet"); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(contains(read_file(log), "cannot create the plugins yet")) << read_file(log);
  const auto asked = std::chrono::steady_clock::now();
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait(10s), 0) << read_file(log);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s) << "the backoff wait held the stop";
  EXPECT_TRUE(contains(read_file(log), "stopping before the plugins could be created"))
      << read_file(log);
  EXPECT_FALSE(fs::exists(endpoints.control));
}

// ---------------------------------------------------------------------------------------------
// The daemon.

class BrindledDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoints_ = {free_port(), free_port(), dir_.path() / "run" / "brindled.sock"};
    config_ = dir_.path() / "brindle.toml";
    log_ = dir_.path() / "brindled.log";
    write_file(config_, config_text(endpoints_, kEncapOnly));
    notify_ = std::make_unique<NotifySocket>(dir_.path() / "notify.sock");
  }

  void start(const std::vector<std::string>& extra_args = {}) {
    std::vector<std::string> argv = {kBrindled, "--config", config_.string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<ChildProcess>(
        argv, log_, std::map<std::string, std::string>{{"NOTIFY_SOCKET", notify_->path()}});
    ASSERT_TRUE(notify_->wait_for("READY=1", 15s)) << read_file(log_);
  }

  json control(const json& request) {
    LineClient client(endpoints_.control);
    if (!client.connected()) {
      return json{{"connect_failed", true}};
    }
    client.send(request.dump() + "\n");
    const auto line = client.read_line();
    return line ? json::parse(*line) : json{{"no_reply", true}};
  }

  json status() { return control({{"version", 1}, {"method", "status"}})["result"]; }

  std::string log() { return read_file(log_); }

  TempDir dir_;
  Endpoints endpoints_;
  fs::path config_;
  fs::path log_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<ChildProcess> process_;
};

TEST_F(BrindledDaemonTest, ServesHealthMetricsAndControlThenStopsCleanly) {
  start();

  const HttpResult livez = http_request(endpoints_.health, "GET", "/livez");
  EXPECT_EQ(livez.status, 200);
  EXPECT_EQ(livez.body, "ok\n");
  const HttpResult readyz = http_request(endpoints_.health, "GET", "/readyz");
  EXPECT_EQ(readyz.status, 200);
  EXPECT_EQ(readyz.body, "ready\n");
  EXPECT_EQ(http_request(endpoints_.health, "GET", "/nope").status, 404);
  EXPECT_EQ(http_request(endpoints_.health, "POST", "/livez").status, 405);
  const HttpResult head = http_request(endpoints_.health, "HEAD", "/readyz");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.headers.at("content-length"), "6");
  // /metrics is on its own port, and only there.
  EXPECT_EQ(http_request(endpoints_.health, "GET", "/metrics").status, 404);
  const HttpResult metrics = http_request(endpoints_.metrics, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string plugin_info = "brindle_plugin_info{abi=\"" +
                                  std::to_string(BRINDLE_ABI_VERSION_MAJOR) + "." +
                                  std::to_string(BRINDLE_ABI_VERSION_MINOR) +
                                  "\",name=\"fake\",slot=\"encapsulation\",version=\"1.2.3\"} 1\n";
  for (const std::string& line :
       {std::string("brindle_ready 1\n"), std::string("brindle_encap_fake_up 1\n"),
        std::string("brindle_encap_fake_creates_total 1\n"),
        std::string("brindle_http_requests_total{code=\"200\",path=\"/livez\"} 1\n"), plugin_info,
        std::string("# TYPE brindle_config_reloads_total counter\n")}) {
    EXPECT_TRUE(contains(metrics.body, line)) << line << "\n" << metrics.body;
  }

  // The control socket: root-only permissions, several requests on one connection, errors.
  struct stat st {};
  ASSERT_EQ(::stat(endpoints_.control.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(endpoints_.control.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  LineClient client(endpoints_.control);
  ASSERT_TRUE(client.connected());
  client.send(
      "{\"version\":1,\"method\":\"status\",\"id\":\"a\"}\n"
      "not json\n"
      "{\"version\":2,\"method\":\"status\"}\n"
      "{\"version\":1,\"method\":\"frobnicate\",\"id\":3}\n"
      "{\"version\":1,\"method\":\"methods\"}\n");
  const json first = json::parse(client.read_line().value_or("null"));
  EXPECT_EQ(first["ok"], true);
  EXPECT_EQ(first["id"], "a");
  const json& result = first["result"];
  EXPECT_EQ(result["version"], build_info::kVersion);
  EXPECT_EQ(result["ready"], true);
  EXPECT_EQ(result["node"]["name"], "node-a");
  EXPECT_EQ(result["node"]["ipv4"], "198.19.0.1/24");
  EXPECT_EQ(result["node"]["ipv6"], "2001:db8::1/64");
  EXPECT_EQ(result["pid"], process_->pid());
  EXPECT_EQ(result["config_file"], config_.string());
  ASSERT_EQ(result["plugins"].size(), 1u);
  EXPECT_EQ(result["plugins"][0]["slot"], "encapsulation");
  EXPECT_EQ(result["plugins"][0]["name"], "fake");
  EXPECT_EQ(result["plugins"][0]["version"], "1.2.3");
  const json parse_error = json::parse(client.read_line().value_or("null"));
  EXPECT_EQ(parse_error["ok"], false);
  EXPECT_EQ(parse_error["error"]["code"], "parse_error");
  EXPECT_EQ(json::parse(client.read_line().value_or("null"))["error"]["code"],
            "unsupported_version");
  const json unknown = json::parse(client.read_line().value_or("null"));
  EXPECT_EQ(unknown["error"]["code"], "unknown_method");
  EXPECT_EQ(unknown["id"], 3);
  const json methods = json::parse(client.read_line().value_or("null"));
  std::vector<std::string> names;
  for (const json& m : methods["result"]["methods"]) {
    names.push_back(m["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"cni.add", "cni.check", "cni.del", "cni.gc",
                                             "cni.status", "methods", "reload", "status"}));

  // Graceful stop: plugin destroyed (it says so through the host), then unloaded; socket gone.
  process_->signal(SIGTERM);
  EXPECT_EQ(process_->wait(15s), 0);
  const std::string text = log();
  const auto destroyed = text.find("msg=\"fake plugin destroyed\" plugin=encap/fake");
  EXPECT_NE(destroyed, std::string::npos) << text;
  EXPECT_GT(text.find("msg=\"brindled stopped\" exit_code=0"), destroyed) << text;
  EXPECT_FALSE(fs::exists(endpoints_.control));
  EXPECT_TRUE(notify_->wait_for("STOPPING=1", 1s));
  EXPECT_EQ(http_request(endpoints_.health, "GET", "/livez").status, 0);
}

TEST_F(BrindledDaemonTest, ReloadAppliesAGoodConfigurationAndKeepsRunningOnABadOne) {
  start();
  EXPECT_EQ(status()["plugins"].size(), 1u);

  // 1. A changed, valid configuration: a routing plugin joins, the encap section changes.
  write_file(config_, config_text(endpoints_,
                                  "[encapsulation]\nplugin = \"fake\"\n[encapsulation.fake]\n"
                                  "value = 2\n[routing]\nplugin = \"fake\"\n",
                                  "debug"));
  process_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return status()["reloads"]["succeeded"] == 1; })) << log();
  json now = status();
  EXPECT_EQ(now["plugins"].size(), 2u);
  EXPECT_EQ(now["plugins"][0]["slot"], "routing");
  EXPECT_EQ(now["log_level"], "debug");
  EXPECT_TRUE(notify_->wait_for("RELOADING=1", 1s));
  EXPECT_TRUE(contains(log(), "msg=\"fake plugin created\" plugin=encap/fake value=2")) << log();
  const std::string metrics = http_request(endpoints_.metrics, "GET", "/metrics").body;
  EXPECT_TRUE(contains(metrics, "brindle_routing_fake_up 1\n")) << metrics;
  EXPECT_TRUE(contains(metrics, "brindle_encap_fake_creates_total 2\n")) << metrics;
  EXPECT_TRUE(contains(metrics, "brindle_config_reloads_total{result=\"success\"} 1\n"));

  // 2. Broken TOML: logged with its location, everything else unchanged.
  write_file(config_, config_text(endpoints_, kEncapOnly) + "[surprise]\n");
  process_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return status()["reloads"]["failed"] == 1; })) << log();
  now = status();
  EXPECT_EQ(now["plugins"].size(), 2u);
  EXPECT_EQ(now["ready"], true);
  EXPECT_TRUE(contains(now["last_reload_error"].get<std::string>(), config_.string() + ":")) << now;
  EXPECT_TRUE(contains(log(),
                       "level=error msg=\"reload failed: invalid configuration; keeping "
                       "the running one\""))
      << log();
  EXPECT_EQ(http_request(endpoints_.health, "GET", "/readyz").status, 200);

  // 3. Valid TOML that the plugin rejects: refused before anything is torn down.
  write_file(config_, config_text(endpoints_,
                                  "[encapsulation]\nplugin = \"fake\"\n[encapsulation.fake]\n"
                                  "reject = true\n"));
  process_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return status()["reloads"]["failed"] == 2; })) << log();
  EXPECT_EQ(status()["plugins"].size(), 2u);
  EXPECT_TRUE(contains(log(), "reject = true asks the fake plugin")) << log();

  // 4. The reload method reports the failure to its caller.
  const json reply = control({{"version", 1}, {"method", "reload"}, {"id", 1}});
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"]["code"], "reload_failed");
  EXPECT_TRUE(contains(reply["error"]["message"].get<std::string>(), "reject = true")) << reply;

  // 5. Fixed again through the method; the routing plugin leaves.
  write_file(config_, config_text(endpoints_, kEncapOnly));
  const json fixed = control({{"version", 1}, {"method", "reload"}});
  EXPECT_EQ(fixed["ok"], true) << fixed;
  EXPECT_EQ(status()["plugins"].size(), 1u);
  EXPECT_TRUE(contains(http_request(endpoints_.metrics, "GET", "/metrics").body,
                       "brindle_routing_fake_up 0\n"));

  process_->signal(SIGTERM);
  EXPECT_EQ(process_->wait(15s), 0);
  EXPECT_TRUE(contains(log(), "msg=\"brindled stopped\" exit_code=0"));
}

TEST_F(BrindledDaemonTest, ReloadMovesEndpoints) {
  start();
  Endpoints moved{free_port(), free_port(), dir_.path() / "run2" / "brindled.sock"};
  write_file(config_, config_text(moved, kEncapOnly));
  process_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return http_request(moved.health, "GET", "/livez").status == 200; }))
      << log();
  EXPECT_EQ(http_request(moved.metrics, "GET", "/metrics").status, 200);
  EXPECT_EQ(http_request(endpoints_.health, "GET", "/livez").status, 0);
  EXPECT_FALSE(fs::exists(endpoints_.control));
  endpoints_ = moved;
  EXPECT_EQ(status()["reloads"]["succeeded"], 1);
  process_->signal(SIGINT);
  EXPECT_EQ(process_->wait(15s), 0);
}

TEST_F(BrindledDaemonTest, PluginsAreRefreshedPeriodically) {
  // The text after search_path still belongs to [plugins].
  write_file(config_, config_text(endpoints_,
                                  "refresh_interval_seconds = 1\n"
                                  "[policy]\nplugin = \"fake\"\n[policy.fake]\n"));
  start();
  auto refreshes = [&] {
    const std::string metrics = http_request(endpoints_.metrics, "GET", "/metrics").body;
    const std::string series =
        "brindle_plugin_refreshes_total{result=\"success\",slot=\"policy\"} ";
    const size_t at = metrics.find(series);
    return at == std::string::npos ? 0 : std::stoi(metrics.substr(at + series.size()));
  };
  EXPECT_TRUE(eventually([&] { return refreshes() >= 2; })) << log();
  process_->signal(SIGTERM);
  EXPECT_EQ(process_->wait(15s), 0);
}

TEST_F(BrindledDaemonTest, SharedHealthAndMetricsAddressAndRefreshRequests) {
  // One address for both: a single server answers all three paths. The plugin asks for a
  // refresh at create(), which the daemon runs on its loop.
  endpoints_.metrics = endpoints_.health;
  write_file(config_, config_text(endpoints_,
                                  "[policy]\nplugin = \"fake\"\n[policy.fake]\n"
                                  "request_refresh = true\n"));
  start({"--log-level", "debug"});
  EXPECT_EQ(http_request(endpoints_.health, "GET", "/livez").status, 200);
  const std::string metrics = http_request(endpoints_.health, "GET", "/metrics").body;
  EXPECT_TRUE(contains(metrics, "brindle_policy_fake_refreshes_total 1\n")) << metrics;
  EXPECT_TRUE(
      contains(metrics, "brindle_plugin_refreshes_total{result=\"success\",slot=\"policy\"} 1\n"))
      << metrics;
  EXPECT_EQ(status()["log_level"], "debug");
  process_->signal(SIGTERM);
  EXPECT_EQ(process_->wait(15s), 0);
}

TEST_F(BrindledDaemonTest, RefusesASocketAnotherDaemonServes) {
  start();
  TempDir other;
  const fs::path other_config = other.path() / "brindle.toml";
  Endpoints second{free_port(), free_port(), endpoints_.control};
  write_file(other_config, config_text(second, kEncapOnly));
  const ProcessResult result = run_process({kBrindled, "--config", other_config.string()}, 20s);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "is in use by another process")) << result.err;
  // The first daemon is unharmed.
  EXPECT_EQ(status()["ready"], true);
  process_->signal(SIGTERM);
  EXPECT_EQ(process_->wait(15s), 0);
}

}  // namespace
}  // namespace brindle::test
