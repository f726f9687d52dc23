// Parser for BIRD's control-socket replies (BIRD 1.6 and 2.x).
//
// Every reply line starts with a 4-digit code followed by '-' (more lines follow) or ' ' (the last
// line of the reply); a line starting with a space continues the previous code. Code 0000 ends a
// table reply. 0xxx: command results, 1xxx: table rows, 2xxx: table headings, 8xxx: run-time
// errors, 9xxx: parse errors. Malformed input raises BirdReplyError naming the line; it never
// crashes, whatever the bytes (fuzzed by tests/fuzz/fuzz_bird_reply.cpp).
//
// Independent of the SDK so that the fuzzer can build it alone.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace brindle::bgp {

class BirdReplyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BirdLine {
  int code = 0;
  std::string text;  // after the code and its separator (or after the leading space)
};

struct BirdReply {
  std::vector<BirdLine> lines;
  int final_code = 0;  // code of the line that ended the reply

  bool is_error() const { return final_code >= 8000; }
  // The text of every line with this code, in order.
  std::vector<std::string> texts(int code) const;
  // "9001 syntax error" style summary of the error lines.
  std::string error_message() const;
};

// Longest reply line accepted; BIRD's own limit is far below.
inline constexpr size_t kMaxBirdLine = size_t{16} * 1024;

// Feeds lines one by one (without the trailing '\n'; a trailing '\r' is not accepted).
class BirdReplyParser {
 public:
  // Returns true once the reply is complete. Throws BirdReplyError on a malformed line or on a
  // line fed after the end.
  bool feed(std::string_view line);
  bool complete() const { return complete_; }
  // The reply so far; complete() tells whether it is whole.
  const BirdReply& reply() const { return reply_; }
  BirdReply take() { return std::move(reply_); }
  void reset();

 private:
  BirdReply reply_;
  int current_code_ = -1;  // code continued by a line starting with a space
  size_t line_number_ = 0;
  bool complete_ = false;
};

// Parses a whole buffer holding exactly one reply (lines separated by '\n'). Throws
// BirdReplyError if malformed, incomplete or followed by more data.
BirdReply parse_bird_reply(std::string_view text);

// One row of `show protocols`.
struct BirdProtocol {
  std::string name;
  std::string proto;  // "BGP", "Kernel", ...
  std::string table;
  std::string state;  // "up", "start", "down"
  std::string since;
  std::string info;  // "Established", "Active        Socket: Connection refused", ...
};

// Parses a `show protocols` reply: a 2002 heading (BIRD 1 lower case or BIRD 2 capitalised) and
// 1002 rows. Throws BirdReplyError naming the row when it cannot be understood.
std::vector<BirdProtocol> parse_show_protocols(const BirdReply& reply);

// For error messages: the line, printable and shortened.
std::string quote_line(std::string_view line);

}  // namespace brindle::bgp
