// PluginSection: the read-only view a plugin gets of its own TOML section.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brindle/config/config.hpp"

namespace brindle::config {
namespace {

using ::testing::ElementsAre;

// The [encapsulation.vxlan] section of a config; line numbers below refer to this text.
constexpr const char* kConfig =
    "[encapsulation]\n"                                                         // 1
    "plugin = \"vxlan\"\n"                                                      // 2
    "[encapsulation.vxlan]\n"                                                   // 3
    "vni = 4096\n"                                                              // 4
    "port = 4789\n"                                                             // 5
    "mtu_ratio = 0.95\n"                                                        // 6
    "learning = false\n"                                                        // 7
    "device = \"vxlan.brindle\"\n"                                              // 8
    "since = 2024-01-02T03:04:05Z\n"                                            // 9
    "endpoints = [\"http://198.19.0.10:2379\", \"http://198.19.0.11:2379\"]\n"  // 10
    "matrix = [[1, 2], [3, 4, 5]]\n"                                            // 11
    "peers = [{ name = \"b\", ip = \"198.19.0.2\" }, { name = \"c\" }]\n"       // 12
    "zeta = 1\n"                                                                // 13
    "alpha = 2\n"                                                               // 14
    "\"dotted.key\" = \"quoted\"\n"                                             // 15
    "[encapsulation.vxlan.tls]\n"                                               // 16
    "ca_file = \"/etc/brindle/ca.pem\"\n"                                       // 17
    "verify = true\n";                                                          // 18

class PluginSectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Config config = parse_config(kConfig, "section.toml");
    section_ = config.encapsulation.section;  // outlives the Config on purpose
    ASSERT_NE(section_, nullptr);
  }

  std::vector<std::string> keys_of(std::string_view path) const {
    std::vector<std::string> keys;
    const brindle_status_t status = section_->keys(
        path,
        [](void* user, brindle_str_t key) {
          static_cast<std::vector<std::string>*>(user)->emplace_back(key.data, key.size);
        },
        &keys);
    EXPECT_EQ(status, BRINDLE_OK) << path;
    return keys;
  }

  std::shared_ptr<const PluginSection> section_;
};

TEST_F(PluginSectionTest, TypeOfEveryKindOfValue) {
  EXPECT_EQ(section_->type(""), BRINDLE_CONFIG_TABLE);
  EXPECT_EQ(section_->type("vni"), BRINDLE_CONFIG_INTEGER);
  EXPECT_EQ(section_->type("mtu_ratio"), BRINDLE_CONFIG_FLOAT);
  EXPECT_EQ(section_->type("learning"), BRINDLE_CONFIG_BOOLEAN);
  EXPECT_EQ(section_->type("device"), BRINDLE_CONFIG_STRING);
  EXPECT_EQ(section_->type("since"), BRINDLE_CONFIG_OTHER);
  EXPECT_EQ(section_->type("endpoints"), BRINDLE_CONFIG_ARRAY);
  EXPECT_EQ(section_->type("tls"), BRINDLE_CONFIG_TABLE);
  EXPECT_EQ(section_->type("peers[0]"), BRINDLE_CONFIG_TABLE);
  EXPECT_EQ(section_->type("missing"), BRINDLE_CONFIG_ABSENT);
  EXPECT_EQ(section_->type("a..b"), BRINDLE_CONFIG_ABSENT);
}

TEST_F(PluginSectionTest, GetString) {
  brindle_str_t value{};
  ASSERT_EQ(section_->get_string("device", &value), BRINDLE_OK);
  EXPECT_EQ(std::string(value.data, value.size), "vxlan.brindle");
  ASSERT_EQ(section_->get_string("tls.ca_file", &value), BRINDLE_OK);
  EXPECT_EQ(std::string(value.data, value.size), "/etc/brindle/ca.pem");
  ASSERT_EQ(section_->get_string("endpoints[1]", &value), BRINDLE_OK);
  EXPECT_EQ(std::string(value.data, value.size), "http://198.19.0.11:2379");
  ASSERT_EQ(section_->get_string("peers[0].ip", &value), BRINDLE_OK);
  EXPECT_EQ(std::string(value.data, value.size), "198.19.0.2");
  ASSERT_EQ(section_->get_string("\"dotted.key\"", &value), BRINDLE_OK);
  EXPECT_EQ(std::string(value.data, value.size), "quoted");

  EXPECT_EQ(section_->get_string("vni", &value), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->get_string("nothing", &value), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(section_->get_string("device", nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST_F(PluginSectionTest, GetIntIsStrictAboutIntegers) {
  int64_t value = 0;
  ASSERT_EQ(section_->get_int("vni", &value), BRINDLE_OK);
  EXPECT_EQ(value, 4096);
  ASSERT_EQ(section_->get_int("matrix[1][2]", &value), BRINDLE_OK);
  EXPECT_EQ(value, 5);
  value = -1;
  EXPECT_EQ(section_->get_int("mtu_ratio", &value), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->get_int("device", &value), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->get_int("learning", &value), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(value, -1);  // untouched on failure
  EXPECT_EQ(section_->get_int("matrix[1][3]", &value), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(section_->get_int("vni", nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST_F(PluginSectionTest, GetDoubleIsStrictAboutFloats) {
  double value = 0;
  ASSERT_EQ(section_->get_double("mtu_ratio", &value), BRINDLE_OK);
  EXPECT_DOUBLE_EQ(value, 0.95);
  EXPECT_EQ(section_->get_double("vni", &value), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->get_double("absent", &value), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(section_->get_double("mtu_ratio", nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST_F(PluginSectionTest, GetBool) {
  int value = 7;
  ASSERT_EQ(section_->get_bool("learning", &value), BRINDLE_OK);
  EXPECT_EQ(value, 0);
  ASSERT_EQ(section_->get_bool("tls.verify", &value), BRINDLE_OK);
  EXPECT_EQ(value, 1);
  EXPECT_EQ(section_->get_bool("vni", &value), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->get_bool("tls.absent", &value), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(section_->get_bool("learning", nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST_F(PluginSectionTest, PathsThroughMissingOrScalarValuesAreAbsent) {
  int64_t value = 0;
  EXPECT_EQ(section_->get_int("vni.x", &value), BRINDLE_ERR_NOT_FOUND);         // into a scalar
  EXPECT_EQ(section_->get_int("vni[0]", &value), BRINDLE_ERR_NOT_FOUND);        // index a scalar
  EXPECT_EQ(section_->get_int("tls[0]", &value), BRINDLE_ERR_NOT_FOUND);        // index a table
  EXPECT_EQ(section_->get_int("endpoints.x", &value), BRINDLE_ERR_NOT_FOUND);   // key of array
  EXPECT_EQ(section_->get_int("endpoints[2]", &value), BRINDLE_ERR_NOT_FOUND);  // past the end
  EXPECT_EQ(section_->get_int("nope.deeper[3].x", &value), BRINDLE_ERR_NOT_FOUND);
}

TEST_F(PluginSectionTest, MalformedPathsAreInvalidArguments) {
  int64_t value = 0;
  for (const char* path : {".", "a.", ".a", "a..b", "a[", "a[]", "a[x]", "a[1", "a]", "a[1]b",
                           "\"unclosed", "a\"b\"", "[-1]", "endpoints[ 1]"}) {
    EXPECT_EQ(section_->get_int(path, &value), BRINDLE_ERR_INVALID_ARGUMENT) << path;
    EXPECT_EQ(section_->type(path), BRINDLE_CONFIG_ABSENT) << path;
    EXPECT_EQ(section_->size(path), 0u) << path;
  }
}

TEST_F(PluginSectionTest, SizeOfArraysAndTables) {
  EXPECT_EQ(section_->size("endpoints"), 2u);
  EXPECT_EQ(section_->size("matrix"), 2u);
  EXPECT_EQ(section_->size("matrix[1]"), 3u);
  EXPECT_EQ(section_->size("tls"), 2u);
  EXPECT_EQ(section_->size("peers[1]"), 1u);
  EXPECT_EQ(section_->size(""), 13u);  // 12 keys plus the tls sub-table
  EXPECT_EQ(section_->size("vni"), 0u);
  EXPECT_EQ(section_->size("absent"), 0u);
}

TEST_F(PluginSectionTest, KeysComeInFileOrder) {
  EXPECT_THAT(keys_of(""),
              ElementsAre("vni", "port", "mtu_ratio", "learning", "device", "since", "endpoints",
                          "matrix", "peers", "zeta", "alpha", "dotted.key", "tls"));
  EXPECT_THAT(keys_of("tls"), ElementsAre("ca_file", "verify"));
  EXPECT_THAT(keys_of("peers[0]"), ElementsAre("name", "ip"));
}

TEST_F(PluginSectionTest, KeysOfNonTables) {
  const auto sink = [](void*, brindle_str_t) { ADD_FAILURE() << "sink called"; };
  EXPECT_EQ(section_->keys("endpoints", sink, nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->keys("vni", sink, nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->keys("absent", sink, nullptr), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(section_->keys("a..b", sink, nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(section_->keys("", nullptr, nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST_F(PluginSectionTest, LocationOfValues) {
  EXPECT_EQ(section_->location(""), "section.toml:3:1");
  EXPECT_EQ(section_->location("vni"), "section.toml:4:7");
  EXPECT_EQ(section_->location("mtu_ratio"), "section.toml:6:13");
  EXPECT_EQ(section_->location("endpoints"), "section.toml:10:13");
  EXPECT_EQ(section_->location("endpoints[1]"), "section.toml:10:41");
  EXPECT_EQ(section_->location("peers[1].name"), "section.toml:12:54");
  EXPECT_EQ(section_->location("tls"), "section.toml:16:1");
  EXPECT_EQ(section_->location("tls.verify"), "section.toml:18:10");
  // Absent values point at the section so that the plugin's message still names a place.
  EXPECT_EQ(section_->location("tls.absent"), "section.toml:3:1");
  EXPECT_EQ(section_->location("a..b"), "section.toml:3:1");
}

TEST_F(PluginSectionTest, StringsLiveAsLongAsTheSection) {
  brindle_str_t device{};
  ASSERT_EQ(section_->get_string("device", &device), BRINDLE_OK);
  // Further lookups allocate and free; the borrowed string must not move.
  for (int i = 0; i < 100; ++i) {
    brindle_str_t other{};
    ASSERT_EQ(section_->get_string("endpoints[0]", &other), BRINDLE_OK);
  }
  EXPECT_EQ(std::string(device.data, device.size), "vxlan.brindle");
}

TEST(PluginSection, AbsentSectionIsAnEmptyTableLocatedAtTheSlot) {
  const Config config =
      parse_config("[node]\nname = \"n\"\n\n[encapsulation]\nplugin = \"none\"\n", "slot.toml");
  const PluginSection& section = *config.encapsulation.section;
  EXPECT_EQ(section.type(""), BRINDLE_CONFIG_TABLE);
  EXPECT_EQ(section.size(""), 0u);
  EXPECT_EQ(section.type("anything"), BRINDLE_CONFIG_ABSENT);
  EXPECT_EQ(section.location(""), "slot.toml:4:1");
  EXPECT_EQ(section.location("mtu"), "slot.toml:4:1");
  const auto sink = [](void*, brindle_str_t) { ADD_FAILURE() << "sink called"; };
  EXPECT_EQ(section.keys("", sink, nullptr), BRINDLE_OK);
}

TEST(PluginSection, FromTomlUsesTheWholeDocument) {
  const auto section = PluginSection::from_toml("b = 1\na = \"x\"\n[t]\nc = 2.5\n", "doc.toml");
  EXPECT_EQ(section->size(""), 3u);
  double c = 0;
  EXPECT_EQ(section->get_double("t.c", &c), BRINDLE_OK);
  EXPECT_DOUBLE_EQ(c, 2.5);
  EXPECT_EQ(section->location("a"), "doc.toml:2:5");
  EXPECT_THROW(PluginSection::from_toml("a = \n", "doc.toml"), ConfigError);
}

}  // namespace
}  // namespace brindle::config
