#include "json_shape.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace brindle::etcd::json_shape {
namespace {

// Deeper documents are left to the full parser (which has no recursion limit).
constexpr int kMaxDepth = 128;
// Longer numbers are left to the full parser (it turns huge integers into doubles, and rejects
// those that overflow to infinity).
constexpr size_t kMaxNumberLength = 64;

class Scanner {
 public:
  explicit Scanner(std::string_view text) : s_(text) {}

  bool document(Document* out) {
    skip_whitespace();
    if (at_end() || s_[i_] != '{') {
      return false;  // not an object (a byte order mark included: left to the full parser)
    }
    if (!object(0, &out->top, out)) {
      return false;
    }
    skip_whitespace();
    return at_end();
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }

  void skip_whitespace() {
    while (!at_end()) {
      const char c = s_[i_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      ++i_;
    }
  }

  // A value at `depth`; `record` receives the members if it is an object (may be null).
  bool value(int depth, Object* record) {
    if (at_end()) {
      return false;
    }
    switch (s_[i_]) {
      case '{':
        return object(depth, record, nullptr);
      case '[':
        return array(depth);
      case '"': {
        bool escaped = false;
        return string(&escaped);
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  // The object at i_ (a '{'). With `document`, notes the value of its "metadata" member.
  bool object(int depth, Object* record, Document* document) {
    if (depth >= kMaxDepth) {
      return false;
    }
    const size_t open = i_++;
    Object scratch;
    Object* members = record != nullptr ? record : &scratch;
    members->open = open;
    members->members.clear();
    skip_whitespace();
    if (!at_end() && s_[i_] == '}') {
      members->close = i_++;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (at_end() || s_[i_] != '"') {
        return false;
      }
      Member m;
      m.begin = i_;
      if (!string(&m.key_escaped)) {
        return false;
      }
      m.key = s_.substr(m.begin + 1, i_ - m.begin - 2);
      skip_whitespace();
      if (at_end() || s_[i_] != ':') {
        return false;
      }
      ++i_;
      skip_whitespace();
      m.value_begin = i_;
      Object* nested = nullptr;
      if (document != nullptr && !document->has_metadata_object && !m.key_escaped &&
          m.key == "metadata" && !at_end() && s_[i_] == '{') {
        nested = &document->metadata;
      }
      if (!value(depth + 1, nested)) {
        return false;
      }
      if (nested != nullptr) {
        document->has_metadata_object = true;
      }
      m.end = i_;
      if (record != nullptr) {
        members->members.push_back(m);
      }
      const After after = after_element('}');
      if (after == After::closed) {
        members->close = i_++;
        return true;
      }
      if (after == After::broken) {
        return false;
      }
    }
  }

  bool array(int depth) {
    if (depth >= kMaxDepth) {
      return false;
    }
    ++i_;
    skip_whitespace();
    if (!at_end() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (!value(depth + 1, nullptr)) {
        return false;
      }
      const After after = after_element(']');
      if (after == After::closed) {
        ++i_;
        return true;
      }
      if (after == After::broken) {
        return false;
      }
    }
  }

  // After an element of an object or array: a ',' (consumed: another element follows), the
  // closing `close` (left at i_ for the caller), or anything else (invalid).
  enum class After { next, closed, broken };
  After after_element(char close) {
    skip_whitespace();
    if (at_end()) {
      return After::broken;
    }
    if (s_[i_] == ',') {
      ++i_;
      return After::next;
    }
    return s_[i_] == close ? After::closed : After::broken;
  }

  static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  static unsigned hex_value(char c) {
    if (c >= '0' && c <= '9') {
      return static_cast<unsigned>(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
      return static_cast<unsigned>(c - 'a' + 10);
    }
    return static_cast<unsigned>(c - 'A' + 10);
  }

  // The continuation bytes of a UTF-8 sequence, within [low, high] for the first of them (RFC
  // 3629's table, as nlohmann checks it: no overlong forms, no surrogates, nothing past U+10FFFF).
  bool utf8_tail(int count, unsigned char low, unsigned char high) {
    for (int k = 0; k < count; ++k) {
      if (at_end()) {
        return false;
      }
      const auto byte = static_cast<unsigned char>(s_[i_]);
      const unsigned char lo = k == 0 ? low : 0x80;
      const unsigned char hi = k == 0 ? high : 0xBF;
      if (byte < lo || byte > hi) {
        return false;
      }
      ++i_;
    }
    return true;
  }

  // The string at i_ (a '"'); i_ ends after its closing quote.
  bool string(bool* escaped) {
    ++i_;
    for (;;) {
      if (at_end()) {
        return false;
      }
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c == '\\') {
        *escaped = true;
        ++i_;
        if (at_end()) {
          return false;
        }
        const char e = s_[i_++];
        switch (e) {
          case '"':
          case '\\':
          case '/':
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            break;
          case 'u': {
            if (i_ + 4 > s_.size()) {
              return false;
            }
            unsigned unit = 0;
            for (int k = 0; k < 4; ++k) {
              if (!is_hex(s_[i_ + k])) {
                return false;
              }
              unit = unit * 16 + hex_value(s_[i_ + k]);
            }
            if (unit >= 0xD800 && unit <= 0xDFFF) {
              return false;  // surrogates: left to the full parser
            }
            i_ += 4;
            break;
          }
          default:
            return false;
        }
        continue;
      }
      ++i_;
      if (c < 0x80) {
        continue;
      }
      bool ok = false;
      if (c >= 0xC2 && c <= 0xDF) {
        ok = utf8_tail(1, 0x80, 0xBF);
      } else if (c == 0xE0) {
        ok = utf8_tail(2, 0xA0, 0xBF);
      } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        ok = utf8_tail(2, 0x80, 0xBF);
      } else if (c == 0xED) {
        ok = utf8_tail(2, 0x80, 0x9F);
      } else if (c == 0xF0) {
        ok = utf8_tail(3, 0x90, 0xBF);
      } else if (c >= 0xF1 && c <= 0xF3) {
        ok = utf8_tail(3, 0x80, 0xBF);
      } else if (c == 0xF4) {
        ok = utf8_tail(3, 0x80, 0x8F);
      }
      if (!ok) {
        return false;
      }
    }
  }

  bool digits() {
    const size_t start = i_;
    while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9') {
      ++i_;
    }
    return i_ > start;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number() {
    const size_t start = i_;
    if (!at_end() && s_[i_] == '-') {
      ++i_;
    }
    if (at_end()) {
      return false;
    }
    if (s_[i_] == '0') {
      ++i_;
    } else if (s_[i_] >= '1' && s_[i_] <= '9') {
      digits();
    } else {
      return false;
    }
    bool integer = true;
    if (!at_end() && s_[i_] == '.') {
      integer = false;
      ++i_;
      if (!digits()) {
        return false;
      }
    }
    if (!at_end() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integer = false;
      ++i_;
      if (!at_end() && (s_[i_] == '+' || s_[i_] == '-')) {
        ++i_;
      }
      if (!digits()) {
        return false;
      }
    }
    const size_t length = i_ - start;
    if (length > kMaxNumberLength) {
      return false;
    }
    if (!integer) {
      // nlohmann rejects numbers that overflow to infinity.
      const std::string token(s_.substr(start, length));
      if (!std::isfinite(std::strtod(token.c_str(), nullptr))) {
        return false;
      }
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) {
      return false;
    }
    i_ += word.size();
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

size_t Object::count(std::string_view key) const {
  size_t n = 0;
  for (const Member& m : members) {
    n += !m.key_escaped && m.key == key ? 1 : 0;
  }
  return n;
}

const Member* Object::find(std::string_view key) const {
  for (const Member& m : members) {
    if (!m.key_escaped && m.key == key) {
      return &m;
    }
  }
  return nullptr;
}

bool Object::any_key_escaped() const {
  for (const Member& m : members) {
    if (m.key_escaped) {
      return true;
    }
  }
  return false;
}

bool Object::any_key_repeated() const {
  for (size_t a = 0; a < members.size(); ++a) {
    for (size_t b = a + 1; b < members.size(); ++b) {
      if (members[a].key == members[b].key) {
        return true;
      }
    }
  }
  return false;
}

bool scan(std::string_view text, Document* out) {
  *out = Document{};
  return Scanner(text).document(out);
}

}  // namespace brindle::etcd::json_shape
