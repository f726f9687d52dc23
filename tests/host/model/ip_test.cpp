#include "brindle/model/ip.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace brindle::model {
namespace {

TEST(IpAddress, ParsesAndFormatsBothFamilies) {
  auto v4 = IpAddress::parse("198.18.0.1");
  EXPECT_EQ(v4.family(), IpFamily::kV4);
  EXPECT_EQ(v4.to_string(), "198.18.0.1");
  EXPECT_EQ(v4, IpAddress::v4(0xC6120001));

  auto v6 = IpAddress::parse("2001:DB8:0:0:0:0:0:1");
  EXPECT_EQ(v6.family(), IpFamily::kV6);
  EXPECT_EQ(v6.to_string(), "2001:db8::1");  // RFC 5952 form
  EXPECT_EQ(IpAddress::parse("2001:db8:0:1:0:0:0:0").to_string(), "2001:db8:0:1::");
}

TEST(IpAddress, RejectsInvalidText) {
  for (const char* bad :
       {"", "198.18.0", "198.18.0.256", "198.18.0.01", "198.18.0.1/32", "2001:db8::1::2",
        "2001:db8::1%eth0", "fe80::g", " 198.18.0.1", "198.18.0.1 ", "localhost"}) {
    EXPECT_FALSE(IpAddress::try_parse(bad).has_value()) << bad;
  }
  try {
    IpAddress::parse("198.18.0.300");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "\"198.18.0.300\" is not a valid IP address");
  }
}

TEST(IpAddress, OrdersAndAdds) {
  EXPECT_LT(IpAddress::parse("198.18.0.1"), IpAddress::parse("198.18.0.2"));
  EXPECT_LT(IpAddress::parse("198.18.255.255"), IpAddress::parse("2001:db8::"));  // v4 first
  EXPECT_EQ(IpAddress::parse("198.18.0.255").plus(1)->to_string(), "198.18.1.0");
  EXPECT_EQ(IpAddress::parse("2001:db8::ffff").plus(0x10001)->to_string(), "2001:db8::2:0");
  EXPECT_FALSE(IpAddress::parse("255.255.255.255").plus(1).has_value());
  EXPECT_EQ(IpAddress::parse("198.18.0.7").plus(0), IpAddress::parse("198.18.0.7"));
}

TEST(IpPrefix, ParsesAndFormats) {
  auto p = IpPrefix::parse("198.18.0.0/16");
  EXPECT_EQ(p.prefix_length(), 16);
  EXPECT_EQ(p.family(), IpFamily::kV4);
  EXPECT_EQ(p.to_string(), "198.18.0.0/16");
  EXPECT_EQ(IpPrefix::parse("2001:db8::/32").to_string(), "2001:db8::/32");
  EXPECT_EQ(IpPrefix::parse("0.0.0.0/0").size(), uint64_t{1} << 32);
  EXPECT_EQ(IpPrefix::parse("198.18.0.0/26").size(), 64u);
  EXPECT_EQ(IpPrefix::parse("2001:db8::/64").size(), UINT64_MAX);  // saturated
}

TEST(IpPrefix, ReportsWhatIsWrong) {
  std::string why;
  EXPECT_FALSE(IpPrefix::try_parse("198.18.0.0", &why));
  EXPECT_EQ(why, "\"198.18.0.0\" is not a CIDR: expected <address>/<prefix length>");
  EXPECT_FALSE(IpPrefix::try_parse("198.18.0.0/33", &why));
  EXPECT_EQ(why,
            "\"198.18.0.0/33\" is not a valid CIDR: the prefix length must be a number from 0 to "
            "32 for an IPv4 address");
  EXPECT_FALSE(IpPrefix::try_parse("2001:db8::/129", &why));
  EXPECT_NE(why.find("from 0 to 128 for an IPv6 address"), std::string::npos);
  EXPECT_FALSE(IpPrefix::try_parse("198.18.0.x/16", &why));
  EXPECT_EQ(why, "\"198.18.0.x/16\" is not a valid CIDR: \"198.18.0.x\" is not an IP address");
  for (const char* bad : {"198.18.0.0/", "198.18.0.0/-1", "198.18.0.0/+8", "198.18.0.0/08",
                          "198.18.0.0/1 6", "/16", "198.18.0.0/16/1"}) {
    EXPECT_FALSE(IpPrefix::try_parse(bad).has_value()) << bad;
  }
  EXPECT_THROW(IpPrefix::parse("nonsense"), std::invalid_argument);
}

TEST(IpPrefix, MasksAndDetectsHostBits) {
  auto p = IpPrefix::parse("198.18.3.7/16");
  EXPECT_TRUE(p.has_host_bits());
  EXPECT_EQ(p.masked().to_string(), "198.18.0.0/16");
  EXPECT_EQ(p.network().to_string(), "198.18.0.0");
  EXPECT_FALSE(IpPrefix::parse("198.18.0.0/16").has_host_bits());
  EXPECT_EQ(IpPrefix::parse("198.18.0.129/25").masked().to_string(), "198.18.0.128/25");
  EXPECT_EQ(IpPrefix::parse("2001:db8:1:2::5/33").masked().to_string(), "2001:db8::/33");
  EXPECT_EQ(IpPrefix::parse("198.18.0.7/32").masked().to_string(), "198.18.0.7/32");
  EXPECT_EQ(IpPrefix::parse("198.18.0.7/0").masked().to_string(), "0.0.0.0/0");
}

TEST(IpPrefix, ContainsAndOverlaps) {
  auto pool = IpPrefix::parse("198.18.0.0/16");
  EXPECT_TRUE(pool.contains(IpAddress::parse("198.18.255.255")));
  EXPECT_FALSE(pool.contains(IpAddress::parse("198.19.0.0")));
  EXPECT_FALSE(pool.contains(IpAddress::parse("2001:db8::1")));
  EXPECT_TRUE(pool.contains(IpPrefix::parse("198.18.4.0/26")));
  EXPECT_TRUE(pool.contains(pool));
  EXPECT_FALSE(pool.contains(IpPrefix::parse("198.0.0.0/8")));
  EXPECT_TRUE(pool.overlaps(IpPrefix::parse("198.0.0.0/8")));
  EXPECT_FALSE(pool.overlaps(IpPrefix::parse("198.19.0.0/16")));
  EXPECT_FALSE(pool.overlaps(IpPrefix::parse("2001:db8::/32")));
  auto v6 = IpPrefix::parse("2001:db8::/122");
  EXPECT_TRUE(v6.contains(IpAddress::parse("2001:db8::3f")));
  EXPECT_FALSE(v6.contains(IpAddress::parse("2001:db8::40")));
  EXPECT_TRUE(IpPrefix::parse("0.0.0.0/0").contains(IpAddress::parse("198.19.1.1")));
}

TEST(IpPrefix, OrdinalsWithinABlock) {
  auto block = IpPrefix::parse("198.18.1.64/26");
  EXPECT_EQ(block.ordinal_of(IpAddress::parse("198.18.1.64")), 0u);
  EXPECT_EQ(block.ordinal_of(IpAddress::parse("198.18.1.127")), 63u);
  EXPECT_FALSE(block.ordinal_of(IpAddress::parse("198.18.1.128")).has_value());
  EXPECT_EQ(block.address_at(5)->to_string(), "198.18.1.69");
  EXPECT_FALSE(block.address_at(64).has_value());
  auto v6 = IpPrefix::parse("2001:db8::40/122");
  EXPECT_EQ(v6.address_at(63)->to_string(), "2001:db8::7f");
  EXPECT_EQ(v6.ordinal_of(IpAddress::parse("2001:db8::41")), 1u);
}

TEST(IpPrefix, BareAddressesAndHosts) {
  EXPECT_EQ(IpPrefix::parse_address_or_prefix("198.18.0.9").to_string(), "198.18.0.9/32");
  EXPECT_EQ(IpPrefix::parse_address_or_prefix("2001:db8::9").to_string(), "2001:db8::9/128");
  EXPECT_EQ(IpPrefix::parse_address_or_prefix("198.18.0.0/24").to_string(), "198.18.0.0/24");
  EXPECT_TRUE(IpPrefix::host(IpAddress::parse("198.18.0.9")).is_host());
  EXPECT_THROW(IpPrefix(IpAddress::parse("198.18.0.9"), 33), std::invalid_argument);
}

TEST(IpPrefix, ConvertsToAndFromTheAbiStruct) {
  auto p = IpPrefix::parse("2001:db8::/64");
  brindle_ip_prefix_t c = p.to_c();
  EXPECT_EQ(c.family, 6);
  EXPECT_EQ(c.prefix_len, 64);
  EXPECT_EQ(c.addr[0], 0x20);
  EXPECT_EQ(c.addr[1], 0x01);
  EXPECT_EQ(IpPrefix::from_c(c), p);
  brindle_ip_prefix_t v4 = IpPrefix::parse("198.18.0.0/16").to_c();
  EXPECT_EQ(v4.family, 4);
  EXPECT_EQ(v4.addr[0], 198);
  EXPECT_EQ(v4.addr[4], 0);
  EXPECT_EQ(IpPrefix::from_c(v4).to_string(), "198.18.0.0/16");
  brindle_ip_prefix_t bad{};
  bad.family = 5;
  EXPECT_THROW(IpPrefix::from_c(bad), std::invalid_argument);
  bad.family = 4;
  bad.prefix_len = 40;
  EXPECT_THROW(IpPrefix::from_c(bad), std::invalid_argument);
}

TEST(MacAddress, ParsesAndFormats) {
  auto mac = MacAddress::parse("EE:EE:ee:ee:Ee:01");
  EXPECT_EQ(mac.to_string(), "ee:ee:ee:ee:ee:01");
  EXPECT_EQ(MacAddress::parse("02-00-00-00-00-0a").to_string(), "02:00:00:00:00:0a");
  EXPECT_FALSE(mac.is_multicast());
  EXPECT_TRUE(MacAddress::parse("01:00:5e:00:00:01").is_multicast());
  EXPECT_TRUE(MacAddress::parse("00:00:00:00:00:00").is_zero());
  for (const char* bad : {"", "ee:ee:ee:ee:ee", "ee:ee:ee:ee:ee:eg", "ee:ee:ee-ee:ee:ee",
                          "eeee.eeee.eeee", "ee:ee:ee:ee:ee:ee:ee", "+e:ee:ee:ee:ee:ee"}) {
    EXPECT_FALSE(MacAddress::try_parse(bad).has_value()) << bad;
  }
  brindle_mac_t c = mac.to_c();
  EXPECT_EQ(c.bytes[5], 0x01);
}

}  // namespace
}  // namespace brindle::model
