#include "brindle/common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "brindle/common/strings.hpp"

namespace brindle::log {

std::string_view level_name(Level level) {
  switch (level) {
    case Level::trace:
      return "trace";
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "error";
}

std::optional<Level> parse_level(std::string_view name) {
  for (Level level : {Level::trace, Level::debug, Level::info, Level::warn, Level::error}) {
    if (name == level_name(level)) {
      return level;
    }
  }
  if (name == "warning") {
    return Level::warn;
  }
  return std::nullopt;
}

namespace {

// Calendar arithmetic only: gmtime_r would load /etc/localtime on first use (six system calls in
// every brindle-cni run, which logs one line).
std::string utc_timestamp() {
  using namespace std::chrono;
  const auto now = floor<milliseconds>(system_clock::now());
  const auto day = floor<days>(now);
  const year_month_day date(day);
  const hh_mm_ss time(now - day);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                static_cast<int>(time.subseconds().count()));
  return buffer;
}

// systemd sets JOURNAL_STREAM=<device>:<inode> of the stream stderr is connected to.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) {
    return false;
  }
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) {
    return false;
  }
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) {
    return false;
  }
  return device == st.st_dev && inode == st.st_ino;
}

void write_all(int fd, const std::string& text) {
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;  // nowhere left to report a failing stderr
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
}

}  // namespace

std::string format_record(Level level, std::string_view message, std::span<const Field> fields,
                          std::string_view raw_fields, bool with_timestamp) {
  std::string line;
  line.reserve(64 + message.size() + raw_fields.size());
  if (with_timestamp) {
    line += "ts=";
    line += utc_timestamp();
    line += ' ';
  }
  line += "level=";
  line += level_name(level);
  line += " msg=";
  line += strings::logfmt_value(message);
  for (const Field& field : fields) {
    line += ' ';
    line += field.key;
    line += '=';
    line += strings::logfmt_value(field.value);
  }
  const std::string_view raw = strings::trim(raw_fields);
  if (!raw.empty()) {
    line += ' ';
    line += strings::escape_control(raw);
  }
  return line;
}

struct Logger::State {
  std::atomic<int> level{static_cast<int>(Level::info)};
  std::atomic<bool> timestamps{true};
  std::mutex mutex;  // guards sink and keeps records whole
  Sink sink;
};

Logger::Logger() : state_(new State) {
  state_->timestamps = !stderr_is_journal();
}

void Logger::set_level(Level level) {
  state_->level = static_cast<int>(level);
}

Level Logger::level() const {
  return static_cast<Level>(state_->level.load());
}

bool Logger::enabled(Level level) const {
  return static_cast<int>(level) >= state_->level.load();
}

void Logger::set_sink(Sink sink) {
  std::lock_guard lock(state_->mutex);
  state_->sink = std::move(sink);
}

void Logger::set_timestamps(bool on) {
  state_->timestamps = on;
}

void Logger::write(Level level, std::string_view message, std::span<const Field> fields,
                   std::string_view raw_fields) {
  if (!enabled(level)) {
    return;
  }
  std::string line = format_record(level, message, fields, raw_fields, state_->timestamps.load());
  std::lock_guard lock(state_->mutex);
  if (state_->sink) {
    state_->sink(line);
    return;
  }
  line += '\n';
  write_all(STDERR_FILENO, line);
}

Logger& logger() {
  static Logger* instance = new Logger;  // intentionally leaked, see State
  return *instance;
}

}  // namespace brindle::log
