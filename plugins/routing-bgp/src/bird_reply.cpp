#include "bird_reply.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace brindle::bgp {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
      ++i;
    }
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') {
      ++i;
    }
    if (i > start) {
      words.push_back(s.substr(start, i - start));
    }
  }
  return words;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// "2026-11-26" (BIRD's iso dates), the first half of a two-word "since".
bool looks_like_date(std::string_view w) {
  return w.size() == 10 && is_digit(w[0]) && is_digit(w[3]) && w[4] == '-' && w[7] == '-';
}
// "15:51:19" or "15:51:19.123".
bool looks_like_time(std::string_view w) {
  return w.size() >= 8 && is_digit(w[0]) && is_digit(w[1]) && w[2] == ':' && w[5] == ':';
}

}  // namespace

std::string quote_line(std::string_view line) {
  constexpr size_t kShown = 80;
  std::string out = "\"";
  for (size_t i = 0; i < line.size() && i < kShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (line.size() > kShown) {
    out += "... (" + std::to_string(line.size()) + " bytes)";
  }
  return out;
}

std::vector<std::string> BirdReply::texts(int code) const {
  std::vector<std::string> out;
  for (const BirdLine& l : lines) {
    if (l.code == code) {
      out.push_back(l.text);
    }
  }
  return out;
}

std::string BirdReply::error_message() const {
  std::string out;
  for (const BirdLine& l : lines) {
    if (l.code >= 8000) {
      char code[16];  // room for any int, so -Wformat-truncation stays quiet at -O2
      std::snprintf(code, sizeof(code), "%04d", l.code);
      out += out.empty() ? "" : "; ";
      out += code;
      out += ' ';
      out += l.text;
    }
  }
  return out;
}

void BirdReplyParser::reset() {
  reply_ = {};
  current_code_ = -1;
  line_number_ = 0;
  complete_ = false;
}

bool BirdReplyParser::feed(std::string_view line) {
  ++line_number_;
  const std::string where = "BIRD reply line " + std::to_string(line_number_) + " ";
  if (complete_) {
    throw BirdReplyError(where + quote_line(line) + ": data after the end of the reply");
  }
  if (line.size() > kMaxBirdLine) {
    throw BirdReplyError(where + quote_line(line) + ": line longer than " +
                         std::to_string(kMaxBirdLine) + " bytes");
  }
  if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
    throw BirdReplyError(where + quote_line(line) + ": contains a NUL or carriage return");
  }
  if (!line.empty() && line[0] == ' ') {
    if (current_code_ < 0) {
      throw BirdReplyError(where + quote_line(line) +
                           ": continuation line (leading space) without a preceding code");
    }
    reply_.lines.push_back({current_code_, std::string(line.substr(1))});
    return false;
  }
  if (line.size() < 4 || !std::all_of(line.begin(), line.begin() + 4, is_digit)) {
    throw BirdReplyError(where + quote_line(line) +
                         ": expected a 4-digit code or a continuation line starting with a space");
  }
  const int code =
      (line[0] - '0') * 1000 + (line[1] - '0') * 100 + (line[2] - '0') * 10 + (line[3] - '0');
  const char separator = line.size() > 4 ? line[4] : ' ';  // "0000" alone ends a reply too
  if (separator != '-' && separator != ' ') {
    throw BirdReplyError(where + quote_line(line) +
                         ": the code must be followed by '-' (more follows) or ' ' (last line)");
  }
  reply_.lines.push_back({code, std::string(line.size() > 5 ? line.substr(5) : "")});
  current_code_ = code;
  if (separator == ' ' || code == 0) {
    reply_.final_code = code;
    complete_ = true;
  }
  return complete_;
}

BirdReply parse_bird_reply(std::string_view text) {
  BirdReplyParser parser;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      throw BirdReplyError("BIRD reply: last line " + quote_line(text.substr(start)) +
                           " is not terminated by a newline");
    }
    parser.feed(text.substr(start, end - start));
    start = end + 1;
  }
  if (!parser.complete()) {
    throw BirdReplyError("BIRD reply: incomplete (" + std::to_string(parser.reply().lines.size()) +
                         " lines and no final line)");
  }
  return parser.take();
}

std::vector<BirdProtocol> parse_show_protocols(const BirdReply& reply) {
  if (reply.is_error()) {
    throw BirdReplyError("show protocols failed: " + reply.error_message());
  }
  bool heading_seen = false;
  std::vector<BirdProtocol> out;
  size_t index = 0;
  for (const BirdLine& line : reply.lines) {
    ++index;
    if (line.code == 2002) {
      const std::vector<std::string_view> words = split_words(line.text);
      if (words.size() < 4 || lower(words[0]) != "name" || lower(words[1]) != "proto" ||
          lower(words[2]) != "table" || lower(words[3]) != "state") {
        throw BirdReplyError("show protocols: line " + std::to_string(index) + " " +
                             quote_line(line.text) +
                             ": unexpected heading (want Name Proto Table State Since Info)");
      }
      heading_seen = true;
      continue;
    }
    if (line.code != 1002) {
      continue;  // 0000 end marker, informational lines
    }
    if (!heading_seen) {
      throw BirdReplyError("show protocols: line " + std::to_string(index) + " " +
                           quote_line(line.text) + ": table row before the 2002 heading");
    }
    const std::vector<std::string_view> words = split_words(line.text);
    if (words.size() < 5) {
      throw BirdReplyError("show protocols: line " + std::to_string(index) + " " +
                           quote_line(line.text) +
                           ": expected at least Name Proto Table State Since");
    }
    BirdProtocol p{std::string(words[0]), std::string(words[1]), std::string(words[2]),
                   std::string(words[3]), std::string(words[4]), {}};
    size_t next = 5;
    if (looks_like_date(words[4]) && words.size() > 5 && looks_like_time(words[5])) {
      p.since += " ";
      p.since += words[5];
      next = 6;
    }
    if (next < words.size()) {
      // Info is the rest of the line as BIRD printed it (it may hold aligned columns).
      const size_t offset = static_cast<size_t>(words[next].data() - line.text.data());
      p.info = std::string(trim(std::string_view(line.text).substr(offset)));
    }
    out.push_back(std::move(p));
  }
  if (!heading_seen) {
    throw BirdReplyError("show protocols: reply has no 2002 heading line");
  }
  return out;
}

}  // namespace brindle::bgp
