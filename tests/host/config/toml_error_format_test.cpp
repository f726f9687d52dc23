// toml11's multi-line error text reduced to "<file>:<line>:<column>: <message>".
#include <string>

#include <gtest/gtest.h>

#include "toml_document.hpp"

namespace brindle::config::detail {
namespace {

TEST(TomlErrorFormat, SingleLocationWithCaret) {
  const std::string toml11 =
      "[error] toml::parse_key_value_pair: missing key-value separator `=`\n"
      " --> /etc/brindle/brindle.toml\n"
      "   |\n"
      " 7 | name \"a\"\n"
      "   |     ^--- should be `=`";
  EXPECT_EQ(reformat_toml_error(toml11, "b.toml", 1, 1),
            "b.toml:7:5: missing key-value separator `=`: should be `=`");
}

TEST(TomlErrorFormat, LastLocationWinsAndEarlierOnesBecomeContext) {
  const std::string toml11 =
      "[error] toml::insert_value: value (\"a\") already exists.\n"
      " --> b.toml\n"
      "    |\n"
      "  9 | a = 1\n"
      "    |     ^--- value already exists here\n"
      " ...\n"
      " 12 |   a = 22\n"
      "    |       ~~ value defined twice";
  EXPECT_EQ(reformat_toml_error(toml11, "b.toml", 1, 1),
            "b.toml:12:7: value (\"a\") already exists: value defined twice (value already exists "
            "here at 9:5)");
}

TEST(TomlErrorFormat, EmptyHeadlineUsesTheComment) {
  const std::string toml11 =
      "[error] toml::parse_boolean: \n"
      " --> b.toml\n"
      "   |\n"
      " 3 |   a = tru\n"
      "   |       ^--- the next token is not a boolean";
  EXPECT_EQ(reformat_toml_error(toml11, "b.toml", 1, 1),
            "b.toml:3:7: the next token is not a boolean");
}

TEST(TomlErrorFormat, HintsAreAppended) {
  const std::string toml11 =
      "[error] bad value\n"
      " --> b.toml\n"
      "   |\n"
      " 2 | x = 01\n"
      "   |     ^--- leading zero\n"
      "   |\n"
      "Hint: write 1";
  EXPECT_EQ(reformat_toml_error(toml11, "b.toml", 1, 1),
            "b.toml:2:5: bad value: leading zero (hint: write 1)");
}

TEST(TomlErrorFormat, EmptyUnderlineOnAnEmptyLine) {
  // toml11 prints no '~' when the region starts on an empty line.
  const std::string toml11 =
      "[error] toml::parse_array: unclosed\n"
      " --> b.toml\n"
      "   |\n"
      " 4 | \n"
      "   |  missing `]`";
  EXPECT_EQ(reformat_toml_error(toml11, "b.toml", 1, 1), "b.toml:4:1: unclosed: missing `]`");
}

TEST(TomlErrorFormat, WithoutUnderlinedSourceTheFallbackLocationIsUsed) {
  EXPECT_EQ(reformat_toml_error("something odd", "b.toml", 5, 6), "b.toml:5:6: something odd");
  EXPECT_EQ(reformat_toml_error("", "b.toml", 0, 0), "b.toml:1:1: invalid TOML");
}

TEST(TomlErrorFormat, ControlCharactersAreEscaped) {
  const std::string toml11 = "[error] key (\"a\nb\") is odd\t.";
  EXPECT_EQ(reformat_toml_error(toml11, "b.toml", 2, 3), "b.toml:2:3: key (\"a\\nb\") is odd\\t");
}

TEST(TomlErrorFormat, QuoteEscapes) {
  EXPECT_EQ(quote("plain"), "\"plain\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote(std::string("x\x01y", 3)), "\"x\\x01y\"");
}

}  // namespace
}  // namespace brindle::config::detail
