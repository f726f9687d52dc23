// The data behind a PluginSection, shared by the parser (which builds it) and the getters.
#pragma once

#include <string>

#include "brindle/config/config.hpp"
#include "ordered_table.hpp"

namespace brindle::config {

struct PluginSection::Impl {
  detail::Value root;  // always a table; strings handed out point into it
  // "file:line:col" reported for the section when `root` has no source region (the plugin's
  // table is absent from the file and was made empty by the parser).
  std::string fallback_location;
};

}  // namespace brindle::config
