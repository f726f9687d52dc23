// Reading valid configurations: defaults, every field, and the example files in configs/.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brindle/build_info.hpp"
#include "brindle/config/config.hpp"

namespace brindle::config {
namespace {

using ::testing::ElementsAre;

std::string lowercase_hostname() {
  std::array<char, 256> buffer{};
  EXPECT_EQ(gethostname(buffer.data(), buffer.size() - 1), 0);
  std::string name(buffer.data());
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return name;
}

std::string string_at(const PluginSection& section, std::string_view path) {
  brindle_str_t value{};
  EXPECT_EQ(section.get_string(path, &value), BRINDLE_OK) << path;
  return std::string(value.data, value.size);
}

// A temporary directory removed when the test ends, pass or fail.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "brindle-config-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(ConfigDefaults, EmptyFileGivesEveryDefault) {
  const Config config = parse_config("", "empty.toml");
  EXPECT_EQ(config.source_file, "empty.toml");
  EXPECT_EQ(config.node.name, lowercase_hostname());
  EXPECT_FALSE(config.node.ipv4.has_value());
  EXPECT_FALSE(config.node.ipv6.has_value());
  EXPECT_EQ(config.node.interface_pattern, "*");
  EXPECT_THAT(config.plugin_search_path, ElementsAre(std::string(build_info::kPluginDir)));
  EXPECT_EQ(config.health_listen, "127.0.0.1:9099");
  EXPECT_EQ(config.metrics_listen, "127.0.0.1:9091");
  EXPECT_EQ(config.control_socket, "/run/brindle/brindled.sock");
  EXPECT_EQ(config.log_level, LogLevel::info);
  for (const PluginSlot* slot :
       {&config.datastore, &config.routing, &config.encapsulation, &config.policy}) {
    EXPECT_EQ(slot->plugin, "");
    EXPECT_EQ(slot->path, "");
    ASSERT_NE(slot->section, nullptr);  // unused slots still have an empty section
    EXPECT_EQ(slot->section->type(""), BRINDLE_CONFIG_TABLE);
    EXPECT_EQ(slot->section->size(""), 0u);
  }
}

TEST(ConfigDefaults, NodeTableWithoutNameUsesTheHostname) {
  const Config config = parse_config("[node]\nipv4 = \"198.19.0.7/16\"\n", "node.toml");
  EXPECT_EQ(config.node.name, lowercase_hostname());
  EXPECT_EQ(config.node.ipv4, "198.19.0.7/16");
}

TEST(ConfigDefaults, EmptyListenAddressesDisableEndpoints) {
  const Config config =
      parse_config("[health]\nlisten = \"\"\n[metrics]\nlisten = \"\"\n", "off.toml");
  EXPECT_EQ(config.health_listen, "");
  EXPECT_EQ(config.metrics_listen, "");
}

TEST(ConfigDefaults, EmptySearchPathIsKeptEmpty) {
  const Config config = parse_config("[plugins]\nsearch_path = []\n", "p.toml");
  EXPECT_TRUE(config.plugin_search_path.empty());
}

TEST(ConfigValues, EveryFieldIsRead) {
  const Config config = parse_config(R"(
[node]
name = "worker-1.lab"
ipv4 = "198.19.4.2/24"
ipv6 = "2001:db8:4::2/64"
interface = "ens*"

[plugins]
search_path = ["/opt/a", "/opt/b"]

[datastore]
plugin = "kubernetes"
path = "/opt/a/datastore-kubernetes.so"

[routing]
plugin = "bgp"
[routing.bgp]
as_number = 64512

[encapsulation]
plugin = "vxlan"
[encapsulation.vxlan]
vni = 4096

[policy]
plugin = "nftables"

[health]
listen = "[::1]:19099"
[metrics]
listen = "198.19.4.2:19091"
[control]
socket = "/tmp/brindle.sock"
[log]
level = "debug"
)",
                                     "full.toml");
  EXPECT_EQ(config.node.name, "worker-1.lab");
  EXPECT_EQ(config.node.ipv4, "198.19.4.2/24");
  EXPECT_EQ(config.node.ipv6, "2001:db8:4::2/64");
  EXPECT_EQ(config.node.interface_pattern, "ens*");
  EXPECT_THAT(config.plugin_search_path, ElementsAre("/opt/a", "/opt/b"));

  EXPECT_EQ(config.datastore.plugin, "kubernetes");
  EXPECT_EQ(config.datastore.path, "/opt/a/datastore-kubernetes.so");
  EXPECT_EQ(config.datastore.location, "full.toml:12:10");
  EXPECT_EQ(config.datastore.section->size(""), 0u);
  // The absent [datastore.kubernetes] reports the [datastore] header as its location.
  EXPECT_EQ(config.datastore.section->location(""), "full.toml:11:1");

  EXPECT_EQ(config.routing.plugin, "bgp");
  EXPECT_EQ(config.routing.path, "");
  int64_t as_number = 0;
  EXPECT_EQ(config.routing.section->get_int("as_number", &as_number), BRINDLE_OK);
  EXPECT_EQ(as_number, 64512);

  EXPECT_EQ(config.encapsulation.plugin, "vxlan");
  EXPECT_EQ(config.encapsulation.location, "full.toml:21:10");
  int64_t vni = 0;
  EXPECT_EQ(config.encapsulation.section->get_int("vni", &vni), BRINDLE_OK);
  EXPECT_EQ(vni, 4096);
  EXPECT_EQ(config.encapsulation.section->location(""), "full.toml:22:1");

  EXPECT_EQ(config.policy.plugin, "nftables");
  EXPECT_EQ(config.health_listen, "[::1]:19099");
  EXPECT_EQ(config.metrics_listen, "198.19.4.2:19091");
  EXPECT_EQ(config.control_socket, "/tmp/brindle.sock");
  EXPECT_EQ(config.log_level, LogLevel::debug);
}

TEST(ConfigValues, InlineTablesAreAcceptedLikeHeaders) {
  const Config config = parse_config(
      "encapsulation = { plugin = \"none\", none = { mtu = 1400 } }\n"
      "node = { name = \"n1\" }\n",
      "inline.toml");
  EXPECT_EQ(config.node.name, "n1");
  EXPECT_EQ(config.encapsulation.plugin, "none");
  int64_t mtu = 0;
  EXPECT_EQ(config.encapsulation.section->get_int("mtu", &mtu), BRINDLE_OK);
  EXPECT_EQ(mtu, 1400);
}

TEST(ConfigValues, EveryLogLevelNameParses) {
  for (const LogLevel level :
       {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
    const std::string text = "[log]\nlevel = \"" + std::string(to_string(level)) + "\"\n";
    EXPECT_EQ(parse_config(text, "log.toml").log_level, level) << text;
    EXPECT_EQ(parse_log_level(to_string(level)), level);
  }
  EXPECT_EQ(parse_log_level("warning"), std::nullopt);
  EXPECT_EQ(parse_log_level("INFO"), std::nullopt);
}

TEST(ConfigValues, BoundaryPrefixLengthsAreAccepted) {
  EXPECT_EQ(parse_config("[node]\nipv4 = \"198.19.0.1/32\"\n", "a.toml").node.ipv4,
            "198.19.0.1/32");
  EXPECT_EQ(parse_config("[node]\nipv4 = \"198.19.0.1/1\"\n", "a.toml").node.ipv4, "198.19.0.1/1");
  EXPECT_EQ(parse_config("[node]\nipv6 = \"2001:db8::1/128\"\n", "a.toml").node.ipv6,
            "2001:db8::1/128");
}

TEST(ConfigExamples, BrindleTomlFromTheSourceTreeLoads) {
  const std::filesystem::path file =
      std::filesystem::path(BRINDLE_SOURCE_DIR) / "configs" / "brindle.toml";
  const Config config = load_config(file);
  EXPECT_EQ(config.source_file, file.string());
  // The packaged default: node identity and plugin directory are left to the defaults.
  EXPECT_EQ(config.node.name, lowercase_hostname());
  EXPECT_FALSE(config.node.ipv4.has_value());
  EXPECT_FALSE(config.node.ipv6.has_value());
  EXPECT_EQ(config.node.interface_pattern, "*");
  EXPECT_THAT(config.plugin_search_path, ElementsAre(build_info::kPluginDir));
  EXPECT_EQ(config.datastore.plugin, "etcd");
  EXPECT_EQ(config.routing.plugin, "static");
  EXPECT_EQ(config.bgp_secrets_dir, "/etc/brindle/secrets");
  EXPECT_EQ(config.encapsulation.plugin, "none");
  EXPECT_EQ(config.policy.plugin, "iptables");
  EXPECT_EQ(config.workload.interface_prefix, "brv");
  EXPECT_EQ(config.workload.mtu, 0u);
  EXPECT_EQ(config.workload.empty_block_grace_seconds, 300u);
  EXPECT_FALSE(config.workload.big_tcp);
  EXPECT_EQ(config.encapsulation.path, "");
  EXPECT_EQ(config.datastore.section->size("endpoints"), 1u);
  EXPECT_EQ(string_at(*config.datastore.section, "endpoints[0]"), "http://127.0.0.1:2379");
  EXPECT_EQ(config.health_listen, "127.0.0.1:9099");
  EXPECT_EQ(config.metrics_listen, "127.0.0.1:9091");
  EXPECT_EQ(config.control_socket, "/run/brindle/brindled.sock");
  EXPECT_EQ(config.log_level, LogLevel::info);
  // Loader messages point into the real file.
  EXPECT_THAT(config.encapsulation.location,
              ::testing::MatchesRegex(".*/configs/brindle\\.toml:[0-9]+:10"));
}

TEST(ConfigExamples, MinimalTomlFromTheSourceTreeLoads) {
  const std::filesystem::path file =
      std::filesystem::path(BRINDLE_SOURCE_DIR) / "configs" / "minimal.toml";
  const Config config = load_config(file);
  EXPECT_EQ(config.node.name, lowercase_hostname());
  EXPECT_FALSE(config.node.ipv4.has_value());
  EXPECT_EQ(config.encapsulation.plugin, "none");
  EXPECT_EQ(config.encapsulation.section->size(""), 0u);
  EXPECT_EQ(config.datastore.plugin, "");
  EXPECT_EQ(config.routing.plugin, "");
  EXPECT_EQ(config.policy.plugin, "");
}

TEST(ConfigLoad, ReadsAFileAndNamesItInErrors) {
  const TempDir dir;
  const auto good = dir.path() / "good.toml";
  std::ofstream(good) << "[node]\nname = \"from-file\"\n";
  EXPECT_EQ(load_config(good).node.name, "from-file");

  const auto bad = dir.path() / "bad.toml";
  std::ofstream(bad) << "[node]\nname = \"ok\"\n\n[log]\nlevel = \"loud\"\n";
  try {
    load_config(bad);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()),
              bad.string() +
                  ":5:9: invalid [log] level \"loud\": expected one of trace, debug, info, warn, "
                  "error");
  }
}

TEST(ConfigWorkload, ReadsAndChecksTheWorkloadTable) {
  const Config config = parse_config(
      "[workload]\ninterface_prefix = \"cali\"\nmtu = 1400\nempty_block_grace_seconds = 60\n",
      "w.toml");
  EXPECT_EQ(config.workload.interface_prefix, "cali");
  EXPECT_EQ(config.workload.mtu, 1400u);
  EXPECT_EQ(config.workload.empty_block_grace_seconds, 60u);
  auto error_of = [](const std::string& text) {
    try {
      parse_config(text, "w.toml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("[workload]\ninterface_prefix = \"toolong\"\n"),
            "w.toml:2:20: invalid [workload] interface_prefix \"toolong\": expected 1 to 4 "
            "characters of [A-Za-z0-9_-] (the rest of the 15-character interface name is a hash)");
  EXPECT_EQ(error_of("[workload]\nmtu = 100\n"),
            "w.toml:2:7: [workload] mtu must be 0 (automatic) or at least 576");
  EXPECT_EQ(error_of("[workload]\nmtu = \"1500\"\n"),
            "w.toml:2:7: [workload] mtu must be an integer, found a string");
  EXPECT_EQ(error_of("[workload]\nveth = \"x\"\n").substr(0, 9), "w.toml:2:");
}

TEST(ConfigWorkload, BigTcpIsOffByDefaultAndMustBeABoolean) {
  EXPECT_FALSE(parse_config("", "w.toml").workload.big_tcp);
  EXPECT_FALSE(parse_config("[workload]\nmtu = 1400\n", "w.toml").workload.big_tcp);
  EXPECT_TRUE(parse_config("[workload]\nbig_tcp = true\n", "w.toml").workload.big_tcp);
  EXPECT_FALSE(parse_config("[workload]\nbig_tcp = false\n", "w.toml").workload.big_tcp);
  for (const std::string value : {"\"true\"", "1"}) {
    try {
      parse_config("[workload]\nbig_tcp = " + value + "\n", "w.toml");
      ADD_FAILURE() << "big_tcp = " << value << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(std::string(e.what()),
                  ::testing::StartsWith("w.toml:2:11: [workload] big_tcp must be true or false"))
          << value;
    }
  }
}

TEST(ConfigPlugins, RefreshIntervalDefaultsTo90sAndIsChecked) {
  EXPECT_EQ(parse_config("", "p.toml").plugin_refresh_seconds, 90u);
  EXPECT_EQ(
      parse_config("[plugins]\nrefresh_interval_seconds = 0\n", "p.toml").plugin_refresh_seconds,
      0u);
  EXPECT_EQ(
      parse_config("[plugins]\nrefresh_interval_seconds = 30\n", "p.toml").plugin_refresh_seconds,
      30u);
  try {
    parse_config("[plugins]\nrefresh_interval_seconds = -1\n", "p.toml");
    FAIL() << "a negative interval was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).substr(0, 9), "p.toml:2:") << e.what();
    EXPECT_NE(std::string(e.what()).find("refresh_interval_seconds"), std::string::npos)
        << e.what();
  }
}

TEST(ConfigRouting, SecretsDirDefaultsToEtcBrindleSecretsAndIsNotThePluginsKey) {
  EXPECT_EQ(parse_config("", "r.toml").bgp_secrets_dir, "/etc/brindle/secrets");
  const Config c = parse_config(
      "[routing]\nplugin = \"bgp\"\nsecrets_dir = \"/run/secrets/bgp\"\n[routing.bgp]\n"
      "state_dir = \"/run/brindle/bird\"\n",
      "r.toml");
  EXPECT_EQ(c.bgp_secrets_dir, "/run/secrets/bgp");
  EXPECT_EQ(c.routing.plugin, "bgp");
  // The plugin's section holds its own keys only.
  EXPECT_EQ(c.routing.section->size(""), 1u);
  EXPECT_EQ(c.routing.section->type("secrets_dir"), BRINDLE_CONFIG_ABSENT);
  // Only [routing] has it.
  EXPECT_THROW(parse_config("[encapsulation]\nplugin = \"none\"\nsecrets_dir = \"/a\"\n", "r.toml"),
               ConfigError);
}

}  // namespace
}  // namespace brindle::config
