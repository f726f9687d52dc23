// Reading resources that people write: YAML (several documents separated by ---) or JSON (one
// document, or an array of documents). Errors name the file, the document and the field path.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/model/errors.hpp"
#include "brindle/model/resource.hpp"

namespace brindle::model {

struct ParsedDocument {
  size_t index = 0;  // 1-based position in the file (empty YAML documents count too)
  size_t line = 0;   // 1-based line where the document starts (0 for JSON)
  nlohmann::json json;
  // Line of each field path seen ("spec.blockSize" -> 14); empty for JSON.
  std::map<std::string, size_t> lines;

  // The line of `path` or of its nearest ancestor that has one; 0 if none.
  size_t line_of(std::string_view path) const;
};

// Splits text into documents and converts YAML to JSON (YAML 1.2 core scalars: unquoted
// true/false/null/numbers are typed, everything else is a string; duplicate keys are errors).
// Empty documents are skipped. Throws DocumentError (document 0 for syntax errors).
std::vector<ParsedDocument> parse_documents(std::string_view text, const std::string& file_name);

struct ParseOptions {
  bool validate = true;  // run validate_and_default() on each document
};

struct ParseResult {
  std::vector<Resource> resources;    // the documents that passed, in file order
  std::vector<DocumentError> errors;  // one per failing document, in file order
};

// Parses every document, collecting one error per bad document rather than stopping at the first.
// A syntax error in the file gives a single error with document 0.
ParseResult parse_resources(std::string_view text, const std::string& file_name,
                            const ParseOptions& options = {});

// Like parse_resources(), but throws the first DocumentError.
std::vector<Resource> parse_resources_or_throw(std::string_view text, const std::string& file_name,
                                               const ParseOptions& options = {});

// Reads a file (named in errors by its path as given) and parses it. Throws DocumentError when the
// file cannot be read or holds any invalid document.
std::vector<Resource> load_resource_file(const std::filesystem::path& path,
                                         const ParseOptions& options = {});

}  // namespace brindle::model
