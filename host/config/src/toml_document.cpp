#include "toml_document.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <sstream>
#include <vector>

#include "brindle/config/config.hpp"

namespace brindle::config::detail {
namespace {

struct UnderlinedLocation {
  unsigned line = 0;
  unsigned column = 0;
  std::string comment;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// Drops toml11's "toml::parse_key_value_pair:" style prefix, which names its own function.
std::string_view strip_function_name(std::string_view headline) {
  constexpr std::string_view kPrefix = "toml::";
  if (headline.substr(0, kPrefix.size()) != kPrefix) {
    return headline;
  }
  std::size_t end = kPrefix.size();
  while (end < headline.size() && (std::isalnum(static_cast<unsigned char>(headline[end])) ||
                                   headline[end] == '_' || headline[end] == ':')) {
    ++end;
  }
  return trim(headline.substr(end));
}

std::size_t count_leading(std::string_view text, char c) {
  std::size_t count = 0;
  while (count < text.size() && text[count] == c) {
    ++count;
  }
  return count;
}

// " 12 | source text" -> 12; 0 when the line is not a numbered source line.
unsigned source_line_number(std::string_view line) {
  line.remove_prefix(count_leading(line, ' '));
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), number);
  if (ec != std::errc{} || end == line.data()) {
    return 0;
  }
  const std::string_view rest(end, static_cast<std::size_t>(line.data() + line.size() - end));
  return rest.substr(0, 3) == " | " || rest == " |" ? number : 0;
}

// "    |    ^--- comment" or "    |  ~~~~ comment" after a numbered source line.
bool parse_marker_line(std::string_view line, unsigned source_line, UnderlinedLocation& out) {
  line.remove_prefix(count_leading(line, ' '));
  if (line.substr(0, 2) != "| ") {
    return false;
  }
  line.remove_prefix(2);
  const std::size_t spaces = count_leading(line, ' ');
  line.remove_prefix(spaces);
  out.line = source_line;
  if (!line.empty() && (line.front() == '^' || line.front() == '~')) {
    out.column = static_cast<unsigned>(spaces) + 1;
    while (!line.empty() && (line.front() == '^' || line.front() == '-' || line.front() == '~')) {
      line.remove_prefix(1);
    }
  } else {
    // An empty underline (region on an empty line) leaves only the separating space.
    out.column = spaces == 0 ? 1 : static_cast<unsigned>(spaces);
  }
  out.comment = std::string(trim(line));
  return true;
}

std::string escape_control_bytes(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      escaped += "\\n";
    } else if (c == '\t') {
      escaped += "\\t";
    } else if (c == '\r') {
      escaped += "\\r";
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      escaped += "\\x";
      escaped += kHex[byte >> 4];
      escaped += kHex[byte & 0xf];
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// TOML integers must fit in 64 bits, but toml11 3.7 silently saturates larger ones: re-read the
// literal from the source and refuse it.
bool integer_literal_overflows(std::string_view literal) {
  std::string digits;
  for (const char c : literal) {
    if (c != '_') {
      digits += c;
    }
  }
  int base = 10;
  std::string_view number = digits;
  if (!number.empty() && number.front() == '+') {
    number.remove_prefix(1);
  }
  if (number.size() > 2 && number[0] == '0') {
    switch (number[1]) {
      case 'x':
        base = 16;
        break;
      case 'o':
        base = 8;
        break;
      case 'b':
        base = 2;
        break;
      default:
        break;
    }
    if (base != 10) {
      number.remove_prefix(2);
    }
  }
  std::int64_t parsed = 0;
  const auto result = std::from_chars(number.data(), number.data() + number.size(), parsed, base);
  return result.ec == std::errc::result_out_of_range;
}

void check_integer_ranges(const Value& root, const std::string& file_name) {
  std::vector<const Value*> pending{&root};
  while (!pending.empty()) {
    const Value* value = pending.back();
    pending.pop_back();
    if (value->is_table()) {
      for (const auto& entry : value->as_table()) {
        pending.push_back(&entry.second);
      }
    } else if (value->is_array()) {
      for (const auto& element : value->as_array()) {
        pending.push_back(&element);
      }
    } else if (value->is_integer()) {
      // The region's text, not value->location(): that counts lines from the file's start.
      const auto* region = toml::detail::get_region(*value);
      if (region == nullptr || !region->is_ok()) {
        continue;
      }
      const std::string literal = region->str();
      if (integer_literal_overflows(literal)) {
        throw ConfigError(location_of(*value, file_name + ":1:1") + ": integer " + literal +
                          " is out of range: expected a value from -9223372036854775808 to "
                          "9223372036854775807");
      }
    }
  }
}

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points above
// U+10FFFF included), or npos. TOML documents must be UTF-8; checking here also keeps toml11
// 3.7 away from its own invalid-UTF-8 error path, which reads out of bounds.
std::size_t first_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    unsigned char min_second = 0x80;
    unsigned char max_second = 0xbf;
    if (lead < 0x80) {
      length = 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead == 0xe0) {
        min_second = 0xa0;  // overlong
      }
      if (lead == 0xed) {
        max_second = 0x9f;  // surrogates
      }
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead == 0xf0) {
        min_second = 0x90;  // overlong
      }
      if (lead == 0xf4) {
        max_second = 0x8f;  // above U+10FFFF
      }
    } else {
      return i;
    }
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= text.size()) {
        return i;
      }
      const auto byte = static_cast<unsigned char>(text[i + k]);
      const unsigned char low = k == 1 ? min_second : 0x80;
      const unsigned char high = k == 1 ? max_second : 0xbf;
      if (byte < low || byte > high) {
        return i;
      }
    }
    i += length;
  }
  return std::string_view::npos;
}

// Index just past the string literal that starts at text[start] (a quote), keeping `line` and
// `line_start` current across newlines inside multi-line strings. An unterminated single-line
// string ends before its newline; toml11 reports it.
std::size_t skip_string(std::string_view text, std::size_t start, std::size_t& line,
                        std::size_t& line_start) {
  const char quote_char = text[start];
  const bool basic = quote_char == '"';
  const std::string triple(3, quote_char);
  if (text.substr(start, 3) == triple) {
    std::size_t i = start + 3;
    while (i < text.size()) {
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
        ++i;
      } else if (basic && text[i] == '\\') {
        i += (i + 1 < text.size() && text[i + 1] != '\n') ? 2 : 1;
      } else if (text.substr(i, 3) == triple) {
        i += 3;
        // Up to two more quotes belong to the content (four quotes: one in the text, then close).
        for (int extra = 0; extra < 2 && i < text.size() && text[i] == quote_char; ++extra) {
          ++i;
        }
        return i;
      } else {
        ++i;
      }
    }
    return i;
  }
  std::size_t i = start + 1;
  while (i < text.size() && text[i] != '\n') {
    if (text[i] == quote_char) {
      return i + 1;
    }
    if (basic && text[i] == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
      ++i;
    }
    ++i;
  }
  return i;
}

// toml11 parses arrays and inline tables recursively (a few thousand levels overflow the stack)
// and dotted keys in quadratic time, so both are bounded before it sees the text. Strings and
// comments are skipped; everything else is counted loosely, which only matters for text that is
// not valid TOML anyway.
void check_nesting(std::string_view text, const std::string& file_name) {
  std::size_t line = 1;
  std::size_t line_start = 0;
  std::size_t depth = 0;
  std::size_t key_dots = 0;  // dots in the current run of key parts (a.b."c".d)
  const auto fail = [&](std::size_t at, const std::string& message) {
    throw ConfigError(file_name + ":" + std::to_string(line) + ":" +
                      std::to_string(at - line_start + 1) + ": " + message);
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' || c == '\'') {
      i = skip_string(text, i, line, line_start);  // a quoted key part keeps the run going
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') {
        ++i;
      }
      continue;
    }
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      key_dots = 0;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) {
        fail(i, "nested too deeply: at most " + std::to_string(kMaxNesting) +
                    " levels of arrays and inline tables are allowed");
      }
      key_dots = 0;
    } else if (c == ']' || c == '}') {
      if (depth > 0) {
        --depth;
      }
      key_dots = 0;
    } else if (c == '.') {
      if (++key_dots >= kMaxNesting) {
        fail(i,
             "dotted key too long: at most " + std::to_string(kMaxNesting) + " parts are allowed");
      }
    } else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ' ' ||
                 c == '\t')) {
      key_dots = 0;
    }
    ++i;
  }
}

}  // namespace

std::string quote(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
    }
    quoted += c;
  }
  quoted += '"';
  return escape_control_bytes(quoted);
}

std::string location_of(const Value& value, const std::string& fallback) {
  // Values made by the library rather than read from the text have a placeholder region.
  const auto* region = toml::detail::get_region(value);
  if (region == nullptr || !region->is_ok()) {
    return fallback;
  }
  const toml::source_location where = value.location();
  return where.file_name() + ":" + std::to_string(where.line()) + ":" +
         std::to_string(where.column());
}

std::string reformat_toml_error(std::string_view toml_message, const std::string& file_name,
                                unsigned fallback_line, unsigned fallback_column) {
  std::string_view text = toml_message;
  if (text.substr(0, 7) == "[error]") {
    text.remove_prefix(7);
  }
  const std::size_t details_start = text.find("\n --> ");
  std::string_view headline = text.substr(0, details_start);
  std::string_view details =
      details_start == std::string_view::npos ? std::string_view{} : text.substr(details_start);
  headline = strip_function_name(trim(headline));
  if (!headline.empty() && headline.back() == '.') {
    headline.remove_suffix(1);
  }

  std::vector<UnderlinedLocation> locations;
  std::vector<std::string> hints;
  unsigned pending_source_line = 0;
  while (!details.empty()) {
    const std::size_t end = details.find('\n');
    const std::string_view line = details.substr(0, end);
    details = end == std::string_view::npos ? std::string_view{} : details.substr(end + 1);
    if (const unsigned number = source_line_number(line); number != 0) {
      pending_source_line = number;
      continue;
    }
    if (pending_source_line != 0) {
      UnderlinedLocation location;
      if (parse_marker_line(line, pending_source_line, location)) {
        locations.push_back(std::move(location));
      }
      pending_source_line = 0;
      continue;
    }
    if (line.substr(0, 6) == "Hint: ") {
      hints.emplace_back(trim(line.substr(6)));
    }
  }

  unsigned line = fallback_line == 0 ? 1 : fallback_line;
  unsigned column = fallback_column == 0 ? 1 : fallback_column;
  std::string message(headline);
  if (!locations.empty()) {
    const UnderlinedLocation& last = locations.back();
    line = last.line;
    column = last.column;
    if (message.empty()) {
      message = last.comment;
    } else if (!last.comment.empty()) {
      message += ": " + last.comment;
    }
    std::string context;
    for (std::size_t i = 0; i + 1 < locations.size(); ++i) {
      if (locations[i].comment.empty()) {
        continue;
      }
      context += context.empty() ? " (" : "; ";
      context += locations[i].comment + " at " + std::to_string(locations[i].line) + ":" +
                 std::to_string(locations[i].column);
    }
    if (!context.empty()) {
      message += context + ")";
    }
  }
  for (const std::string& hint : hints) {
    message += " (hint: " + hint + ")";
  }
  if (message.empty()) {
    message = "invalid TOML";
  }
  return file_name + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         escape_control_bytes(message);
}

Value parse_document(std::string_view toml_text, const std::string& file_name) {
  if (toml_text.size() > kMaxConfigBytes) {
    throw ConfigError(file_name + ":1:1: the file has " + std::to_string(toml_text.size()) +
                      " bytes; a configuration file may have at most " +
                      std::to_string(kMaxConfigBytes) + " bytes");
  }
  if (const std::size_t bad = first_invalid_utf8(toml_text); bad != std::string_view::npos) {
    const std::string_view before = toml_text.substr(0, bad);
    const std::size_t line_start = before.rfind('\n');
    const std::size_t line =
        static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
    const std::size_t column = line_start == std::string_view::npos ? bad + 1 : bad - line_start;
    static constexpr char kHex[] = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(toml_text[bad]);
    throw ConfigError(file_name + ":" + std::to_string(line) + ":" + std::to_string(column) +
                      ": invalid UTF-8 sequence starting with byte 0x" + kHex[byte >> 4] +
                      kHex[byte & 0xf] + ": a TOML file must be encoded in UTF-8");
  }
  check_nesting(toml_text, file_name);
  Value document;
  try {
    std::istringstream stream{std::string(toml_text)};
    document = toml::parse<toml::discard_comments, OrderedTable, std::vector>(stream, file_name);
  } catch (const toml::exception& error) {
    throw ConfigError(reformat_toml_error(error.what(), file_name, error.location().line(),
                                          error.location().column()));
  } catch (const std::exception& error) {  // e.g. std::bad_alloc; toml11 throws nothing else
    throw ConfigError(file_name + ":1:1: invalid TOML: " + escape_control_bytes(error.what()));
  }
  check_integer_ranges(document, file_name);
  return document;
}

}  // namespace brindle::config::detail
