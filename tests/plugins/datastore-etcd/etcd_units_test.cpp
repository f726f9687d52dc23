// Unit tests of the etcd plugin's key layout and document handling (no etcd needed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "documents.h"
#include "documents_differential.hpp"
#include "json_shape.h"
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
  const std::string stored =
      prepare_create(
          R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":"p","revision":"9"},"spec":{"cidr":"198.18.0.0/16"}})",
          {"IPPool", "", "p"}, "uid-1", "2024-01-02T03:04:05Z")
          .value();
  EXPECT_EQ(
      stored,
      R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":"p","uid":"uid-1","creationTimestamp":"2024-01-02T03:04:05Z"},"spec":{"cidr":"198.18.0.0/16"}})");
}

TEST(Documents, CreateFillsIdentityAndRejectsContradictions) {
  const json filled = json::parse(
      prepare_create(R"({"spec":{}})", {"NetworkPolicy", "prod", "deny"}, "u", "t").value());
  EXPECT_EQ(filled["kind"], "NetworkPolicy");
  EXPECT_EQ(filled["metadata"]["name"], "deny");
  EXPECT_EQ(filled["metadata"]["namespace"], "prod");
  const ResourceKey key{"IPPool", "", "p"};
  EXPECT_EQ(code_of([&] { prepare_create("[1]", key, "u", "t").value(); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { prepare_create("{", key, "u", "t").value(); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { prepare_create(R"({"kind":"Node"})", key, "u", "t").value(); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { prepare_create(R"({"metadata":{"name":"q"}})", key, "u", "t").value(); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(
      code_of([&] { prepare_create(R"({"metadata":{"namespace":"x"}})", key, "u", "t").value(); }),
      BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { prepare_create(R"({"metadata":[]})", key, "u", "t").value(); }),
            BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST(Documents, UpdateKeepsUidAndCreationTimestamp) {
  const ResourceKey key{"IPPool", "", "p"};
  const std::string old = prepare_create(R"({"spec":{"a":1}})", key, "uid-1", "t0").value();
  const json updated = json::parse(
      prepare_update(R"({"metadata":{"uid":"forged","creationTimestamp":"t9"},"spec":{"a":2}})",
                     key, stored_identity(old))
          .value());
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

// See PreparedDocumentsGiveWhatAReadOfTheirValueGives.
void check_prepared_document(const std::string& written, const ResourceKey& key) {
  PreparedDocument created = prepare_create(written, key, "uid-1", "t0");
  EXPECT_EQ(created.value(), nlohmann::ordered_json::parse(created.value()).dump());
  std::string problem;
  StoredIdentity read_identity;
  const auto read = document_for_read(created.value(), key, "43", &problem, &read_identity);
  ASSERT_TRUE(read) << problem;
  StoredIdentity identity;
  EXPECT_EQ(created.stored_at("43", &identity), *read);
  EXPECT_EQ(identity.uid, read_identity.uid);
  EXPECT_EQ(identity.creation_timestamp, read_identity.creation_timestamp);

  PreparedDocument updated = prepare_update(written, key, read_identity);
  EXPECT_EQ(updated.value(), nlohmann::ordered_json::parse(updated.value()).dump());
  const auto reread = document_for_read(updated.value(), key, "44", &problem);
  ASSERT_TRUE(reread) << problem;
  EXPECT_EQ(updated.stored_at("44", nullptr), *reread);
  EXPECT_EQ(json::parse(*reread)["metadata"]["uid"], "uid-1");
}

// A write hands back the stored document without parsing or serializing again: exactly what
// reading the stored value would give, identity included, byte for byte; and the value is what a
// serialization of the whole document gives. Whatever the place of metadata among the fields.
TEST(Documents, PreparedDocumentsGiveWhatAReadOfTheirValueGives) {
  const ResourceKey key{"IPAMBlock", "", "198-18-0-0-26"};
  for (const std::string& written : {
           std::string(R"({"spec":{"cidr":"198.18.0.0/26","allocations":[0,null,1],)"
                       R"("attributes":[{"x":1.5}],"note":"\u00e9\\"},)"
                       R"("metadata":{"revision":"7","labels":{"b":"1","a":"2"}}})"),
           std::string(R"({"metadata":{"name":"198-18-0-0-26","annotations":{"}":"{"}},)"
                       R"("kind":"IPAMBlock","spec":{"metadata":{"x":"}"}}})"),
           std::string(R"({"spec":{}})"),
       }) {
    SCOPED_TRACE(written);
    check_prepared_document(written, key);
  }
}

// The quick way and the full parse agree on every document: accepted or not, with the same
// error, the same members in the same order, byte for byte on compact documents. The inputs
// exercise each reason the quick way has to step aside, and JSON's corners.
TEST(Documents, QuickWayAndFullParseAgree) {
  const ResourceKey cluster{"IPPool", "", "p"};
  const ResourceKey namespaced{"NetworkPolicy", "prod", "deny"};
  const std::vector<std::string> documents = {
      // Compact, as the host and the plugin write them.
      R"({"apiVersion":"v1","kind":"IPPool","metadata":{"name":"p"},"spec":{"cidr":"198.18.0.0/16"}})",
      R"({"kind":"IPPool","metadata":{"name":"p","revision":"7","uid":"x","creationTimestamp":"y"},"spec":{}})",
      R"({"kind":"IPPool","metadata":{"creationTimestamp":"y","labels":{"a":"b"},"name":"p","uid":"x"}})",
      R"({"metadata":{"name":"p"},"kind":"IPPool"})",
      R"({"kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"prod"},"spec":{"metadata":{"name":"q"}}})",
      R"({"kind":"NetworkPolicy","metadata":{"name":"deny"},"spec":{}})",
      R"({"kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"dev"}})",
      R"({"kind":"IPPool","metadata":{"name":"p","namespace":""}})",
      R"({"kind":"IPPool","metadata":{"name":"p","namespace":"x"}})",
      R"({"kind":"IPPool","metadata":{}})",
      R"({"kind":"IPPool","metadata":{"name":"q"}})",
      R"({"kind":"Node","metadata":{"name":"p"}})",
      R"({"kind":7,"metadata":{"name":"p"}})",
      R"({"kind":"IPPool","metadata":{"name":7}})",
      R"({"kind":"IPPool","metadata":[]})",
      R"({"kind":"IPPool"})",
      R"({"spec":{}})",
      R"({})",
      R"([1])",
      R"("text")",
      // Keys that only a decoder sees as identity fields, and repeated keys.
      R"({"\u006bind":"Node","metadata":{"name":"p"}})",
      R"({"kind":"IPPool","metadat\u0061":{"name":"q"},"metadata":{"name":"p"}})",
      R"({"kind":"IPPool","metadata":{"n\u0061me":"q","name":"p"}})",
      R"({"kind":"IPPool","kind":"Node","metadata":{"name":"p"}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"metadata":{"name":"q"}})",
      R"({"kind":"IPPool","metadata":{"name":"p","name":"q"}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"a":1,"a":2}})",
      R"({"kind":"I\u0050Pool","metadata":{"name":"\u0070"}})",
      // Formatting the full parse would change.
      "  {\"kind\" : \"IPPool\",\n \"metadata\" : { \"name\" : \"p\" , \"uid\" : \"x\" } } \n",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"n":1.50,"e":1E2,"z":-0,"s":"\/\u00e9"}})",
      // JSON's corners: numbers, strings, nesting, stray bytes.
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"big":123456789012345678901234567890}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"inf":1e999}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"bad":01}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"bad":1.}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"bad":-}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"s":"\ud83d\ude00"}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"s":"\ud83d"}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"s":"\x"}})",
      "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"s\":"
      "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}}",
      "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"s\":\"\xc0\xaf\"}}",
      "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"s\":\"\xed\xa0\x80\"}}",
      "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"s\":\"\xf4\x90\x80\x80\"}}",
      "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"s\":\"a\tb\"}}",
      std::string("{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"}}\0", 37),
      R"({"kind":"IPPool","metadata":{"name":"p"}} x)",
      R"({"kind":"IPPool","metadata":{"name":"p"},})",
      R"({"kind":"IPPool","metadata":{"name":"p"})",
      "\xef\xbb\xbf{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"}}",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"t":true,"f":false,"n":null,"a":[[],{},[1,[2]]]}})",
      R"({"kind":"IPPool","metadata":{"name":"p"},"spec":{"t":tru}})",
      "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\"},\"spec\":" + std::string(200, '[') +
          std::string(200, ']') + "}",
      "",
  };
  for (const std::string& document : documents) {
    for (const ResourceKey& key : {cluster, namespaced}) {
      EXPECT_EQ(testing::differential_mismatch(document, key), "")
          << "document: " << document << "\nkey: " << key.kind << "/" << key.namespace_ << "/"
          << key.name;
    }
  }
}

// The quick way is taken for the documents it is meant for (else it would be dead weight).
TEST(Documents, QuickWayTakesCompactDocuments) {
  json_shape::Document shape;
  const std::string block =
      R"({"apiVersion":"v1","kind":"IPAMBlock","metadata":{"name":"b","uid":"u"},)"
      R"("spec":{"allocations":[0,null],"attributes":[{"handle_id":"h","secondary":{"a":"b"}}]}})";
  ASSERT_TRUE(json_shape::scan(block, &shape));
  ASSERT_TRUE(shape.has_metadata_object);
  EXPECT_EQ(shape.top.members.size(), 4u);
  EXPECT_EQ(shape.metadata.members.size(), 2u);
  EXPECT_EQ(block.substr(shape.metadata.open, shape.metadata.close - shape.metadata.open + 1),
            R"({"name":"b","uid":"u"})");
  EXPECT_FALSE(json_shape::scan(R"({"a":1e999})", &shape));
  EXPECT_FALSE(json_shape::scan(R"({"a":"\ud800"})", &shape));  // left to the full parse
  EXPECT_FALSE(json_shape::scan("[1]", &shape));
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
