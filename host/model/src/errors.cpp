#include "brindle/model/errors.hpp"

#include <algorithm>

namespace brindle::model {

namespace {

bool is_identifier(std::string_view key) {
  if (key.empty()) {
    return false;
  }
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
  };
  if (!ok(key[0], true)) {
    return false;
  }
  return std::all_of(key.begin() + 1, key.end(), [&](char c) { return ok(c, false); });
}

}  // namespace

std::string path_join(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (is_identifier(key)) {
    if (!out.empty()) {
      out.push_back('.');
    }
    out += key;
  } else {
    out += "[\"";
    for (char c : key) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    out += "\"]";
  }
  return out;
}

std::string path_index(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

ValidationError::ValidationError(std::string path, std::string message)
    : std::invalid_argument(path.empty() ? message : path + ": " + message),
      path_(std::move(path)),
      message_(std::move(message)) {}

namespace {
std::string document_error_text(const std::string& file, size_t document, const std::string& path,
                                const std::string& message, size_t line) {
  std::string out = file + ": ";
  if (document > 0) {
    out += "document " + std::to_string(document) + ": ";
  }
  if (!path.empty()) {
    out += path + ": ";
  }
  out += message;
  if (line > 0) {
    out += " (line " + std::to_string(line) + ")";
  }
  return out;
}
}  // namespace

DocumentError::DocumentError(std::string file, size_t document, std::string path,
                             std::string message, size_t line)
    : std::runtime_error(document_error_text(file, document, path, message, line)),
      file_(std::move(file)),
      document_(document),
      path_(std::move(path)),
      message_(std::move(message)),
      line_(line) {}

}  // namespace brindle::model
