// Every kind of bad configuration is refused with "<file>:<line>:<column>: <message>" on one line.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brindle/config/config.hpp"

namespace brindle::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct BadConfig {
  const char* name;  // the test's name
  const char* text;
  const char* location;  // "bad.toml:<line>:<column>"
  std::string message;   // exact text after "<location>: ", or a part of it when `partial`
  bool partial = false;  // toml11's own wording is only checked in part
};

std::ostream& operator<<(std::ostream& out, const BadConfig& bad) {
  return out << bad.name;
}

std::string error_of(std::string_view text, const std::string& file_name = "bad.toml") {
  try {
    parse_config(text, file_name);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

class ConfigErrorTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigErrorTest, NamesFileLineColumnAndWhatWasExpected) {
  const BadConfig& bad = GetParam();
  const std::string error = error_of(bad.text);
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  const std::string prefix = std::string(bad.location) + ": ";
  ASSERT_THAT(error, StartsWith(prefix));
  if (bad.partial) {
    EXPECT_THAT(error.substr(prefix.size()), HasSubstr(bad.message));
  } else {
    EXPECT_EQ(error.substr(prefix.size()), bad.message);
  }
}

constexpr const char* kTables =
    "[node], [plugins], [datastore], [routing], [encapsulation], [policy], [workload], [health], "
    "[metrics], [control] or [log]";

const std::vector<BadConfig> kBadConfigs = {
    // TOML syntax, reported by toml11 and reformatted to one line.
    {"MissingEquals", "[node]\nname \"a\"\n", "bad.toml:2:5",
     "missing key-value separator `=`: should be `=`"},
    {"UnterminatedString", "[node]\nname = \"abc\n", "bad.toml:2:8",
     "the next token is not a valid string", true},
    {"DuplicateKey", "[node]\nname = \"a\"\nname = \"b\"\n", "bad.toml:3:8",
     "value (\"name\") already exists: value defined twice (value already exists here at 2:8)"},
    {"DuplicateTable", "[log]\n[node]\n[log]\n", "bad.toml:3:1",
     "table (\"log\") already exists: table defined twice (table already exists here at 1:1)"},
    {"UnclosedArray", "[plugins]\nsearch_path = [\"/a\",\n", "bad.toml:3:1",
     "it is not a valid value. (array starts here at 2:15)", true},
    {"InvalidDate", "[node]\nname = 1979-13-01\n", "bad.toml:2:18", "invalid date", true},
    {"IntegerOutOfRange",
     "[encapsulation]\nplugin = \"vxlan\"\nvxlan = { vni = 99999999999999999999 }\n",
     "bad.toml:3:17",
     "integer 99999999999999999999 is out of range: expected a value from "
     "-9223372036854775808 to 9223372036854775807"},
    {"HexIntegerOutOfRange",
     "[routing]\nplugin = \"bgp\"\n[routing.bgp]\nasn = 0x1_0000_0000_0000_0000\n", "bad.toml:4:7",
     "integer 0x1_0000_0000_0000_0000 is out of range", true},
    // Encoding: TOML files are UTF-8 (checked before toml11 sees the text).
    {"InvalidUtf8InString", "[node]\nname = \"ab\xff\"\n", "bad.toml:2:11",
     "invalid UTF-8 sequence starting with byte 0xff: a TOML file must be encoded in UTF-8"},
    // Found by fuzz_config: toml11 3.7 reads out of bounds reporting this one itself.
    {"InvalidUtf8InMultiLineLiteral", "x = '''C:\\pa\x8c\x97'''\n", "bad.toml:1:13",
     "invalid UTF-8 sequence starting with byte 0x8c", true},
    {"OverlongUtf8", "# \xc0\x80\n", "bad.toml:1:3", "byte 0xc0", true},
    {"Utf8Surrogate", "\n\n# \xed\xa0\x80\n", "bad.toml:3:3", "byte 0xed", true},
    {"Utf8AboveUnicode", "# \xf4\x90\x80\x80\n", "bad.toml:1:3", "byte 0xf4", true},
    {"TruncatedUtf8AtEnd", "# ok \xe2\x82", "bad.toml:1:6", "byte 0xe2", true},
    // Unknown tables and keys.
    {"UnknownTopLevelTable", "[node]\n\n[nodes]\nname = \"a\"\n", "bad.toml:3:1",
     std::string("unknown table [nodes]; expected ") + kTables},
    {"UnknownTopLevelKey", "\n  name = \"a\"\n", "bad.toml:2:10", "unknown top-level key \"name\"",
     true},
    {"UnknownNodeKey", "[node]\nname = \"a\"\n  adress = \"198.19.0.1/24\"\n", "bad.toml:3:12",
     "unknown key \"adress\" in [node]; expected one of: name, ipv4, ipv6, interface"},
    {"UnknownPluginsKey", "[plugins]\npath = [\"/a\"]\n", "bad.toml:2:8",
     "unknown key \"path\" in [plugins]; expected one of: search_path, refresh_interval_seconds"},
    {"UnknownHealthKey", "[health]\nport = 9099\n", "bad.toml:2:8",
     "unknown key \"port\" in [health]; expected one of: listen"},
    {"UnknownMetricsKey", "[metrics]\nenabled = true\n", "bad.toml:2:11",
     "unknown key \"enabled\" in [metrics]; expected one of: listen"},
    {"UnknownControlKey", "[control]\nmode = \"0600\"\n", "bad.toml:2:8",
     "unknown key \"mode\" in [control]; expected one of: socket"},
    {"UnknownLogKey", "[log]\nformat = \"json\"\n", "bad.toml:2:10",
     "unknown key \"format\" in [log]; expected one of: level"},
    {"UnknownSlotKey", "[policy]\nplugin = \"iptables\"\nchains = 3\n", "bad.toml:3:10",
     "unknown key \"chains\" in [policy]; expected one of: plugin, path, [policy.iptables]"},
    {"UnknownRoutingKey", "[routing]\nplugin = \"bgp\"\nsecret_dir = \"/etc/brindle/secrets\"\n",
     "bad.toml:3:14",
     "unknown key \"secret_dir\" in [routing]; expected one of: plugin, path, secrets_dir, "
     "[routing.bgp]"},
    {"SectionOfAnotherPlugin",
     "[encapsulation]\nplugin = \"none\"\n\n[encapsulation.vxlan]\nvni = 4096\n", "bad.toml:4:1",
     "section [encapsulation.vxlan] does not match plugin = \"none\"; expected "
     "[encapsulation.none]"},
    // Wrong types.
    {"NodeNotATable", "node = \"a\"\n", "bad.toml:1:8", "[node] must be a table, found a string"},
    {"NodeArrayOfTables", "[[node]]\nname = \"a\"\n", "bad.toml:1:1",
     "[node] must be a table, found an array"},
    {"NameNotAString", "[node]\nname = 42\n", "bad.toml:2:8",
     "[node] name must be a string, found an integer"},
    {"Ipv4NotAString", "[node]\nipv4 = [\"198.19.0.1/24\"]\n", "bad.toml:2:8",
     "[node] ipv4 must be a string, found an array"},
    {"InterfaceNotAString", "[node]\ninterface = true\n", "bad.toml:2:13",
     "[node] interface must be a string, found a boolean"},
    {"SearchPathNotAnArray", "[plugins]\nsearch_path = \"/a\"\n", "bad.toml:2:15",
     "[plugins] search_path must be an array of directory paths, found a string"},
    {"SearchPathEntryNotAString", "[plugins]\nsearch_path = [\"/a\", 2.5]\n", "bad.toml:2:22",
     "[plugins] search_path[1] must be a string, found a float"},
    {"PluginNotAString", "[datastore]\nplugin = { name = \"etcd\" }\n", "bad.toml:2:10",
     "[datastore] plugin must be a string, found a table"},
    {"PathNotAString", "[routing]\nplugin = \"static\"\npath = 1979-05-27\n", "bad.toml:3:8",
     "[routing] path must be a string, found a date/time"},
    {"PluginSectionNotATable", "[encapsulation]\nplugin = \"none\"\nnone = 1\n", "bad.toml:3:8",
     "[encapsulation.none] must be a table, found an integer"},
    {"ListenNotAString", "[metrics]\nlisten = 9091\n", "bad.toml:2:10",
     "[metrics] listen must be a string, found an integer"},
    {"SocketNotAString", "[control]\nsocket = false\n", "bad.toml:2:10",
     "[control] socket must be a string, found a boolean"},
    {"LevelNotAString", "[log]\nlevel = 2\n", "bad.toml:2:9",
     "[log] level must be a string, found an integer"},
    {"SecretsDirNotAString", "[routing]\nplugin = \"bgp\"\nsecrets_dir = [\"/a\"]\n",
     "bad.toml:3:15", "[routing] secrets_dir must be a string, found an array"},
    // Missing required values.
    {"SlotWithoutPlugin", "[node]\n[datastore]\npath = \"/x.so\"\n", "bad.toml:2:1",
     "missing required key \"plugin\" in [datastore]: expected the name of the datastore plugin, "
     "e.g. plugin = \"etcd\""},
    {"SlotWithOnlyItsSection", "[routing.bgp]\nasn = 64512\n", "bad.toml:1:1",
     "missing required key \"plugin\" in [routing]: expected the name of the routing plugin, "
     "e.g. plugin = \"static\""},
    // Invalid values.
    {"EmptyPluginName", "[policy]\nplugin = \"\"\n", "bad.toml:2:10",
     "invalid [policy] plugin \"\": expected a plugin name (letters, digits, '-', '_' or '.'), "
     "e.g. \"iptables\""},
    {"PluginNameWithSlash", "[policy]\nplugin = \"../evil\"\n", "bad.toml:2:10",
     "invalid [policy] plugin \"../evil\"", true},
    {"EmptyPluginPath", "[encapsulation]\nplugin = \"none\"\npath = \"\"\n", "bad.toml:3:8",
     "[encapsulation] path must not be empty: expected the path of the plugin's shared object, "
     "or no path key"},
    {"EmptySearchPathEntry", "[plugins]\nsearch_path = [\"/a\", \"\"]\n", "bad.toml:2:22",
     "[plugins] search_path[1] must not be empty: expected a directory path"},
    {"NodeNameUppercase", "[node]\nname = \"Node_A\"\n", "bad.toml:2:8",
     "invalid [node] name \"Node_A\": expected a DNS name (lowercase letters, digits, '-' and '.', "
     "starting and ending with a letter or digit, at most 253 characters)"},
    {"NodeNameEmpty", "[node]\nname = \"\"\n", "bad.toml:2:8", "invalid [node] name \"\"", true},
    {"NodeNameWithNewline", "[node]\nname = \"a\\nb\"\n", "bad.toml:2:8",
     "invalid [node] name \"a\\nb\"", true},
    {"EmptyInterface", "[node]\ninterface = \"\"\n", "bad.toml:2:13",
     "[node] interface must not be empty: expected a glob such as \"eth*\""},
    {"Ipv4WithoutPrefix", "[node]\nipv4 = \"198.19.0.1\"\n", "bad.toml:2:8",
     "invalid [node] ipv4 \"198.19.0.1\": expected an IPv4 address with a prefix length 1-32, "
     "e.g. \"198.19.0.1/24\""},
    {"Ipv4PrefixTooLong", "[node]\nipv4 = \"198.19.0.1/33\"\n", "bad.toml:2:8",
     "invalid [node] ipv4 \"198.19.0.1/33\"", true},
    {"Ipv4PrefixZero", "[node]\nipv4 = \"198.19.0.1/0\"\n", "bad.toml:2:8",
     "invalid [node] ipv4 \"198.19.0.1/0\"", true},
    {"Ipv4PrefixNotANumber", "[node]\nipv4 = \"198.19.0.1/+8\"\n", "bad.toml:2:8",
     "invalid [node] ipv4 \"198.19.0.1/+8\"", true},
    {"Ipv4BadOctet", "[node]\nipv4 = \"198.19.0.256/24\"\n", "bad.toml:2:8",
     "invalid [node] ipv4 \"198.19.0.256/24\"", true},
    {"Ipv4GivenAnIpv6Address", "[node]\nipv4 = \"2001:db8::1/64\"\n", "bad.toml:2:8",
     "invalid [node] ipv4 \"2001:db8::1/64\"", true},
    {"Ipv6GivenAnIpv4Address", "[node]\nipv6 = \"198.19.0.1/24\"\n", "bad.toml:2:8",
     "invalid [node] ipv6 \"198.19.0.1/24\": expected an IPv6 address with a prefix length "
     "1-128, e.g. \"2001:db8::1/64\""},
    {"Ipv6PrefixTooLong", "[node]\nipv6 = \"2001:db8::1/129\"\n", "bad.toml:2:8",
     "invalid [node] ipv6 \"2001:db8::1/129\"", true},
    {"ListenWithoutPort", "[health]\nlisten = \"127.0.0.1\"\n", "bad.toml:2:10",
     "invalid [health] listen \"127.0.0.1\": expected \"<IPv4>:<port>\" or \"[<IPv6>]:<port>\" "
     "such as \"127.0.0.1:9099\", or \"\" to disable"},
    {"ListenPortZero", "[metrics]\nlisten = \"127.0.0.1:0\"\n", "bad.toml:2:10",
     "invalid [metrics] listen \"127.0.0.1:0\"", true},
    {"ListenPortTooLarge", "[metrics]\nlisten = \"127.0.0.1:65536\"\n", "bad.toml:2:10",
     "invalid [metrics] listen \"127.0.0.1:65536\"", true},
    {"ListenHostName", "[metrics]\nlisten = \"localhost:9091\"\n", "bad.toml:2:10",
     "invalid [metrics] listen \"localhost:9091\"", true},
    {"ListenIpv6WithoutBrackets", "[health]\nlisten = \"::1:9099\"\n", "bad.toml:2:10",
     "invalid [health] listen \"::1:9099\"", true},
    {"RelativeSecretsDir", "[routing]\nplugin = \"bgp\"\nsecrets_dir = \"secrets\"\n",
     "bad.toml:3:15",
     "invalid [routing] secrets_dir \"secrets\": expected the absolute path of a directory laid "
     "out like a Kubernetes Secret volume (<secrets_dir>/<secret name>/<key>), e.g. "
     "\"/etc/brindle/secrets\""},
    {"EmptySecretsDir", "[routing]\nplugin = \"bgp\"\nsecrets_dir = \"\"\n", "bad.toml:3:15",
     "invalid [routing] secrets_dir \"\"", true},
    {"RelativeSocket", "[control]\nsocket = \"brindled.sock\"\n", "bad.toml:2:10",
     "invalid [control] socket \"brindled.sock\": expected an absolute path of at most 107 "
     "bytes"},
    {"SocketPathTooLong",
     "[control]\nsocket = "
     "\"/run/brindle/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaa.sock\"\n",
     "bad.toml:2:10", "expected an absolute path of at most 107 bytes", true},
    {"BadLogLevel", "[log]\nlevel = \"verbose\"\n", "bad.toml:2:9",
     "invalid [log] level \"verbose\": expected one of trace, debug, info, warn, error"},
};

INSTANTIATE_TEST_SUITE_P(EveryKind, ConfigErrorTest, ::testing::ValuesIn(kBadConfigs),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(ConfigErrors, TheFileNameGivenIsTheOneReported) {
  EXPECT_EQ(error_of("[log]\nlevel = \"x\"\n", "/etc/brindle/brindle.toml"),
            "/etc/brindle/brindle.toml:2:9: invalid [log] level \"x\": expected one of trace, "
            "debug, info, warn, error");
}

TEST(ConfigErrors, KeysWithControlCharactersStayOnOneLine) {
  const std::string error = error_of("[node]\n\"bad\\nkey\" = 1\n");
  EXPECT_EQ(error,
            "bad.toml:2:14: unknown key \"bad\\nkey\" in [node]; expected one of: name, ipv4, "
            "ipv6, interface");
}

TEST(ConfigErrors, UnknownTableWithAQuotedName) {
  EXPECT_EQ(error_of("[\"my table\"]\n"),
            std::string("bad.toml:1:1: unknown table [\"my table\"]; expected ") + kTables);
}

TEST(ConfigErrors, TooLargeTextIsRefusedBeforeParsing) {
  const std::string huge(1024 * 1024 + 1, '#');
  EXPECT_EQ(error_of(huge),
            "bad.toml:1:1: the file has 1048577 bytes; a configuration file may have at most "
            "1048576 bytes");
}

// A document of one key whose plugin section holds `value`.
std::string section_with(const std::string& value) {
  return "[encapsulation]\nplugin = \"none\"\n[encapsulation.none]\nx = " + value + "\n";
}

TEST(ConfigNesting, SixtyFourLevelsOfArraysAndInlineTablesAreFine) {
  const Config arrays =
      parse_config(section_with(std::string(64, '[') + std::string(64, ']')), "n.toml");
  EXPECT_EQ(arrays.encapsulation.section->size("x[0][0][0]"), 1u);
  std::string tables = "1";
  for (int i = 0; i < 64; ++i) {
    tables = "{a=" + tables + "}";
  }
  const Config inline_tables = parse_config(section_with(tables), "n.toml");
  EXPECT_EQ(inline_tables.encapsulation.section->type("x.a.a.a.a"), BRINDLE_CONFIG_TABLE);
}

TEST(ConfigNesting, DeeperNestingIsRefusedAtTheBracketThatGoesTooFar) {
  // Thousands of levels would overflow the stack inside toml11.
  EXPECT_EQ(error_of(section_with(std::string(5000, '[') + std::string(5000, ']'))),
            "bad.toml:4:69: nested too deeply: at most 64 levels of arrays and inline tables are "
            "allowed");
  std::string tables = "1";
  for (int i = 0; i < 65; ++i) {
    tables = "{a=" + tables + "}";
  }
  EXPECT_EQ(error_of(section_with(tables)),
            "bad.toml:4:197: nested too deeply: at most 64 levels of arrays and inline tables "
            "are allowed");
}

TEST(ConfigNesting, BracketsInStringsAndCommentsDoNotCount) {
  const std::string brackets(200, '[');
  const Config config =
      parse_config("# " + brackets + "\n" + section_with("\"" + brackets + "\"") + "y = '" +
                       brackets + "'\nz = \"\"\"\n" + brackets + "\\\"\"\"\"\"\nw = '''" +
                       brackets + "\n'''''\nv = [[1]] # " + brackets + "\n",
                   "s.toml");
  brindle_str_t text{};
  ASSERT_EQ(config.encapsulation.section->get_string("z", &text), BRINDLE_OK);
  EXPECT_EQ(std::string(text.data, text.size), brackets + "\"\"");  // \" then one of """"
  ASSERT_EQ(config.encapsulation.section->get_string("w", &text), BRINDLE_OK);
  EXPECT_EQ(std::string(text.data, text.size), brackets + "\n''");
  EXPECT_EQ(config.encapsulation.section->size("v[0]"), 1u);
}

TEST(ConfigNesting, DottedKeysMayHaveSixtyFourParts) {
  std::string key = "a";
  for (int i = 1; i < 64; ++i) {
    key += ".a";
  }
  const Config config = parse_config(
      "[encapsulation]\nplugin = \"none\"\n[encapsulation.none]\n" + key + " = 1\n", "k.toml");
  int64_t value = 0;
  EXPECT_EQ(config.encapsulation.section->get_int(key, &value), BRINDLE_OK);
  EXPECT_EQ(value, 1);
  // Many floats on one line are not a dotted key.
  std::string floats = "[";
  for (int i = 0; i < 100; ++i) {
    floats += "1.5, ";
  }
  EXPECT_EQ(parse_config(section_with(floats + "]"), "f.toml").encapsulation.section->size("x"),
            100u);
}

TEST(ConfigNesting, LongerDottedKeysAreRefused) {
  std::string key = "\"q\"";
  for (int i = 1; i < 65; ++i) {
    key += " . a";
  }
  // The 64th dot is at column 3 + 63 * 4 + 2 = 257.
  EXPECT_EQ(error_of("[encapsulation.none]\n" + key + " = 1\n"),
            "bad.toml:2:257: dotted key too long: at most 64 parts are allowed");
}

TEST(ConfigErrors, MissingFileIsNamed) {
  const std::filesystem::path missing = "/nonexistent-brindle-dir/brindle.toml";
  try {
    load_config(missing);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()),
              "/nonexistent-brindle-dir/brindle.toml:1:1: cannot read the configuration file: No "
              "such file or directory");
  }
}

TEST(ConfigErrors, DirectoryIsNotAConfigFile) {
  const std::filesystem::path directory = std::filesystem::temp_directory_path();
  try {
    load_config(directory);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()),
              directory.string() + ":1:1: cannot read the configuration file: it is a directory");
  }
}

}  // namespace
}  // namespace brindle::config
