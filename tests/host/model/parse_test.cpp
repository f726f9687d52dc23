// Reading YAML and JSON files of resources: documents, errors with file/document/path/line.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <set>

#include "brindle/model/kinds.hpp"
#include "brindle/model/parse.hpp"
#include "brindle/model/registry.hpp"

namespace brindle::model {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPools = R"(# Two pools and a broken one.
apiVersion: brindle.network/v1
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 198.18.0.0/16
---
apiVersion: brindle.network/v1
kind: IPPool
metadata:
  name: pool-b
spec:
  cidr: 198.18.0.0/16
  blockSize: 40
---
apiVersion: brindle.network/v1
kind: IPPool
metadata:
  name: pool-c
spec:
  cidr: "2001:db8::/48"
)";

TEST(Parse, MultiDocumentYamlWithAnErrorInDocumentTwo) {
  try {
    parse_resources_or_throw(kPools, "pools.yaml");
    FAIL();
  } catch (const DocumentError& e) {
    EXPECT_STREQ(e.what(),
                 "pools.yaml: document 2: spec.blockSize: must be between 20 and 32 for an IPv4 "
                 "pool (line 15)");
    EXPECT_EQ(e.file(), "pools.yaml");
    EXPECT_EQ(e.document(), 2u);
    EXPECT_EQ(e.path(), "spec.blockSize");
    EXPECT_EQ(e.line(), 15u);
  }
  // Collecting mode keeps the good documents and reports the bad one.
  ParseResult result = parse_resources(kPools, "pools.yaml");
  ASSERT_EQ(result.resources.size(), 2u);
  EXPECT_EQ(result.resources[0].metadata.name, "pool-a");
  EXPECT_EQ(result.resources[1].metadata.name, "pool-c");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].document(), 2u);
}

TEST(Parse, ReportsEveryBadDocument) {
  std::string text = R"(---
apiVersion: brindle.network/v1
kind: IPPool
metadata: {name: a}
spec: {cidr: 198.18.0.1/16}
---
apiVersion: brindle.network/v1
kind: Node
metadata: {name: n}
---
apiVersion: brindle.network/v1
kind: BGPPeer
metadata: {name: p}
spec:
  peerIP: 198.19.0.1
---
)";
  ParseResult result = parse_resources(text, "mixed.yaml");
  ASSERT_EQ(result.resources.size(), 1u);
  EXPECT_EQ(result.resources[0].kind, "Node");
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_STREQ(result.errors[0].what(),
               "mixed.yaml: document 1: spec.cidr: \"198.18.0.1/16\" has host bits set; did you "
               "mean 198.18.0.0/16? (line 5)");
  // A missing field is reported at its parent's line.
  EXPECT_STREQ(result.errors[1].what(),
               "mixed.yaml: document 3: spec.asNumber: is required with peerIP (line 14)");
}

TEST(Parse, UnknownFieldsNameTheirLine) {
  std::string text =
      "apiVersion: brindle.network/v1\n"
      "kind: GlobalNetworkPolicy\n"
      "metadata:\n"
      "  name: gnp\n"
      "spec:\n"
      "  ingress:\n"
      "  - action: Allow\n"
      "    protocol: TCP\n"
      "    destination:\n"
      "      prots: [80]\n";
  ParseResult result = parse_resources(text, "gnp.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_STREQ(result.errors[0].what(),
               "gnp.yaml: document 1: spec.ingress[0].destination.prots: unknown field (did you "
               "mean ports?) (line 10)");
}

TEST(Parse, LabelsWithDotsAndSlashesHaveLines) {
  std::string text =
      "apiVersion: brindle.network/v1\n"
      "kind: GlobalNetworkSet\n"
      "metadata:\n"
      "  name: s\n"
      "  labels:\n"
      "    kubernetes.io/name: ok\n"
      "    example.com/bad: 'no spaces allowed'\n";
  ParseResult result = parse_resources(text, "s.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].path(), "metadata.labels[\"example.com/bad\"]");
  EXPECT_EQ(result.errors[0].line(), 7u);
}

TEST(Parse, SyntaxErrorsNameTheLine) {
  ParseResult result = parse_resources(
      "apiVersion: brindle.network/v1\nkind: [IPPool\nmetadata: {}\n", "broken.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].document(), 0u);
  EXPECT_GT(result.errors[0].line(), 0u);
  std::string what = result.errors[0].what();
  EXPECT_EQ(what.rfind("broken.yaml: invalid YAML at column ", 0), 0u) << what;
  EXPECT_TRUE(result.resources.empty());
}

TEST(Parse, DuplicateKeysAreErrors) {
  try {
    parse_resources_or_throw(
        "apiVersion: brindle.network/v1\nkind: IPPool\nmetadata: {name: a}\nspec:\n"
        "  cidr: 198.18.0.0/16\n  cidr: 198.18.1.0/24\n",
        "dup.yaml");
    FAIL();
  } catch (const DocumentError& e) {
    EXPECT_STREQ(e.what(), "dup.yaml: document 1: spec.cidr: duplicate key \"cidr\" (line 6)");
  }
}

TEST(Parse, YamlScalarsFollowTheCoreSchema) {
  auto docs = parse_documents(R"(
plain: text
quoted: "26"
single: '26'
tagged: !!str 26
int: 26
hex: 0x1A
octal: 0o17
negative: -5
float: 2.5
exp: 1e3
yes: yes
on: on
bool: true
caps: TRUE
null1: null
null2: ~
null3:
version: 1.20
big: 18446744073709551615
)",
                              "scalars.yaml");
  ASSERT_EQ(docs.size(), 1u);
  const auto& j = docs[0].json;
  EXPECT_EQ(j["plain"], "text");
  EXPECT_EQ(j["quoted"], "26");
  EXPECT_EQ(j["single"], "26");
  EXPECT_EQ(j["tagged"], "26");
  EXPECT_TRUE(j["int"].is_number_integer());
  EXPECT_EQ(j["int"], 26);
  EXPECT_EQ(j["hex"], 26);
  EXPECT_EQ(j["octal"], 15);
  EXPECT_EQ(j["negative"], -5);
  EXPECT_EQ(j["float"], 2.5);
  EXPECT_EQ(j["exp"], 1000.0);
  EXPECT_EQ(j["yes"], "yes");  // YAML 1.1 booleans are plain strings
  EXPECT_EQ(j["on"], "on");
  EXPECT_EQ(j["bool"], true);
  EXPECT_EQ(j["caps"], true);
  EXPECT_TRUE(j["null1"].is_null());
  EXPECT_TRUE(j["null2"].is_null());
  EXPECT_TRUE(j["null3"].is_null());
  EXPECT_TRUE(j["version"].is_number_float());
  EXPECT_EQ(j["big"].get<uint64_t>(), UINT64_MAX);

  EXPECT_THROW(parse_documents("big: 99999999999999999999999\n", "x.yaml"), DocumentError);
  EXPECT_THROW(parse_documents("a: !!int abc\n", "x.yaml"), DocumentError);
  EXPECT_THROW(parse_documents("a: !custom x\n", "x.yaml"), DocumentError);
  EXPECT_THROW(parse_documents("? [a, b]\n: c\n", "x.yaml"), DocumentError);
}

TEST(Parse, JsonSingleDocumentArrayAndErrors) {
  std::string one = R"({
  "apiVersion": "brindle.network/v1",
  "kind": "GlobalNetworkSet",
  "metadata": {"name": "s"},
  "spec": {"nets": ["198.18.0.0/24", "2001:db8::/64"]}
})";
  auto resources = parse_resources_or_throw(one, "set.json");
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].kind, "GlobalNetworkSet");

  std::string many =
      "[\n"
      "  {\"apiVersion\": \"brindle.network/v1\", \"kind\": \"IPAMConfig\",\n"
      "   \"metadata\": {\"name\": \"default\"}},\n"
      "  {\"apiVersion\": \"brindle.network/v1\", \"kind\": \"IPPool\",\n"
      "   \"metadata\": {\"name\": \"p\"},\n"
      "   \"spec\": {\"cidr\": \"198.18.0.0/16\",\n"
      "            \"vxlanMode\": \"Sometimes\"}}\n"
      "]\n";
  ParseResult result = parse_resources(many, "list.json");
  ASSERT_EQ(result.resources.size(), 1u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_STREQ(result.errors[0].what(),
               "list.json: document 2: spec.vxlanMode: must be one of Never, Always or "
               "CrossSubnet, got the string \"Sometimes\" (line 7)");

  // Tabs are fine in JSON; the line numbers are then unknown but the path is still given.
  ParseResult tabs = parse_resources(
      "{\n\t\"apiVersion\": \"brindle.network/v1\",\n\t\"kind\": \"IPPool\",\n"
      "\t\"metadata\": {\"name\": \"p\"},\n\t\"spec\": {\"cidr\": 5}\n}\n",
      "tabs.json");
  ASSERT_EQ(tabs.errors.size(), 1u);
  EXPECT_EQ(tabs.errors[0].path(), "spec.cidr");

  ParseResult bad =
      parse_resources("{\n  \"apiVersion\": \"brindle.network/v1\",\n  \"kind\": }\n", "bad.json");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].document(), 0u);
  EXPECT_EQ(bad.errors[0].line(), 3u);
  EXPECT_EQ(std::string(bad.errors[0].what()).rfind("bad.json: invalid JSON: ", 0), 0u)
      << bad.errors[0].what();
}

TEST(Parse, YamlFlowMappingThatIsNotJson) {
  auto resources = parse_resources_or_throw(
      "{apiVersion: brindle.network/v1, kind: IPAMConfig, metadata: {name: default}}\n", "f.yaml");
  ASSERT_EQ(resources.size(), 1u);
}

TEST(Parse, EmptyInputHasNoDocuments) {
  EXPECT_TRUE(parse_resources_or_throw("", "empty.yaml").empty());
  EXPECT_TRUE(parse_resources_or_throw("# nothing\n---\n---\n", "empty.yaml").empty());
}

TEST(Parse, DocumentIndexCountsEmptyDocuments) {
  ParseResult result = parse_resources(
      "apiVersion: brindle.network/v1\nkind: IPAMConfig\nmetadata: {name: default}\n"
      "---\n# an empty document\n---\n"
      "apiVersion: brindle.network/v1\nkind: IPAMConfig\nmetadata: {name: other}\n",
      "idx.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].document(), 3u);
  EXPECT_EQ(result.errors[0].line(), 9u);
}

TEST(Parse, HostileInputIsAnErrorNotACrash) {
  // Aliases that would expand to a billion values.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char name = 'b'; name <= 'j'; ++name, ++prev) {
    bomb += std::string(1, name) + ": &" + name + " [";
    for (int i = 0; i < 10; ++i)
      bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
  }
  try {
    parse_documents(bomb, "bomb.yaml");
    FAIL();
  } catch (const DocumentError& e) {
    EXPECT_NE(e.message().find("aliases expand the document"), std::string::npos) << e.what();
  }
  // Aliases within reason are fine.
  auto docs = parse_documents("base: &b {x: 1}\ncopy: *b\n", "alias.yaml");
  EXPECT_EQ(docs.at(0).json["copy"]["x"], 1);
  // Deep nesting.
  std::string deep = std::string(200, '[') + std::string(200, ']');
  EXPECT_THROW(parse_documents("a: " + deep + "\n", "deep.yaml"), DocumentError);
  EXPECT_THROW(parse_documents(deep, "deep.json"), DocumentError);
  // Binary garbage.
  std::string garbage("\x00\xff\xfe{{[[::--\t\x01", 14);
  ParseResult result = parse_resources(garbage, "garbage");
  EXPECT_TRUE(result.resources.empty());
  EXPECT_FALSE(result.errors.empty());
}

TEST(Parse, SkipsValidationWhenAsked) {
  ParseOptions options;
  options.validate = false;
  auto resources = parse_resources_or_throw(
      "apiVersion: brindle.network/v1\nkind: IPPool\nmetadata: {name: p}\n"
      "spec: {cidr: 198.18.0.1/16}\n",
      "p.yaml", options);
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].spec["cidr"], "198.18.0.1/16");
}

TEST(Parse, LineOfFallsBackToTheParent) {
  ParsedDocument doc;
  doc.line = 1;
  doc.lines = {{"", 1}, {"spec", 4}, {"spec.ingress[0]", 6}, {"metadata.labels[\"a.b/c\"]", 3}};
  EXPECT_EQ(doc.line_of("spec.ingress[0].action"), 6u);
  EXPECT_EQ(doc.line_of("spec.ingress[3]"), 4u);
  EXPECT_EQ(doc.line_of("metadata.labels[\"a.b/c\"]"), 3u);
  EXPECT_EQ(doc.line_of("metadata.labels[\"x.y\"]"), 1u);
  EXPECT_EQ(doc.line_of("other"), 1u);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "brindle-model-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(Parse, LoadsFilesAndNamesThem) {
  TempDir dir;
  fs::path file = dir.path() / "pools.yaml";
  std::ofstream(file) << kPools;
  try {
    load_resource_file(file);
    FAIL();
  } catch (const DocumentError& e) {
    EXPECT_EQ(e.file(), file.string());
    EXPECT_EQ(e.document(), 2u);
  }
  fs::path good = dir.path() / "good.yaml";
  std::ofstream(good)
      << "apiVersion: brindle.network/v1\nkind: IPAMConfig\nmetadata: {name: default}\n";
  EXPECT_EQ(load_resource_file(good).size(), 1u);
  try {
    load_resource_file(dir.path() / "missing.yaml");
    FAIL();
  } catch (const DocumentError& e) {
    EXPECT_EQ(std::string(e.what()), (dir.path() / "missing.yaml").string() +
                                         ": cannot read the file: No such file or directory");
  }
}

// The example manifests in configs/resources are valid and together show every kind.
TEST(Examples, EveryExampleManifestIsValidAndEveryKindIsShown) {
  std::set<std::string> kinds;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(BRINDLE_EXAMPLE_RESOURCES_DIR)) {
    if (entry.path().extension() != ".yaml" && entry.path().extension() != ".json")
      continue;
    ++files;
    std::vector<Resource> resources;
    ASSERT_NO_THROW(resources = load_resource_file(entry.path())) << entry.path();
    for (auto& r : resources) {
      kinds.insert(r.kind);
      // Canonical documents are stable: validating again changes nothing.
      Resource again = resource_from_json(to_json(r));
      validate_and_default(again);
      EXPECT_EQ(to_json(again), to_json(r)) << entry.path() << " " << r.metadata.name;
      // Only the documentation address ranges are used.
      std::string text = to_json_text(r);
      for (const char* forbidden : {"10.", "172.16.", "192.168."}) {
        EXPECT_EQ(text.find(std::string("\"") + forbidden), std::string::npos)
            << entry.path() << ": " << text;
      }
    }
  }
  EXPECT_GT(files, 0u);
  for (const auto& k : all_kinds())
    EXPECT_TRUE(kinds.count(std::string(k.kind))) << k.kind;
}

}  // namespace
}  // namespace brindle::model
