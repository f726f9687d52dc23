#include <charconv>
#include <utility>

#include "brindle/config/config.hpp"
#include "plugin_section_impl.hpp"
#include "toml_document.hpp"

namespace brindle::config {
namespace {

enum class Lookup { found, absent, malformed };

struct Resolved {
  Lookup lookup = Lookup::absent;
  const detail::Value* value = nullptr;
};

// Walks `path` ("a.b", "list[2].c", "\"dotted.key\"[0]") from `root`. A step through a missing
// key, an index past the end or into a scalar makes the whole path absent; text that is not a
// path at all (empty key, unclosed bracket or quote) makes it malformed.
Resolved resolve(const detail::Value& root, std::string_view path) {
  const detail::Value* current = &root;
  bool absent = false;
  bool expect_key = !path.empty() && path.front() != '[';
  while (!path.empty() || expect_key) {
    if (expect_key) {
      std::string_view key;
      if (!path.empty() && path.front() == '"') {
        const std::size_t close = path.find('"', 1);
        if (close == std::string_view::npos) {
          return {Lookup::malformed, nullptr};
        }
        key = path.substr(1, close - 1);
        path.remove_prefix(close + 1);
      } else {
        const std::size_t end = path.find_first_of(".[]\"");
        key = path.substr(0, end);
        path.remove_prefix(key.size());
        if (key.empty()) {
          return {Lookup::malformed, nullptr};
        }
      }
      if (!absent) {
        if (!current->is_table()) {
          absent = true;
        } else {
          const auto& table = current->as_table();
          const auto found = table.find(std::string(key));
          if (found == table.end()) {
            absent = true;
          } else {
            current = &found->second;
          }
        }
      }
      expect_key = false;
      continue;
    }
    if (path.front() == '.') {
      path.remove_prefix(1);
      expect_key = true;
      continue;
    }
    if (path.front() != '[') {
      return {Lookup::malformed, nullptr};
    }
    path.remove_prefix(1);
    std::size_t index = 0;
    const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), index);
    if (ec != std::errc{} || end == path.data() || end == path.data() + path.size() ||
        *end != ']') {
      return {Lookup::malformed, nullptr};
    }
    path.remove_prefix(static_cast<std::size_t>(end - path.data()) + 1);
    if (!absent) {
      if (!current->is_array() || index >= current->as_array().size()) {
        absent = true;
      } else {
        current = &current->as_array()[index];
      }
    }
  }
  if (absent) {
    return {Lookup::absent, nullptr};
  }
  return {Lookup::found, current};
}

brindle_config_type_t config_type_of(const detail::Value& value) {
  switch (value.type()) {
    case toml::value_t::string:
      return BRINDLE_CONFIG_STRING;
    case toml::value_t::integer:
      return BRINDLE_CONFIG_INTEGER;
    case toml::value_t::floating:
      return BRINDLE_CONFIG_FLOAT;
    case toml::value_t::boolean:
      return BRINDLE_CONFIG_BOOLEAN;
    case toml::value_t::array:
      return BRINDLE_CONFIG_ARRAY;
    case toml::value_t::table:
      return BRINDLE_CONFIG_TABLE;
    case toml::value_t::empty:
      return BRINDLE_CONFIG_ABSENT;
    default:
      return BRINDLE_CONFIG_OTHER;  // dates and times
  }
}

// Common shape of the typed getters: these back C ABI services, so nothing may escape.
template <typename Getter>
brindle_status_t get_typed(const detail::Value& root, std::string_view path, const void* out,
                           toml::value_t wanted, Getter&& store) noexcept {
  if (out == nullptr) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  try {
    const Resolved resolved = resolve(root, path);
    if (resolved.lookup == Lookup::malformed) {
      return BRINDLE_ERR_INVALID_ARGUMENT;
    }
    if (resolved.lookup == Lookup::absent) {
      return BRINDLE_ERR_NOT_FOUND;
    }
    if (resolved.value->type() != wanted) {
      return BRINDLE_ERR_INVALID_ARGUMENT;
    }
    store(*resolved.value);
    return BRINDLE_OK;
  } catch (...) {
    return BRINDLE_ERR_INTERNAL;
  }
}

}  // namespace

PluginSection::PluginSection(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
PluginSection::~PluginSection() = default;

std::shared_ptr<const PluginSection> PluginSection::from_toml(std::string_view toml_text,
                                                              const std::string& file_name) {
  auto impl = std::make_shared<Impl>();
  impl->root = detail::parse_document(toml_text, file_name);
  impl->fallback_location = file_name + ":1:1";
  return std::make_shared<const PluginSection>(std::move(impl));
}

brindle_config_type_t PluginSection::type(std::string_view path) const {
  try {
    const Resolved resolved = resolve(impl_->root, path);
    if (resolved.lookup != Lookup::found) {
      return BRINDLE_CONFIG_ABSENT;
    }
    return config_type_of(*resolved.value);
  } catch (...) {
    return BRINDLE_CONFIG_ABSENT;
  }
}

brindle_status_t PluginSection::get_string(std::string_view path, brindle_str_t* out) const {
  return get_typed(impl_->root, path, out, toml::value_t::string, [out](const detail::Value& v) {
    const std::string& text = v.as_string().str;
    *out = brindle_str_t{text.data(), text.size()};
  });
}

brindle_status_t PluginSection::get_int(std::string_view path, int64_t* out) const {
  return get_typed(impl_->root, path, out, toml::value_t::integer,
                   [out](const detail::Value& v) { *out = v.as_integer(); });
}

brindle_status_t PluginSection::get_double(std::string_view path, double* out) const {
  return get_typed(impl_->root, path, out, toml::value_t::floating,
                   [out](const detail::Value& v) { *out = v.as_floating(); });
}

brindle_status_t PluginSection::get_bool(std::string_view path, int* out) const {
  return get_typed(impl_->root, path, out, toml::value_t::boolean,
                   [out](const detail::Value& v) { *out = v.as_boolean() ? 1 : 0; });
}

size_t PluginSection::size(std::string_view path) const {
  try {
    const Resolved resolved = resolve(impl_->root, path);
    if (resolved.lookup != Lookup::found) {
      return 0;
    }
    if (resolved.value->is_table()) {
      return resolved.value->as_table().size();
    }
    if (resolved.value->is_array()) {
      return resolved.value->as_array().size();
    }
    return 0;
  } catch (...) {
    return 0;
  }
}

brindle_status_t PluginSection::keys(std::string_view path, brindle_str_sink_fn sink,
                                     void* user) const {
  if (sink == nullptr) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  try {
    const Resolved resolved = resolve(impl_->root, path);
    if (resolved.lookup == Lookup::malformed) {
      return BRINDLE_ERR_INVALID_ARGUMENT;
    }
    if (resolved.lookup == Lookup::absent) {
      return BRINDLE_ERR_NOT_FOUND;
    }
    if (!resolved.value->is_table()) {
      return BRINDLE_ERR_INVALID_ARGUMENT;
    }
    for (const auto& entry : resolved.value->as_table()) {
      sink(user, brindle_str_t{entry.first.data(), entry.first.size()});
    }
    return BRINDLE_OK;
  } catch (...) {
    return BRINDLE_ERR_INTERNAL;
  }
}

std::string PluginSection::location(std::string_view path) const {
  const Resolved resolved = resolve(impl_->root, path);
  const detail::Value& value = resolved.lookup == Lookup::found ? *resolved.value : impl_->root;
  return detail::location_of(value, impl_->fallback_location);
}

}  // namespace brindle::config
