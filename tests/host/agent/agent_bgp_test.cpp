// BGP through brindled end to end: a real etcd, the real brindled with the bgp routing plugin
// driving a real BIRD in the test's node namespace. A BGPPeer whose password is a secretKeyRef
// ends up as `password` in the BIRD configuration brindled renders, read from [routing]
// secrets_dir; a rotated secret reaches BIRD without a datastore change; a peer whose secret is
// missing gets no session (logged once, shown in `brindlectl node status`) while the other
// peers keep theirs.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "brindled_process.hpp"
#include "cni_test_support.hpp"
#include "etcd_datastore.hpp"
#include "single_agent_fixture.hpp"

namespace brindle {
namespace {

using json = nlohmann::json;
using test::eventually;
using ::testing::HasSubstr;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text of one `protocol bgp <name> ...` block of a BIRD configuration, "" when absent.
std::string protocol_block(const std::string& config, const std::string& name) {
  const size_t at = config.find("protocol bgp " + name + " ");
  if (at == std::string::npos) {
    return {};
  }
  return config.substr(at, config.find("\n}\n", at) + 3 - at);
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

class AgentBgpTest : public test::SingleAgentTest {
 protected:
  // The fixture starts the daemon without a routing plugin; each test restarts it with the bgp
  // plugin and [routing] secrets_dir, both in the test's temporary directory. The empty block
  // grace of 1 s makes the agent's housekeeping (and so the re-reading of secrets) every second.
  AgentBgpTest()
      : SingleAgentTest("198.18.0.0/24",
                        "[encapsulation]\nplugin = \"none\"\n"
                        "[workload]\nempty_block_grace_seconds = 1\n") {}

  void start_with_bgp() {
    daemon_.reset();
    bird_dir_ = dir_->path() / "bird";
    secrets_ = dir_->path() / "secrets";
    std::filesystem::create_directories(secrets_);
    std::ofstream(config_, std::ios::app)
        << "[routing]\nplugin = \"bgp\"\nsecrets_dir = \"" << secrets_.string()
        << "\"\n[routing.bgp]\nstate_dir = \"" << bird_dir_.string()
        << "\"\nstop_on_destroy = true\nrequire_established_session = false\n";
    daemon_ = std::make_unique<test::Brindled>(config_, log_);
    ASSERT_TRUE(wait_ready()) << log_tail();
  }

  void write_secret(const std::string& name, const std::string& key, const std::string& value) {
    std::filesystem::create_directories(secrets_ / name);
    // As kubelet updates a secret volume: a new file renamed over the old one.
    const std::filesystem::path tmp = secrets_ / name / (".tmp-" + key);
    std::ofstream(tmp, std::ios::binary | std::ios::trunc) << value;
    std::filesystem::rename(tmp, secrets_ / name / key);
  }

  void apply(const std::string& yaml) {
    const std::string file = (dir_->path() / "resource.yaml").string();
    std::ofstream(file, std::ios::trunc) << yaml;
    std::string out;
    ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "apply", "-f", file}, &out),
              0)
        << out;
  }

  std::string bird_config() const { return read_file(bird_dir_ / "bird.conf"); }

  json status() const {
    std::string out;
    if (test::run_command({BRINDLECTL_PATH, "--config", config_, "node", "status", "-o", "json"},
                          &out) != 0) {
      return json::object();
    }
    return json::parse(out, nullptr, false);
  }

  // The routing peer of `node status` named `name`, or null.
  json peer_status(const std::string& name) const {
    const json s = status();
    if (!s.contains("agent")) {
      return nullptr;
    }
    for (const json& p : s["agent"].value("routing_peers", json::array())) {
      if (p.value("name", "") == name) {
        return p;
      }
    }
    return nullptr;
  }

  void stop_daemon_and_check_bird_stops() {
    pid_t bird = 0;
    std::ifstream(bird_dir_ / "bird.pid") >> bird;
    ASSERT_GT(bird, 0);
    daemon_.reset();  // stop_on_destroy: BIRD goes with it
    EXPECT_TRUE(eventually([&] { return kill(bird, 0) != 0; })) << "BIRD " << bird << " runs";
  }

  std::filesystem::path bird_dir_, secrets_;
};

constexpr const char* kTorPeer =
    "apiVersion: brindle.network/v1\nkind: BGPPeer\nmetadata: {name: tor}\n"
    "spec:\n  peerIP: 198.19.0.99\n  asNumber: 65000\n"
    "  password: {secretKeyRef: {name: bgp-passwords, key: tor}}\n";

TEST_F(AgentBgpTest, ASecretKeyRefBecomesBirdsPasswordAndFollowsTheSecret) {
  start_with_bgp();
  write_secret("bgp-passwords", "tor", "s3cret pass");
  apply(kTorPeer);
  ASSERT_TRUE(eventually([&] {
    return protocol_block(bird_config(), "Global_peer_tor").find("password \"s3cret pass\";") !=
           std::string::npos;
  })) << bird_config()
      << log_tail();
  EXPECT_THAT(protocol_block(bird_config(), "Global_peer_tor"),
              HasSubstr("neighbor 198.19.0.99 as 65000;"));

  // Rotation: only the file changes; the agent re-reads it and BIRD is reconfigured.
  write_secret("bgp-passwords", "tor", "rotated");
  EXPECT_TRUE(eventually([&] {
    return protocol_block(bird_config(), "Global_peer_tor").find("password \"rotated\";") !=
           std::string::npos;
  })) << bird_config()
      << log_tail();
  EXPECT_EQ(bird_config().find("s3cret pass"), std::string::npos);
  const json tor = peer_status("peer-tor");
  ASSERT_TRUE(tor.is_object()) << status().dump(2);
  EXPECT_EQ(tor.value("type", ""), "global");
  EXPECT_THAT(tor.value("info", ""), ::testing::Not(HasSubstr("no session")));
  stop_daemon_and_check_bird_stops();
}

TEST_F(AgentBgpTest, AMissingSecretWithholdsOnlyThatSessionUntilItAppears) {
  start_with_bgp();
  write_secret("bgp-passwords", "tor", "s3cret");
  apply(kTorPeer);
  apply(
      "apiVersion: brindle.network/v1\nkind: BGPPeer\nmetadata: {name: rack}\n"
      "spec:\n  peerIP: 198.19.0.98\n  asNumber: 65000\n"
      "  password: {secretKeyRef: {name: rack-secret, key: password}}\n");
  // The peer without its secret is in `node status` with the reason, and nowhere in BIRD.
  ASSERT_TRUE(eventually([&] { return peer_status("peer-rack").is_object(); }))
      << status().dump(2) << log_tail();
  const json rack = peer_status("peer-rack");
  EXPECT_EQ(rack.value("address", ""), "198.19.0.98");
  EXPECT_EQ(rack.value("type", ""), "global");
  EXPECT_EQ(rack.value("state", ""), "Down");
  EXPECT_FALSE(rack.value("established", true));
  const std::string missing =
      "no session: password of BGPPeer \"rack\": secret \"rack-secret\" "
      "not found (no directory " +
      (secrets_ / "rack-secret").string() + ")";
  EXPECT_EQ(rack.value("info", ""), missing);
  EXPECT_TRUE(eventually([&] {
    return protocol_block(bird_config(), "Global_peer_tor").find("password \"s3cret\";") !=
           std::string::npos;
  })) << bird_config();
  EXPECT_EQ(bird_config().find("198.19.0.98"), std::string::npos) << bird_config();
  std::string table;
  ASSERT_EQ(test::run_command({BRINDLECTL_PATH, "--config", config_, "node", "status"}, &table), 0);
  EXPECT_THAT(table, HasSubstr("198.19.0.98"));
  EXPECT_THAT(table, HasSubstr("secret \"rack-secret\" not found"));

  // Logged once, not at every re-read (the agent re-reads every second here).
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(count_of(read_file(log_), "BGP session not started"), 1u) << log_tail();

  // A secret with the key but a trailing newline is refused with its own reason.
  write_secret("rack-secret", "password", "rackpw\n");
  EXPECT_TRUE(eventually([&] {
    return peer_status("peer-rack").value("info", "").find("ends with a newline") !=
           std::string::npos;
  })) << status().dump(2);
  EXPECT_EQ(count_of(read_file(log_), "BGP session not started"), 2u) << log_tail();

  // Once the secret is right, the session is configured with it; tor was never touched.
  write_secret("rack-secret", "password", "rackpw");
  EXPECT_TRUE(eventually([&] {
    return protocol_block(bird_config(), "Global_peer_rack").find("password \"rackpw\";") !=
           std::string::npos;
  })) << bird_config()
      << log_tail();
  EXPECT_THAT(peer_status("peer-rack").value("info", ""), ::testing::Not(HasSubstr("no session")));
  EXPECT_THAT(read_file(log_), HasSubstr("its password is readable again"));
  stop_daemon_and_check_bird_stops();
}

// A node whose every BGP peer is withheld has no session to offer routes through: not ready,
// although the plugin (which never saw those peers, and here does not require an Established
// session) would say it is.
TEST_F(AgentBgpTest, ANodeWhoseOnlyPeerIsWithheldIsNotReady) {
  start_with_bgp();
  const std::string readyz =
      "curl -sf http://127.0.0.1:" + std::to_string(health_port_) + "/readyz >/dev/null 2>&1";
  apply(kTorPeer);  // its secret does not exist yet
  EXPECT_TRUE(eventually([&] { return cni::testing::run_shell(readyz) != 0; }))
      << status().dump(2) << log_tail();
  std::string out;
  test::run_command({"curl", "-s", "http://127.0.0.1:" + std::to_string(health_port_) + "/readyz"},
                    &out);
  EXPECT_THAT(out, HasSubstr("password cannot be read")) << out;
  write_secret("bgp-passwords", "tor", "s3cret");
  EXPECT_TRUE(eventually([&] { return cni::testing::run_shell(readyz) == 0; }))
      << status().dump(2) << log_tail();
  stop_daemon_and_check_bird_stops();
}

}  // namespace
}  // namespace brindle
