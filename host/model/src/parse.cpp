#include "brindle/model/parse.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace brindle::model {

namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 64;
// Without aliases a document cannot hold more values than it has characters; aliases can expand a
// small file into a huge tree ("billion laughs"), so conversion stops at that bound.
constexpr size_t kMaxNodes = 1'000'000;

struct ConvertError {
  std::string path;
  std::string message;
  size_t line;
};

size_t line_of_mark(const YAML::Mark& mark) {
  return mark.line >= 0 ? static_cast<size_t>(mark.line) + 1 : 0;
}

bool all_digits(std::string_view s, int base) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    bool ok = base == 8    ? (c >= '0' && c <= '7')
              : base == 10 ? (c >= '0' && c <= '9')
                           : std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::optional<json> parse_yaml_int(std::string_view s) {
  int base = 10;
  bool negative = false;
  std::string_view digits = s;
  if (s.starts_with("0o")) {
    base = 8;
    digits = s.substr(2);
  } else if (s.starts_with("0x")) {
    base = 16;
    digits = s.substr(2);
  } else if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    digits = s.substr(1);
  }
  if (!all_digits(digits, base)) {
    return std::nullopt;
  }
  uint64_t magnitude = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (r.ec != std::errc()) {
    return json(std::nan(""));  // out of range: reported by the caller
  }
  if (negative) {
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
      return json(std::nan(""));
    }
    return json(static_cast<int64_t>(0 - magnitude));
  }
  if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return json(static_cast<int64_t>(magnitude));
  }
  return json(magnitude);
}

std::optional<json> parse_yaml_float(std::string_view s) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF") {
    return json(std::numeric_limits<double>::infinity());
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    return json(-std::numeric_limits<double>::infinity());
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return json(std::nan(""));
  }
  // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    ++i;
  }
  size_t int_start = i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  bool int_digits = i > int_start;
  bool frac_digits = false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t frac_start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
    }
    frac_digits = i > frac_start;
  }
  if (!int_digits && !frac_digits) {
    return std::nullopt;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
      ++i;
    }
    size_t exp_start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
    }
    if (i == exp_start) {
      return std::nullopt;
    }
  }
  if (i != s.size()) {
    return std::nullopt;
  }
  std::string text(s[0] == '+' ? s.substr(1) : s);
  double value = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc()) {
    return json(std::numeric_limits<double>::infinity());
  }
  return json(value);
}

// YAML 1.2 core schema for plain (unquoted) scalars.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  if (auto i = parse_yaml_int(s)) {
    return *i;
  }
  if (auto f = parse_yaml_float(s)) {
    return *f;
  }
  return s;
}

class Converter {
 public:
  Converter(std::map<std::string, size_t>& lines, size_t text_size)
      : lines_(lines), max_nodes_(std::min(kMaxNodes, text_size + 16)) {}

  json convert(const YAML::Node& node, const std::string& path, size_t line, int depth) {
    if (depth > kMaxDepth) {
      throw ConvertError{path, "nesting is deeper than " + std::to_string(kMaxDepth) + " levels",
                         line};
    }
    if (++nodes_ > max_nodes_) {
      throw ConvertError{
          path,
          "aliases expand the document to more than " + std::to_string(max_nodes_) + " values",
          line};
    }
    if (line > 0) {
      lines_.emplace(path, line);
    }
    const std::string& tag = node.Tag();
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(node, tag, path, line);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        size_t i = 0;
        for (const auto& item : node) {
          std::string item_path = path_index(path, i++);
          out.push_back(convert(item, item_path, line_of_mark(item.Mark()), depth + 1));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& entry : node) {
          const YAML::Node& key = entry.first;
          size_t key_line = line_of_mark(key.Mark());
          if (!key.IsScalar()) {
            throw ConvertError{path, "mapping keys must be plain strings", key_line};
          }
          const std::string& name = key.Scalar();
          std::string child = path_join(path, name);
          if (out.contains(name)) {
            throw ConvertError{child, "duplicate key \"" + name + "\"", key_line};
          }
          out[name] = convert(entry.second, child, key_line, depth + 1);
        }
        return out;
      }
    }
    return nullptr;
  }

 private:
  static json scalar(const YAML::Node& node, const std::string& tag, const std::string& path,
                     size_t line) {
    const std::string& text = node.Scalar();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      return text;  // quoted or !!str
    }
    json value = resolve_plain(text);
    if (tag == "?" || tag.empty()) {
      if (value.is_number_float() && !std::isfinite(value.get<double>()) &&
          parse_yaml_int(text).has_value()) {
        throw ConvertError{path, "the integer " + text + " is out of range", line};
      }
      return value;
    }
    auto expect = [&](bool ok, const char* what) {
      if (!ok) {
        throw ConvertError{path, "\"" + text + "\" is not " + what, line};
      }
      return value;
    };
    if (tag == "tag:yaml.org,2002:int") {
      return expect(value.is_number_integer(), "an integer");
    }
    if (tag == "tag:yaml.org,2002:float") {
      return expect(value.is_number(), "a number");
    }
    if (tag == "tag:yaml.org,2002:bool") {
      return expect(value.is_boolean(), "a boolean");
    }
    if (tag == "tag:yaml.org,2002:null") {
      return expect(value.is_null(), "null");
    }
    throw ConvertError{path, "unsupported YAML tag \"" + tag + "\"", line};
  }

  std::map<std::string, size_t>& lines_;
  size_t max_nodes_;
  size_t nodes_ = 0;
};

bool looks_like_json(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return false;
  }
  // A UTF-8 byte order mark is allowed before the document.
  if (text.substr(first, 3) == "\xEF\xBB\xBF") {
    first += 3;
  }
  return first < text.size() && (text[first] == '{' || text[first] == '[');
}

size_t line_at_offset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<size_t>(
                 std::count(text.begin(), text.begin() + static_cast<ptrdiff_t>(offset), '\n'));
}

std::vector<ParsedDocument> parse_yaml(std::string_view text, const std::string& file_name) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    std::string message = "invalid YAML";
    if (e.mark.column >= 0) {
      message += " at column " + std::to_string(e.mark.column + 1);
    }
    throw DocumentError(file_name, 0, "", message + ": " + e.msg, line_of_mark(e.mark));
  }
  std::vector<ParsedDocument> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const YAML::Node& node = nodes[i];
    if (node.IsNull()) {
      continue;  // an empty document (e.g. a trailing ---)
    }
    ParsedDocument doc;
    doc.index = i + 1;
    doc.line = line_of_mark(node.Mark());
    try {
      Converter converter(doc.lines, text.size());
      doc.json = converter.convert(node, "", doc.line, 0);
    } catch (const ConvertError& e) {
      throw DocumentError(file_name, doc.index, e.path, e.message, e.line);
    }
    out.push_back(std::move(doc));
  }
  return out;
}

// The path of a value nested deeper than kMaxDepth, if any (the recursion stops there).
std::optional<std::string> too_deep(const json& j, const std::string& path, int depth) {
  if (!j.is_structured()) {
    return std::nullopt;
  }
  if (depth >= kMaxDepth) {
    return path;
  }
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      if (auto p = too_deep(j[i], path_index(path, i), depth + 1)) {
        return p;
      }
    }
  } else {
    for (const auto& [key, value] : j.items()) {
      if (auto p = too_deep(value, path_join(path, key), depth + 1)) {
        return p;
      }
    }
  }
  return std::nullopt;
}

// JSON input: nlohmann reads the values; yaml-cpp (JSON is YAML) only supplies line numbers,
// which are simply missing when it cannot read the text.
std::vector<ParsedDocument> parse_json(std::string_view text, const std::string& file_name) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string message = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error ..."
    if (auto colon = message.find("] "); colon != std::string::npos) {
      message = message.substr(colon + 2);
    }
    throw DocumentError(file_name, 0, "", "invalid JSON: " + message,
                        line_at_offset(text, e.byte > 0 ? e.byte - 1 : 0));
  }
  std::vector<YAML::Node> yaml;
  try {
    yaml = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception&) {
    yaml.clear();
  }
  auto add_lines = [&](ParsedDocument& doc, const YAML::Node& node) {
    try {
      Converter converter(doc.lines, text.size());
      converter.convert(node, "", line_of_mark(node.Mark()), 0);
      doc.line = line_of_mark(node.Mark());
    } catch (const ConvertError&) {
      doc.lines.clear();
    }
  };
  std::vector<ParsedDocument> out;
  bool have_yaml = yaml.size() == 1;
  auto check_depth = [&](const ParsedDocument& doc) {
    if (auto path = too_deep(doc.json, "", 0)) {
      throw DocumentError(file_name, doc.index, *path,
                          "nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
    }
  };
  if (root.is_array()) {
    for (size_t i = 0; i < root.size(); ++i) {
      ParsedDocument doc;
      doc.index = i + 1;
      doc.json = std::move(root[i]);
      check_depth(doc);
      if (have_yaml && yaml[0].IsSequence() && yaml[0].size() == root.size()) {
        add_lines(doc, yaml[0][i]);
      }
      out.push_back(std::move(doc));
    }
  } else {
    ParsedDocument doc;
    doc.index = 1;
    doc.json = std::move(root);
    check_depth(doc);
    if (have_yaml) {
      add_lines(doc, yaml[0]);
    }
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace

size_t ParsedDocument::line_of(std::string_view path) const {
  std::string p(path);
  for (;;) {
    if (auto it = lines.find(p); it != lines.end()) {
      return it->second;
    }
    if (p.empty()) {
      return line;
    }
    size_t cut;
    if (p.back() == ']') {
      cut = p.size() >= 2 && p[p.size() - 2] == '"' ? p.rfind("[\"") : p.rfind('[');
    } else {
      cut = p.rfind('.');
      size_t bracket = p.rfind(']');
      if (cut == std::string::npos || (bracket != std::string::npos && bracket > cut)) {
        cut = bracket == std::string::npos ? 0 : bracket + 1;
      }
    }
    p.resize(cut == std::string::npos ? 0 : cut);
  }
}

std::vector<ParsedDocument> parse_documents(std::string_view text, const std::string& file_name) {
  if (looks_like_json(text)) {
    try {
      return parse_json(text, file_name);
    } catch (const DocumentError& json_error) {
      // A YAML flow mapping also starts with '{'; unless the file says it is JSON, report the
      // JSON error only if YAML cannot read the text either.
      if (file_name.ends_with(".json")) {
        throw;
      }
      try {
        return parse_yaml(text, file_name);
      } catch (const DocumentError&) {
        throw json_error;
      }
    }
  }
  return parse_yaml(text, file_name);
}

ParseResult parse_resources(std::string_view text, const std::string& file_name,
                            const ParseOptions& options) {
  ParseResult result;
  std::vector<ParsedDocument> documents;
  try {
    documents = parse_documents(text, file_name);
  } catch (const DocumentError& e) {
    result.errors.push_back(e);
    return result;
  }
  for (const auto& doc : documents) {
    try {
      Resource resource = resource_from_json(doc.json);
      if (options.validate) {
        validate_and_default(resource);
      }
      result.resources.push_back(std::move(resource));
    } catch (const ValidationError& e) {
      result.errors.emplace_back(file_name, doc.index, e.path(), e.message(),
                                 doc.line_of(e.path()));
    }
  }
  return result;
}

std::vector<Resource> parse_resources_or_throw(std::string_view text, const std::string& file_name,
                                               const ParseOptions& options) {
  ParseResult result = parse_resources(text, file_name, options);
  if (!result.errors.empty()) {
    throw result.errors.front();
  }
  return std::move(result.resources);
}

std::vector<Resource> load_resource_file(const std::filesystem::path& path,
                                         const ParseOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw DocumentError(path.string(), 0, "",
                        "cannot read the file: " + std::string(std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    throw DocumentError(path.string(), 0, "",
                        "cannot read the file: " + std::string(std::strerror(errno)));
  }
  return parse_resources_or_throw(buffer.str(), path.string(), options);
}

}  // namespace brindle::model
