// Unit tests of the etcd plugin's key layout and document handling (no etcd needed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "documents.h"
#include "key_layout.h"

namespace brindle::etcd {
namespace {

using nlohmann::json;

brindle_status_t code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return BRINDLE_OK;
}

TEST(KeyLayout, FormatsAndParsesBothScopes) {
  const KeyLayout layout("/brindle/v1/");
  EXPECT_EQ(layout.key_of({"IPPool", "", "default"}), "/brindle/v1/IPPool/_/default");
  EXPECT_EQ(layout.key_of({"NetworkPolicy", "prod", "deny"}),
            "/brindle/v1/NetworkPolicy/prod/deny");
  EXPECT_EQ(layout.parse("/brindle/v1/IPPool/_/default"), (ResourceKey{"IPPool", "", "default"}));
  EXPECT_EQ(layout.parse("/brindle/v1/NetworkPolicy/prod/deny"),
            (ResourceKey{"NetworkPolicy", "prod", "deny"}));
}

TEST(KeyLayout, AddsTrailingSlashToPrefix) {
  EXPECT_EQ(KeyLayout("/x").key_of({"Node", "", "n1"}), "/x/Node/_/n1");
}

TEST(KeyLayout, RejectsKeysThatCannotRoundTrip) {
  const KeyLayout layout("/brindle/v1/");
  EXPECT_EQ(code_of([&] { layout.key_of({"IPPool", "", "a/b"}); }), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { layout.key_of({"", "", "a"}); }), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { layout.key_of({"IPPool", "", ""}); }), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] {
              layout.key_of({"NetworkPolicy", "_", "a"});
            }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] {
              layout.key_of({"IPPool", "", std::string("a\nb")});
            }),
            BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST(KeyLayout, ParseRejectsGarbage) {
  const KeyLayout layout("/brindle/v1/");
  EXPECT_FALSE(layout.parse("/brindle/v1/junk"));
  EXPECT_FALSE(layout.parse("/brindle/v1/IPPool/_"));
  EXPECT_FALSE(layout.parse("/brindle/v1/IPPool/_/"));
  EXPECT_FALSE(layout.parse("/brindle/v1/IPPool/_/a/b"));
  EXPECT_FALSE(layout.parse("/brindle/v1//_/a"));
  EXPECT_FALSE(layout.parse("/other/IPPool/_/a"));
}

TEST(KeyLayout, RangeEnds) {
  EXPECT_EQ(KeyLayout::prefix_range_end("/brindle/v1/"), "/brindle/v10");
  EXPECT_EQ(KeyLayout::prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(KeyLayout::prefix_range_end(std::string("\xff", 1)), std::string(1, '\0'));
  const KeyLayout layout("/p/");
  EXPECT_EQ(layout.range_start("", "ns"), "/p/");  // namespace alone is filtered, not ranged
  EXPECT_EQ(layout.range_start("Node", ""), "/p/Node/");
  EXPECT_EQ(layout.range_start("NetworkPolicy", "prod"), "/p/NetworkPolicy/prod/");
}

TEST(Documents, CreateSetsOwnedMetadataAndKeepsFieldOrder) {
  const std::string stored = document_for_create(
      R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":"p","revision":"9"},"spec":{"cidr":"198.18.0.0/16"}})",
      {"IPPool", "", "p"}, "uid-1", "2024-01-02T03:04:05Z");
  EXPECT_EQ(
      stored,
      R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":"p","uid":"uid-1","creationTimestamp":"2024-01-02T03:04:05Z"},"spec":{"cidr":"198.18.0.0/16"}})");
}

TEST(Documents, CreateFillsIdentityAndRejectsContradictions) {
  const json filled = json::parse(
      document_for_create(R"({"spec":{}})", {"NetworkPolicy", "prod", "deny"}, "u", "t"));
  EXPECT_EQ(filled["kind"], "NetworkPolicy");
  EXPECT_EQ(filled["metadata"]["name"], "deny");
  EXPECT_EQ(filled["metadata"]["namespace"], "prod");
  const ResourceKey key{"IPPool", "", "p"};
  EXPECT_EQ(code_of([&] { document_for_create("[1]", key, "u", "t"); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { document_for_create("{", key, "u", "t"); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { document_for_create(R"({"kind":"Node"})", key, "u", "t"); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { document_for_create(R"({"metadata":{"name":"q"}})", key, "u", "t"); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(
      code_of([&] { document_for_create(R"({"metadata":{"namespace":"x"}})", key, "u", "t"); }),
      BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { document_for_create(R"({"metadata":[]})", key, "u", "t"); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST(Documents, UpdateKeepsUidAndCreationTimestamp) {
  const ResourceKey key{"IPPool", "", "p"};
  const std::string old = document_for_create(R"({"spec":{"a":1}})", key, "uid-1", "t0");
  const json updated = json::parse(document_for_update(
      R"({"metadata":{"uid":"forged","creationTimestamp":"t9"},"spec":{"a":2}})", key, old));
  EXPECT_EQ(updated["metadata"]["uid"], "uid-1");
  EXPECT_EQ(updated["metadata"]["creationTimestamp"], "t0");
  EXPECT_EQ(updated["spec"]["a"], 2);
}

TEST(Documents, ReadSetsRevisionAndReportsGarbage) {
  const ResourceKey key{"IPPool", "", "p"};
  std::string problem;
  const auto doc =
      document_for_read(R"({"kind":"IPPool","metadata":{"name":"p"}})", key, "42", &problem);
  ASSERT_TRUE(doc);
  EXPECT_EQ(json::parse(*doc)["metadata"]["revision"], "42");
  EXPECT_FALSE(document_for_read("{nope", key, "1", &problem));
  EXPECT_EQ(problem, "value is not valid JSON");
  EXPECT_FALSE(document_for_read("7", key, "1", &problem));
  EXPECT_FALSE(document_for_read(R"({"kind":"Node"})", key, "1", &problem));
  EXPECT_FALSE(document_for_read(R"({"metadata":{"name":"other"}})", key, "1", &problem));
}

// A write hands back the stored document from its parsed form: exactly what reading the stored
// value would give, identity included, byte for byte.
TEST(Documents, PreparedDocumentsGiveWhatAReadOfTheirValueGives) {
  const ResourceKey key{"IPAMBlock", "", "198-18-0-0-26"};
  const std::string written =
      R"({"spec":{"cidr":"198.18.0.0/26","allocations":[0,null,1],"attributes":[{"x":1.5}],)"
      R"("note":"\u00e9\\"},"metadata":{"revision":"7","labels":{"b":"1","a":"2"}}})";
  PreparedDocument created = prepare_create(written, key, "uid-1", "t0");
  std::string problem;
  StoredIdentity read_identity;
  const auto read = document_for_read(created.value(), key, "43", &problem, &read_identity);
  ASSERT_TRUE(read) << problem;
  StoredIdentity identity;
  EXPECT_EQ(created.stored_at("43", &identity), *read);
  EXPECT_EQ(identity.uid, read_identity.uid);
  EXPECT_EQ(identity.creation_timestamp, read_identity.creation_timestamp);

  PreparedDocument updated = prepare_update(written, key, read_identity);
  EXPECT_EQ(updated.value(), document_for_update(written, key, read_identity));
  const auto reread = document_for_read(updated.value(), key, "44", &problem);
  ASSERT_TRUE(reread) << problem;
  EXPECT_EQ(updated.stored_at("44", nullptr), *reread);
  EXPECT_EQ(json::parse(*reread)["metadata"]["uid"], "uid-1");
}

TEST(Documents, UidsAreVersion4AndDistinct) {
  const std::string a = new_uid();
  const std::string b = new_uid();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);
}

TEST(Documents, Rfc3339) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339_utc(1700000000123456789ULL), "2023-11-14T22:13:20Z");
}

TEST(Documents, LogfmtValues) {
  EXPECT_EQ(logfmt_value("plain/key"), "plain/key");
  EXPECT_EQ(logfmt_value("a b"), "\"a b\"");
  EXPECT_EQ(logfmt_value("q\"\n"), "\"q\\\"\\x0a\"");
  EXPECT_EQ(logfmt_value(""), "\"\"");
}

}  // namespace
}  // namespace brindle::etcd
