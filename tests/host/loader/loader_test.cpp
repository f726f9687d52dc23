// The loader against real shared objects: good test plugins of every kind and plugins broken in
// every way the loader must refuse (tests/host/loader/plugins/).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "brindle/common/log.hpp"
#include "brindle/common/metrics.hpp"
#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"

namespace brindle::loader {
namespace {

namespace fs = std::filesystem;

const fs::path kGoodDir = BRINDLE_TEST_GOOD_DIR;
const fs::path kBrokenDir = BRINDLE_TEST_BROKEN_DIR;

fs::path broken(const std::string& name) {
  return kBrokenDir / ("brindle-encap-" + name + ".so");
}

std::string abi(int major, int minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// Collects log records while alive.
class LogCapture {
 public:
  LogCapture() {
    log::logger().set_level(log::Level::debug);
    log::logger().set_sink([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() {
    log::logger().set_sink({});
    log::logger().set_level(log::Level::info);
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // Index of the first line containing every fragment, or -1.
  int find(std::initializer_list<std::string_view> fragments) const {
    const auto all = lines();
    for (std::size_t i = 0; i < all.size(); ++i) {
      bool match = true;
      for (std::string_view f : fragments) {
        match = match && all[i].find(f) != std::string::npos;
      }
      if (match) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "brindle-loader-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct BrokenCase {
  std::string file;  // brindle-encap-<file>.so
  LoadErrorCode code;
  std::vector<std::string> fragments;  // must all appear in the message
};

std::vector<BrokenCase> broken_cases() {
  const std::string host_abi = abi(BRINDLE_ABI_VERSION_MAJOR, BRINDLE_ABI_VERSION_MINOR);
  return {
      {"text", LoadErrorCode::not_shared_object, {"not a shared object", "no ELF header"}},
      {"unresolved",
       LoadErrorCode::load_failed,
       {"cannot be loaded: undefined symbol: brindle_test_symbol_that_does_not_exist"}},
      {"noentry",
       LoadErrorCode::no_entry_symbol,
       {"not a Brindle plugin", "does not export the entry symbol brindle_plugin_entry"}},
      {"entrythrows",
       LoadErrorCode::plugin_threw,
       {"brindle_plugin_entry() threw an exception: entry exploded while building its descriptor",
        "must not cross the C ABI"}},
      {"nulldesc", LoadErrorCode::descriptor_invalid, {"brindle_plugin_entry() returned NULL"}},
      {"abimajor",
       LoadErrorCode::abi_major_mismatch,
       {"plugin ABI " + abi(BRINDLE_ABI_VERSION_MAJOR + 1, BRINDLE_ABI_VERSION_MINOR) +
            " is incompatible with host ABI " + host_abi,
        "major versions differ"}},
      {"abiminor",
       LoadErrorCode::abi_minor_newer,
       {"plugin ABI " + abi(BRINDLE_ABI_VERSION_MAJOR, BRINDLE_ABI_VERSION_MINOR + 1) +
        " is newer than host ABI " + host_abi}},
      {"abiolder",
       LoadErrorCode::abi_prerelease_mismatch,
       {"plugin ABI " + abi(BRINDLE_ABI_VERSION_MAJOR, BRINDLE_ABI_VERSION_MINOR - 1) +
            " differs from host ABI " + host_abi,
        "pre-release (0.x) ABIs load only with the same minor"}},
      {"oversized",
       LoadErrorCode::descriptor_too_large,
       {"descriptor struct_size " +
        std::to_string(sizeof(brindle_plugin_descriptor_t) + 4 * sizeof(void*)) +
        " is larger than the " + std::to_string(sizeof(brindle_plugin_descriptor_t)) +
        " bytes host ABI " + host_abi + " knows"}},
      {"smalldesc",
       LoadErrorCode::descriptor_too_small,
       {"descriptor struct_size " + std::to_string(offsetof(brindle_plugin_descriptor_t, name)) +
        " is smaller than"}},
      {"nullcreate", LoadErrorCode::descriptor_invalid, {"invalid descriptor: create is NULL"}},
      {"wrongkind",
       LoadErrorCode::wrong_kind,
       {"plugin \"wrongkind\" is a routing plugin, but it was configured as the encapsulation "
        "plugin"}},
      {"smallvtable",
       LoadErrorCode::vtable_too_small,
       {"encapsulation function table struct_size 4 is smaller than the " +
        std::to_string(sizeof(brindle_encap_vtable_t)) + " bytes"}},
      {"nullfunction",
       LoadErrorCode::vtable_invalid,
       {"encapsulation function table: required function 'route_form' is NULL"}},
  };
}

class BrokenPluginTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenPluginTest, IsRefusedWithItsOwnErrorNamingTheFile) {
  const BrokenCase& c = GetParam();
  const fs::path path = broken(c.file);
  ASSERT_TRUE(fs::exists(path)) << path;
  try {
    open_plugin(path, Expectation{PluginKind::encapsulation, c.file});
    FAIL() << "loaded " << path;
  } catch (const LoadError& e) {
    EXPECT_EQ(error_code_name(e.code()), error_code_name(c.code)) << e.what();
    EXPECT_EQ(e.path(), path);
    EXPECT_TRUE(std::string(e.what()).starts_with(path.string() + ": ")) << e.what();
    for (const std::string& fragment : c.fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << fragment;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBrokenPlugin, BrokenPluginTest, ::testing::ValuesIn(broken_cases()),
                         [](const auto& test_info) { return test_info.param.file; });

TEST(LoaderTest, EveryBrokenPluginGetsADistinctMessage) {
  std::set<std::string> messages;
  std::vector<BrokenCase> cases = broken_cases();
  for (const BrokenCase& c : cases) {
    try {
      open_plugin(broken(c.file), Expectation{PluginKind::encapsulation, c.file});
    } catch (const LoadError& e) {
      // Without the file path, which alone would make them distinct.
      std::string message = e.what();
      messages.insert(message.substr(broken(c.file).string().size()));
    }
  }
  EXPECT_EQ(messages.size(), cases.size());
}

TEST(LoaderTest, MissingFileIsNamed) {
  const fs::path path = kBrokenDir / "brindle-encap-does-not-exist.so";
  try {
    open_plugin(path);
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::file_missing);
    EXPECT_EQ(std::string(e.what()), path.string() + ": no such file");
  }
}

TEST(LoaderTest, DirectoryNamedLikeAPluginIsNotASharedObject) {
  TempDir dir;
  fs::create_directory(dir.path() / "brindle-encap-dir.so");
  try {
    open_plugin(dir.path() / "brindle-encap-dir.so");
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::not_shared_object);
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(LoaderTest, RelativePathsAreNotLookedUpInTheLibraryPath) {
  // "brindle-encap-fake.so" without a directory must mean the current directory, not whatever
  // dlopen() would find through LD_LIBRARY_PATH.
  TempDir dir;
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());
  EXPECT_THROW(open_plugin("brindle-encap-fake.so"), LoadError);
  fs::copy_file(kGoodDir / "brindle-encap-fake.so", dir.path() / "brindle-encap-fake.so");
  EXPECT_EQ(open_plugin("brindle-encap-fake.so").info().path, dir.path() / "brindle-encap-fake.so");
  fs::current_path(previous);
}

TEST(LoaderTest, GoodPluginsOfEveryKindOpen) {
  for (PluginKind kind : kAllKinds) {
    const fs::path path = kGoodDir / ("brindle-" + std::string(kind_short_name(kind)) + "-fake.so");
    PluginLibrary library = open_plugin(path, Expectation{kind, "fake"});
    const PluginInfo& info = library.info();
    EXPECT_EQ(info.kind, kind);
    EXPECT_EQ(info.name, "fake");
    EXPECT_EQ(info.version, "1.2.3");
    EXPECT_EQ(info.description, "a minimal plugin for host tests");
    EXPECT_EQ(info.abi_major, BRINDLE_ABI_VERSION_MAJOR);
    EXPECT_EQ(info.abi_minor, BRINDLE_ABI_VERSION_MINOR);
    EXPECT_EQ(info.path, path);
    EXPECT_EQ(library.datastore() != nullptr, kind == PluginKind::datastore);
    EXPECT_EQ(library.routing() != nullptr, kind == PluginKind::routing);
    EXPECT_EQ(library.encap() != nullptr, kind == PluginKind::encapsulation);
    EXPECT_EQ(library.policy() != nullptr, kind == PluginKind::policy);
    EXPECT_NE(library.descriptor().create, nullptr);
  }
}

TEST(LoaderTest, NameOtherThanConfiguredIsRefused) {
  try {
    open_plugin(kGoodDir / "brindle-encap-fake.so",
                Expectation{PluginKind::encapsulation, std::string("vxlan")});
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::name_mismatch);
    EXPECT_NE(std::string(e.what()).find(
                  "the plugin is named \"fake\", but the configuration asks for \"vxlan\""),
              std::string::npos)
        << e.what();
  }
}

TEST(LoaderTest, FindsPluginsByFileNameAndByScanning) {
  for (PluginKind kind : kAllKinds) {
    EXPECT_EQ(find_plugin({kGoodDir}, kind, "fake").info().kind, kind);
  }
  // A plugin under another file name is found by its descriptor; earlier directories win.
  TempDir dir;
  fs::copy_file(kGoodDir / "brindle-policy-fake.so", dir.path() / "renamed.so");
  PluginLibrary library = find_plugin({dir.path()}, PluginKind::policy, "fake");
  EXPECT_EQ(library.info().path, dir.path() / "renamed.so");
  // The scan skips broken files on its way.
  fs::copy_file(broken("text"), dir.path() / "aaa-text.so");
  fs::copy_file(broken("entrythrows"), dir.path() / "aab-throws.so");
  EXPECT_EQ(find_plugin({dir.path()}, PluginKind::policy, "fake").info().path,
            dir.path() / "renamed.so");
}

TEST(LoaderTest, FileNamedForTheSlotReportsItsOwnError) {
  try {
    find_plugin({kGoodDir, kBrokenDir}, PluginKind::encapsulation, "abimajor");
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::abi_major_mismatch);
    EXPECT_EQ(e.path(), broken("abimajor"));
  }
}

TEST(LoaderTest, NotFoundNamesTheSearchPath) {
  try {
    find_plugin({kGoodDir, "/nonexistent/brindle"}, PluginKind::encapsulation, "vxlan");
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::not_found);
    const std::string message = e.what();
    EXPECT_NE(message.find("no encapsulation plugin named \"vxlan\""), std::string::npos);
    EXPECT_NE(message.find(kGoodDir.string() + ", /nonexistent/brindle"), std::string::npos);
    EXPECT_NE(message.find("brindle-encap-vxlan.so"), std::string::npos);
  }
}

TEST(LoaderTest, ScanListsGoodPluginsAndExplainsTheRest) {
  const ScanResult good = scan_plugins({kGoodDir, kGoodDir});
  ASSERT_EQ(good.plugins.size(), 4u);  // the repeated directory is not listed twice
  EXPECT_TRUE(good.problems.empty());
  std::set<PluginKind> kinds;
  for (const PluginInfo& info : good.plugins) {
    kinds.insert(info.kind);
    EXPECT_EQ(info.name, "fake");
  }
  EXPECT_EQ(kinds.size(), 4u);

  const ScanResult bad = scan_plugins({kBrokenDir, "/nonexistent/brindle"});
  std::set<std::string> usable;
  for (const PluginInfo& info : bad.plugins) {
    usable.insert(info.name);
  }
  // These open fine; they fail later (create/validate) or only in the wrong slot.
  EXPECT_EQ(usable,
            (std::set<std::string>{"createfails", "createthrows", "validatethrows", "wrongkind"}));
  std::set<fs::path> problem_paths;
  for (const ScanProblem& problem : bad.problems) {
    problem_paths.insert(problem.path);
  }
  for (const BrokenCase& c : broken_cases()) {
    if (c.file != "wrongkind") {
      EXPECT_TRUE(problem_paths.contains(broken(c.file))) << c.file;
    }
  }
  EXPECT_TRUE(problem_paths.contains("/nonexistent/brindle"));
}

std::shared_ptr<const config::PluginSection> encap_section(const std::string& body) {
  const config::Config cfg = config::parse_config(
      "[encapsulation]\nplugin = \"fake\"\n[encapsulation.fake]\n" + body, "test.toml");
  return cfg.encapsulation.section;
}

HostEnvironment environment(metrics::Registry* registry) {
  HostEnvironment env;
  env.metrics = registry;
  env.node.name = "node-a";
  env.node.ipv4 = strings::parse_ip_prefix("198.19.0.1/24");
  return env;
}

bool library_is_loaded(const fs::path& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (handle == nullptr) {
    return false;
  }
  dlclose(handle);
  return true;
}

TEST(LoadedPluginTest, InstanceIsDestroyedBeforeTheLibraryIsUnloaded) {
  LogCapture logs;
  metrics::Registry registry;
  const fs::path path = kGoodDir / "brindle-encap-fake.so";
  ASSERT_FALSE(library_is_loaded(path));
  {
    auto plugin =
        std::make_unique<LoadedPlugin>(open_plugin(path, {PluginKind::encapsulation, "fake"}),
                                       encap_section("value = 7\n"), environment(&registry));
    EXPECT_TRUE(library_is_loaded(path));
    EXPECT_NE(plugin->instance(), nullptr);
    EXPECT_GE(
        logs.find({"level=info", "msg=\"fake plugin created\"", "plugin=encap/fake", "value=7"}),
        0);
    EXPECT_EQ(registry.value("brindle_encap_fake_creates_total"), 1.0);
    EXPECT_EQ(registry.value("brindle_encap_fake_up"), 1.0);
  }
  // destroy() ran (it logged and wrote its gauge through the services) and then the library
  // went away.
  const int destroyed = logs.find({"msg=\"fake plugin destroyed\"", "plugin=encap/fake"});
  EXPECT_GE(destroyed, 0);
  EXPECT_GT(logs.find({"msg=\"plugin destroyed\"", "plugin=encap/fake"}), destroyed);
  EXPECT_EQ(registry.value("brindle_encap_fake_up"), 0.0);
  EXPECT_FALSE(library_is_loaded(path));
}

TEST(LoadedPluginTest, CreateFailureCarriesThePluginsCodeAndMessage) {
  metrics::Registry registry;
  const fs::path path = broken("createfails");
  try {
    LoadedPlugin plugin(open_plugin(path), nullptr, environment(&registry));
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::create_failed);
    EXPECT_EQ(std::string(e.what()),
              path.string() +
                  ": plugin encap/createfails failed to initialise (unavailable): cannot reach the "
                  "frobnicator at 198.19.0.9:4789 (connection refused)");
  }
  EXPECT_FALSE(library_is_loaded(path));
}

TEST(LoadedPluginTest, ThrowingCreateIsCaughtAtTheBoundary) {
  const fs::path path = broken("createthrows");
  try {
    LoadedPlugin plugin(open_plugin(path), nullptr, environment(nullptr));
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::plugin_threw);
    EXPECT_EQ(std::string(e.what()),
              path.string() +
                  ": plugin encap/createthrows: create() threw an exception of unknown type "
                  "(exceptions must not cross the C ABI)");
  }
  EXPECT_FALSE(library_is_loaded(path));
}

TEST(LoadedPluginTest, ThrowingValidateIsCaughtAtTheBoundary) {
  PluginLibrary library = open_plugin(broken("validatethrows"));
  try {
    validate_plugin_config(library, nullptr, environment(nullptr));
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::plugin_threw);
    EXPECT_NE(std::string(e.what()).find(
                  "validate_config() threw an exception: validate_config exploded on its section"),
              std::string::npos)
        << e.what();
  }
}

TEST(LoadedPluginTest, ValidationFailureNamesTheLocationThePluginWasGiven) {
  PluginLibrary library = open_plugin(kGoodDir / "brindle-encap-fake.so");
  EXPECT_NO_THROW(
      validate_plugin_config(library, encap_section("value = 3\n"), environment(nullptr)));
  try {
    validate_plugin_config(library, encap_section("value = 3\nreject = true\n"),
                           environment(nullptr));
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::validate_failed);
    EXPECT_NE(std::string(e.what()).find("plugin encap/fake rejected its configuration (config): "
                                         "test.toml:5:"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("reject = true asks the fake plugin"), std::string::npos);
  }
  try {
    validate_plugin_config(library, encap_section("value = \"seven\"\n"), environment(nullptr));
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("test.toml:4:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("value must be an integer"), std::string::npos);
  }
}

TEST(LoadedPluginTest, ValidationWithoutAHookCreatesAndDestroysAnInstance) {
  // wrongkind has no validate_config: the check is a create()/destroy() round trip.
  PluginLibrary library = open_plugin(broken("wrongkind"));
  ASSERT_EQ(library.descriptor().validate_config, nullptr);
  EXPECT_NO_THROW(validate_plugin_config(library, nullptr, environment(nullptr)));
  PluginLibrary failing = open_plugin(broken("createfails"));
  try {
    validate_plugin_config(failing, nullptr, environment(nullptr));
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), LoadErrorCode::validate_failed);
    EXPECT_NE(std::string(e.what()).find("cannot reach the frobnicator"), std::string::npos);
  }
}

TEST(LoadedPluginTest, RefreshRequestsReachTheHostAndRefreshReachesThePlugin) {
  metrics::Registry registry;
  HostEnvironment env = environment(&registry);
  std::vector<PluginKind> requests;
  env.request_refresh = [&](PluginKind kind) { requests.push_back(kind); };
  LoadedPlugin plugin(open_plugin(kGoodDir / "brindle-policy-fake.so"), nullptr, env);
  EXPECT_TRUE(requests.empty());

  const config::Config cfg = config::parse_config(
      "[policy]\nplugin = \"fake\"\n[policy.fake]\nrequest_refresh = true\n", "test.toml");
  LoadedPlugin asking(open_plugin(kGoodDir / "brindle-policy-fake.so"), cfg.policy.section, env);
  EXPECT_EQ(requests, std::vector<PluginKind>{PluginKind::policy});
  EXPECT_EQ(asking.refresh(), std::nullopt);
  EXPECT_EQ(asking.refresh(), std::nullopt);
  EXPECT_EQ(registry.value("brindle_policy_fake_refreshes_total"), 2.0);
}

TEST(LoadedPluginTest, ThePluginsOfAllKindsLiveSideBySide) {
  metrics::Registry registry;
  std::vector<std::unique_ptr<LoadedPlugin>> plugins;
  for (PluginKind kind : kAllKinds) {
    plugins.push_back(std::make_unique<LoadedPlugin>(find_plugin({kGoodDir}, kind, "fake"), nullptr,
                                                     environment(&registry)));
  }
  for (PluginKind kind : kAllKinds) {
    EXPECT_EQ(registry.value("brindle_" + std::string(kind_short_name(kind)) + "_fake_up"), 1.0);
  }
  plugins.clear();
  EXPECT_EQ(registry.value("brindle_datastore_fake_up"), 0.0);
}

}  // namespace
}  // namespace brindle::loader
