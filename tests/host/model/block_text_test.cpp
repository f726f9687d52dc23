// block_json_text(): the IPAM block's text written directly must be the generic encoder's text,
// byte for byte, for every block (plain and escaped strings, empty and omitted members).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "brindle/model/kinds.hpp"
#include "brindle/model/resource.hpp"

namespace brindle::model {
namespace {

class RandomBlocks {
 public:
  explicit RandomBlocks(uint32_t seed) : random_(seed) {}

  IPAMBlock next() {
    IPAMBlock b;
    b.metadata.name = "198-18-0-0-26";
    if (chance(2)) {
      b.metadata.revision = std::to_string(below(100000));
      b.metadata.uid = "370ecbdf-355b-4440-9359-cb3eb9a99dbf";
      b.metadata.creation_timestamp = "2026-11-27T06:55:54Z";
    }
    if (chance(5)) {
      b.metadata.labels["app"] = text();
      b.metadata.annotations["note"] = text();
    }
    const bool v6 = chance(3);
    if (!chance(20)) {
      b.spec.cidr = IpPrefix::parse(v6 ? "2001:db8:18::/122" : "198.18.0.0/26");
    }
    if (!chance(4)) {
      b.spec.affinity = chance(10) ? text() : "host:node-" + std::to_string(below(10));
    }
    const int size = chance(10) ? 0 : 64;
    for (int i = 0; i < size; ++i) {
      if (chance(3)) {
        b.spec.allocations.emplace_back(std::nullopt);
        b.spec.unallocated.push_back(i);
      } else {
        b.spec.allocations.emplace_back(static_cast<int32_t>(below(70)) - 3);
      }
    }
    const int attributes = static_cast<int>(below(size + 1));
    for (int i = 0; i < attributes; ++i) {
      AllocationAttribute a;
      if (!chance(10)) {
        a.handle_id = chance(15) ? text() : "bench.brindle-c" + std::to_string(i);
      }
      if (!chance(8)) {
        a.secondary["namespace"] = chance(15) ? text() : "bench";
        a.secondary["pod"] = "pod-" + std::to_string(i);
        if (chance(2)) {
          a.secondary[chance(15) ? text() : "node"] = "node-1";
        }
        if (chance(20)) {
          a.secondary["type"] = "";
        }
      }
      b.spec.attributes.push_back(std::move(a));
    }
    b.spec.deleted = chance(10);
    return b;
  }

 private:
  bool chance(int one_in) { return below(one_in) == 0; }
  uint32_t below(int n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(random_); }
  // Strings that need escaping, or not: quotes, backslashes, control characters, UTF-8, DEL.
  std::string text() {
    static const std::string kPieces[] = {"a",  "Z",  "-",    " ",    "\"",       "\\",
                                          "\n", "\t", "\x01", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                          "/",  "{",  "0"};
    std::string out;
    const uint32_t length = below(8);
    for (uint32_t i = 0; i < length; ++i) {
      out += kPieces[below(sizeof(kPieces) / sizeof(kPieces[0]))];
    }
    return out;
  }
  std::mt19937 random_;
};

TEST(BlockJsonText, IsTheGenericEncodersTextForEveryBlock) {
  RandomBlocks blocks(20261127);
  for (int i = 0; i < 2000; ++i) {
    const IPAMBlock block = blocks.next();
    ASSERT_EQ(block_json_text(block), to_json_text(encode(block))) << "block " << i;
  }
}

TEST(BlockJsonText, AFullBlockAsBrindledWritesIt) {
  IPAMBlock b;
  b.metadata.name = "198-18-0-0-26";
  b.metadata.revision = std::to_string(42);
  b.spec.cidr = IpPrefix::parse("198.18.0.0/26");
  b.spec.affinity = "host:bench-node";
  for (int i = 0; i < 64; ++i) {
    b.spec.allocations.emplace_back(i);
    b.spec.attributes.push_back({"bench.brindle-c" + std::to_string(i),
                                 {{"namespace", "bench"},
                                  {"node", "bench-node"},
                                  {"pod", "brindle-" + std::to_string(i)}}});
  }
  const std::string text = block_json_text(b);
  EXPECT_EQ(text, to_json_text(encode(b)));
  // What the datastore gets back decodes to the same block.
  EXPECT_EQ(decode<IPAMBlockSpec>(resource_from_json_text(text)), b);
}

}  // namespace
}  // namespace brindle::model
