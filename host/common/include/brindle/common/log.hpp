// Structured logging to stderr, one logfmt record per line, so journald (and humans) can read it:
//   ts=2024-05-01T12:00:00.123Z level=info msg="plugin loaded" plugin=encap/none path=/x.so
// The timestamp is left out when stderr is connected to the journal (JOURNAL_STREAM matches),
// because journald stamps every line itself. Thread-safe: a record is written with one write(2).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace brindle::log {

enum class Level { trace = 0, debug = 1, info = 2, warn = 3, error = 4 };

// "trace", "debug", "info", "warn", "error".
std::string_view level_name(Level level);
// Accepts the five names above (and "warning"); nullopt otherwise.
std::optional<Level> parse_level(std::string_view name);

// One key=value pair of a record. The value is quoted and escaped as logfmt needs when written.
struct Field {
  std::string_view key;
  std::string value;

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v == nullptr ? "" : v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const std::filesystem::path& v) : key(k), value(v.string()) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <typename Number>
  requires(std::is_arithmetic_v<Number> && !std::is_same_v<Number, bool>)
      Field(std::string_view k, Number v)
      : key(k), value(std::to_string(v)) {}
};

// Formats one record without the trailing newline. `raw_fields` is an already formatted logfmt
// fragment (from a plugin) appended as is, after line breaks in it have been escaped.
std::string format_record(Level level, std::string_view message, std::span<const Field> fields,
                          std::string_view raw_fields = {}, bool with_timestamp = false);

class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;  // line without '\n'

  Logger();

  void set_level(Level level);
  Level level() const;
  bool enabled(Level level) const;
  // Replaces stderr as the destination (tests); an empty sink restores stderr.
  void set_sink(Sink sink);
  void set_timestamps(bool on);

  void write(Level level, std::string_view message, std::span<const Field> fields,
             std::string_view raw_fields = {});

 private:
  struct State;
  State* state_;  // never freed: the process-wide logger must outlive every static destructor
};

// The process-wide logger.
Logger& logger();

inline void write(Level level, std::string_view message, std::initializer_list<Field> fields = {}) {
  if (logger().enabled(level)) {
    logger().write(level, message, std::span<const Field>(fields.begin(), fields.size()));
  }
}
inline void trace(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::trace, message, fields);
}
inline void debug(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::debug, message, fields);
}
inline void info(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::info, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::warn, message, fields);
}
inline void error(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::error, message, fields);
}

}  // namespace brindle::log
