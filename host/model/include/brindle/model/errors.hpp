// Errors of the resource model. Every error names the field path inside the document
// ("spec.ingress[0].destination.ports[1]"); errors from files also name the file and document.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace brindle::model {

// A field path: ".key" for identifier-like keys, `["key"]` for others (label keys with dots or
// slashes), "[i]" for array items. Both the validator and the YAML line map build paths this way.
std::string path_join(std::string_view parent, std::string_view key);
std::string path_index(std::string_view parent, size_t index);

// A document that is well-formed YAML/JSON but not a valid resource.
class ValidationError : public std::invalid_argument {
 public:
  // what() is "<path>: <message>" ("<message>" alone when path is empty).
  ValidationError(std::string path, std::string message);
  const std::string& path() const { return path_; }
  const std::string& message() const { return message_; }

 private:
  std::string path_;
  std::string message_;
};

// An error in a file of resources. what() is
//   "pools.yaml: document 2: spec.blockSize: must be between 20 and 32 for an IPv4 pool (line 14)"
// document is 1-based (0 = the file as a whole, e.g. a syntax error); line is 1-based (0 =
// unknown).
class DocumentError : public std::runtime_error {
 public:
  DocumentError(std::string file, size_t document, std::string path, std::string message,
                size_t line = 0);
  const std::string& file() const { return file_; }
  size_t document() const { return document_; }
  const std::string& path() const { return path_; }
  const std::string& message() const { return message_; }
  size_t line() const { return line_; }

 private:
  std::string file_;
  size_t document_;
  std::string path_;
  std::string message_;
  size_t line_;
};

}  // namespace brindle::model
