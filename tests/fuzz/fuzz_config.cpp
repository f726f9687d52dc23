// libFuzzer target for the configuration parser: any input either parses or throws ConfigError
// with a one-line "<file>:<line>:<column>: <message>"; nothing else may escape, crash or hang.
// Parsed plugin sections are walked through the PluginSection API the way a plugin would.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "brindle/config/config.hpp"

namespace {

constexpr std::string_view kFileName = "fuzz.toml";

bool is_positive_number(std::string_view text) {
  if (text.empty() || text.front() == '0') {
    return false;
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

// "fuzz.toml:<line>:<column>: <message>" with positive numbers and no newline.
void check_error_shape(std::string_view message) {
  if (message.find('\n') != std::string_view::npos) {
    std::abort();
  }
  if (message.substr(0, kFileName.size()) != kFileName) {
    std::abort();
  }
  std::string_view rest = message.substr(kFileName.size());
  if (rest.empty() || rest.front() != ':') {
    std::abort();
  }
  rest.remove_prefix(1);
  const std::size_t line_end = rest.find(':');
  if (line_end == std::string_view::npos || !is_positive_number(rest.substr(0, line_end))) {
    std::abort();
  }
  rest.remove_prefix(line_end + 1);
  const std::size_t column_end = rest.find(": ");
  if (column_end == std::string_view::npos || !is_positive_number(rest.substr(0, column_end))) {
    std::abort();
  }
}

void check_location_shape(const std::string& location) {
  check_error_shape(location + ": x");
}

std::string quoted_key(std::string_view key) {
  if (key.find('"') != std::string_view::npos) {
    return {};  // not addressable by a path
  }
  return "\"" + std::string(key) + "\"";
}

void walk(const brindle::config::PluginSection& section, const std::string& path, int depth) {
  if (depth > 32) {
    return;
  }
  check_location_shape(section.location(path));
  brindle_str_t text{};
  int64_t integer = 0;
  double floating = 0;
  int boolean = 0;
  switch (section.type(path)) {
    case BRINDLE_CONFIG_STRING:
      if (section.get_string(path, &text) != BRINDLE_OK) {
        std::abort();
      }
      if (text.size != 0 && text.data == nullptr) {
        std::abort();
      }
      break;
    case BRINDLE_CONFIG_INTEGER:
      if (section.get_int(path, &integer) != BRINDLE_OK) {
        std::abort();
      }
      if (section.get_double(path, &floating) != BRINDLE_ERR_INVALID_ARGUMENT) {
        std::abort();
      }
      break;
    case BRINDLE_CONFIG_FLOAT:
      if (section.get_double(path, &floating) != BRINDLE_OK) {
        std::abort();
      }
      if (section.get_int(path, &integer) != BRINDLE_ERR_INVALID_ARGUMENT) {
        std::abort();
      }
      break;
    case BRINDLE_CONFIG_BOOLEAN:
      if (section.get_bool(path, &boolean) != BRINDLE_OK || (boolean != 0 && boolean != 1)) {
        std::abort();
      }
      break;
    case BRINDLE_CONFIG_ARRAY:
      for (std::size_t i = 0; i < section.size(path); ++i) {
        walk(section, path + "[" + std::to_string(i) + "]", depth + 1);
      }
      break;
    case BRINDLE_CONFIG_TABLE: {
      struct Keys {
        const brindle::config::PluginSection* section;
        const std::string* path;
        int depth;
      } keys{&section, &path, depth};
      const auto visit = [](void* user, brindle_str_t key) {
        const auto* k = static_cast<Keys*>(user);
        const std::string step = quoted_key(std::string_view(key.data, key.size));
        if (step.empty()) {
          return;
        }
        walk(*k->section, k->path->empty() ? step : *k->path + "." + step, k->depth + 1);
      };
      if (section.keys(path, visit, &keys) != BRINDLE_OK) {
        std::abort();
      }
      break;
    }
    case BRINDLE_CONFIG_ABSENT:
      std::abort();  // every path we build comes from the section itself
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const brindle::config::Config config =
        brindle::config::parse_config(text, std::string(kFileName));
    for (const auto* slot :
         {&config.datastore, &config.routing, &config.encapsulation, &config.policy}) {
      if (!slot->section) {
        std::abort();
      }
      if (!slot->plugin.empty()) {
        check_location_shape(slot->location);
      }
      walk(*slot->section, "", 0);
    }
  } catch (const brindle::config::ConfigError& error) {
    check_error_shape(error.what());
  }
  return 0;
}
