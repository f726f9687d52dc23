// brindled with the real plugins built from plugins/ (BRINDLE_PLUGIN_BUILD_DIR): they are listed,
// pass --check-config, and encap-none is created and destroyed by the running daemon.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "test_support.hpp"

namespace brindle::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kBrindled = BRINDLE_TEST_BRINDLED;
const fs::path kPluginDir = BRINDLE_TEST_PLUGIN_DIR;

bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

std::string config_text(uint16_t health, uint16_t metrics, const fs::path& control) {
  return "[node]\nname = \"node-a\"\nipv4 = \"198.19.0.1/24\"\n"
         "[plugins]\nsearch_path = [\"" +
         kPluginDir.string() +
         "\"]\n[encapsulation]\nplugin = \"none\"\n[encapsulation.none]\n"
         "[health]\nlisten = \"127.0.0.1:" +
         std::to_string(health) + "\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics) +
         "\"\n[control]\nsocket = \"" + control.string() + "\"\n";
}

TEST(BrindledRealPluginsTest, ListsAndChecksTheBuiltPlugins) {
  const ProcessResult listed =
      run_process({kBrindled, "--list-plugins", "--plugin-dir", kPluginDir.string()});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(contains(listed.out, "none")) << listed.out;
  EXPECT_TRUE(contains(listed.out, (kPluginDir / "brindle-encap-none.so").string())) << listed.out;
  EXPECT_FALSE(contains(listed.err, (kPluginDir / "brindle-").string()))
      << "a built plugin is not loadable:\n"
      << listed.err;

  TempDir dir;
  write_file(dir.path() / "brindle.toml", config_text(9099, 9091, dir.path() / "ctl.sock"));
  const ProcessResult checked = run_process(
      {kBrindled, "--check-config", "--config", (dir.path() / "brindle.toml").string()});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_TRUE(contains(checked.out, "encapsulation  none")) << checked.out;
}

TEST(BrindledRealPluginsTest, DaemonRunsWithEncapNone) {
  TempDir dir;
  const uint16_t health = free_port();
  const fs::path control = dir.path() / "run" / "brindled.sock";
  write_file(dir.path() / "brindle.toml", config_text(health, free_port(), control));
  ChildProcess daemon({kBrindled, "--config", (dir.path() / "brindle.toml").string()},
                      dir.path() / "brindled.log");
  ASSERT_TRUE(eventually([&] { return http_request(health, "GET", "/readyz").status == 200; }, 15s))
      << read_file(dir.path() / "brindled.log");
  LineClient client(control);
  client.send("{\"version\":1,\"method\":\"status\"}\n");
  const json status = json::parse(client.read_line().value_or("null"));
  ASSERT_EQ(status["result"]["plugins"].size(), 1u) << status;
  EXPECT_EQ(status["result"]["plugins"][0]["name"], "none");
  EXPECT_EQ(status["result"]["plugins"][0]["slot"], "encapsulation");
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0) << read_file(dir.path() / "brindled.log");
  EXPECT_TRUE(contains(read_file(dir.path() / "brindled.log"),
                       "msg=\"plugin destroyed\" plugin=encap/none"));
}

}  // namespace
}  // namespace brindle::test
