// Unit tests of the datastore-kubernetes plugin's pieces: configuration and kubeconfig, the kind
// table (against the host's registry and configs/kubernetes/crds.yaml), document conversion both
// ways (against the host's decoder), HTTP status mapping, composite revisions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "brindle/model/registry.hpp"
#include "brindle/model/resource.hpp"
#include "fake_apiserver.h"
#include "host_stub.h"
#include "kube_config.h"
#include "kube_documents.h"
#include "kube_kinds.h"
#include "kube_pod_overlay.h"
#include "kube_status.h"

namespace brindle::test {
namespace {

using kube::Json;
using nlohmann::json;

kube::Getenv no_environment() {
  return [](const char*) -> std::optional<std::string> { return std::nullopt; };
}

// The error of resolving `section` (a [datastore.kubernetes] body), or "" when it resolves.
std::string config_error(const std::string& section, kube::KubeConnection* out = nullptr,
                         const kube::Getenv& getenv = no_environment(),
                         const std::string& service_account_dir = "/nonexistent") {
  HostStub host("[datastore.kubernetes]\n" + section, "datastore.kubernetes");
  const Config config(host.services());
  try {
    const kube::KubeSettings settings = kube::KubeSettings::parse(config);
    kube::KubeConnection connection =
        kube::resolve_connection(config, settings, getenv, service_account_dir);
    if (out != nullptr) {
      *out = connection;
    }
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_CONFIG) << e.what();
    return e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration

TEST(Config, ServerAndTokenFile) {
  ScratchDir dir;
  const std::string token = dir.write("token", "  s3cret-token\n");
  kube::KubeConnection c;
  ASSERT_EQ(config_error("server = \"http://127.0.0.1:8080/\"\ntoken_file = \"" + token +
                             "\"\n"
                             "request_timeout_ms = 2500\n",
                         &c),
            "");
  EXPECT_EQ(c.server, "http://127.0.0.1:8080");
  EXPECT_EQ(c.token, "s3cret-token");
  EXPECT_EQ(c.token_file, token);  // read again when it changes
  EXPECT_EQ(c.request_timeout_ms, 2500);
  EXPECT_EQ(c.ca_file, "");
}

TEST(Config, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(config_error("server = \"ftp://198.18.0.1\"\n"),
            "brindle-test.toml:2:10: server: must start with http:// or https://, got "
            "\"ftp://198.18.0.1\"");
  EXPECT_EQ(config_error("endpoints = [\"x\"]\n"),
            "brindle-test.toml:2:13: endpoints: unknown key; expected one of: server, token_file, "
            "ca_file, kubeconfig, request_timeout_ms, crd_group, list_page_size");
  EXPECT_NE(config_error("server = \"http://a:1\"\nrequest_timeout_ms = 0\n")
                .find("brindle-test.toml:3:22: request_timeout_ms: must be between 1 and"),
            std::string::npos);
  EXPECT_NE(config_error("server = \"http://a:1\"\nrequest_timeout_ms = \"10\"\n")
                .find("request_timeout_ms: must be an integer"),
            std::string::npos);
  EXPECT_NE(config_error("server = \"http://a:1\"\ncrd_group = \"Brindle\"\n")
                .find("brindle-test.toml:3:13: crd_group: must be a lowercase DNS name"),
            std::string::npos);
  EXPECT_NE(config_error("server = \"https://\"\n").find("server: has no host"), std::string::npos);
  EXPECT_NE(config_error("server = \"http://a:1\"\nca_file = \"/x\"\n")
                .find("ca_file: is set but server \"http://a:1\" is http://"),
            std::string::npos);
  EXPECT_NE(config_error("server = \"http://a:1\"\ntoken_file = \"\"\n")
                .find("token_file: must not be empty"),
            std::string::npos);
}

TEST(Config, UnreadableOrEmptyTokenFile) {
  ScratchDir dir;
  EXPECT_NE(config_error("server = \"http://a:1\"\ntoken_file = \"" + dir.path() + "/none\"\n")
                .find("brindle-test.toml:3:14: token_file: cannot read the token file"),
            std::string::npos);
  const std::string empty = dir.write("empty", "\n\n");
  EXPECT_NE(config_error("server = \"http://a:1\"\ntoken_file = \"" + empty + "\"\n")
                .find("token_file: the token file \"" + empty + "\" is empty"),
            std::string::npos);
  EXPECT_NE(config_error("server = \"https://a:1\"\nca_file = \"" + dir.path() + "/none.pem\"\n")
                .find("ca_file: cannot read"),
            std::string::npos);
}

TEST(Config, InClusterNeedsThePodEnvironment) {
  EXPECT_NE(config_error("").find("brindle-test.toml:1:1: server: is not set, nor is kubeconfig, "
                                  "and this is not a pod (KUBERNETES_SERVICE_HOST"),
            std::string::npos);
}

TEST(Config, InClusterUsesTheServiceAccount) {
  ScratchDir dir;
  dir.write("token", "pod-token\n");
  dir.write("ca.crt", "-----BEGIN CERTIFICATE-----\n");
  const std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "2001:db8::1"},
                                                  {"KUBERNETES_SERVICE_PORT", "443"}};
  auto getenv = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  kube::KubeConnection c;
  ASSERT_EQ(config_error("", &c, getenv, dir.path()), "");
  EXPECT_EQ(c.server, "https://[2001:db8::1]:443");
  EXPECT_EQ(c.token, "pod-token");
  EXPECT_EQ(c.token_file, dir.path() + "/token");  // kubelet rotates it
  EXPECT_EQ(c.ca_file, dir.path() + "/ca.crt");
  EXPECT_EQ(c.source, "in-cluster");
  // Without the token file the error names it.
  ScratchDir empty;
  EXPECT_NE(config_error("", nullptr, getenv, empty.path())
                .find("token_file: cannot read the token file \"" + empty.path() + "/token\""),
            std::string::npos);
}

std::string kubeconfig(const std::string& cluster, const std::string& user) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: brindle\ncontexts:\n"
         "- name: other\n  context: {cluster: nowhere, user: nobody}\n"
         "- name: brindle\n  context:\n    cluster: lab\n    user: agent\n"
         "clusters:\n- name: lab\n  cluster:\n" +
         cluster + "users:\n- name: agent\n  user:\n" + user;
}

TEST(Config, KubeconfigCurrentContext) {
  ScratchDir dir;
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  // "LS0tLS1CRUdJTi..." is base64 of `pem`.
  const std::string file = dir.write(
      "kubeconfig",
      kubeconfig(
          "    server: https://198.18.0.1:6443\n"
          "    certificate-authority-data: "
          "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n",
          "    token: kube-token\n"));
  kube::KubeConnection c;
  ASSERT_EQ(config_error("kubeconfig = \"" + file + "\"\n", &c), "");
  EXPECT_EQ(c.server, "https://198.18.0.1:6443");
  EXPECT_EQ(c.token, "kube-token");
  EXPECT_EQ(c.token_file, "");  // a token written in the kubeconfig is not re-read
  EXPECT_EQ(c.ca_pem, pem);
  EXPECT_EQ(c.source, "kubeconfig " + file);

  // Relative paths are relative to the kubeconfig; server and token_file override it.
  dir.write("ca.pem", pem);
  dir.write("tok", "file-token\n");
  const std::string override_token = dir.write("override", "override-token\n");
  const std::string relative =
      dir.write("relative", kubeconfig("    server: https://198.18.0.1:6443\n"
                                       "    certificate-authority: ca.pem\n",
                                       "    tokenFile: tok\n"));
  ASSERT_EQ(config_error("kubeconfig = \"" + relative + "\"\n", &c), "");
  EXPECT_EQ(c.ca_file, dir.path() + "/ca.pem");
  EXPECT_EQ(c.token, "file-token");
  EXPECT_EQ(c.token_file, dir.path() + "/tok");
  ASSERT_EQ(config_error("kubeconfig = \"" + relative +
                             "\"\nserver = \"https://198.18.0.2:443\"\n"
                             "token_file = \"" +
                             override_token + "\"\n",
                         &c),
            "");
  EXPECT_EQ(c.server, "https://198.18.0.2:443");
  EXPECT_EQ(c.token, "override-token");
  EXPECT_EQ(c.token_file, override_token);
}

TEST(Config, KubeconfigErrorsNameTheirPlace) {
  ScratchDir dir;
  const std::string missing = dir.path() + "/nope";
  EXPECT_NE(config_error("kubeconfig = \"" + missing + "\"\n")
                .find("brindle-test.toml:2:14: kubeconfig: cannot read the kubeconfig"),
            std::string::npos);
  const std::string bad_yaml = dir.write("bad", "clusters:\n  - name: [unclosed\n");
  EXPECT_NE(
      config_error("kubeconfig = \"" + bad_yaml + "\"\n").find("kubeconfig: " + bad_yaml + ":"),
      std::string::npos);
  const std::string no_context = dir.write("nocontext", "apiVersion: v1\nclusters: []\n");
  EXPECT_NE(config_error("kubeconfig = \"" + no_context + "\"\n")
                .find(no_context + ":1:1: current-context is not set"),
            std::string::npos);
  const std::string certs = dir.write(
      "certs", kubeconfig("    server: https://198.18.0.1:6443\n",
                          "    client-certificate-data: AAAA\n    client-key-data: AAAA\n"));
  EXPECT_NE(config_error("kubeconfig = \"" + certs + "\"\n")
                .find(certs + ":18:30: client-certificate-data is not supported"),
            std::string::npos)
      << config_error("kubeconfig = \"" + certs + "\"\n");
  const std::string bad_server =
      dir.write("badserver", kubeconfig("    server: 198.18.0.1:6443\n", "    token: t\n"));
  EXPECT_NE(config_error("kubeconfig = \"" + bad_server + "\"\n")
                .find(bad_server + ":14:13: server: must start with http:// or https://"),
            std::string::npos)
      << config_error("kubeconfig = \"" + bad_server + "\"\n");
}

TEST(Config, Base64) {
  EXPECT_EQ(kube::base64_decode("aGVsbG8=").value(), "hello");
  EXPECT_EQ(kube::base64_decode("aGVs\nbG8").value(), "hello");
  EXPECT_EQ(kube::base64_decode("").value(), "");
  EXPECT_FALSE(kube::base64_decode("aGVsbG8*"));
  EXPECT_FALSE(kube::base64_decode("a"));
}

// ---------------------------------------------------------------------------------------------
// Kinds

TEST(Kinds, Plurals) {
  EXPECT_EQ(kube::plural_of("NetworkPolicy"), "networkpolicies");
  EXPECT_EQ(kube::plural_of("IPAMConfig"), "ipamconfigs");
  EXPECT_EQ(kube::plural_of("BlockAffinity"), "blockaffinities");
  EXPECT_EQ(kube::plural_of("BGPPeer"), "bgppeers");
  EXPECT_EQ(kube::plural_of("Gateway"), "gateways");  // vowel + y
  EXPECT_EQ(kube::plural_of("Address"), "addresses");
  EXPECT_EQ(kube::plural_of("Mesh"), "meshes");
  EXPECT_EQ(kube::plural_of("Box"), "boxes");
}

TEST(Kinds, TableMatchesTheHostRegistry) {
  const kube::KindTable table;
  ASSERT_EQ(table.kinds().size(), model::all_kinds().size());
  for (const model::KindInfo& host_kind : model::all_kinds()) {
    const kube::KindInfo* info = table.find(host_kind.kind);
    ASSERT_NE(info, nullptr) << host_kind.kind;
    EXPECT_EQ(info->namespaced, host_kind.namespaced) << host_kind.kind;
  }
}

TEST(Kinds, MappingTable) {
  const kube::KindTable table;
  std::map<std::string, std::string> mapping;
  for (const kube::KindInfo& k : table.kinds()) {
    mapping[k.kind] = k.api_version() + " " + k.kube_kind + " " + k.plural +
                      (k.namespaced ? " namespaced" : " cluster");
  }
  const std::map<std::string, std::string> expected = {
      {"AgentConfiguration", "brindle.network/v1 AgentConfiguration agentconfigurations cluster"},
      {"BGPConfiguration", "brindle.network/v1 BGPConfiguration bgpconfigurations cluster"},
      {"BGPPeer", "brindle.network/v1 BGPPeer bgppeers cluster"},
      {"BlockAffinity", "brindle.network/v1 BlockAffinity blockaffinities cluster"},
      {"GlobalNetworkPolicy",
       "brindle.network/v1 GlobalNetworkPolicy globalnetworkpolicies cluster"},
      {"GlobalNetworkSet", "brindle.network/v1 GlobalNetworkSet globalnetworksets cluster"},
      {"IPAMBlock", "brindle.network/v1 IPAMBlock ipamblocks cluster"},
      {"IPAMConfig", "brindle.network/v1 IPAMConfig ipamconfigs cluster"},
      {"IPAMHandle", "brindle.network/v1 IPAMHandle ipamhandles cluster"},
      {"IPPool", "brindle.network/v1 IPPool ippools cluster"},
      {"KubernetesNetworkPolicy", "networking.k8s.io/v1 NetworkPolicy networkpolicies namespaced"},
      {"NetworkPolicy", "brindle.network/v1 NetworkPolicy networkpolicies namespaced"},
      {"NetworkSet", "brindle.network/v1 NetworkSet networksets namespaced"},
      {"Node", "brindle.network/v1 Node nodes cluster"},
      {"Profile", "brindle.network/v1 Profile profiles cluster"},
      {"WorkloadEndpoint", "brindle.network/v1 WorkloadEndpoint workloadendpoints namespaced"},
  };
  EXPECT_EQ(mapping, expected);
  EXPECT_EQ(kube::KindTable("brindle.example.com").find("IPPool")->api_version(),
            "brindle.example.com/v1");
}

TEST(Kinds, Paths) {
  const kube::KindTable table;
  const kube::KindInfo& pool = table.require("IPPool");
  const kube::KindInfo& wep = table.require("WorkloadEndpoint");
  const kube::KindInfo& knp = table.require("KubernetesNetworkPolicy");
  EXPECT_EQ(kube::collection_path(pool, {}), "/apis/brindle.network/v1/ippools");
  EXPECT_EQ(kube::item_path(pool, {}, "default-ipv4"),
            "/apis/brindle.network/v1/ippools/default-ipv4");
  EXPECT_EQ(kube::collection_path(wep, {}), "/apis/brindle.network/v1/workloadendpoints");
  EXPECT_EQ(kube::item_path(wep, "prod", "node-a-pod"),
            "/apis/brindle.network/v1/namespaces/prod/workloadendpoints/node-a-pod");
  EXPECT_EQ(kube::item_path(knp, "prod", "deny all"),
            "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny%20all");
}

// Namespaces are Profiles too: what is listed and watched for Profile, which names they hold, and
// that they are read-only.
TEST(Kinds, NamespacesAreADerivedSourceOfProfiles) {
  const kube::KindTable table;
  const kube::KindInfo& profile = table.require("Profile");
  const std::vector<const kube::KindInfo*> sources = table.sources("Profile");
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0], &profile);
  const kube::KindInfo& namespaces = *sources[1];
  EXPECT_TRUE(namespaces.derived);
  EXPECT_EQ(namespaces.source, "Namespace");
  EXPECT_EQ(kube::collection_path(namespaces, {}), "/api/v1/namespaces");
  EXPECT_EQ(namespaces.api_version(), "v1");
  EXPECT_EQ(namespaces.resource_name(), "namespaces");
  EXPECT_EQ(profile.resource_name(), "profiles.brindle.network");
  EXPECT_EQ(&table.source_of(profile, "kns.prod"), &namespaces);
  EXPECT_EQ(&table.source_of(profile, "web"), &profile);
  EXPECT_EQ(&table.source_of(table.require("IPPool"), "kns.prod"), &table.require("IPPool"));
  EXPECT_EQ(table.sources("IPPool").size(), 1u);
  EXPECT_EQ(table.sources("").size(), table.kinds().size() + 2);  // namespaces and pods
  EXPECT_THROW(table.sources("Pod"), Error);
  EXPECT_NO_THROW(kube::check_writable(profile, ResourceKey{"Profile", "", "web"}));
  try {
    kube::check_writable(namespaces, ResourceKey{"Profile", "", "kns.prod"});
    ADD_FAILURE() << "a namespace's Profile was writable";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("kubectl label namespaces prod"), std::string::npos)
        << e.what();
  }
}

TEST(Kinds, KeysAreChecked) {
  const kube::KindTable table;
  try {
    table.require("Lease");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("kind: \"Lease\" is not stored by the kubernetes "
                                         "datastore (known kinds: IPPool, IPAMConfig"),
              std::string::npos);
  }
  auto error = [&](const ResourceKey& key) -> std::string {
    try {
      kube::check_key(table.require(key.kind), key);
      return "";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), BRINDLE_ERR_INVALID_ARGUMENT);
      return e.what();
    }
  };
  EXPECT_EQ(error({"IPPool", "", "a"}), "");
  EXPECT_EQ(error({"IPPool", "prod", "a"}),
            "namespace: IPPool is cluster-scoped, but namespace \"prod\" was given");
  EXPECT_EQ(error({"NetworkPolicy", "", "a"}), "namespace: must not be empty");
  EXPECT_EQ(error({"IPPool", "", ""}), "name: must not be empty");
  EXPECT_NE(error({"IPPool", "", "a/b"}).find("cannot name a Kubernetes object"),
            std::string::npos);
  EXPECT_NE(error({"IPPool", "", ".."}).find("cannot name a Kubernetes object"), std::string::npos);
}

TEST(Kinds, CrdsMatchTheKindTable) {
  const kube::KindTable table;
  std::map<std::string, std::string> crds;
  for (const json& doc : yaml_file_documents(BRINDLE_KUBE_CRDS)) {
    ASSERT_EQ(doc["apiVersion"], "apiextensions.k8s.io/v1");
    ASSERT_EQ(doc["kind"], "CustomResourceDefinition");
    const json& spec = doc["spec"];
    const std::string plural = spec["names"]["plural"];
    EXPECT_EQ(doc["metadata"]["name"], plural + "." + spec["group"].get<std::string>());
    std::string singular = spec["names"]["kind"];
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_EQ(spec["names"]["singular"], singular);
    EXPECT_EQ(spec["names"]["listKind"], spec["names"]["kind"].get<std::string>() + "List");
    ASSERT_EQ(spec["versions"].size(), 1u);
    EXPECT_EQ(spec["versions"][0]["name"], "v1");
    EXPECT_EQ(spec["versions"][0]["served"], true);
    EXPECT_EQ(spec["versions"][0]["storage"], true);
    EXPECT_EQ(
        spec["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"],
        true);
    crds[spec["names"]["kind"]] =
        spec["group"].get<std::string>() + " " + plural + " " + spec["scope"].get<std::string>();
  }
  std::map<std::string, std::string> expected;
  for (const kube::KindInfo& k : table.kinds()) {
    if (!k.native) {
      expected[k.kind] = k.group + " " + k.plural + (k.namespaced ? " Namespaced" : " Cluster");
    }
  }
  EXPECT_EQ(crds, expected);
}

// ---------------------------------------------------------------------------------------------
// Documents

const kube::KindTable& kinds() {
  static const kube::KindTable table;
  return table;
}

// The ClusterRole of configs/kubernetes/rbac.yaml lets brindled read every resource the plugin
// reads (its own, the native NetworkPolicy, namespaces and pods), write Brindle's own and get the
// Nodes that own Brindle Nodes.
TEST(Kinds, RbacCoversEveryResource) {
  const kube::KindTable table;
  std::map<std::string, std::set<std::string>> granted;  // "group/resource" -> verbs
  bool bound = false;
  for (const json& doc : yaml_file_documents(BRINDLE_KUBE_RBAC)) {
    if (doc["kind"] == "ClusterRole") {
      for (const json& rule : doc["rules"]) {
        for (const json& group : rule["apiGroups"]) {
          for (const json& resource : rule["resources"]) {
            for (const json& verb : rule["verbs"]) {
              granted[group.get<std::string>() + "/" + resource.get<std::string>()].insert(verb);
            }
          }
        }
      }
    } else if (doc["kind"] == "ClusterRoleBinding") {
      bound =
          doc["roleRef"]["name"] == "brindle-node" && doc["subjects"][0]["name"] == "brindle-node";
    }
  }
  EXPECT_TRUE(bound);
  // The owner of every Brindle Node written (KubeDatastore::owners_of).
  EXPECT_EQ(granted["/nodes"], std::set<std::string>{"get"});
  granted.erase("/nodes");
  const std::set<std::string> read = {"get", "list", "watch"};
  const std::set<std::string> all = {"get", "list", "watch", "create", "update", "delete"};
  for (const kube::KindInfo* source : table.sources("")) {
    const std::string name = source->group + "/" + source->plural;
    EXPECT_EQ(granted[name], source->native ? read : all) << name;
    granted.erase(name);
  }
  EXPECT_TRUE(granted.empty()) << "granted but never used: " << granted.begin()->first;
}

TEST(Documents, ToKubeObject) {
  const std::string host_doc =
      R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":"p","labels":{"a":"b"},)"
      R"("revision":"7","uid":"u-1","creationTimestamp":"2024-05-01T12:00:00Z"},"spec":{"cidr":"198.18.0.0/16"}})";
  const ResourceKey key{"IPPool", "", "p"};
  EXPECT_EQ(
      kube::to_kube_object(host_doc, kinds().require("IPPool"), key, "42"),
      R"({"apiVersion":"brindle.network/v1","kind":"IPPool","metadata":{"name":"p","labels":{"a":"b"},)"
      R"("resourceVersion":"42"},"spec":{"cidr":"198.18.0.0/16"}})");
  // A create carries no resourceVersion; identity fields are filled in from the key.
  EXPECT_EQ(
      kube::to_kube_object(R"j({"spec":{"selector":"all()"}})j", kinds().require("NetworkPolicy"),
                           {"NetworkPolicy", "prod", "deny"}, ""),
      R"j({"apiVersion":"brindle.network/v1","kind":"NetworkPolicy","spec":{"selector":"all()"},)j"
      R"("metadata":{"name":"deny","namespace":"prod"}})");
  // KubernetesNetworkPolicy is the native NetworkPolicy.
  EXPECT_EQ(kube::to_kube_object(
                R"({"apiVersion":"brindle.network/v1","kind":"KubernetesNetworkPolicy","metadata":)"
                R"({"name":"np","namespace":"prod"},"spec":{"podSelector":{}}})",
                kinds().require("KubernetesNetworkPolicy"),
                {"KubernetesNetworkPolicy", "prod", "np"}, ""),
            R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":)"
            R"({"name":"np","namespace":"prod"},"spec":{"podSelector":{}}})");
}

TEST(Documents, ToKubeObjectRejectsContradictions) {
  auto error = [](const std::string& doc) -> std::string {
    try {
      kube::to_kube_object(doc, kinds().require("NetworkPolicy"), {"NetworkPolicy", "prod", "a"},
                           "");
      return "";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), BRINDLE_ERR_INVALID_ARGUMENT);
      return e.what();
    }
  };
  EXPECT_EQ(error("{"), "document is not valid JSON");
  EXPECT_EQ(error("[]"), "document must be a JSON object");
  EXPECT_EQ(error(R"({"kind":"IPPool"})"),
            "kind: \"IPPool\" does not match the resource key's kind \"NetworkPolicy\"");
  EXPECT_EQ(error(R"({"metadata":{"name":"b"}})"),
            "metadata.name: \"b\" does not match the resource key's name \"a\"");
  EXPECT_EQ(error(R"({"metadata":{"name":"a","namespace":"dev"}})"),
            "metadata.namespace: \"dev\" does not match the resource key's namespace \"prod\"");
  EXPECT_EQ(error(R"({"metadata":3})"), "metadata: must be an object");
}

TEST(Documents, FromKubeObjectKeepsWhatTheHostKnows) {
  const Json object = Json::parse(R"({
    "apiVersion": "brindle.network/v1", "kind": "WorkloadEndpoint",
    "metadata": {"name": "w", "namespace": "prod", "uid": "0b1c", "resourceVersion": "815",
      "generation": 3, "creationTimestamp": "2024-05-01T12:00:00Z", "labels": {"app": "web"},
      "annotations": {"note": "x"}, "selfLink": "/apis/x", "finalizers": ["f"],
      "managedFields": [{"manager": "kubectl"}], "ownerReferences": []},
    "spec": {"node": "node-a"}, "status": {"phase": "x"}})");
  std::string problem;
  const auto doc = kube::from_kube_object(object, kinds().require("WorkloadEndpoint"), &problem);
  ASSERT_TRUE(doc) << problem;
  EXPECT_EQ(doc->key, (ResourceKey{"WorkloadEndpoint", "prod", "w"}));
  EXPECT_EQ(doc->revision, "815");
  EXPECT_EQ(
      doc->json,
      R"({"apiVersion":"brindle.network/v1","kind":"WorkloadEndpoint","metadata":{"name":"w",)"
      R"("namespace":"prod","labels":{"app":"web"},"annotations":{"note":"x"},"uid":"0b1c",)"
      R"("creationTimestamp":"2024-05-01T12:00:00Z","revision":"815"},"spec":{"node":"node-a"}})");
}

TEST(Documents, NamespaceIsItsProfile) {
  const kube::KindTable table;
  const kube::KindInfo& namespaces = *table.sources("Profile").at(1);
  // An older server without the name label; a label that is not a string is no label.
  const Json object = Json::parse(R"({"apiVersion": "v1", "kind": "Namespace",
    "metadata": {"name": "prod", "uid": "9f0e", "resourceVersion": "42",
      "creationTimestamp": "2024-05-01T12:00:00Z", "labels": {"env": "production", "n": 1},
      "annotations": {"note": "x"}},
    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})");
  std::string problem;
  const auto doc = kube::from_kube_object(object, namespaces, &problem);
  ASSERT_TRUE(doc) << problem;
  EXPECT_EQ(doc->key, (ResourceKey{"Profile", "", "kns.prod"}));
  EXPECT_EQ(doc->revision, "42");
  EXPECT_EQ(doc->json,
            R"({"apiVersion":"brindle.network/v1","kind":"Profile","metadata":{"name":"kns.prod",)"
            R"("uid":"9f0e","creationTimestamp":"2024-05-01T12:00:00Z","revision":"42"},)"
            R"("spec":{"labelsToApply":{"env":"production",)"
            R"("kubernetes.io/metadata.name":"prod"}}})");
  const model::Resource decoded = model::resource_from_json_text(doc->json);
  EXPECT_EQ(decoded.kind, "Profile");
  // A Profile custom resource under such a name is not the host's.
  const Json shadow = Json::parse(R"({"apiVersion": "brindle.network/v1", "kind": "Profile",
    "metadata": {"name": "kns.prod", "resourceVersion": "43"}, "spec": {}})");
  EXPECT_FALSE(kube::from_kube_object(shadow, table.require("Profile"), &problem));
  EXPECT_NE(problem.find("kns."), std::string::npos) << problem;
  EXPECT_FALSE(kube::from_kube_object(Json::parse(R"({"kind": "Pod", "metadata": {"name": "p",
    "resourceVersion": "1"}})"),
                                      namespaces, &problem));
}

// Pods are read with WorkloadEndpoints and amend them; they are never documents themselves.
TEST(Kinds, PodsAmendWorkloadEndpoints) {
  const kube::KindTable table;
  const kube::KindInfo& endpoints = table.require("WorkloadEndpoint");
  const std::vector<const kube::KindInfo*> sources = table.sources("WorkloadEndpoint");
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0], &endpoints);
  EXPECT_EQ(sources[1], table.overlay_of("WorkloadEndpoint"));
  EXPECT_TRUE(sources[1]->overlay);
  EXPECT_EQ(sources[1]->source, "Pod");
  EXPECT_EQ(kube::collection_path(*sources[1], {}), "/api/v1/pods");
  EXPECT_EQ(kube::item_path(*sources[1], "prod", "web-1"), "/api/v1/namespaces/prod/pods/web-1");
  EXPECT_EQ(&table.source_of(endpoints, "node-a-k8s-web--1-eth0"), &endpoints);
  EXPECT_EQ(table.overlay_of("Profile"), nullptr);
}

Json pod_object(const Json& labels, const Json& containers, const std::string& account = "") {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "web-1"}, {"namespace", "prod"}, {"resourceVersion", "7"}}},
              {"spec", {{"containers", containers}}},
              {"status", {{"phase", "Running"}}}};
  if (!labels.is_null()) {
    pod["metadata"]["labels"] = labels;
  }
  if (!account.empty()) {
    pod["spec"]["serviceAccountName"] = account;
  }
  return pod;
}

kube::HostDocument endpoint_document(const std::string& name, const std::string& orchestrator) {
  const Json doc = {
      {"apiVersion", "brindle.network/v1"},
      {"kind", "WorkloadEndpoint"},
      {"metadata",
       {{"name", name}, {"namespace", "prod"}, {"labels", {{"cni", "label"}}}, {"revision", "5"}}},
      {"spec",
       {{"node", "node-a"},
        {"orchestrator", orchestrator},
        {"pod", "web-1"},
        {"interfaceName", "brv0123456789a"},
        {"ports", {{{"name", "cni"}, {"port", 1}}}}}}};
  return {{"WorkloadEndpoint", "prod", name}, doc.dump(), "5"};
}

TEST(PodOverlay, WhatAPodSays) {
  std::string problem;
  const auto facts = kube::pod_facts(
      pod_object({{"app", "web"}, {"n", 1}},
                 {{{"name", "app"},
                   {"ports",
                    {{{"name", "http"}, {"containerPort", 8080}},
                     {{"containerPort", 9000}},
                     {{"name", "dns"}, {"containerPort", 53}, {"protocol", "UDP"}}}}},
                  {{"name", "sidecar"},
                   {"ports",
                    {{{"name", "http"}, {"containerPort", 9090}},
                     {{"name", "metrics"}, {"containerPort", 9100}}}}}},
                 "web-sa"),
      &problem);
  ASSERT_TRUE(facts) << problem;
  EXPECT_EQ(facts->first, (kube::PodName{"prod", "web-1"}));
  EXPECT_EQ(facts->second.labels, (Json{{"app", "web"}}));
  // Named ports only, the first of each name, TCP unless said.
  EXPECT_EQ(facts->second.ports,
            (Json{{{"name", "http"}, {"protocol", "TCP"}, {"port", 8080}},
                  {{"name", "dns"}, {"protocol", "UDP"}, {"port", 53}},
                  {{"name", "metrics"}, {"protocol", "TCP"}, {"port", 9100}}}));
  EXPECT_EQ(facts->second.service_account, "web-sa");
  EXPECT_FALSE(kube::pod_facts(Json{{"metadata", {{"name", "x"}}}}, &problem));
  EXPECT_FALSE(kube::pod_facts(Json::array(), &problem));

  EXPECT_EQ(kube::endpoint_pod(endpoint_document("e", "k8s")), (kube::PodName{"prod", "web-1"}));
  EXPECT_FALSE(kube::endpoint_pod(endpoint_document("e", "cni")));  // not a Kubernetes pod
}

TEST(PodOverlay, EndpointsShowTheirPod) {
  kube::PodOverlay pods;
  std::string problem;
  const auto web = kube::pod_facts(
      pod_object({{"app", "web"}},
                 {{{"name", "app"}, {"ports", {{{"name", "http"}, {"containerPort", 80}}}}}}),
      &problem);
  ASSERT_TRUE(web);
  // Before its pod is known an endpoint is as written.
  kube::HostDocument a = endpoint_document("a", "k8s");
  const std::string written = a.json;
  pods.endpoint_seen(a);
  EXPECT_EQ(a.json, written);
  // The pod arrives: its endpoint again, as the pod says; a model resource still.
  std::vector<kube::HostDocument> changed = pods.pod_changed(web->first, web->second);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].key.name, "a");
  EXPECT_EQ(changed[0].revision, "5");  // the custom resource's, which writes are conditional on
  Json shown = Json::parse(changed[0].json);
  EXPECT_EQ(shown["metadata"]["labels"], (Json{{"app", "web"}}));
  EXPECT_EQ(shown["spec"]["ports"], (Json{{{"name", "http"}, {"protocol", "TCP"}, {"port", 80}}}));
  EXPECT_EQ(shown["spec"]["interfaceName"], "brv0123456789a");
  EXPECT_EQ(model::resource_from_json_text(changed[0].json).metadata.labels.at("app"), "web");
  // Nothing it says changed (a status update): nothing to show again.
  EXPECT_TRUE(pods.pod_changed(web->first, web->second).empty());
  // A second endpoint of the pod is shown as it says at once; kinds of other orchestrators never.
  kube::HostDocument b = endpoint_document("b", "k8s");
  pods.endpoint_seen(b);
  EXPECT_EQ(Json::parse(b.json)["metadata"]["labels"], (Json{{"app", "web"}}));
  kube::HostDocument other = endpoint_document("c", "cni");
  pods.endpoint_seen(other);
  EXPECT_EQ(Json::parse(other.json)["metadata"]["labels"], (Json{{"cni", "label"}}));
  // Relabelled: both endpoints again. Unlabelled: the labels go.
  kube::PodFacts relabelled = web->second;
  relabelled.labels = {{"app", "web"}, {"tier", "front"}};
  EXPECT_EQ(pods.pod_changed(web->first, relabelled).size(), 2u);
  kube::PodFacts bare = web->second;
  bare.labels = Json::object();
  changed = pods.pod_changed(web->first, bare);
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_FALSE(Json::parse(changed[0].json)["metadata"].contains("labels"));
  // An endpoint deleted is forgotten; the pod deleted shows the rest as written.
  kube::HostDocument gone = endpoint_document("b", "k8s");
  pods.endpoint_seen(gone, /*deleted=*/true);
  changed = pods.pod_changed(web->first, std::nullopt);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].json, written);
  EXPECT_EQ(pods.pods(), 0u);
  EXPECT_EQ(pods.endpoints(), 1u);  // a (the cni one is no pod's)
}

TEST(Documents, NativeNetworkPolicyIsKubernetesNetworkPolicy) {
  // A typed list's items carry no apiVersion/kind.
  const Json item = Json::parse(R"({"metadata": {"name": "np", "namespace": "prod",
      "resourceVersion": "9", "uid": "u", "creationTimestamp": "2024-05-01T12:00:00Z"},
      "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})");
  std::string problem;
  const auto doc =
      kube::from_kube_object(item, kinds().require("KubernetesNetworkPolicy"), &problem);
  ASSERT_TRUE(doc) << problem;
  const json host = json::parse(doc->json);
  EXPECT_EQ(host["apiVersion"], "brindle.network/v1");
  EXPECT_EQ(host["kind"], "KubernetesNetworkPolicy");
  const model::Resource decoded = model::resource_from_json_text(doc->json);
  EXPECT_EQ(decoded.kind, "KubernetesNetworkPolicy");
  EXPECT_EQ(decoded.metadata.revision, "9");
}

TEST(Documents, FromKubeObjectProblems) {
  std::string problem;
  const kube::KindInfo& pool = kinds().require("IPPool");
  EXPECT_FALSE(kube::from_kube_object(
      Json::parse(R"({"kind":"Node","metadata":{"name":"a","resourceVersion":"1"}})"), pool,
      &problem));
  EXPECT_EQ(problem, "kind \"Node\" is not \"IPPool\"");
  EXPECT_FALSE(kube::from_kube_object(Json::parse(R"({"metadata":{"name":"a"}})"), pool, &problem));
  EXPECT_EQ(problem, "metadata.resourceVersion is missing");
  EXPECT_FALSE(kube::from_kube_object(Json::parse(R"({"metadata":{"resourceVersion":"1"}})"), pool,
                                      &problem));
  EXPECT_EQ(problem, "metadata.name is missing");
  EXPECT_FALSE(
      kube::from_kube_object(Json::parse(R"({"metadata":{"name":"a","resourceVersion":"1"}})"),
                             kinds().require("NetworkSet"), &problem));
  EXPECT_EQ(problem, "metadata.namespace is missing for a namespaced kind");
  EXPECT_FALSE(kube::from_kube_object(Json::parse("[]"), pool, &problem));
}

// What the host writes comes back as the host's decoder accepts it, for every kind, after the
// server has added its own metadata.
TEST(Documents, RoundTripThroughServerMetadataDecodesInTheHost) {
  for (const kube::KindInfo& kind : kinds().kinds()) {
    const ResourceKey key{kind.kind, kind.namespaced ? "prod" : "", "r1"};
    json metadata = {{"name", "r1"}, {"labels", {{"a", "b"}}}};
    if (kind.namespaced) {
      metadata["namespace"] = "prod";
    }
    const json host_doc = {{"apiVersion", "brindle.network/v1"},
                           {"kind", kind.kind},
                           {"metadata", metadata},
                           {"spec", {{"x", 1}}}};
    Json sent = Json::parse(kube::to_kube_object(host_doc.dump(), kind, key, ""));
    EXPECT_EQ(sent["apiVersion"], kind.api_version());
    EXPECT_EQ(sent["kind"], kind.kube_kind);
    sent["metadata"]["uid"] = "6f0e";
    sent["metadata"]["resourceVersion"] = "31";
    sent["metadata"]["creationTimestamp"] = "2024-05-01T12:00:00Z";
    sent["metadata"]["generation"] = 1;
    sent["metadata"]["managedFields"] = Json::array();
    std::string problem;
    const auto back = kube::from_kube_object(sent, kind, &problem);
    ASSERT_TRUE(back) << kind.kind << ": " << problem;
    EXPECT_EQ(back->key, key);
    json expected = host_doc;
    expected["metadata"]["uid"] = "6f0e";
    expected["metadata"]["creationTimestamp"] = "2024-05-01T12:00:00Z";
    expected["metadata"]["revision"] = "31";
    EXPECT_EQ(json::parse(back->json), expected) << kind.kind;
    const model::Resource decoded = model::resource_from_json_text(back->json);
    EXPECT_EQ(decoded.kind, kind.kind);
    EXPECT_EQ(decoded.metadata.uid, "6f0e");
  }
}

// ---------------------------------------------------------------------------------------------
// Status mapping and revisions

TEST(Status, HttpCodes) {
  EXPECT_EQ(kube::status_code_for(404, "NotFound"), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(kube::status_code_for(409, "AlreadyExists"), BRINDLE_ERR_ALREADY_EXISTS);
  EXPECT_EQ(kube::status_code_for(409, "Conflict"), BRINDLE_ERR_CONFLICT);
  EXPECT_EQ(kube::status_code_for(401, "Unauthorized"), BRINDLE_ERR_PERMISSION);
  EXPECT_EQ(kube::status_code_for(403, "Forbidden"), BRINDLE_ERR_PERMISSION);
  EXPECT_EQ(kube::status_code_for(400, "BadRequest"), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kube::status_code_for(422, "Invalid"), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kube::status_code_for(410, "Expired"), BRINDLE_ERR_UNAVAILABLE);
  EXPECT_EQ(kube::status_code_for(413, ""), BRINDLE_ERR_RESOURCE_EXHAUSTED);
  EXPECT_EQ(kube::status_code_for(429, "TooManyRequests"), BRINDLE_ERR_UNAVAILABLE);
  EXPECT_EQ(kube::status_code_for(500, "InternalError"), BRINDLE_ERR_UNAVAILABLE);
  EXPECT_EQ(kube::status_code_for(503, "ServiceUnavailable"), BRINDLE_ERR_UNAVAILABLE);
  EXPECT_EQ(kube::status_code_for(504, "Timeout"), BRINDLE_ERR_TIMEOUT);
}

TEST(Status, MessageFromTheStatusObject) {
  const kube::ApiStatus status = kube::parse_api_status(
      409,
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"ippools.brindle.network \"a\" already exists","reason":"AlreadyExists","code":409})");
  EXPECT_EQ(status.reason, "AlreadyExists");
  try {
    kube::throw_api_error(status, "create IPPool \"a\"");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), BRINDLE_ERR_ALREADY_EXISTS);
    EXPECT_STREQ(e.what(),
                 "create IPPool \"a\": ippools.brindle.network \"a\" already exists "
                 "(HTTP 409 AlreadyExists)");
  }
  const kube::ApiStatus text = kube::parse_api_status(502, "<html>\nbad gateway</html>");
  EXPECT_EQ(text.message, "<html> bad gateway</html>");
  EXPECT_EQ(kube::parse_api_status(500, "").message, "no message");
}

TEST(Revisions, Composite) {
  const std::string text = kube::format_composite_revision({{"IPPool", "12"}, {"Node", "15"}});
  EXPECT_EQ(text, "IPPool=12;Node=15");
  std::vector<kube::KindRevision> parsed;
  ASSERT_TRUE(kube::parse_composite_revision(text, &parsed));
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[1].kind, "Node");
  EXPECT_EQ(parsed[1].resource_version, "15");
  EXPECT_FALSE(kube::parse_composite_revision("12", &parsed));
  EXPECT_THROW(kube::parse_composite_revision("IPPool=;Node=1", &parsed), Error);
  EXPECT_THROW(kube::parse_composite_revision("=1", &parsed), Error);
}

}  // namespace
}  // namespace brindle::test
