#include "brindle/common/log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace brindle::log {
namespace {

TEST(LogTest, LevelsParseAndPrint) {
  for (Level level : {Level::trace, Level::debug, Level::info, Level::warn, Level::error}) {
    EXPECT_EQ(parse_level(level_name(level)), level);
  }
  EXPECT_EQ(parse_level("warning"), Level::warn);
  EXPECT_EQ(parse_level("INFO"), std::nullopt);
  EXPECT_EQ(parse_level(""), std::nullopt);
}

TEST(LogTest, RecordsAreLogfmtWithQuotingWhereNeeded) {
  const Field fields[] = {{"path", "/usr/lib/x.so"},
                          {"reason", "no such file"},
                          {"empty", ""},
                          {"quote", "say \"hi\"\\"},
                          {"count", 3},
                          {"ok", true}};
  EXPECT_EQ(format_record(Level::warn, "plugin skipped", fields),
            "level=warn msg=\"plugin skipped\" path=/usr/lib/x.so reason=\"no such file\" "
            "empty=\"\" quote=\"say \\\"hi\\\"\\\\\" count=3 ok=true");
}

TEST(LogTest, LineBreaksNeverSplitARecord) {
  const Field fields[] = {{"detail", "a\nb\r\x01"}};
  const std::string line = format_record(Level::error, "multi\nline", fields, "raw=1\nfake=2");
  EXPECT_EQ(line, "level=error msg=\"multi\\nline\" detail=\"a\\nb\\r\\x01\" raw=1\\nfake=2");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LogTest, TimestampIsRfc3339UtcOfTheMomentOfWriting) {
  using namespace std::chrono;
  const auto before = floor<milliseconds>(system_clock::now());
  const std::string line = format_record(Level::info, "x", {}, {}, true);
  const auto after = floor<milliseconds>(system_clock::now());
  // ts=2024-05-01T12:00:00.123Z level=info msg=x
  ASSERT_GT(line.size(), 28u);
  EXPECT_TRUE(line.starts_with("ts=")) << line;
  EXPECT_EQ(line[7], '-');
  EXPECT_EQ(line[13], 'T');
  EXPECT_EQ(line[26], 'Z');
  EXPECT_TRUE(line.ends_with(" level=info msg=x")) << line;
  // The same instant read back with the C library's own calendar (timegm).
  std::tm utc{};
  int millis = -1;
  ASSERT_EQ(std::sscanf(line.c_str(), "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &utc.tm_year, &utc.tm_mon,
                        &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &millis),
            7)
      << line;
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  const auto written = system_clock::from_time_t(timegm(&utc)) + milliseconds(millis);
  EXPECT_LE(before, written) << line;
  EXPECT_LE(written, after) << line;
}

TEST(LogTest, LoggerFiltersByLevelAndWritesWholeRecords) {
  std::vector<std::string> lines;
  Logger& l = logger();
  l.set_timestamps(false);
  l.set_sink([&](std::string_view line) { lines.emplace_back(line); });
  l.set_level(Level::warn);
  info("hidden");
  warn("shown", {{"k", "v"}});
  EXPECT_FALSE(l.enabled(Level::info));
  EXPECT_TRUE(l.enabled(Level::error));
  l.set_level(Level::trace);
  trace("now shown");

  // Concurrent writers: every record arrives whole.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 100; ++i) {
        info("concurrent", {{"thread", t}, {"i", i}});
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  l.set_sink({});
  l.set_level(Level::info);
  l.set_timestamps(true);
  ASSERT_EQ(lines.size(), 402u);
  EXPECT_EQ(lines[0], "level=warn msg=shown k=v");
  EXPECT_EQ(lines[1], "level=trace msg=\"now shown\"");
  for (std::size_t i = 2; i < lines.size(); ++i) {
    EXPECT_TRUE(lines[i].starts_with("level=info msg=concurrent thread=")) << lines[i];
  }
}

}  // namespace
}  // namespace brindle::log
