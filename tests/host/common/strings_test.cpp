#include "brindle/common/strings.hpp"

#include <gtest/gtest.h>

namespace brindle::strings {
namespace {

TEST(StringsTest, LogfmtValues) {
  EXPECT_EQ(logfmt_value("plain"), "plain");
  EXPECT_EQ(logfmt_value("/a/b.so"), "/a/b.so");
  EXPECT_EQ(logfmt_value(""), "\"\"");
  EXPECT_EQ(logfmt_value("two words"), "\"two words\"");
  EXPECT_EQ(logfmt_value("k=v"), "\"k=v\"");
  EXPECT_EQ(logfmt_value("tab\there"), "\"tab\\there\"");
}

TEST(StringsTest, EscapeControlKeepsTabs) {
  EXPECT_EQ(escape_control("a\tb\nc\x7f"), "a\tb\\nc\\x7f");
}

TEST(StringsTest, Trim) {
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(trim(" \t "), "");
}

TEST(StringsTest, BoundedCString) {
  const char unterminated[4] = {'a', 'b', 'c', 'd'};
  EXPECT_EQ(bounded_c_string(unterminated, sizeof(unterminated)), "abcd");
  EXPECT_EQ(bounded_c_string("ab\0cd", 5), "ab");
  EXPECT_EQ(bounded_c_string(nullptr, 5), "");
}

TEST(StringsTest, HostPort) {
  auto v4 = parse_host_port("127.0.0.1:9099");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9099);
  auto v6 = parse_host_port("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(format_host_port(*v6), "[::1]:0");
  EXPECT_EQ(format_host_port(*v4), "127.0.0.1:9099");
  EXPECT_FALSE(parse_host_port("127.0.0.1"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:65536"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:80x"));
  EXPECT_FALSE(parse_host_port(":80"));
  EXPECT_FALSE(parse_host_port("::1:80"));
  EXPECT_FALSE(parse_host_port("[::1]80"));
}

TEST(StringsTest, IpPrefixes) {
  auto v4 = parse_ip_prefix("198.19.0.1/24");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->family, 4);
  EXPECT_EQ(v4->prefix_len, 24);
  EXPECT_EQ(v4->bytes[0], 198);
  EXPECT_EQ(v4->bytes[3], 1);
  EXPECT_EQ(format_ip_prefix(*v4), "198.19.0.1/24");
  auto v6 = parse_ip_prefix("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family, 6);
  EXPECT_EQ(v6->prefix_len, 128);
  EXPECT_EQ(format_ip_prefix(*v6), "2001:db8::1/128");
  EXPECT_FALSE(parse_ip_prefix("198.19.0.1/33"));
  EXPECT_FALSE(parse_ip_prefix("198.19.0.1/"));
  EXPECT_FALSE(parse_ip_prefix("198.19.0/24"));
  EXPECT_FALSE(parse_ip_prefix("node-a"));
}

TEST(StringsTest, SanitizeIdentifier) {
  EXPECT_EQ(sanitize_identifier("vx-lan.2"), "vx_lan_2");
  EXPECT_EQ(sanitize_identifier("ok_1"), "ok_1");
}

}  // namespace
}  // namespace brindle::strings
