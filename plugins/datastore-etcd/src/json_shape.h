// A quick look at a resource document without building it in memory: validates JSON text and
// notes where the members of the top-level object and of its "metadata" object are, so that the
// plugin can check the identity fields and splice its own metadata into the text. A 12 KB IPAM
// block costs ~0.2 ms to parse and serialize with nlohmann's ordered_json, and the plugin does it
// on every write and every watched change of one.
//
// Conservative by design: scan() accepts only text that nlohmann::json::accept() accepts, and
// gives up (returns false) on anything it is not sure about (surrogate escapes, very long numbers,
// deep nesting, a byte order mark, ...). Callers then take the full parse.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace brindle::etcd::json_shape {

// One member of an object: `key` is the raw text between the key's quotes (escapes not decoded;
// `key_escaped` tells whether it has any); [begin, end) spans `"key":value`, [value_begin, end)
// the value alone.
struct Member {
  std::string_view key;
  bool key_escaped = false;
  size_t begin = 0;
  size_t value_begin = 0;
  size_t end = 0;
};

// An object: where its braces are, and its members in order.
struct Object {
  size_t open = 0;   // '{'
  size_t close = 0;  // '}'
  std::vector<Member> members;
  // The members named `key` (unescaped keys only).
  size_t count(std::string_view key) const;
  const Member* find(std::string_view key) const;  // the first one, or null
  bool any_key_escaped() const;
  bool any_key_repeated() const;
};

struct Document {
  Object top;
  // The top-level member "metadata" when its value is an object (the first such member).
  bool has_metadata_object = false;
  Object metadata;
};

// True when `text` is one valid JSON object (surrounded by whitespace at most) that this scanner
// is sure of; fills *out. False: invalid, not an object, or not sure (see above).
bool scan(std::string_view text, Document* out);

}  // namespace brindle::etcd::json_shape
