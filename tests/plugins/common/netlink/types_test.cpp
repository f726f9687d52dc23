// Value types of the netlink adapter and the error category (no kernel needed).
#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>

#include "brindle/netlink/error.hpp"
#include "brindle/netlink/types.hpp"

namespace {

using brindle::netlink::Errc;
using brindle::netlink::IpPrefix;
using brindle::netlink::MacAddress;

TEST(IpPrefix, ParsesBothFamiliesAndFormats) {
  EXPECT_EQ(IpPrefix::parse("198.18.0.0/26").to_string(), "198.18.0.0/26");
  EXPECT_EQ(IpPrefix::parse("198.19.0.7").to_string(), "198.19.0.7/32");
  EXPECT_EQ(IpPrefix::parse("198.19.0.7").to_string(true), "198.19.0.7");
  EXPECT_EQ(IpPrefix::parse("2001:db8::1/64").to_string(), "2001:db8::1/64");
  EXPECT_EQ(IpPrefix::parse("2001:db8::1").prefix_len(), 128);
  EXPECT_TRUE(IpPrefix::parse("2001:db8::1").is_v6());
  EXPECT_EQ(IpPrefix::parse("198.19.0.77/24").network().to_string(), "198.19.0.0/24");
  EXPECT_EQ(IpPrefix::parse("198.19.0.77/24").address().to_string(), "198.19.0.77/32");
  EXPECT_EQ(IpPrefix::parse("2001:db8:1:2::9/63").network().to_string(), "2001:db8:1:2::/63");
  EXPECT_EQ(IpPrefix().to_string(), "<none>");
}

TEST(IpPrefix, RejectsBadInputNamingIt) {
  for (const char* bad : {"198.18.0.0/33", "198.18.0/24", "2001:db8::/129", "x", "198.18.0.0/",
                          "198.18.0.0/2a", ""}) {
    EXPECT_FALSE(IpPrefix::try_parse(bad).has_value()) << bad;
    try {
      IpPrefix::parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + std::string(bad) + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(IpPrefix, Contains) {
  const IpPrefix subnet = IpPrefix::parse("198.19.0.1/24");
  EXPECT_TRUE(subnet.contains(IpPrefix::parse("198.19.0.200")));
  EXPECT_TRUE(subnet.contains(IpPrefix::parse("198.19.0.2/24")));
  EXPECT_FALSE(subnet.contains(IpPrefix::parse("198.19.1.2")));
  EXPECT_FALSE(subnet.contains(IpPrefix::parse("2001:db8::1")));
  EXPECT_TRUE(IpPrefix::parse("2001:db8::/32").contains(IpPrefix::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(IpPrefix().contains(IpPrefix()));
}

TEST(IpPrefix, RoundTripsThroughTheAbiStruct) {
  const IpPrefix prefix = IpPrefix::parse("2001:db8:4::/48");
  const brindle_ip_prefix_t raw = prefix.to_abi();
  EXPECT_EQ(raw.family, 6);
  EXPECT_EQ(raw.prefix_len, 48);
  EXPECT_EQ(IpPrefix::from_abi(raw), prefix);
  EXPECT_TRUE(IpPrefix::from_abi(brindle_ip_prefix_t{}).empty());
}

TEST(MacAddress, ParsesAndFormats) {
  EXPECT_EQ(MacAddress::parse("66:42:0A:bb:cc:01").to_string(), "66:42:0a:bb:cc:01");
  EXPECT_TRUE(MacAddress().is_zero());
  for (const char* bad : {"66:42:0a:bb:cc", "66-42-0a-bb-cc-01", "zz:42:0a:bb:cc:01", ""}) {
    EXPECT_THROW(MacAddress::parse(bad), std::invalid_argument) << bad;
  }
}

TEST(ErrorCategory, NamesLibnlCausesAndMapsToStatus) {
  const std::error_code missing = Errc::not_found;
  EXPECT_STREQ(missing.category().name(), "libnl");
  EXPECT_EQ(missing.message(), "Object not found");
  EXPECT_EQ(std::error_code(Errc::exists).message(), "Object exists");
  EXPECT_EQ(brindle::netlink::libnl_error(-12), missing);
  EXPECT_EQ(brindle::netlink::to_status(missing), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(brindle::netlink::to_status(Errc::exists), BRINDLE_ERR_ALREADY_EXISTS);
  EXPECT_EQ(brindle::netlink::to_status(Errc::failure, EPERM), BRINDLE_ERR_PERMISSION);
  EXPECT_EQ(brindle::netlink::to_status(Errc::failure, ENETUNREACH), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(brindle::netlink::to_status(std::error_code()), BRINDLE_OK);

  const brindle::netlink::NetlinkError error(Errc::not_found, "delete route 198.18.0.0/26", ESRCH,
                                             "");
  EXPECT_TRUE(error.is_not_found());
  EXPECT_EQ(std::string(error.what()),
            "delete route 198.18.0.0/26: Object not found (kernel: No such process)");
}

}  // namespace
