#include "brindle/loader/plugin_library.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/dll/shared_library.hpp>
#include <boost/system/system_error.hpp>

#include "brindle/common/log.hpp"

namespace brindle::loader {
namespace fs = std::filesystem;

std::string_view kind_name(PluginKind kind) {
  switch (kind) {
    case PluginKind::datastore:
      return "datastore";
    case PluginKind::routing:
      return "routing";
    case PluginKind::encapsulation:
      return "encapsulation";
    case PluginKind::policy:
      return "policy";
  }
  return "unknown";
}

std::string_view kind_short_name(PluginKind kind) {
  return kind == PluginKind::encapsulation ? "encap" : kind_name(kind);
}

std::optional<PluginKind> parse_kind(std::string_view name) {
  for (PluginKind kind : kAllKinds) {
    if (name == kind_name(kind) || name == kind_short_name(kind)) {
      return kind;
    }
  }
  return std::nullopt;
}

std::string_view error_code_name(LoadErrorCode code) {
  switch (code) {
    case LoadErrorCode::file_missing:
      return "file_missing";
    case LoadErrorCode::not_shared_object:
      return "not_shared_object";
    case LoadErrorCode::load_failed:
      return "load_failed";
    case LoadErrorCode::no_entry_symbol:
      return "no_entry_symbol";
    case LoadErrorCode::plugin_threw:
      return "plugin_threw";
    case LoadErrorCode::descriptor_invalid:
      return "descriptor_invalid";
    case LoadErrorCode::descriptor_too_small:
      return "descriptor_too_small";
    case LoadErrorCode::descriptor_too_large:
      return "descriptor_too_large";
    case LoadErrorCode::abi_major_mismatch:
      return "abi_major_mismatch";
    case LoadErrorCode::abi_minor_newer:
      return "abi_minor_newer";
    case LoadErrorCode::abi_prerelease_mismatch:
      return "abi_prerelease_mismatch";
    case LoadErrorCode::wrong_kind:
      return "wrong_kind";
    case LoadErrorCode::name_mismatch:
      return "name_mismatch";
    case LoadErrorCode::vtable_too_small:
      return "vtable_too_small";
    case LoadErrorCode::vtable_invalid:
      return "vtable_invalid";
    case LoadErrorCode::create_failed:
      return "create_failed";
    case LoadErrorCode::validate_failed:
      return "validate_failed";
    case LoadErrorCode::not_found:
      return "not_found";
  }
  return "unknown";
}

std::string status_name(brindle_status_t status) {
  switch (status) {
    case BRINDLE_OK:
      return "ok";
    case BRINDLE_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case BRINDLE_ERR_CONFIG:
      return "config";
    case BRINDLE_ERR_NOT_FOUND:
      return "not found";
    case BRINDLE_ERR_ALREADY_EXISTS:
      return "already exists";
    case BRINDLE_ERR_CONFLICT:
      return "conflict";
    case BRINDLE_ERR_UNAVAILABLE:
      return "unavailable";
    case BRINDLE_ERR_TIMEOUT:
      return "timeout";
    case BRINDLE_ERR_UNSUPPORTED:
      return "unsupported";
    case BRINDLE_ERR_PERMISSION:
      return "permission";
    case BRINDLE_ERR_RESOURCE_EXHAUSTED:
      return "resource exhausted";
    case BRINDLE_ERR_INTERNAL:
      return "internal";
  }
  return "status " + std::to_string(static_cast<int>(status));
}

namespace {

std::string with_path(const fs::path& path, const std::string& detail) {
  return path.empty() ? detail : path.string() + ": " + detail;
}

}  // namespace

LoadError::LoadError(LoadErrorCode code, fs::path path, const std::string& detail,
                     brindle_status_t plugin_status)
    : std::runtime_error(with_path(path, detail)),
      code_(code),
      path_(std::move(path)),
      plugin_status_(plugin_status) {}

namespace {

// Sizes of the structs as of ABI 0.1, the oldest layout this host accepts. When fields are
// appended in later minors these stay where they are.
constexpr std::size_t kDescriptorHeaderSize =
    offsetof(brindle_plugin_descriptor_t, abi_minor) + sizeof(uint16_t);
constexpr std::size_t kDescriptorMinSize =
    offsetof(brindle_plugin_descriptor_t, vtable) + sizeof(const void*);

template <typename VTable>
struct VTableTraits;

// Each trait lists the size of the 0.1 layout and its function pointers (all required).
template <>
struct VTableTraits<brindle_datastore_vtable_t> {
  static constexpr std::size_t kMinSize =
      offsetof(brindle_datastore_vtable_t, cancel_watch) + sizeof(void*);
  static std::vector<std::pair<const char*, bool>> required(const brindle_datastore_vtable_t& v) {
    return {{"get", v.get != nullptr},
            {"list", v.list != nullptr},
            {"create", v.create != nullptr},
            {"update", v.update != nullptr},
            {"remove", v.remove != nullptr},
            {"watch", v.watch != nullptr},
            {"cancel_watch", v.cancel_watch != nullptr}};
  }
};
template <>
struct VTableTraits<brindle_routing_vtable_t> {
  static constexpr std::size_t kMinSize =
      offsetof(brindle_routing_vtable_t, status) + sizeof(void*);
  static std::vector<std::pair<const char*, bool>> required(const brindle_routing_vtable_t& v) {
    return {{"update", v.update != nullptr},
            {"in_sync", v.in_sync != nullptr},
            {"apply", v.apply != nullptr},
            {"refresh", v.refresh != nullptr},
            {"status", v.status != nullptr}};
  }
};
template <>
struct VTableTraits<brindle_encap_vtable_t> {
  static constexpr std::size_t kMinSize = offsetof(brindle_encap_vtable_t, refresh) + sizeof(void*);
  static std::vector<std::pair<const char*, bool>> required(const brindle_encap_vtable_t& v) {
    return {{"ensure_local", v.ensure_local != nullptr},
            {"upsert_remote", v.upsert_remote != nullptr},
            {"remove_remote", v.remove_remote != nullptr},
            {"route_form", v.route_form != nullptr},
            {"in_sync", v.in_sync != nullptr},
            {"apply", v.apply != nullptr},
            {"refresh", v.refresh != nullptr}};
  }
};
template <>
struct VTableTraits<brindle_policy_vtable_t> {
  static constexpr std::size_t kMinSize =
      offsetof(brindle_policy_vtable_t, refresh) + sizeof(void*);
  static std::vector<std::pair<const char*, bool>> required(const brindle_policy_vtable_t& v) {
    return {{"set_globals", v.set_globals != nullptr},
            {"upsert_ipset", v.upsert_ipset != nullptr},
            {"update_ipset_members", v.update_ipset_members != nullptr},
            {"remove_ipset", v.remove_ipset != nullptr},
            {"upsert_policy", v.upsert_policy != nullptr},
            {"remove_policy", v.remove_policy != nullptr},
            {"upsert_endpoint", v.upsert_endpoint != nullptr},
            {"remove_endpoint", v.remove_endpoint != nullptr},
            {"in_sync", v.in_sync != nullptr},
            {"apply", v.apply != nullptr},
            {"refresh", v.refresh != nullptr}};
  }
};

using AnyVTable = std::variant<std::monostate, brindle_datastore_vtable_t, brindle_routing_vtable_t,
                               brindle_encap_vtable_t, brindle_policy_vtable_t>;

// A short, printable copy of a plugin-supplied C string (static in the plugin, but not trusted).
std::string plugin_string(const char* text) {
  constexpr std::size_t kMax = 256;
  std::string out;
  for (std::size_t i = 0; i < kMax && text[i] != '\0'; ++i) {
    out += text[i];
  }
  return out;
}

bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool has_elf_header(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  char magic[4] = {};
  if (!file.read(magic, sizeof(magic))) {
    return false;
  }
  return magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

template <typename VTable>
VTable copy_vtable(const fs::path& path, PluginKind kind, const void* plugin_vtable) {
  uint32_t size = 0;
  std::memcpy(&size, plugin_vtable, sizeof(size));
  if (size < VTableTraits<VTable>::kMinSize) {
    throw LoadError(LoadErrorCode::vtable_too_small, path,
                    std::string(kind_name(kind)) + " function table struct_size " +
                        std::to_string(size) + " is smaller than the " +
                        std::to_string(VTableTraits<VTable>::kMinSize) +
                        " bytes ABI 0.1 requires (plugin built against a broken SDK?)");
  }
  // Zero-filled host copy; a longer table from the plugin only has functions we never call.
  VTable copy{};
  std::memcpy(&copy, plugin_vtable, std::min<std::size_t>(size, sizeof(VTable)));
  copy.struct_size = static_cast<uint32_t>(std::min<std::size_t>(size, sizeof(VTable)));
  for (const auto& [field, present] : VTableTraits<VTable>::required(copy)) {
    if (!present) {
      throw LoadError(LoadErrorCode::vtable_invalid, path,
                      std::string(kind_name(kind)) + " function table: required function '" +
                          field + "' is NULL");
    }
  }
  return copy;
}

// Boost.DLL wraps dlerror() as "boost::dll::shared_library::load() failed (dlerror system
// message: <path>: <reason>): <errno text>"; the reason is what the user needs.
std::string dlopen_reason(const std::string& what, const fs::path& path) {
  const std::string marker = "dlerror system message: ";
  const auto begin = what.find(marker);
  const auto end = what.rfind("): ");
  if (begin == std::string::npos || end == std::string::npos || end < begin + marker.size()) {
    return what;
  }
  std::string reason = what.substr(begin + marker.size(), end - begin - marker.size());
  const std::string path_prefix = path.string() + ": ";
  if (reason.starts_with(path_prefix)) {
    reason.erase(0, path_prefix.size());
  }
  return reason;
}

std::string exception_text(std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    return std::string("an exception: ") + e.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

}  // namespace

struct PluginLibrary::Impl {
  boost::dll::shared_library library;
  PluginInfo info;
  brindle_plugin_descriptor_t descriptor{};
  AnyVTable vtable;
};

PluginLibrary::PluginLibrary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PluginLibrary::PluginLibrary(PluginLibrary&&) noexcept = default;
PluginLibrary& PluginLibrary::operator=(PluginLibrary&&) noexcept = default;
PluginLibrary::~PluginLibrary() = default;

const PluginInfo& PluginLibrary::info() const {
  return impl_->info;
}
const brindle_plugin_descriptor_t& PluginLibrary::descriptor() const {
  return impl_->descriptor;
}

const brindle_datastore_vtable_t* PluginLibrary::datastore() const {
  return std::get_if<brindle_datastore_vtable_t>(&impl_->vtable);
}
const brindle_routing_vtable_t* PluginLibrary::routing() const {
  return std::get_if<brindle_routing_vtable_t>(&impl_->vtable);
}
const brindle_encap_vtable_t* PluginLibrary::encap() const {
  return std::get_if<brindle_encap_vtable_t>(&impl_->vtable);
}
const brindle_policy_vtable_t* PluginLibrary::policy() const {
  return std::get_if<brindle_policy_vtable_t>(&impl_->vtable);
}

PluginLibrary open_plugin(const fs::path& requested_path, const Expectation& expect) {
  std::error_code ec;
  // dlopen() searches LD_LIBRARY_PATH for names without a slash: always pass an absolute path.
  const fs::path path = fs::absolute(requested_path, ec).lexically_normal();
  if (ec || !fs::exists(path, ec)) {
    throw LoadError(LoadErrorCode::file_missing, requested_path, "no such file");
  }
  if (!fs::is_regular_file(path, ec)) {
    throw LoadError(LoadErrorCode::not_shared_object, path,
                    "not a shared object (not a regular file)");
  }
  if (!has_elf_header(path)) {
    throw LoadError(LoadErrorCode::not_shared_object, path,
                    "not a shared object (no ELF header; is it a text file or truncated?)");
  }

  auto impl = std::make_unique<PluginLibrary::Impl>();
  try {
    impl->library.load(boost::dll::fs::path(path.string()),
                       boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  } catch (const boost::system::system_error& e) {
    throw LoadError(LoadErrorCode::load_failed, path,
                    "cannot be loaded: " + dlopen_reason(e.what(), path));
  } catch (...) {
    throw LoadError(LoadErrorCode::load_failed, path,
                    "cannot be loaded: " + exception_text(std::current_exception()));
  }
  if (!impl->library.has(BRINDLE_PLUGIN_ENTRY_SYMBOL)) {
    throw LoadError(LoadErrorCode::no_entry_symbol, path,
                    "not a Brindle plugin: it does not export the entry symbol " +
                        std::string(BRINDLE_PLUGIN_ENTRY_SYMBOL));
  }

  using EntryFunction = std::remove_pointer_t<brindle_plugin_entry_fn>;
  auto& entry = impl->library.get<EntryFunction>(BRINDLE_PLUGIN_ENTRY_SYMBOL);
  const brindle_plugin_descriptor_t* plugin_descriptor = nullptr;
  std::string thrown;
  try {
    plugin_descriptor = entry();
  } catch (...) {
    // The exception object (and its type_info) live in the plugin: describe it and let it die
    // here, while the library is still loaded.
    thrown = exception_text(std::current_exception());
  }
  if (!thrown.empty()) {
    throw LoadError(LoadErrorCode::plugin_threw, path,
                    std::string(BRINDLE_PLUGIN_ENTRY_SYMBOL) + "() threw " + thrown +
                        " (exceptions must not cross the C ABI)");
  }
  if (plugin_descriptor == nullptr) {
    throw LoadError(LoadErrorCode::descriptor_invalid, path,
                    std::string(BRINDLE_PLUGIN_ENTRY_SYMBOL) + "() returned NULL");
  }

  uint32_t size = 0;
  std::memcpy(&size, plugin_descriptor, sizeof(size));
  if (size < kDescriptorHeaderSize) {
    throw LoadError(LoadErrorCode::descriptor_too_small, path,
                    "descriptor struct_size " + std::to_string(size) +
                        " is too small to hold even the ABI version");
  }
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
  std::memcpy(&abi_major,
              reinterpret_cast<const char*>(plugin_descriptor) +
                  offsetof(brindle_plugin_descriptor_t, abi_major),
              sizeof(abi_major));
  std::memcpy(&abi_minor,
              reinterpret_cast<const char*>(plugin_descriptor) +
                  offsetof(brindle_plugin_descriptor_t, abi_minor),
              sizeof(abi_minor));
  const std::string plugin_abi = std::to_string(abi_major) + "." + std::to_string(abi_minor);
  const std::string host_abi =
      std::to_string(BRINDLE_ABI_VERSION_MAJOR) + "." + std::to_string(BRINDLE_ABI_VERSION_MINOR);
  if (abi_major != BRINDLE_ABI_VERSION_MAJOR) {
    throw LoadError(LoadErrorCode::abi_major_mismatch, path,
                    "plugin ABI " + plugin_abi + " is incompatible with host ABI " + host_abi +
                        " (major versions differ); rebuild the plugin against this SDK");
  }
  if (abi_minor > BRINDLE_ABI_VERSION_MINOR) {
    throw LoadError(LoadErrorCode::abi_minor_newer, path,
                    "plugin ABI " + plugin_abi + " is newer than host ABI " + host_abi +
                        "; upgrade brindled or rebuild the plugin against an older SDK");
  }
  // While the ABI is 0.x the contract is still moving: every minor may break the previous one,
  // so only the exact same 0.minor loads (docs/sdk.md, "versions").
  if (BRINDLE_ABI_VERSION_MAJOR == 0 && abi_minor != BRINDLE_ABI_VERSION_MINOR) {
    throw LoadError(LoadErrorCode::abi_prerelease_mismatch, path,
                    "plugin ABI " + plugin_abi + " differs from host ABI " + host_abi +
                        "; pre-release (0.x) ABIs load only with the same minor: rebuild the "
                        "plugin against this SDK");
  }
  if (size > sizeof(brindle_plugin_descriptor_t)) {
    throw LoadError(LoadErrorCode::descriptor_too_large, path,
                    "descriptor struct_size " + std::to_string(size) + " is larger than the " +
                        std::to_string(sizeof(brindle_plugin_descriptor_t)) + " bytes host ABI " +
                        host_abi + " knows, although the plugin claims ABI " + plugin_abi);
  }
  if (size < kDescriptorMinSize) {
    throw LoadError(LoadErrorCode::descriptor_too_small, path,
                    "descriptor struct_size " + std::to_string(size) + " is smaller than the " +
                        std::to_string(kDescriptorMinSize) + " bytes ABI 0.1 requires");
  }

  brindle_plugin_descriptor_t& descriptor = impl->descriptor;
  std::memcpy(&descriptor, plugin_descriptor, size);  // zero-filled host copy, size <= sizeof
  descriptor.struct_size = size;

  auto invalid = [&](const std::string& detail) {
    return LoadError(LoadErrorCode::descriptor_invalid, path, "invalid descriptor: " + detail);
  };
  if (descriptor.name == nullptr) {
    throw invalid("name is NULL");
  }
  if (descriptor.version == nullptr) {
    throw invalid("version is NULL");
  }
  if (descriptor.create == nullptr) {
    throw invalid("create is NULL");
  }
  if (descriptor.destroy == nullptr) {
    throw invalid("destroy is NULL");
  }
  if (descriptor.vtable == nullptr) {
    throw invalid("vtable is NULL");
  }
  PluginInfo& info = impl->info;
  info.path = path;
  info.name = plugin_string(descriptor.name);
  info.version = plugin_string(descriptor.version);
  info.description = descriptor.description == nullptr ? "" : plugin_string(descriptor.description);
  info.abi_major = abi_major;
  info.abi_minor = abi_minor;
  if (!valid_plugin_name(info.name)) {
    throw invalid("name \"" + info.name + "\" must be 1 to 64 characters of [A-Za-z0-9_.-]");
  }
  const int raw_kind = static_cast<int>(descriptor.kind);
  if (raw_kind < BRINDLE_KIND_DATASTORE || raw_kind > BRINDLE_KIND_POLICY) {
    throw invalid("unknown plugin kind " + std::to_string(raw_kind));
  }
  info.kind = static_cast<PluginKind>(raw_kind);

  if (expect.kind && *expect.kind != info.kind) {
    throw LoadError(LoadErrorCode::wrong_kind, path,
                    "plugin \"" + info.name + "\" is a " + std::string(kind_name(info.kind)) +
                        " plugin, but it was configured as the " +
                        std::string(kind_name(*expect.kind)) + " plugin");
  }
  if (expect.name && *expect.name != info.name) {
    throw LoadError(LoadErrorCode::name_mismatch, path,
                    "the plugin is named \"" + info.name + "\", but the configuration asks for \"" +
                        *expect.name + "\"");
  }

  switch (info.kind) {
    case PluginKind::datastore:
      impl->vtable = copy_vtable<brindle_datastore_vtable_t>(path, info.kind, descriptor.vtable);
      break;
    case PluginKind::routing:
      impl->vtable = copy_vtable<brindle_routing_vtable_t>(path, info.kind, descriptor.vtable);
      break;
    case PluginKind::encapsulation:
      impl->vtable = copy_vtable<brindle_encap_vtable_t>(path, info.kind, descriptor.vtable);
      break;
    case PluginKind::policy:
      impl->vtable = copy_vtable<brindle_policy_vtable_t>(path, info.kind, descriptor.vtable);
      break;
  }
  // The host copy is what the host calls through from now on.
  descriptor.vtable = nullptr;
  log::debug("plugin library opened",
             {{"plugin", std::string(kind_short_name(info.kind)) + "/" + info.name},
              {"version", info.version},
              {"abi", plugin_abi},
              {"path", path}});
  return PluginLibrary(std::move(impl));
}

namespace {

std::vector<fs::path> shared_objects_in(const fs::path& dir, std::vector<ScanProblem>* problems) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (problems != nullptr) {
      problems->push_back({dir, dir.string() + ": cannot read plugin directory: " + ec.message()});
    }
    return files;
  }
  for (const fs::directory_entry& entry : it) {
    if (entry.path().extension() == ".so") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string join_paths(const std::vector<fs::path>& paths) {
  std::string out;
  for (const fs::path& p : paths) {
    if (!out.empty()) {
      out += ", ";
    }
    out += p.string();
  }
  return out.empty() ? "(empty search path)" : out;
}

}  // namespace

PluginLibrary find_plugin(const std::vector<fs::path>& search_path, PluginKind kind,
                          std::string_view name) {
  const std::string file_name =
      "brindle-" + std::string(kind_short_name(kind)) + "-" + std::string(name) + ".so";
  const Expectation expect{kind, std::string(name)};
  for (const fs::path& dir : search_path) {
    std::error_code ec;
    const fs::path candidate = dir / file_name;
    if (fs::exists(candidate, ec)) {
      return open_plugin(candidate, expect);
    }
  }
  for (const fs::path& dir : search_path) {
    for (const fs::path& file : shared_objects_in(dir, nullptr)) {
      try {
        PluginLibrary library = open_plugin(file);
        if (library.info().kind == kind && library.info().name == name) {
          return library;
        }
      } catch (const LoadError& e) {
        log::debug("skipping a file that is not a usable plugin",
                   {{"path", file}, {"error", e.what()}});
      }
    }
  }
  throw LoadError(LoadErrorCode::not_found, {},
                  "no " + std::string(kind_name(kind)) + " plugin named \"" + std::string(name) +
                      "\" in the plugin search path (" + join_paths(search_path) +
                      "): looked for " + file_name + " and in every *.so");
}

ScanResult scan_plugins(const std::vector<fs::path>& search_path) {
  ScanResult result;
  std::set<fs::path> seen;
  for (const fs::path& dir : search_path) {
    for (const fs::path& file : shared_objects_in(dir, &result.problems)) {
      std::error_code ec;
      const fs::path canonical = fs::weakly_canonical(file, ec);
      if (!seen.insert(ec ? file : canonical).second) {
        continue;  // the same directory listed twice
      }
      try {
        result.plugins.push_back(open_plugin(file).info());
      } catch (const LoadError& e) {
        result.problems.push_back({file, e.what()});
      }
    }
  }
  return result;
}

}  // namespace brindle::loader
