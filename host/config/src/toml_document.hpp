// Parsing a TOML text with toml11 into an ordered document, turning every toml11 failure into a
// one-line "<file>:<line>:<column>: <message>" ConfigError.
#pragma once

#include <string>
#include <string_view>

#include "ordered_table.hpp"

namespace brindle::config::detail {

// Largest configuration text accepted; a brindle.toml is a few kilobytes.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1024} * 1024;
// Deepest nesting of arrays and inline tables, and most parts of one dotted key.
inline constexpr std::size_t kMaxNesting = 64;

// Throws ConfigError on invalid UTF-8, nesting beyond kMaxNesting, a syntax error or an integer
// that does not fit in 64 bits.
Value parse_document(std::string_view toml_text, const std::string& file_name);

// "file:line:col" of a parsed value; `fallback` when the value has no source region.
std::string location_of(const Value& value, const std::string& fallback);

// toml11's multi-line error text (headline, then " --> file" and underlined source lines with
// comments) reduced to one line: "<file>:<line>:<column>: <headline>: <comment> (<other
// comment> at <line>:<column>)". The location is the last underlined one, which is where the
// parser gave up (earlier ones are context such as "array starts here"). Exposed for tests.
std::string reformat_toml_error(std::string_view toml_message, const std::string& file_name,
                                unsigned fallback_line, unsigned fallback_column);

// A string made safe for a one-line message: in double quotes, with control bytes, quotes and
// backslashes escaped.
std::string quote(std::string_view text);

}  // namespace brindle::config::detail
