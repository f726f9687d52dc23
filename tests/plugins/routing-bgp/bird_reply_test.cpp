// The BIRD control-socket reply parser on replies recorded from bird 2.0.12 (and BIRD 1.6's
// lower-case headings), and on malformed replies: a clear error naming the line, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bird_reply.hpp"

namespace {

using brindle::bgp::BirdProtocol;
using brindle::bgp::BirdReply;
using brindle::bgp::BirdReplyError;
using brindle::bgp::BirdReplyParser;
using brindle::bgp::parse_bird_reply;
using brindle::bgp::parse_show_protocols;

std::string read_seed(const std::string& name) {
  std::ifstream in(std::string(BRINDLE_BIRD_REPLY_CORPUS) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the BirdReplyError `fn` throws ("" if none).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const BirdReplyError& e) {
    return e.what();
  }
  return "";
}

TEST(BirdReply, Greeting) {
  const BirdReply r = parse_bird_reply(read_seed("greeting"));
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.final_code, 1);
  EXPECT_EQ(r.lines[0].text, "BIRD 2.0.12 ready.");
  EXPECT_FALSE(r.is_error());
}

TEST(BirdReply, ShowProtocolsBird2RecordedFromBird2012) {
  const BirdReply r = parse_bird_reply(read_seed("show_protocols_bird2"));
  EXPECT_EQ(r.final_code, 0);
  // Continuation lines (leading space) keep the code of the line before them.
  EXPECT_EQ(r.texts(1002).size(), 6u);
  const std::vector<BirdProtocol> rows = parse_show_protocols(r);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0].name, "device1");
  EXPECT_EQ(rows[0].proto, "Device");
  EXPECT_EQ(rows[0].info, "");
  EXPECT_EQ(rows[4].name, "Mesh_198_19_7_2");
  EXPECT_EQ(rows[4].proto, "BGP");
  EXPECT_EQ(rows[4].table, "---");
  EXPECT_EQ(rows[4].state, "up");
  EXPECT_EQ(rows[4].since, "2026-11-26 15:55:36.949");
  EXPECT_EQ(rows[4].info, "Established");
  EXPECT_EQ(rows[5].state, "start");
  EXPECT_EQ(rows[5].info, "Active        Socket: No route to host");
}

TEST(BirdReply, ShowProtocolsBird1LowerCaseHeadingAndShortTimes) {
  const std::vector<BirdProtocol> rows =
      parse_show_protocols(parse_bird_reply(read_seed("show_protocols_bird1")));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].name, "kernel1");
  EXPECT_EQ(rows[1].since, "10:01:02");
  EXPECT_EQ(rows[2].since, "2026-11-25");  // a date alone: no time follows
  EXPECT_EQ(rows[2].info, "Established");
  EXPECT_EQ(rows[3].info, "Active        Socket: Connection refused");
}

TEST(BirdReply, ShowProtocolsAllKeepsDetailLines) {
  const BirdReply r = parse_bird_reply(read_seed("show_protocols_all"));
  const std::vector<std::string> details = r.texts(1006);
  ASSERT_FALSE(details.empty());
  EXPECT_EQ(details[0], "  BGP state:          Established");
  EXPECT_EQ(parse_show_protocols(r).size(), 1u);
}

TEST(BirdReply, ConfigureAndStatusEndWithSpaceSeparatedLine) {
  const BirdReply configure = parse_bird_reply(read_seed("configure"));
  EXPECT_EQ(configure.final_code, 3);
  ASSERT_EQ(configure.lines.size(), 2u);
  EXPECT_EQ(configure.lines[1].text, "Reconfigured");
  const BirdReply status = parse_bird_reply(read_seed("show_status"));
  EXPECT_EQ(status.final_code, 13);
  EXPECT_EQ(status.texts(1011).size(), 3u);
}

TEST(BirdReply, TabInContinuationIsText) {
  const BirdReply r = parse_bird_reply(read_seed("show_route"));
  EXPECT_EQ(r.texts(1007)[2], "\tdev v0");
}

TEST(BirdReply, ErrorsAreErrors) {
  const BirdReply r = parse_bird_reply(read_seed("syntax_error"));
  EXPECT_TRUE(r.is_error());
  EXPECT_EQ(r.error_message(), "9001 syntax error, unexpected CF_SYM_UNDEFINED");
  EXPECT_NE(error_of([&] { parse_show_protocols(r); }).find("9001 syntax error"),
            std::string::npos);
  const BirdReply runtime = parse_bird_reply("8003 No protocols match\n");
  EXPECT_TRUE(runtime.is_error());
}

TEST(BirdReply, BareEndMarkerEndsTheReply) {
  const BirdReply r = parse_bird_reply("2002-Name Proto Table State Since Info\n0000\n");
  EXPECT_EQ(r.final_code, 0);
  EXPECT_TRUE(parse_show_protocols(r).empty());
}

TEST(BirdReply, MalformedRepliesNameTheLine) {
  EXPECT_EQ(error_of([] { parse_bird_reply("hello\n"); }),
            "BIRD reply line 1 \"hello\": expected a 4-digit code or a continuation line "
            "starting with a space");
  EXPECT_EQ(error_of([] { parse_bird_reply(" orphan\n0000 \n"); }),
            "BIRD reply line 1 \" orphan\": continuation line (leading space) without a "
            "preceding code");
  EXPECT_EQ(error_of([] { parse_bird_reply("1002-row\n1002+row\n0000 \n"); }),
            "BIRD reply line 2 \"1002+row\": the code must be followed by '-' (more follows) or "
            "' ' (last line)");
  EXPECT_EQ(error_of([] { parse_bird_reply("0003 Reconfigured\n0000 \n"); }),
            "BIRD reply line 2 \"0000 \": data after the end of the reply");
  EXPECT_EQ(error_of([] { parse_bird_reply("1002-row\n"); }),
            "BIRD reply: incomplete (1 lines and no final line)");
  EXPECT_EQ(error_of([] { parse_bird_reply("0003 Reconfigured"); }),
            "BIRD reply: last line \"0003 Reconfigured\" is not terminated by a newline");
  EXPECT_EQ(error_of([] {
              parse_bird_reply(
                  std::string("00\x01"
                              "3 x\n",
                              7));
            }),
            "BIRD reply line 1 \"00\\x013 x\": expected a 4-digit code or a continuation line "
            "starting with a space");
  EXPECT_EQ(error_of([] { parse_bird_reply("12a4 x\n"); }),
            "BIRD reply line 1 \"12a4 x\": expected a 4-digit code or a continuation line "
            "starting with a space");
  EXPECT_EQ(error_of([] { parse_bird_reply("0003 x\r\n"); }),
            "BIRD reply line 1 \"0003 x\\x0d\": contains a NUL or carriage return");
  const std::string long_line = "1002-" + std::string(brindle::bgp::kMaxBirdLine, 'x');
  EXPECT_NE(error_of([&] {
              parse_bird_reply(long_line + "\n0000 \n");
            }).find("line longer than 16384 bytes"),
            std::string::npos);
}

TEST(BirdReply, MalformedShowProtocolsNamesTheRow) {
  EXPECT_EQ(error_of([] {
              parse_show_protocols(parse_bird_reply("1002-device1 Device --- up 10:00\n0000 \n"));
            }),
            "show protocols: line 1 \"device1 Device --- up 10:00\": table row before the 2002 "
            "heading");
  EXPECT_EQ(error_of([] {
              parse_show_protocols(
                  parse_bird_reply("2002-Name Proto Table State Since Info\n1002-x BGP\n0000 \n"));
            }),
            "show protocols: line 2 \"x BGP\": expected at least Name Proto Table State Since");
  EXPECT_EQ(
      error_of([] { parse_show_protocols(parse_bird_reply("2002-Network Gateway\n0000 \n")); }),
      "show protocols: line 1 \"Network Gateway\": unexpected heading (want Name Proto "
      "Table State Since Info)");
  EXPECT_EQ(error_of([] { parse_show_protocols(parse_bird_reply("0000 \n")); }),
            "show protocols: reply has no 2002 heading line");
}

TEST(BirdReply, IncrementalParserMatchesWholeBuffer) {
  const std::string text = read_seed("show_protocols_bird2");
  BirdReplyParser parser;
  std::istringstream lines(text);
  std::string line;
  size_t fed = 0;
  while (std::getline(lines, line)) {
    ++fed;
    const bool done = parser.feed(line);
    EXPECT_EQ(done, !lines.eof() && lines.peek() == EOF) << "line " << fed;
  }
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(parser.reply().lines.size(), parse_bird_reply(text).lines.size());
}

// Every seed of the fuzzer either parses or raises BirdReplyError; the malformed_* ones raise.
TEST(BirdReply, FuzzSeedsParseOrFailCleanly) {
  size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BRINDLE_BIRD_REPLY_CORPUS)) {
    ++seeds;
    const std::string name = entry.path().filename().string();
    const std::string error = error_of([&] { parse_bird_reply(read_seed(name)); });
    if (name.rfind("malformed_", 0) == 0) {
      EXPECT_NE(error, "") << name;
    } else {
      EXPECT_EQ(error, "") << name;
    }
  }
  EXPECT_GE(seeds, 10u);
}

}  // namespace
