// Opening plugin shared objects and checking what their entry symbol returns.
//
// open_plugin() loads a .so with local, immediate binding (Boost.DLL, RTLD_LOCAL | RTLD_NOW),
// calls brindle_plugin_entry and checks the descriptor and the kind's function table against the
// ABI this host was built with. Every way a plugin can be wrong gives a LoadError with its own
// code and a message that starts with the file path. Nothing a plugin does (returning garbage
// sizes, throwing C++ exceptions despite the contract) crashes the host.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <brindle/brindle.h>

namespace brindle::loader {

enum class PluginKind : int {
  datastore = BRINDLE_KIND_DATASTORE,
  routing = BRINDLE_KIND_ROUTING,
  encapsulation = BRINDLE_KIND_ENCAPSULATION,
  policy = BRINDLE_KIND_POLICY,
};

inline constexpr std::array<PluginKind, 4> kAllKinds = {
    PluginKind::datastore, PluginKind::routing, PluginKind::encapsulation, PluginKind::policy};

// The configuration section name: "datastore", "routing", "encapsulation", "policy".
std::string_view kind_name(PluginKind kind);
// The short name used in file names (brindle-<short>-<name>.so), metric names
// (brindle_<short>_<name>_...) and log fields (plugin=<short>/<name>):
// "datastore", "routing", "encap", "policy".
std::string_view kind_short_name(PluginKind kind);
// Accepts both the section name and the short name.
std::optional<PluginKind> parse_kind(std::string_view name);

enum class LoadErrorCode {
  file_missing,             // no file at the path
  not_shared_object,        // not a regular file, or no ELF header (e.g. a text file named .so)
  load_failed,              // dlopen refused it (wrong architecture, unresolved symbol, ...)
  no_entry_symbol,          // brindle_plugin_entry is not exported
  plugin_threw,             // an entry, create, validate_config or destroy let an exception escape
  descriptor_invalid,       // entry returned NULL, NULL/invalid required fields, unknown kind
  descriptor_too_small,     // struct_size smaller than the oldest descriptor layout
  descriptor_too_large,     // struct_size larger than the descriptor this host knows
  abi_major_mismatch,       // plugin ABI major != host ABI major
  abi_minor_newer,          // plugin ABI minor > host ABI minor
  abi_prerelease_mismatch,  // ABI 0.x: minors differ (0.x minors are not compatible)
  wrong_kind,               // the plugin's kind is not the slot's kind
  name_mismatch,            // the plugin's name is not the one the configuration asked for
  vtable_too_small,         // the kind's function table is shorter than the ABI requires
  vtable_invalid,           // a required function of the kind's table is NULL
  create_failed,            // create() returned an error (message and code from the plugin)
  validate_failed,  // validate_config() returned an error (message and code from the plugin)
  not_found,        // no plugin of that kind and name in the search path
};

// "file_missing", "not_shared_object", ...
std::string_view error_code_name(LoadErrorCode code);
// "config" for BRINDLE_ERR_CONFIG etc.; "status 77" for codes this host does not know.
std::string status_name(brindle_status_t status);

class LoadError : public std::runtime_error {
 public:
  // what() is "<path>: <detail>" (just the detail when path is empty). `plugin_status`: the
  // plugin's own code, for create_failed and validate_failed.
  LoadError(LoadErrorCode code, std::filesystem::path path, const std::string& detail,
            brindle_status_t plugin_status = BRINDLE_OK);

  LoadErrorCode code() const { return code_; }
  const std::filesystem::path& path() const { return path_; }
  brindle_status_t plugin_status() const { return plugin_status_; }

 private:
  LoadErrorCode code_;
  std::filesystem::path path_;
  brindle_status_t plugin_status_;
};

// What a plugin says about itself (copied out of the descriptor: valid after unloading).
struct PluginInfo {
  std::filesystem::path path;
  PluginKind kind = PluginKind::datastore;
  std::string name;
  std::string version;
  std::string description;
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
};

// What the caller requires of a plugin; empty optionals accept anything.
struct Expectation {
  std::optional<PluginKind> kind;
  std::optional<std::string> name;
};

// An open, checked plugin library. Holds host copies (zero-filled, min(struct_size, sizeof))
// of the descriptor and of the kind's function table. Move-only; releasing it unloads the
// library, so everything created by the plugin must be destroyed first (LoadedPlugin does that).
class PluginLibrary {
 public:
  PluginLibrary(PluginLibrary&&) noexcept;
  PluginLibrary& operator=(PluginLibrary&&) noexcept;
  ~PluginLibrary();

  const PluginInfo& info() const;
  // The host copy of the descriptor. Its `vtable` is NULL: use the typed accessors below, which
  // return the host copy of the function table.
  const brindle_plugin_descriptor_t& descriptor() const;
  // The kind's function table; nullptr when the plugin is of another kind.
  const brindle_datastore_vtable_t* datastore() const;
  const brindle_routing_vtable_t* routing() const;
  const brindle_encap_vtable_t* encap() const;
  const brindle_policy_vtable_t* policy() const;

  struct Impl;

 private:
  explicit PluginLibrary(std::unique_ptr<Impl> impl);
  friend PluginLibrary open_plugin(const std::filesystem::path&, const Expectation&);

  std::unique_ptr<Impl> impl_;
};

// Loads and checks one file. Throws LoadError.
PluginLibrary open_plugin(const std::filesystem::path& path, const Expectation& expect = {});

// Finds the plugin of `kind` named `name`: in each directory in order, first the file
// brindle-<short kind>-<name>.so (whose errors are reported as they are), then every *.so of all
// directories whose descriptor matches. Throws LoadError (not_found when nothing matches).
PluginLibrary find_plugin(const std::vector<std::filesystem::path>& search_path, PluginKind kind,
                          std::string_view name);

// Every *.so in the directories (sorted by name within a directory): the usable plugins and, for
// the others, why not. Missing directories are reported as problems too.
struct ScanProblem {
  std::filesystem::path path;
  std::string message;
};
struct ScanResult {
  std::vector<PluginInfo> plugins;
  std::vector<ScanProblem> problems;
};
ScanResult scan_plugins(const std::vector<std::filesystem::path>& search_path);

}  // namespace brindle::loader
