// brindle-encap-vxlan.so through the host's own loader (descriptor and vtable checks) with a real
// TOML section: configuration errors point at the file, line and column of the bad value.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"

namespace {

using brindle::config::PluginSection;
namespace loader = brindle::loader;

loader::PluginLibrary open_vxlan() {
  return loader::open_plugin(BRINDLE_TEST_ENCAP_PLUGIN,
                             {.kind = loader::PluginKind::encapsulation, .name = "vxlan"});
}

loader::HostEnvironment environment() {
  loader::HostEnvironment env;
  env.node.name = "node-a";
  return env;
}

TEST(EncapVxlanLoader, TheHostsLoaderAcceptsThePluginAndItsConfiguration) {
  const loader::PluginLibrary library = open_vxlan();
  EXPECT_EQ(library.info().name, "vxlan");
  ASSERT_NE(library.encap(), nullptr);
  const auto section = PluginSection::from_toml(
      "device = \"vxlan.brindle\"\nvni = 4096\nport = 4789\nmtu = 1450\n", "brindle.toml");
  EXPECT_NO_THROW(loader::validate_plugin_config(library, section, environment()));
  loader::LoadedPlugin plugin(open_vxlan(), section, environment());
  EXPECT_NE(plugin.instance(), nullptr);
}

TEST(EncapVxlanLoader, BadValuesAreReportedAtTheirFileLineAndColumn) {
  struct Case {
    const char* toml;
    const char* expected;
  };
  const Case cases[] = {
      {"vni = 4096\nport = 70000\n", "/etc/brindle/brindle.toml:2:8"},
      {"device = \"vxlan.brindle\"\n  vni = 0\n", "/etc/brindle/brindle.toml:2:9"},
      {"mtu = 1450\nvxlanMode = \"Always\"\n", "vxlanMode: unknown key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.toml);
    const auto section = PluginSection::from_toml(c.toml, "/etc/brindle/brindle.toml");
    try {
      loader::validate_plugin_config(open_vxlan(), section, environment());
      ADD_FAILURE() << "accepted";
    } catch (const loader::LoadError& e) {
      EXPECT_EQ(e.code(), loader::LoadErrorCode::validate_failed);
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
    }
    EXPECT_THROW(loader::LoadedPlugin(open_vxlan(), section, environment()), loader::LoadError);
  }
}

}  // namespace
