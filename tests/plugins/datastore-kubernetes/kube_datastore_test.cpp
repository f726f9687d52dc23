// The datastore-kubernetes plugin, loaded through its entry symbol and driven through the C ABI,
// against the test API server (tests/support/kube-apiserver) that each test starts on 127.0.0.1
// with Brindle's CRDs (configs/kubernetes/crds.yaml) applied.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "brindle/model/resource.hpp"
#include "datastore_client.h"
#include "fake_apiserver.h"
#include "host_stub.h"

namespace brindle::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string toml_string(const std::string& s) {
  return json(s).dump();
}

// A host document of `kind` (namespace "" for a cluster-scoped one), not yet stored.
Stored resource(const std::string& kind, const std::string& ns, const std::string& name,
                const json& spec, const json& labels = nullptr) {
  json metadata = {{"name", name}};
  if (!ns.empty()) {
    metadata["namespace"] = ns;
  }
  if (!labels.is_null()) {
    metadata["labels"] = labels;
  }
  return Stored{kind, ns, name,
                json{{"apiVersion", "brindle.network/v1"},
                     {"kind", kind},
                     {"metadata", metadata},
                     {"spec", spec}}
                    .dump(),
                ""};
}

Stored pool(const std::string& name, const std::string& cidr = "198.18.0.0/16") {
  return resource("IPPool", "", name, {{"cidr", cidr}, {"blockSize", 26}});
}

Stored policy(const std::string& ns, const std::string& name) {
  return resource("NetworkPolicy", ns, name, {{"selector", "all()"}});
}

Stored k8s_policy(const std::string& ns, const std::string& name) {
  return resource("KubernetesNetworkPolicy", ns, name,
                  {{"podSelector", json::object()}, {"policyTypes", {"Ingress"}}});
}

Stored with_spec(Stored resource, const json& spec, const std::string& revision = "") {
  json doc = json::parse(resource.json);
  doc["spec"] = spec;
  resource.json = doc.dump();
  resource.revision = revision;
  return resource;
}

std::string key_of(const Stored& r) {
  return r.kind + "/" + r.namespace_ + "/" + r.name;
}

bool is_resource_event(brindle_watch_event_type_t type) {
  return type == BRINDLE_WATCH_ADDED || type == BRINDLE_WATCH_MODIFIED ||
         type == BRINDLE_WATCH_DELETED;
}

std::vector<WatchRecorder::Event> resource_events(const std::vector<WatchRecorder::Event>& all) {
  std::vector<WatchRecorder::Event> out;
  for (const auto& e : all) {
    if (is_resource_event(e.type)) {
      out.push_back(e);
    }
  }
  return out;
}

size_t count_type(const std::vector<WatchRecorder::Event>& events,
                  brindle_watch_event_type_t type) {
  size_t n = 0;
  for (const auto& e : events) {
    n += e.type == type ? 1 : 0;
  }
  return n;
}

// A HostStub and a plugin instance with one configuration.
class Client {
 public:
  explicit Client(const std::string& toml) : host_(toml, "datastore.kubernetes") {
    store_ = DatastoreInstance::create(PluginLibrary::at(BRINDLE_KUBERNETES_PLUGIN_PATH), host_,
                                       &status_);
  }
  DatastoreInstance* operator->() { return store_.get(); }
  bool ok() const { return store_ != nullptr; }
  const Status& status() const { return status_; }
  HostStub& host() { return host_; }

 private:
  HostStub host_;
  Status status_;
  std::unique_ptr<DatastoreInstance> store_;
};

Status validate_status(const std::string& config) {
  HostStub host(config, "datastore.kubernetes");
  brindle_error_t err{};
  const brindle_status_t code = PluginLibrary::at(BRINDLE_KUBERNETES_PLUGIN_PATH)
                                    .descriptor()
                                    .validate_config(host.services(), &err);
  return code == BRINDLE_OK ? Status{} : Status{code, err.message};
}

// ---------------------------------------------------------------------------------------------
// The plugin and its configuration, without a server

TEST(KubernetesPlugin, DescriptorAndVtable) {
  const brindle_plugin_descriptor_t& d =
      PluginLibrary::at(BRINDLE_KUBERNETES_PLUGIN_PATH).descriptor();
  EXPECT_EQ(d.kind, BRINDLE_KIND_DATASTORE);
  EXPECT_STREQ(d.name, "kubernetes");
  EXPECT_EQ(d.abi_major, BRINDLE_ABI_VERSION_MAJOR);
  EXPECT_NE(d.validate_config, nullptr);
  EXPECT_EQ(PluginLibrary::at(BRINDLE_KUBERNETES_PLUGIN_PATH).vtable().struct_size,
            sizeof(brindle_datastore_vtable_t));
  EXPECT_NE(PluginLibrary::at(BRINDLE_KUBERNETES_PLUGIN_PATH).vtable().watch, nullptr);
}

TEST(KubernetesPlugin, ValidateConnectsToNothing) {
  EXPECT_TRUE(validate_status("[datastore.kubernetes]\nserver = \"http://127.0.0.1:1\"\n").ok());
  const Status bad = validate_status("[datastore.kubernetes]\nserver = \"127.0.0.1:1\"\n");
  EXPECT_EQ(bad.code, BRINDLE_ERR_CONFIG);
  EXPECT_NE(bad.message.find("brindle-test.toml:2:10: server: must start with http://"),
            std::string::npos)
      << bad;
  const Status missing = validate_status(
      "[datastore.kubernetes]\nserver = \"https://127.0.0.1:1\"\nca_file = \"/nonexistent.pem\"\n");
  EXPECT_EQ(missing.code, BRINDLE_ERR_CONFIG);
  EXPECT_NE(missing.message.find("ca_file: cannot read \"/nonexistent.pem\""), std::string::npos)
      << missing;
}

TEST(KubernetesPlugin, NobodyListeningIsUnavailable) {
  Client c("[datastore.kubernetes]\nserver = \"http://127.0.0.1:1\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code, BRINDLE_ERR_UNAVAILABLE) << c.status();
  EXPECT_NE(c.status().message.find("http://127.0.0.1:1"), std::string::npos) << c.status();
}

// ---------------------------------------------------------------------------------------------
// Against the test API server

class KubeTest : public ::testing::Test {
 protected:
  void SetUp() override { start_server({}); }
  void TearDown() override { server_.reset(); }

  void start_server(FakeApiServer::Options options, bool crds = true) {
    server_ = std::make_unique<FakeApiServer>(std::move(options));
    if (crds) {
      server_->apply_yaml(BRINDLE_KUBE_CRDS);
    }
    server_->create_namespace("prod");
    server_->create_namespace("dev");
  }
  std::string config(const std::string& extra = "", int request_timeout_ms = 5000) const {
    return "[datastore.kubernetes]\nserver = " + toml_string(server_->url()) +
           "\nrequest_timeout_ms = " + std::to_string(request_timeout_ms) + "\n" + extra;
  }
  // A create/update result must be what get returns, and decode in the host.
  void expect_stored(Client& c, const Stored& written) {
    Stored got;
    ASSERT_TRUE(c->get(written.kind, written.namespace_, written.name, &got).ok());
    EXPECT_EQ(got.json, written.json);
    EXPECT_EQ(got.revision, written.revision);
    const model::Resource decoded = model::resource_from_json_text(got.json);
    EXPECT_EQ(decoded.kind, written.kind);
    EXPECT_EQ(decoded.metadata.revision, written.revision);
  }

  std::unique_ptr<FakeApiServer> server_;
};

// No transactions (Kubernetes has none): the entry refuses every one, an empty one included,
// which is how the host learns to take its single-write paths from the start; nothing is written.
TEST_F(KubeTest, TransactionsAreRefusedWithoutAWrite) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->txn({}).code, BRINDLE_ERR_UNSUPPORTED);
  EXPECT_EQ(c->txn({{BRINDLE_TXN_CREATE, pool("p1")}}).code, BRINDLE_ERR_UNSUPPORTED);
  Stored got;
  EXPECT_EQ(c->get("IPPool", "", "p1", &got).code, BRINDLE_ERR_NOT_FOUND);
}

TEST_F(KubeTest, CreateGetUpdateConflictRemove) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  Stored created;
  ASSERT_TRUE(c->create(pool("p1"), &created).ok());
  EXPECT_EQ(created.kind, "IPPool");
  EXPECT_EQ(created.name, "p1");
  ASSERT_FALSE(created.revision.empty());
  const json doc = json::parse(created.json);
  EXPECT_EQ(doc["apiVersion"], "brindle.network/v1");
  EXPECT_EQ(doc["metadata"]["revision"], created.revision);
  EXPECT_FALSE(doc["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(doc["metadata"]["creationTimestamp"].get<std::string>().empty());
  EXPECT_EQ(doc["spec"]["cidr"], "198.18.0.0/16");
  EXPECT_FALSE(doc["metadata"].contains("resourceVersion"));
  expect_stored(c, created);

  // It is an ippools.brindle.network custom resource on the server.
  const RawResponse raw = server_->request("GET", "/apis/brindle.network/v1/ippools/p1");
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_EQ(raw.json()["metadata"]["resourceVersion"], created.revision);
  EXPECT_EQ(raw.json()["metadata"]["uid"], doc["metadata"]["uid"]);

  const Status again = c->create(pool("p1"));
  EXPECT_EQ(again.code, BRINDLE_ERR_ALREADY_EXISTS) << again;
  EXPECT_NE(again.message.find("IPPool \"p1\" already exists"), std::string::npos) << again;

  Stored updated;
  ASSERT_TRUE(
      c->update(with_spec(pool("p1"), {{"cidr", "198.19.0.0/16"}}, created.revision), &updated)
          .ok());
  EXPECT_NE(updated.revision, created.revision);
  const json updated_doc = json::parse(updated.json);
  EXPECT_EQ(updated_doc["metadata"]["uid"], doc["metadata"]["uid"]);
  EXPECT_EQ(updated_doc["metadata"]["creationTimestamp"], doc["metadata"]["creationTimestamp"]);
  EXPECT_EQ(updated_doc["spec"]["cidr"], "198.19.0.0/16");
  expect_stored(c, updated);

  const Status stale =
      c->update(with_spec(pool("p1"), {{"cidr", "198.18.0.0/24"}}, created.revision));
  EXPECT_EQ(stale.code, BRINDLE_ERR_CONFLICT) << stale;
  EXPECT_NE(stale.message.find("expected revision " + created.revision), std::string::npos)
      << stale;
  // A uid the host sent from an older object is not a precondition.
  json foreign = json::parse(pool("p1").json);
  foreign["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000";
  Stored unconditional;
  ASSERT_TRUE(c->update(Stored{"IPPool", "", "p1", foreign.dump(), ""}, &unconditional).ok());
  EXPECT_EQ(json::parse(unconditional.json)["metadata"]["uid"], doc["metadata"]["uid"]);

  const Status stale_remove = c->remove("IPPool", "", "p1", updated.revision);
  EXPECT_EQ(stale_remove.code, BRINDLE_ERR_CONFLICT) << stale_remove;
  ASSERT_TRUE(c->remove("IPPool", "", "p1", unconditional.revision).ok());
  Stored gone;
  const Status missing = c->get("IPPool", "", "p1", &gone);
  EXPECT_EQ(missing.code, BRINDLE_ERR_NOT_FOUND) << missing;
  EXPECT_EQ(c->update(pool("p1")).code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->update(with_spec(pool("p1"), {}, updated.revision)).code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->remove("IPPool", "", "p1", "").code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->remove("IPPool", "", "p1", unconditional.revision).code, BRINDLE_ERR_NOT_FOUND);
}

TEST_F(KubeTest, KubernetesNetworkPolicyIsTheNativeResource) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  Stored created;
  ASSERT_TRUE(c->create(k8s_policy("prod", "deny"), &created).ok());
  const json doc = json::parse(created.json);
  EXPECT_EQ(doc["apiVersion"], "brindle.network/v1");
  EXPECT_EQ(doc["kind"], "KubernetesNetworkPolicy");
  expect_stored(c, created);
  const RawResponse raw =
      server_->request("GET", "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny");
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_EQ(raw.json()["kind"], "NetworkPolicy");
  EXPECT_EQ(raw.json()["apiVersion"], "networking.k8s.io/v1");

  // A policy applied with kubectl is seen by Brindle as its KubernetesNetworkPolicy.
  const RawResponse applied = server_->request(
      "POST", "/apis/networking.k8s.io/v1/namespaces/dev/networkpolicies",
      R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"upstream"},)"
      R"("spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"]}})");
  ASSERT_EQ(applied.status, 201) << applied.body;
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("KubernetesNetworkPolicy", "dev", &items, &revision).ok());
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].name, "upstream");
  EXPECT_EQ(model::resource_from_json_text(items[0].json).kind, "KubernetesNetworkPolicy");
}

TEST_F(KubeTest, BadInputIsRejectedNamingTheField) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  const Status unknown = c->create(Stored{"Lease", "", "x", "{}", ""});
  EXPECT_EQ(unknown.code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(unknown.message.find("kind: \"Lease\" is not stored"), std::string::npos) << unknown;
  Stored p = pool("p");
  p.namespace_ = "prod";
  EXPECT_NE(c->create(p).message.find("namespace: IPPool is cluster-scoped"), std::string::npos);
  Stored np = policy("prod", "a");
  np.name = "b";
  const Status mismatch = c->create(np);
  EXPECT_EQ(mismatch.code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(mismatch.message.find("metadata.name: \"a\" does not match"), std::string::npos)
      << mismatch;
  // The server's own validation comes back with its message.
  const Status bad_name = c->create(pool("Upper_Case"));
  EXPECT_EQ(bad_name.code, BRINDLE_ERR_INVALID_ARGUMENT) << bad_name;
  EXPECT_NE(bad_name.message.find("HTTP 422"), std::string::npos) << bad_name;
  // A namespace that does not exist.
  const Status no_namespace = c->create(policy("nowhere", "a"));
  EXPECT_EQ(no_namespace.code, BRINDLE_ERR_NOT_FOUND) << no_namespace;
  EXPECT_NE(no_namespace.message.find("namespaces \"nowhere\" not found"), std::string::npos)
      << no_namespace;
}

TEST_F(KubeTest, ListFiltersByKindAndNamespace) {
  Client c(config("list_page_size = 2\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        c->create(pool("p" + std::to_string(i), "198.18." + std::to_string(i) + ".0/24")).ok());
  }
  ASSERT_TRUE(c->create(policy("prod", "a")).ok());
  ASSERT_TRUE(c->create(policy("prod", "b")).ok());
  ASSERT_TRUE(c->create(policy("dev", "a")).ok());
  ASSERT_TRUE(c->create(k8s_policy("prod", "k")).ok());

  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  std::set<std::string> keys;
  for (const Stored& item : items) {
    keys.insert(key_of(item));
    EXPECT_EQ(model::resource_from_json_text(item.json).metadata.revision, item.revision);
  }
  // The namespaces (the server's own two and the fixture's) are there as their Profiles.
  EXPECT_EQ(keys, (std::set<std::string>{
                      "IPPool//p0", "IPPool//p1", "IPPool//p2", "IPPool//p3", "IPPool//p4",
                      "NetworkPolicy/prod/a", "NetworkPolicy/prod/b", "NetworkPolicy/dev/a",
                      "KubernetesNetworkPolicy/prod/k", "Profile//kns.default",
                      "Profile//kns.kube-system", "Profile//kns.prod", "Profile//kns.dev"}));
  EXPECT_EQ(items.size(), keys.size());
  // The list revision names every kind, and the namespaces.
  for (const char* kind : {"IPPool=", "NetworkPolicy=", "KubernetesNetworkPolicy=", "Node=",
                           "AgentConfiguration=", "Profile=", "Namespace="}) {
    EXPECT_NE(revision.find(kind), std::string::npos) << revision;
  }

  ASSERT_TRUE(c->list("NetworkPolicy", "prod", &items, &revision).ok());
  EXPECT_EQ(items.size(), 2u);
  EXPECT_EQ(revision.find('='), std::string::npos) << revision;  // one kind: its resourceVersion
  ASSERT_TRUE(c->list("", "prod", &items, &revision).ok());
  EXPECT_EQ(items.size(), 3u);
  ASSERT_TRUE(c->list("IPPool", "prod", &items, &revision).ok());
  EXPECT_TRUE(items.empty());
  ASSERT_TRUE(c->list("IPPool", "", &items, &revision).ok());
  EXPECT_EQ(items.size(), 5u);  // three pages of two
  EXPECT_GE(c.host().metric("requests_total", "op=\"list\",result=\"OK\""), 5);
}

Stored profile(const std::string& name) {
  return resource("Profile", "", name, {{"labelsToApply", {{"team", "blue"}}}});
}

json labels_to_apply(const std::string& profile_json) {
  return json::parse(profile_json)["spec"]["labelsToApply"];
}

// Every Kubernetes namespace is the read-only Profile kns.<ns> whose labelsToApply are the
// namespace's labels (what namespaceSelectors match), through get, list and watch; Profile custom
// resources work alongside, except under those names.
TEST_F(KubeTest, NamespacesAreReadOnlyProfiles) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  const json prod = server_->request("GET", "/api/v1/namespaces/prod").json();

  Stored got;
  ASSERT_TRUE(c->get("Profile", "", "kns.prod", &got).ok());
  EXPECT_EQ(labels_to_apply(got.json), (json{{"kubernetes.io/metadata.name", "prod"}}));
  EXPECT_EQ(got.revision, prod["metadata"]["resourceVersion"]);
  const model::Resource decoded = model::resource_from_json_text(got.json);
  EXPECT_EQ(decoded.kind, "Profile");
  EXPECT_EQ(decoded.metadata.name, "kns.prod");
  EXPECT_EQ(decoded.metadata.uid, prod["metadata"]["uid"]);
  EXPECT_EQ(c->get("Profile", "", "kns.nowhere", &got).code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->get("Profile", "", "kns.", &got).code, BRINDLE_ERR_NOT_FOUND);

  // Read-only, with what to do instead.
  const Status created = c->create(profile("kns.qa"));
  EXPECT_EQ(created.code, BRINDLE_ERR_INVALID_ARGUMENT) << created;
  EXPECT_NE(created.message.find("kubectl label namespaces qa"), std::string::npos) << created;
  EXPECT_EQ(c->update(profile("kns.prod")).code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c->remove("Profile", "", "kns.prod", "").code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(
      server_->request("GET", "/api/v1/namespaces/prod").json()["metadata"]["resourceVersion"],
      prod["metadata"]["resourceVersion"]);

  // Profile custom resources are as before; one named kns.* behind the plugin's back is ignored.
  Stored web;
  ASSERT_TRUE(c->create(profile("web"), &web).ok());
  json shadow = json::parse(profile("kns.prod").json);
  ASSERT_EQ(server_->request("POST", "/apis/brindle.network/v1/profiles", shadow.dump()).status,
            201);
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("Profile", "", &items, &revision).ok());
  std::map<std::string, json> listed;
  for (const Stored& item : items) {
    listed[item.name] = labels_to_apply(item.json);
  }
  EXPECT_EQ(listed, (std::map<std::string, json>{
                        {"web", {{"team", "blue"}}},
                        {"kns.default", {{"kubernetes.io/metadata.name", "default"}}},
                        {"kns.kube-system", {{"kubernetes.io/metadata.name", "kube-system"}}},
                        {"kns.prod", {{"kubernetes.io/metadata.name", "prod"}}},
                        {"kns.dev", {{"kubernetes.io/metadata.name", "dev"}}}}));
  EXPECT_EQ(c.host().metric("garbage_skipped_total"), 1);
  // Two resources, so a list-style revision, which watch() takes.
  EXPECT_NE(revision.find("Profile="), std::string::npos) << revision;
  EXPECT_NE(revision.find("Namespace="), std::string::npos) << revision;

  // Relabelled, created and deleted namespaces come through a watch of Profiles from that list.
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("Profile", revision, recorder).ok());
  json relabelled = server_->request("GET", "/api/v1/namespaces/prod").json();
  relabelled["metadata"]["labels"]["env"] = "production";
  ASSERT_EQ(server_->request("PUT", "/api/v1/namespaces/prod", relabelled.dump()).status, 200);
  server_->create_namespace("qa");
  ASSERT_EQ(server_->request("DELETE", "/api/v1/namespaces/qa").status, 200);
  ASSERT_TRUE(c->remove("Profile", "", "web", web.revision).ok());
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& events) { return resource_events(events).size() >= 4; }, 10s));
  std::this_thread::sleep_for(300ms);
  std::vector<std::string> namespace_events;
  for (const auto& e : resource_events(recorder.events())) {
    std::string line = std::string(event_name(e.type)) + " " + key_of(e.resource);
    if (e.type != BRINDLE_WATCH_DELETED && e.resource.name == "kns.prod") {
      line += " " + labels_to_apply(e.resource.json).dump();
    }
    if (e.resource.name != "web") {
      namespace_events.push_back(line);
    } else {
      EXPECT_EQ(e.type, BRINDLE_WATCH_DELETED);
    }
  }
  EXPECT_EQ(
      namespace_events,
      (std::vector<std::string>{"MODIFIED Profile//kns.prod "
                                "{\"env\":\"production\",\"kubernetes.io/metadata.name\":\"prod\"}",
                                "ADDED Profile//kns.qa", "DELETED Profile//kns.qa"}));
  EXPECT_EQ(resource_events(recorder.events()).size(), 4u);
  // Its PROGRESS revisions name both resources too.
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) { return count_type(e, BRINDLE_WATCH_PROGRESS) > 0; }, 5s));
  for (const auto& e : recorder.events()) {
    if (e.type == BRINDLE_WATCH_PROGRESS) {
      EXPECT_NE(e.revision.find("Namespace="), std::string::npos) << e.revision;
    }
  }
}

Stored endpoint(const std::string& name, const std::string& pod,
                const std::string& orchestrator = "k8s") {
  return resource("WorkloadEndpoint", "prod", name,
                  {{"node", "node-a"},
                   {"orchestrator", orchestrator},
                   {"pod", pod},
                   {"interfaceName", "brv0123456789a"},
                   {"ipNetworks", {"198.18.0.5/32"}}},
                  {{"written", "by-cni"}});
}

json pod_manifest(const std::string& name, const json& labels) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "prod"}, {"labels", labels}}},
          {"spec",
           {{"nodeName", "node-a"},
            {"serviceAccountName", "web-sa"},
            {"containers",
             {{{"name", "app"},
               {"image", "registry.example/web:1"},
               {"ports", {{{"name", "http"}, {"containerPort", 8080}}}}}}}}}};
}

std::string labels_of(const std::string& doc) {
  const json metadata = json::parse(doc)["metadata"];
  return metadata.contains("labels") ? metadata["labels"].dump() : "{}";
}

// The WorkloadEndpoint of a Kubernetes pod shows what its Pod says (labels, named ports, service
// account) through create, get, list and watch, with the custom resource's revision; a pod's
// relabel is a MODIFIED event of its endpoint, a status change none.
TEST_F(KubeTest, PodsAmendTheirWorkloadEndpoints) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(server_
                ->request("POST", "/api/v1/namespaces/prod/pods",
                          pod_manifest("web-1", {{"app", "web"}}).dump())
                .status,
            201);
  Stored web, other;
  ASSERT_TRUE(c->create(endpoint("node-a-k8s-web--1-eth0", "web-1"), &web).ok());
  EXPECT_EQ(labels_of(web.json), R"({"app":"web"})");
  const json spec = json::parse(web.json)["spec"];
  EXPECT_EQ(spec["ports"], (json{{{"name", "http"}, {"protocol", "TCP"}, {"port", 8080}}}));
  EXPECT_EQ(spec["serviceAccountName"], "web-sa");
  EXPECT_EQ(spec["ipNetworks"], (json{"198.18.0.5/32"}));
  const json stored = server_
                          ->request("GET",
                                    "/apis/brindle.network/v1/namespaces/prod/"
                                    "workloadendpoints/node-a-k8s-web--1-eth0")
                          .json();
  EXPECT_EQ(web.revision, stored["metadata"]["resourceVersion"]);          // the custom resource's
  EXPECT_EQ(stored["metadata"]["labels"], (json{{"written", "by-cni"}}));  // stored as written
  // Not a Kubernetes pod's, or no such pod: as written.
  ASSERT_TRUE(c->create(endpoint("node-a-cni-0123-eth0", "web-1", "cni"), &other).ok());
  EXPECT_EQ(labels_of(other.json), R"({"written":"by-cni"})");
  Stored orphan;
  ASSERT_TRUE(c->create(endpoint("node-a-k8s-gone-eth0", "gone"), &orphan).ok());
  EXPECT_EQ(labels_of(orphan.json), R"({"written":"by-cni"})");

  Stored got;
  ASSERT_TRUE(c->get("WorkloadEndpoint", "prod", web.name, &got).ok());
  EXPECT_EQ(got.json, web.json);
  std::vector<Stored> items;
  std::string revision;
  for (const std::string ns : {"", "prod"}) {
    ASSERT_TRUE(c->list("WorkloadEndpoint", ns, &items, &revision).ok());
    ASSERT_EQ(items.size(), 3u);
    for (const Stored& item : items) {
      EXPECT_EQ(item.json, item.name == web.name     ? web.json
                           : item.name == other.name ? other.json
                                                     : orphan.json);
    }
    EXPECT_NE(revision.find("Pod="), std::string::npos) << revision;
  }

  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("WorkloadEndpoint", revision, recorder).ok());
  // A status change says nothing new; a relabel does, and the pod's deletion takes it back.
  json pod = server_->request("GET", "/api/v1/namespaces/prod/pods/web-1").json();
  pod["status"] = {{"phase", "Running"}, {"podIP", "198.18.0.5"}};
  ASSERT_EQ(server_->request("PUT", "/api/v1/namespaces/prod/pods/web-1/status", pod.dump()).status,
            200);
  pod = server_->request("GET", "/api/v1/namespaces/prod/pods/web-1").json();
  pod["metadata"]["labels"]["tier"] = "front";
  ASSERT_EQ(server_->request("PUT", "/api/v1/namespaces/prod/pods/web-1", pod.dump()).status, 200);
  ASSERT_EQ(server_->request("DELETE", "/api/v1/namespaces/prod/pods/web-1").status, 200);
  // The pod of the orphan endpoint appears.
  ASSERT_EQ(server_
                ->request("POST", "/api/v1/namespaces/prod/pods",
                          pod_manifest("gone", {{"app", "back"}}).dump())
                .status,
            201);
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& events) { return resource_events(events).size() >= 3; }, 10s));
  std::this_thread::sleep_for(300ms);
  std::vector<std::string> got_events;
  for (const auto& e : resource_events(recorder.events())) {
    got_events.push_back(std::string(event_name(e.type)) + " " + e.resource.name + " " +
                         labels_of(e.resource.json) + " " + e.revision);
  }
  EXPECT_EQ(
      got_events,
      (std::vector<std::string>{
          "MODIFIED node-a-k8s-web--1-eth0 {\"app\":\"web\",\"tier\":\"front\"} " + web.revision,
          "MODIFIED node-a-k8s-web--1-eth0 {\"written\":\"by-cni\"} " + web.revision,
          "MODIFIED node-a-k8s-gone-eth0 {\"app\":\"back\"} " + orphan.revision}));
  // Writes stay conditional on the custom resource's revision.
  EXPECT_TRUE(c->remove("WorkloadEndpoint", "prod", web.name, web.revision).ok());

  // A watch of everything from now: a pod and then its endpoint, both new.
  WatchRecorder all;
  ASSERT_TRUE(c->watch("", "", all).ok());
  ASSERT_EQ(server_
                ->request("POST", "/api/v1/namespaces/prod/pods",
                          pod_manifest("new-1", {{"app", "new"}}).dump())
                .status,
            201);
  Stored fresh;
  ASSERT_TRUE(c->create(endpoint("node-a-k8s-new--1-eth0", "new-1"), &fresh).ok());
  EXPECT_EQ(labels_of(fresh.json), R"({"app":"new"})");
  ASSERT_TRUE(
      all.wait_for([](const auto& events) { return !resource_events(events).empty(); }, 10s));
  std::this_thread::sleep_for(300ms);
  const auto events = resource_events(all.events());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].resource.name, fresh.name);
  EXPECT_EQ(events[0].resource.json, fresh.json);
}

// A Brindle Node is owned by the Kubernetes Node of its name (when there is one), through every
// write, so that deleting the node from the cluster deletes it too (the garbage collector) and the
// other nodes drop its routes; a host that is no Kubernetes node writes a Node that owns nothing.
TEST_F(KubeTest, NodesAreOwnedByTheirKubernetesNode) {
  const RawResponse core =
      server_->request("POST", "/api/v1/nodes",
                       R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"worker-1"}})");
  ASSERT_EQ(core.status, 201) << core.body;
  const std::string uid = core.json()["metadata"]["uid"];
  const auto owners = [&](const std::string& name) {
    return server_->request("GET", "/apis/brindle.network/v1/nodes/" + name)
        .json()["metadata"]
        .value("ownerReferences", json());
  };
  const json owned_by_worker =
      json::array({{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "worker-1"}, {"uid", uid}}});

  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  const json spec = {{"ipv4Address", "198.19.0.11/24"}};
  Stored created;
  ASSERT_TRUE(c->create(resource("Node", "", "worker-1", spec), &created).ok());
  EXPECT_EQ(owners("worker-1"), owned_by_worker);
  expect_stored(c, created);  // the host sees no trace of it
  EXPECT_EQ(json::parse(created.json)["metadata"].count("ownerReferences"), 0u);
  // Replacements, conditional or not, keep the owner.
  Stored conditional = resource("Node", "", "worker-1", {{"ipv4Address", "198.19.0.12/24"}});
  conditional.revision = created.revision;
  Stored updated;
  ASSERT_TRUE(c->update(conditional, &updated).ok());
  EXPECT_EQ(owners("worker-1"), owned_by_worker);
  ASSERT_TRUE(c->update(resource("Node", "", "worker-1", spec), &updated).ok());
  EXPECT_EQ(owners("worker-1"), owned_by_worker);
  Stored host;
  ASSERT_TRUE(c->create(resource("Node", "", "plain-host", spec), &host).ok());
  EXPECT_TRUE(owners("plain-host").is_null());

  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("Node", host.revision, recorder).ok());
  ASSERT_EQ(server_->request("DELETE", "/api/v1/nodes/worker-1").status, 200);
  ASSERT_TRUE(recorder.wait_for([](const auto& e) { return !resource_events(e).empty(); }, 10s));
  const auto events = resource_events(recorder.events());
  EXPECT_EQ(events[0].type, BRINDLE_WATCH_DELETED);
  EXPECT_EQ(events[0].resource.name, "worker-1");
  Stored got;
  EXPECT_EQ(c->get("Node", "", "worker-1", &got).code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_TRUE(c->get("Node", "", "plain-host", &got).ok());
}

TEST_F(KubeTest, WatchDeliversChangesInOrder) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("IPPool", "", recorder).ok());
  Stored a, a2, b;
  ASSERT_TRUE(c->create(pool("a"), &a).ok());
  ASSERT_TRUE(c->create(pool("b"), &b).ok());
  ASSERT_TRUE(c->update(with_spec(pool("a"), {{"cidr", "198.19.0.0/16"}}, a.revision), &a2).ok());
  ASSERT_TRUE(c->remove("IPPool", "", "b", b.revision).ok());
  ASSERT_TRUE(c->create(policy("prod", "not-watched")).ok());
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& events) { return resource_events(events).size() >= 4; }, 10s));
  std::this_thread::sleep_for(300ms);  // nothing more may come
  const auto events = resource_events(recorder.events());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, BRINDLE_WATCH_ADDED);
  EXPECT_EQ(events[0].resource.name, "a");
  EXPECT_EQ(events[0].revision, a.revision);
  EXPECT_EQ(events[0].resource.json, a.json);
  EXPECT_EQ(events[1].type, BRINDLE_WATCH_ADDED);
  EXPECT_EQ(events[1].resource.name, "b");
  EXPECT_EQ(events[2].type, BRINDLE_WATCH_MODIFIED);
  EXPECT_EQ(events[2].revision, a2.revision);
  EXPECT_EQ(events[2].resource.json, a2.json);
  EXPECT_EQ(events[3].type, BRINDLE_WATCH_DELETED);
  EXPECT_EQ(events[3].resource.name, "b");
  EXPECT_EQ(json::parse(events[3].resource.json)["spec"]["cidr"], "198.18.0.0/16");
  // Bookmarks (the test server sends one a second when idle) are PROGRESS marks.
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) { return count_type(e, BRINDLE_WATCH_PROGRESS) > 0; }, 5s));
  EXPECT_EQ(c.host().metric("watch_events_total"), 4);
}

TEST_F(KubeTest, WatchFromAListRevisionMissesAndRepeatsNothing) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  Stored a;
  ASSERT_TRUE(c->create(pool("a"), &a).ok());
  ASSERT_TRUE(c->create(policy("prod", "before")).ok());
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  ASSERT_EQ(items.size(), 6u);  // and the four namespaces' Profiles

  // Changes between the list and the watch, of several kinds.
  std::vector<std::string> expected;
  Stored b, a2, k;
  ASSERT_TRUE(c->create(pool("b"), &b).ok());
  expected.push_back("ADDED IPPool//b " + b.revision);
  ASSERT_TRUE(c->update(with_spec(pool("a"), {{"cidr", "198.19.0.0/16"}}, a.revision), &a2).ok());
  expected.push_back("MODIFIED IPPool//a " + a2.revision);
  ASSERT_TRUE(c->create(k8s_policy("dev", "k"), &k).ok());
  expected.push_back("ADDED KubernetesNetworkPolicy/dev/k " + k.revision);

  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", revision, recorder).ok());
  Stored c1;
  ASSERT_TRUE(c->create(policy("dev", "after"), &c1).ok());
  expected.push_back("ADDED NetworkPolicy/dev/after " + c1.revision);
  ASSERT_TRUE(c->remove("IPPool", "", "a", a2.revision).ok());

  ASSERT_TRUE(recorder.wait_for(
      [](const auto& events) { return resource_events(events).size() >= 5; }, 10s));
  std::this_thread::sleep_for(300ms);
  std::multiset<std::string> got;
  for (const auto& e : resource_events(recorder.events())) {
    if (e.type != BRINDLE_WATCH_DELETED) {
      got.insert(std::string(event_name(e.type)) + " " + key_of(e.resource) + " " + e.revision);
    } else {
      got.insert("DELETED " + key_of(e.resource));
    }
  }
  expected.push_back("DELETED IPPool//a");
  EXPECT_EQ(got, std::multiset<std::string>(expected.begin(), expected.end()));
  // Per kind, events arrive in write order.
  std::vector<std::string> pool_events;
  for (const auto& e : resource_events(recorder.events())) {
    if (e.resource.kind == "IPPool") {
      pool_events.push_back(std::string(event_name(e.type)) + " " + e.resource.name);
    }
  }
  EXPECT_EQ(pool_events, (std::vector<std::string>{"ADDED b", "MODIFIED a", "DELETED a"}));
  // PROGRESS of a watch of every kind carries a list-style revision that watch() accepts: one that
  // came after the last change covers them all (streams of different kinds deliver independently,
  // so an earlier one may not).
  auto progress_after_changes = [](const auto& events) {
    std::string progress;
    for (const auto& e : events) {
      if (e.type == BRINDLE_WATCH_PROGRESS) {
        progress = e.revision;
      } else if (e.type <= BRINDLE_WATCH_DELETED) {
        progress.clear();
      }
    }
    return progress;
  };
  ASSERT_TRUE(
      recorder.wait_for([&](const auto& e) { return !progress_after_changes(e).empty(); }, 5s));
  const std::string progress = progress_after_changes(recorder.events());
  EXPECT_NE(progress.find("IPPool="), std::string::npos) << progress;
  WatchRecorder resumed;
  ASSERT_TRUE(c->watch("", progress, resumed).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(resource_events(resumed.events()).empty());

  const Status malformed = c->watch("", "IPPool=", resumed);
  EXPECT_EQ(malformed.code, BRINDLE_ERR_INVALID_ARGUMENT) << malformed;
  WatchRecorder partial;
  const Status lacking = c->watch("", "IPPool=3", partial);
  EXPECT_EQ(lacking.code, BRINDLE_ERR_INVALID_ARGUMENT) << lacking;
  EXPECT_NE(lacking.message.find("has no entry for IPAMConfig"), std::string::npos) << lacking;
}

class KubeShortHistoryTest : public KubeTest {
 protected:
  void SetUp() override {
    FakeApiServer::Options options;
    options.history = 2;
    start_server(options);
  }
};

TEST_F(KubeShortHistoryTest, ExpiredRevisionRequiresResync) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("IPPool", "", &items, &revision).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c->create(pool("p" + std::to_string(i))).ok());
  }
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("IPPool", revision, recorder).ok());
  ASSERT_TRUE(recorder.wait_for([](const auto& e) { return !e.empty(); }, 10s));
  ASSERT_TRUE(c->create(pool("later")).ok());
  std::this_thread::sleep_for(1500ms);  // past a bookmark interval: nothing may follow
  const auto events = recorder.events();
  ASSERT_EQ(events.size(), 1u) << event_name(events.back().type);
  EXPECT_EQ(events[0].type, BRINDLE_WATCH_RESYNC_REQUIRED);
  EXPECT_NE(events[0].message.find("list again"), std::string::npos) << events[0].message;
  // A new list and watch continue from there.
  ASSERT_TRUE(c->list("IPPool", "", &items, &revision).ok());
  EXPECT_EQ(items.size(), 6u);
  WatchRecorder again;
  ASSERT_TRUE(c->watch("IPPool", revision, again).ok());
  ASSERT_TRUE(c->create(pool("last")).ok());
  ASSERT_TRUE(again.wait_for([](const auto& e) { return !resource_events(e).empty(); }, 10s));
  EXPECT_EQ(resource_events(again.events())[0].resource.name, "last");
}

class KubeTokenTest : public KubeTest {
 protected:
  void SetUp() override {
    FakeApiServer::Options options;
    options.token = "brindle-s3cret";
    start_server(options);
  }
};

TEST_F(KubeTokenTest, BearerTokenIsRequired) {
  ScratchDir dir;
  const std::string good = dir.write("good", "brindle-s3cret\n");
  const std::string wrong = dir.write("wrong", "guess\n");
  Client anonymous(config());
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code, BRINDLE_ERR_PERMISSION) << anonymous.status();
  Client guessed(config("token_file = " + toml_string(wrong) + "\n"));
  ASSERT_FALSE(guessed.ok());
  EXPECT_EQ(guessed.status().code, BRINDLE_ERR_PERMISSION) << guessed.status();
  EXPECT_NE(guessed.status().message.find("HTTP 401"), std::string::npos) << guessed.status();
  EXPECT_NE(guessed.status().message.find("check the bearer token"), std::string::npos)
      << guessed.status();
  Client c(config("token_file = " + toml_string(good) + "\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  Stored created;
  ASSERT_TRUE(c->create(pool("p"), &created).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("IPPool", "", recorder).ok());
  ASSERT_TRUE(c->remove("IPPool", "", "p", created.revision).ok());
  ASSERT_TRUE(recorder.wait_for([](const auto& e) { return !resource_events(e).empty(); }, 10s));
  // The same through a kubeconfig.
  const std::string kubeconfig =
      dir.write("kubeconfig",
                "apiVersion: v1\nkind: Config\ncurrent-context: lab\ncontexts:\n"
                "- name: lab\n  context: {cluster: lab, user: agent}\nclusters:\n"
                "- name: lab\n  cluster: {server: \"" +
                    server_->url() +
                    "\"}\nusers:\n"
                    "- name: agent\n  user: {token: brindle-s3cret}\n");
  Client via_kubeconfig("[datastore.kubernetes]\nkubeconfig = " + toml_string(kubeconfig) + "\n");
  ASSERT_TRUE(via_kubeconfig.ok()) << via_kubeconfig.status();
}

// kubelet rotates a pod's projected service account token by replacing the file (hourly by
// default); requests and watch reconnections must use the new token, since the old one stops being
// taken when it expires. The test server ends each watch after 1-2 s, as the real one does after
// its request timeout, so reconnections happen across rotations.
class KubeRotatedTokenTest : public KubeTest {
 protected:
  void SetUp() override {
    FakeApiServer::Options options;
    options.token_file = dir_.write("server-token", "first-token\n");
    options.min_request_timeout_seconds = 1;
    start_server(options);
  }
  // As a cluster does: the server takes the new token as well, kubelet renames a new file over
  // the old one, and later the old token expires. Every file is replaced whole.
  void rotate(const std::string& old_token, const std::string& token) {
    replace("server-token", old_token + "\n" + token + "\n");
    replace("token", token + "\n");
    std::this_thread::sleep_for(100ms);
    replace("server-token", token + "\n");
  }
  void replace(const std::string& name, const std::string& content) {
    const std::string next = dir_.write(name + ".next", content);
    ASSERT_EQ(std::rename(next.c_str(), (dir_.path() + "/" + name).c_str()), 0);
  }
  ScratchDir dir_;
};

TEST_F(KubeRotatedTokenTest, ARotatedTokenFileIsReadAgain) {
  const std::string token_file = dir_.write("token", "first-token\n");
  Client c(config("token_file = " + toml_string(token_file) + "\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  Stored first;
  ASSERT_TRUE(c->create(pool("first"), &first).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("IPPool", first.revision, recorder).ok());

  rotate("first-token", "second-token");
  Client stale("[datastore.kubernetes]\nserver = " + toml_string(server_->url()) +
               "\ntoken_file = " + toml_string(dir_.write("old", "first-token\n")) + "\n");
  EXPECT_EQ(stale.status().code, BRINDLE_ERR_PERMISSION) << "the server still takes the old token";
  Stored second;
  ASSERT_TRUE(c->create(pool("second"), &second).ok());
  expect_stored(c, second);

  // The watch stream ends every 1-2 s and reconnects: with the token of the moment, or the
  // reconnection would be refused (and the third pool never seen).
  std::this_thread::sleep_for(2500ms);
  rotate("second-token", "third-token");
  std::this_thread::sleep_for(2500ms);
  ASSERT_TRUE(c->create(pool("third")).ok());
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) {
        const auto resources = resource_events(e);
        return !resources.empty() && resources.back().resource.name == "third";
      },
      10s));
  const auto events = resource_events(recorder.events());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].resource.name, "second");
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_DISCONNECTED), 0u);

  // A token file caught empty (being rewritten in place) keeps the token it held.
  dir_.write("token", "");
  Stored got;
  EXPECT_TRUE(c->get("IPPool", "", "third", &got).ok());
}

class KubeTlsTest : public KubeTest {
 protected:
  void SetUp() override {
    pki_ = make_test_pki(dir_.path());
    FakeApiServer::Options options;
    options.tls_cert = pki_.server_cert;
    options.tls_key = pki_.server_key;
    options.ca_file = pki_.ca_file;
    start_server(options);
  }
  ScratchDir dir_;
  TestPki pki_;
};

TEST_F(KubeTlsTest, HttpsWithTheClusterCa) {
  ASSERT_EQ(server_->url().rfind("https://", 0), 0u) << server_->url();
  Client untrusted(config());
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().code, BRINDLE_ERR_UNAVAILABLE) << untrusted.status();
  EXPECT_NE(untrusted.status().message.find("certificate"), std::string::npos)
      << untrusted.status();
  Client c(config("ca_file = " + toml_string(pki_.ca_file) + "\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  Stored created;
  ASSERT_TRUE(c->create(pool("tls"), &created).ok());
  expect_stored(c, created);
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", "", recorder).ok());
  ASSERT_TRUE(c->create(pool("tls2")).ok());
  ASSERT_TRUE(recorder.wait_for([](const auto& e) { return !resource_events(e).empty(); }, 10s));
}

TEST_F(KubeTest, ServerRestartedMidWatch) {
  Client c(config("", 1000));
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", revision, recorder).ok());
  ASSERT_TRUE(c->create(pool("before")).ok());
  ASSERT_TRUE(recorder.wait_for([](const auto& e) { return !resource_events(e).empty(); }, 10s));

  server_->stop(/*hard=*/true);
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) { return count_type(e, BRINDLE_WATCH_DISCONNECTED) > 0; }, 10s));
  Stored got;
  const Status down = c->get("IPPool", "", "before", &got);
  EXPECT_EQ(down.code, BRINDLE_ERR_UNAVAILABLE) << down;
  EXPECT_NE(down.message.find(server_->url()), std::string::npos) << down;

  server_->start();  // same port, empty store
  server_->apply_yaml(BRINDLE_KUBE_CRDS);
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) {
        return count_type(e, BRINDLE_WATCH_RECONNECTED) +
                   count_type(e, BRINDLE_WATCH_RESYNC_REQUIRED) >
               0;
      },
      20s));
  const auto events = recorder.events();
  EXPECT_EQ(count_type(events, BRINDLE_WATCH_DISCONNECTED), 1u);
  // DISCONNECTED comes before RECONNECTED/RESYNC_REQUIRED, and only PROGRESS may follow.
  bool disconnected = false;
  for (const auto& e : events) {
    if (e.type == BRINDLE_WATCH_DISCONNECTED) {
      disconnected = true;
    }
    if (e.type == BRINDLE_WATCH_RECONNECTED || e.type == BRINDLE_WATCH_RESYNC_REQUIRED) {
      EXPECT_TRUE(disconnected);
    }
  }
  EXPECT_TRUE(c->get("IPPool", "", "before", &got).code == BRINDLE_ERR_NOT_FOUND);
  // Cancelling a watch returns promptly.
  const auto cancel_start = std::chrono::steady_clock::now();
  recorder.cancel();
  EXPECT_LT(std::chrono::steady_clock::now() - cancel_start, 1s);
}

TEST_F(KubeTest, DisconnectedWhileServerIsDownThenReconnected) {
  Client c(config("", 1000));
  ASSERT_TRUE(c.ok()) << c.status();
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("IPPool", "", recorder).ok());
  std::this_thread::sleep_for(200ms);
  server_->stop(/*hard=*/false);  // SIGTERM: the server ends its watches cleanly, then exits
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) { return count_type(e, BRINDLE_WATCH_DISCONNECTED) > 0; }, 10s));
  std::this_thread::sleep_for(1s);  // several failed retries: still one DISCONNECTED
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_DISCONNECTED), 1u);
  server_->start();
  server_->apply_yaml(BRINDLE_KUBE_CRDS);
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& e) {
        return count_type(e, BRINDLE_WATCH_RECONNECTED) +
                   count_type(e, BRINDLE_WATCH_RESYNC_REQUIRED) >
               0;
      },
      20s));
}

TEST_F(KubeTest, HungServerTimesOutAndCancelIsPrompt) {
  Client c(config("", 700));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->create(pool("p")).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", "", recorder).ok());
  server_->pause();
  Stored got;
  const auto start = std::chrono::steady_clock::now();
  const Status hung = c->get("IPPool", "", "p", &got);
  server_->resume();
  EXPECT_EQ(hung.code, BRINDLE_ERR_TIMEOUT) << hung;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  // The resumed server may take a moment to catch up; the plugin recovers by itself.
  Status after;
  for (int attempt = 0; attempt < 20; ++attempt) {
    after = c->get("IPPool", "", "p", &got);
    if (after.ok()) {
      break;
    }
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_TRUE(after.ok()) << after;
  const auto cancel_start = std::chrono::steady_clock::now();
  recorder.cancel();
  EXPECT_LT(std::chrono::steady_clock::now() - cancel_start, 1s);
}

TEST_F(KubeTest, ConcurrentWritersShareTheClient) {
  Client c(config());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->create(pool("shared")).ok());
  std::atomic<int> failures{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        if (!c->create(pool("w" + std::to_string(t) + "-" + std::to_string(i))).ok()) {
          ++failures;
        }
        // Unconditional updates of one object race and all succeed (read + conditional write).
        const Status s =
            c->update(with_spec(pool("shared"), {{"cidr", "198.18.0.0/16"}, {"n", t * 100 + i}}));
        if (!s.ok()) {
          ++conflicts;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(conflicts.load(), 0);
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("IPPool", "", &items, &revision).ok());
  EXPECT_EQ(items.size(), 33u);
}

TEST_F(KubeTest, MissingCrdsAreNamedAtStart) {
  start_server({}, /*crds=*/false);
  Client c(config());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code, BRINDLE_ERR_UNAVAILABLE) << c.status();
  EXPECT_NE(c.status().message.find("ippools.brindle.network"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message.find("configs/kubernetes/crds.yaml"), std::string::npos)
      << c.status();
}

}  // namespace
}  // namespace brindle::test
