// The datastore-etcd plugin, loaded through its entry symbol, against real etcd processes that
// each test starts on 127.0.0.1 (see etcd_harness.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "datastore_client.h"
#include "etcd_harness.h"
#include "host_stub.h"

namespace brindle::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Helpers

std::string toml_string(const std::string& s) {
  return json(s).dump();
}  // quoted + escaped

std::string toml_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    out += (out.size() > 1 ? ", " : "") + toml_string(item);
  }
  return out + "]";
}

// A [datastore.etcd] section for `endpoints`; `extra` lines go into the section, `tls` (a list of
// key = value lines) into [datastore.etcd.tls].
std::string etcd_config(const std::vector<std::string>& endpoints, const std::string& extra = "",
                        const std::string& tls = "", int request_timeout_ms = 5000,
                        int dial_timeout_ms = 1500) {
  std::string text = "[datastore.etcd]\nendpoints = " + toml_array(endpoints) +
                     "\ndial_timeout_ms = " + std::to_string(dial_timeout_ms) +
                     "\nrequest_timeout_ms = " + std::to_string(request_timeout_ms) + "\n" + extra;
  if (!tls.empty()) {
    text += "\n[datastore.etcd.tls]\n" + tls;
  }
  return text;
}

Stored pool(const std::string& name, const std::string& cidr = "198.18.0.0/16") {
  return Stored{"IPPool", "", name,
                json{{"apiVersion", "brindle.network/v1"},
                     {"kind", "IPPool"},
                     {"metadata", {{"name", name}}},
                     {"spec", {{"cidr", cidr}, {"blockSize", 26}}}}
                    .dump(),
                ""};
}

Stored policy(const std::string& ns, const std::string& name) {
  return Stored{"NetworkPolicy", ns, name,
                json{{"apiVersion", "brindle.network/v1"},
                     {"kind", "NetworkPolicy"},
                     {"metadata", {{"name", name}, {"namespace", ns}}},
                     {"spec", {{"selector", "all()"}}}}
                    .dump(),
                ""};
}

Stored with_spec(Stored resource, const json& spec) {
  json doc = json::parse(resource.json);
  doc["spec"] = spec;
  resource.json = doc.dump();
  return resource;
}

int64_t rev(const std::string& text) {
  return std::stoll(text);
}

std::string key_of(const Stored& r) {
  return r.kind + "/" + r.namespace_ + "/" + r.name;
}

// The host's view of the datastore, maintained from list + watch events.
struct Mirror {
  std::map<std::string, std::string> revisions;  // key -> revision

  void load(const std::vector<Stored>& items) {
    revisions.clear();
    for (const Stored& item : items) {
      revisions[key_of(item)] = item.revision;
    }
  }
  void apply(const WatchRecorder::Event& event) {
    if (event.type == BRINDLE_WATCH_ADDED || event.type == BRINDLE_WATCH_MODIFIED) {
      revisions[key_of(event.resource)] = event.resource.revision;
    } else if (event.type == BRINDLE_WATCH_DELETED) {
      revisions.erase(key_of(event.resource));
    }
  }
};

bool is_resource_event(brindle_watch_event_type_t type) {
  return type == BRINDLE_WATCH_ADDED || type == BRINDLE_WATCH_MODIFIED ||
         type == BRINDLE_WATCH_DELETED;
}

// Every resource event's revision, checked to be strictly increasing (no repeats, in order).
::testing::AssertionResult strictly_increasing(const std::vector<WatchRecorder::Event>& events) {
  int64_t last = 0;
  for (const auto& e : events) {
    if (!is_resource_event(e.type)) {
      continue;
    }
    const int64_t r = rev(e.revision);
    if (r <= last) {
      return ::testing::AssertionFailure() << event_name(e.type) << " " << key_of(e.resource)
                                           << " at revision " << r << " after revision " << last;
    }
    last = r;
  }
  return ::testing::AssertionSuccess();
}

// Waits until the recorder has delivered a resource event at or beyond `revision`.
bool wait_revision(const WatchRecorder& recorder, int64_t revision,
                   std::chrono::milliseconds timeout = 20s) {
  return recorder.wait_for(
      [&](const std::vector<WatchRecorder::Event>& events) {
        for (auto it = events.rbegin(); it != events.rend(); ++it) {
          if (is_resource_event(it->type) || it->type == BRINDLE_WATCH_PROGRESS) {
            return rev(it->revision) >= revision;
          }
        }
        return false;
      },
      timeout);
}

// A plugin instance with its host stub; creation must succeed.
struct Client {
  std::unique_ptr<HostStub> host;
  std::unique_ptr<DatastoreInstance> store;

  explicit Client(const std::string& config)
      : host(std::make_unique<HostStub>(config, "datastore.etcd")) {
    Status status;
    store = DatastoreInstance::create(PluginLibrary::at(BRINDLE_ETCD_PLUGIN_PATH), *host, &status);
    if (!store) {
      throw std::runtime_error("plugin create failed: " + status.message);
    }
  }
  DatastoreInstance* operator->() { return store.get(); }
};

Status create_status(const std::string& config, HostStub** host_out = nullptr) {
  static std::vector<std::unique_ptr<HostStub>> hosts;  // logs stay inspectable
  hosts.push_back(std::make_unique<HostStub>(config, "datastore.etcd"));
  if (host_out != nullptr) {
    *host_out = hosts.back().get();
  }
  Status status;
  auto store = DatastoreInstance::create(PluginLibrary::at(BRINDLE_ETCD_PLUGIN_PATH), *hosts.back(),
                                         &status);
  if (store) {
    EXPECT_TRUE(status.ok());
  } else {
    EXPECT_FALSE(status.ok());
  }
  return status;
}

Status validate_status(const std::string& config) {
  HostStub host(config, "datastore.etcd");
  const auto validate = PluginLibrary::at(BRINDLE_ETCD_PLUGIN_PATH).descriptor().validate_config;
  if (validate == nullptr) {
    return Status{BRINDLE_ERR_INTERNAL, "no validate_config"};
  }
  brindle_error_t err{};
  const brindle_status_t code = validate(host.services(), &err);
  return code == BRINDLE_OK ? Status{} : Status{code, err.message};
}

// Writes through `store` until it succeeds, riding out an etcd outage. A create that times out
// may have been applied: ALREADY_EXISTS on a retry then means it was.
void create_retrying(DatastoreInstance& store, const Stored& resource) {
  bool retried = false;
  for (int attempt = 0; attempt < 400; ++attempt) {
    const Status s = store.create(resource);
    if (s.ok() || (retried && s.code == BRINDLE_ERR_ALREADY_EXISTS)) {
      return;
    }
    if (s.code != BRINDLE_ERR_UNAVAILABLE && s.code != BRINDLE_ERR_TIMEOUT) {
      throw std::runtime_error("create " + resource.name + ": " + s.message);
    }
    retried = true;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("create " + resource.name + " never succeeded");
}

// ---------------------------------------------------------------------------------------------
// The plugin and its configuration, without etcd

TEST(EtcdPlugin, DescriptorAndExportedSymbols) {
  const brindle_plugin_descriptor_t& d = PluginLibrary::at(BRINDLE_ETCD_PLUGIN_PATH).descriptor();
  EXPECT_EQ(d.kind, BRINDLE_KIND_DATASTORE);
  EXPECT_STREQ(d.name, "etcd");
  EXPECT_EQ(d.abi_major, BRINDLE_ABI_VERSION_MAJOR);
  EXPECT_NE(d.validate_config, nullptr);
  const auto& vt = PluginLibrary::at(BRINDLE_ETCD_PLUGIN_PATH).vtable();
  EXPECT_EQ(vt.struct_size, sizeof(brindle_datastore_vtable_t));
  std::string out;
  ASSERT_EQ(run_command({"nm", "-D", "--defined-only", BRINDLE_ETCD_PLUGIN_PATH}, &out), 0);
  EXPECT_NE(out.find("brindle_plugin_entry"), std::string::npos);
  EXPECT_EQ(out.find("grpc"), std::string::npos) << out;
  EXPECT_EQ(out.find("etcdserverpb"), std::string::npos) << out;
}

TEST(EtcdConfig, UnknownKeysAreErrorsWithTheirLocation) {
  const Status s = create_status(
      "[datastore.etcd]\nendpoints = [\"127.0.0.1:1\"]\nendpoint = \"127.0.0.1:2379\"\n");
  EXPECT_EQ(s.code, BRINDLE_ERR_CONFIG);
  EXPECT_NE(s.message.find("brindle-test.toml:3:"), std::string::npos) << s;
  EXPECT_NE(s.message.find("endpoint: unknown key"), std::string::npos) << s;

  const Status tls = validate_status(
      "[datastore.etcd]\nendpoints = [\"127.0.0.1:1\"]\n[datastore.etcd.tls]\nca = \"x\"\n");
  EXPECT_EQ(tls.code, BRINDLE_ERR_CONFIG);
  EXPECT_NE(tls.message.find("brindle-test.toml:4:"), std::string::npos) << tls;
  EXPECT_NE(tls.message.find("tls.ca: unknown key"), std::string::npos) << tls;
}

TEST(EtcdConfig, BadValuesNameTheField) {
  struct Case {
    std::string body;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"endpoints = \"127.0.0.1:2379\"", "endpoints: must be an array"},
      {"endpoints = []", "endpoints: must list at least one"},
      {"endpoints = [\"127.0.0.1\"]", "endpoints[0]: must be host:port"},
      {"endpoints = [\"a:1\", \"ftp://b:2\"]", "endpoints[1]: scheme must be"},
      {"endpoints = [\"a:99999\"]", "endpoints[0]: port must be"},
      {"endpoints = [\"https://a:1\", \"http://b:2\"]", "endpoints[1]: is http://"},
      {"prefix = \"brindle\"", "prefix: must start with '/'"},
      {"dial_timeout_ms = \"fast\"", "dial_timeout_ms: must be an integer"},
      {"request_timeout_ms = 0", "request_timeout_ms: must be between"},
      {"list_page_size = 0", "list_page_size: must be between"},
      {"password = \"x\"", "password: is set but username is not"},
      {"tls = 1", "tls: must be a table"},
  };
  for (const Case& c : cases) {
    const Status s = validate_status("[datastore.etcd]\n" + c.body + "\n");
    EXPECT_EQ(s.code, BRINDLE_ERR_CONFIG) << c.body;
    EXPECT_NE(s.message.find(c.expected), std::string::npos) << c.body << " -> " << s;
    EXPECT_NE(s.message.find("brindle-test.toml:2:"), std::string::npos) << c.body << " -> " << s;
  }
  const Status missing_cert = validate_status(
      "[datastore.etcd]\n[datastore.etcd.tls]\nca_file = \"/nonexistent/ca.pem\"\n");
  EXPECT_EQ(missing_cert.code, BRINDLE_ERR_CONFIG);
  EXPECT_NE(missing_cert.message.find("tls.ca_file: cannot read \"/nonexistent/ca.pem\""),
            std::string::npos)
      << missing_cert;
  const Status half_pair =
      validate_status("[datastore.etcd]\n[datastore.etcd.tls]\ncert_file = \"/x.pem\"\n");
  EXPECT_NE(half_pair.message.find("tls.cert_file: cert_file and key_file"), std::string::npos)
      << half_pair;
}

TEST(EtcdConfig, ValidateConnectsToNothingAndCreateFailsUnavailable) {
  const int port = free_port();  // nobody listens here
  const std::string config = etcd_config({"127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(validate_status(config).ok());
  const auto start = std::chrono::steady_clock::now();
  const Status s = create_status(config);
  EXPECT_EQ(s.code, BRINDLE_ERR_UNAVAILABLE) << s;
  EXPECT_NE(s.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// ---------------------------------------------------------------------------------------------
// One etcd member

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override { etcd_ = std::make_unique<EtcdCluster>(options()); }
  virtual EtcdOptions options() { return {}; }
  std::string config(const std::string& extra = "") {
    return etcd_config(etcd_->endpoints(), extra);
  }

  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(EtcdTest, CreateGetUpdateRemove) {
  Client c(config());
  Stored created;
  ASSERT_TRUE(c->create(pool("pool-a"), &created).ok());
  EXPECT_EQ(created.kind, "IPPool");
  EXPECT_EQ(created.name, "pool-a");
  ASSERT_FALSE(created.revision.empty());
  const json doc = json::parse(created.json);
  EXPECT_EQ(doc["metadata"]["revision"], created.revision);
  EXPECT_EQ(doc["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(doc["metadata"]["creationTimestamp"].get<std::string>().back(), 'Z');
  EXPECT_EQ(doc["spec"]["cidr"], "198.18.0.0/16");

  Stored got;
  ASSERT_TRUE(c->get("IPPool", "", "pool-a", &got).ok());
  EXPECT_EQ(got.json, created.json);
  EXPECT_EQ(got.revision, created.revision);

  const Status again = c->create(pool("pool-a"));
  EXPECT_EQ(again.code, BRINDLE_ERR_ALREADY_EXISTS) << again;
  EXPECT_NE(again.message.find("pool-a"), std::string::npos);

  Stored changed = with_spec(pool("pool-a"), {{"cidr", "198.18.4.0/22"}});
  changed.revision = created.revision;
  Stored updated;
  ASSERT_TRUE(c->update(changed, &updated).ok());
  EXPECT_GT(rev(updated.revision), rev(created.revision));
  const json updated_doc = json::parse(updated.json);
  EXPECT_EQ(updated_doc["metadata"]["uid"], doc["metadata"]["uid"]);
  EXPECT_EQ(updated_doc["metadata"]["creationTimestamp"], doc["metadata"]["creationTimestamp"]);
  EXPECT_EQ(updated_doc["spec"]["cidr"], "198.18.4.0/22");

  const Status stale = c->update(changed);  // still carries the first revision
  EXPECT_EQ(stale.code, BRINDLE_ERR_CONFLICT) << stale;
  Stored unconditional = with_spec(pool("pool-a"), {{"cidr", "198.18.8.0/22"}});
  ASSERT_TRUE(c->update(unconditional, &updated).ok());

  EXPECT_EQ(c->remove("IPPool", "", "pool-a", created.revision).code, BRINDLE_ERR_CONFLICT);
  ASSERT_TRUE(c->remove("IPPool", "", "pool-a", updated.revision).ok());
  EXPECT_EQ(c->get("IPPool", "", "pool-a", &got).code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->remove("IPPool", "", "pool-a", "").code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->remove("IPPool", "", "pool-a", updated.revision).code, BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(c->update(pool("pool-a")).code, BRINDLE_ERR_NOT_FOUND);
  Stored gone = pool("pool-a");
  gone.revision = updated.revision;
  EXPECT_EQ(c->update(gone).code, BRINDLE_ERR_NOT_FOUND);

  ASSERT_TRUE(c->create(pool("pool-b")).ok());
  EXPECT_TRUE(c->remove("IPPool", "", "pool-b", "").ok());
}

TEST_F(EtcdTest, BadInputIsRejectedNamingTheField) {
  Client c(config());
  Stored slash = pool("a/b");
  const Status s1 = c->create(slash);
  EXPECT_EQ(s1.code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(s1.message.find("metadata.name"), std::string::npos) << s1;
  Stored not_object{"IPPool", "", "p", "[1,2]", ""};
  EXPECT_EQ(c->create(not_object).code, BRINDLE_ERR_INVALID_ARGUMENT);
  Stored wrong_kind = pool("p");
  wrong_kind.kind = "Node";
  const Status s2 = c->create(wrong_kind);
  EXPECT_EQ(s2.code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(s2.message.find("kind"), std::string::npos) << s2;
  ASSERT_TRUE(c->create(pool("p")).ok());
  Stored bad_revision = pool("p");
  bad_revision.revision = "abc";
  const Status s3 = c->update(bad_revision);
  EXPECT_EQ(s3.code, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(s3.message.find("revision \"abc\""), std::string::npos) << s3;
  WatchRecorder recorder;
  EXPECT_EQ(c->watch("", "soon", recorder).code, BRINDLE_ERR_INVALID_ARGUMENT);
}

TEST_F(EtcdTest, ListFiltersByKindAndNamespaceAtOneRevision) {
  Client c(config());
  ASSERT_TRUE(c->create(pool("pool-a")).ok());
  ASSERT_TRUE(c->create(pool("pool-b")).ok());
  ASSERT_TRUE(c->create(policy("prod", "deny")).ok());
  ASSERT_TRUE(c->create(policy("prod", "allow")).ok());
  Stored last;
  ASSERT_TRUE(c->create(policy("dev", "deny"), &last).ok());

  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  EXPECT_EQ(items.size(), 5u);
  EXPECT_EQ(revision, last.revision);
  for (const Stored& item : items) {
    EXPECT_EQ(json::parse(item.json)["metadata"]["revision"], item.revision);
  }
  items.clear();
  ASSERT_TRUE(c->list("IPPool", "", &items, nullptr).ok());
  EXPECT_EQ(items.size(), 2u);
  items.clear();
  ASSERT_TRUE(c->list("NetworkPolicy", "prod", &items, nullptr).ok());
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].namespace_, "prod");
  items.clear();
  ASSERT_TRUE(c->list("", "dev", &items, nullptr).ok());
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].name, "deny");
  items.clear();
  ASSERT_TRUE(c->list("Node", "", &items, &revision).ok());
  EXPECT_TRUE(items.empty());
  EXPECT_EQ(revision, last.revision);
}

// A list through the raw ABI sink, with a hook run on each item as the plugin delivers it.
struct StreamedList {
  std::vector<Stored> items;
  std::function<void(const Stored&)> on_item;
  std::string revision;

  Status run(DatastoreInstance& store) {
    brindle_error_t err{};
    const brindle_status_t code = store.vtable().list(
        store.raw(), brindle_str_t{nullptr, 0}, brindle_str_t{nullptr, 0},
        [](void* user, const brindle_resource_t* r) {
          auto& self = *static_cast<StreamedList*>(user);
          auto text = [](brindle_str_t s) { return std::string(s.data, s.size); };
          self.items.push_back({text(r->key.kind), text(r->key.namespace_), text(r->key.name),
                                text(r->json), text(r->revision)});
          if (self.on_item) {
            self.on_item(self.items.back());
          }
        },
        this,
        [](void* user, brindle_str_t s) {
          static_cast<StreamedList*>(user)->revision.assign(s.data, s.size);
        },
        this, &err);
    return code == BRINDLE_OK ? Status{} : Status{code, err.message};
  }
};

// "p0000".."p<count-1>", created in transactions of 100; returns them as stored.
std::vector<Stored> create_numbered_pools(DatastoreInstance& store, int count) {
  std::vector<Stored> out;
  for (int first = 0; first < count; first += 100) {
    std::vector<DatastoreInstance::TxnOp> ops;
    for (int i = first; i < std::min(count, first + 100); ++i) {
      char name[16];
      std::snprintf(name, sizeof(name), "p%04d", i);
      ops.push_back(
          {BRINDLE_TXN_CREATE, pool(name, "198.18." + std::to_string(i % 256) + ".0/24")});
    }
    std::vector<Stored> stored;
    const Status s = store.txn(ops, &stored);
    if (!s.ok()) {
      throw std::runtime_error("txn: " + s.message);
    }
    out.insert(out.end(), stored.begin(), stored.end());
  }
  return out;
}

// list_page_size = 1000 and 2500 resources: three Range pages, each delivered before the next is
// read (a write made during the first page's delivery is not seen by the later pages, which are
// read at the first page's revision), every resource once, that revision reported.
TEST_F(EtcdTest, ListDeliversPagesAtTheFirstPagesRevision) {
  Client c(config("list_page_size = 1000\n"));
  Client writer(config());
  const std::vector<Stored> created = create_numbered_pools(*c.store, 2500);
  const int64_t before = etcd_->revision();
  StreamedList list;
  list.on_item = [&](const Stored&) {
    if (list.items.size() == 1) {
      ASSERT_TRUE(writer->remove("IPPool", "", "p1500", "").ok());
      ASSERT_TRUE(writer->update(with_spec(created[2400], {{"cidr", "198.19.0.0/24"}})).ok());
      ASSERT_TRUE(writer->create(pool("q-late")).ok());
    }
  };
  ASSERT_TRUE(list.run(*c.store).ok());
  EXPECT_EQ(list.revision, std::to_string(before));
  ASSERT_EQ(list.items.size(), 2500u);
  std::set<std::string> names;
  for (size_t i = 0; i < list.items.size(); ++i) {
    EXPECT_EQ(list.items[i].name, created[i].name) << "in key order, each once";
    EXPECT_EQ(list.items[i].revision, created[i].revision) << created[i].name;
    names.insert(list.items[i].name);
  }
  EXPECT_EQ(names.size(), 2500u);
  std::vector<Stored> now;
  ASSERT_TRUE(c->list("", "", &now, nullptr).ok());
  EXPECT_EQ(now.size(), 2500u);  // p1500 gone, q-late there
}

// A compaction past the list's revision while its first page is delivered: reading the second
// page fails, and so does the list (UNAVAILABLE, "compacted ... list again") after that page.
TEST_F(EtcdTest, ListFailsWhenItsRevisionIsCompactedAfterDeliveringPages) {
  Client c(config("list_page_size = 1000\n"));
  create_numbered_pools(*c.store, 2500);
  StreamedList list;
  list.on_item = [&](const Stored&) {
    if (list.items.size() == 1) {
      ASSERT_TRUE(c->create(pool("q-late")).ok());
      etcd_->etcdctl_ok({"compact", std::to_string(etcd_->revision())});
    }
  };
  const Status s = list.run(*c.store);
  EXPECT_EQ(s.code, BRINDLE_ERR_UNAVAILABLE) << s;
  EXPECT_NE(s.message.find("compacted after 1000 resources"), std::string::npos) << s;
  EXPECT_EQ(list.items.size(), 1000u);
  EXPECT_TRUE(list.revision.empty()) << "no revision for a failed list";
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  EXPECT_EQ(items.size(), 2501u);
  EXPECT_EQ(revision, std::to_string(etcd_->revision()));
}

TEST_F(EtcdTest, KeysFollowTheDocumentedLayout) {
  Client c(config());
  ASSERT_TRUE(c->create(pool("pool-a")).ok());
  ASSERT_TRUE(c->create(policy("prod", "deny")).ok());
  const std::string keys = etcd_->etcdctl_ok({"get", "--prefix", "/", "--keys-only"});
  EXPECT_NE(keys.find("/brindle/v1/IPPool/_/pool-a\n"), std::string::npos) << keys;
  EXPECT_NE(keys.find("/brindle/v1/NetworkPolicy/prod/deny\n"), std::string::npos) << keys;
  // The revision is etcd's mod_revision and is not stored in the value.
  const std::string value =
      etcd_->etcdctl_ok({"get", "/brindle/v1/IPPool/_/pool-a", "--print-value-only"});
  EXPECT_EQ(value.find("\"revision\""), std::string::npos) << value;
  EXPECT_NE(value.find("\"uid\""), std::string::npos) << value;

  Client custom(config("prefix = \"/tenant-a/brindle\"\n"));
  ASSERT_TRUE(custom->create(pool("pool-c")).ok());
  EXPECT_NE(etcd_->etcdctl_ok({"get", "--prefix", "/tenant-a/", "--keys-only"})
                .find("/tenant-a/brindle/IPPool/_/pool-c\n"),
            std::string::npos);
  std::vector<Stored> items;
  ASSERT_TRUE(custom->list("IPPool", "", &items, nullptr).ok());
  ASSERT_EQ(items.size(), 1u);  // the other prefix's pool-a is not visible
  EXPECT_EQ(items[0].name, "pool-c");
}

TEST_F(EtcdTest, TwoWritersOneWinsTheOtherConflicts) {
  Client writer_a(config());
  Client writer_b(config());
  Stored base;
  ASSERT_TRUE(writer_a->create(pool("contended"), &base).ok());
  for (int round = 0; round < 20; ++round) {
    Stored current;
    ASSERT_TRUE(writer_a->get("IPPool", "", "contended", &current).ok());
    std::barrier sync(2);
    Status result_a, result_b;
    auto write = [&](DatastoreInstance& store, const std::string& cidr, Status* result) {
      Stored change = with_spec(pool("contended"), {{"cidr", cidr}});
      change.revision = current.revision;
      sync.arrive_and_wait();
      *result = store.update(change);
    };
    std::thread a(write, std::ref(*writer_a.store), "198.18.1.0/24", &result_a);
    std::thread b(write, std::ref(*writer_b.store), "198.18.2.0/24", &result_b);
    a.join();
    b.join();
    EXPECT_NE(result_a.ok(), result_b.ok())
        << "round " << round << ": " << result_a << " / " << result_b;
    const Status& loser = result_a.ok() ? result_b : result_a;
    EXPECT_EQ(loser.code, BRINDLE_ERR_CONFLICT) << loser;
    Stored after;
    ASSERT_TRUE(writer_b->get("IPPool", "", "contended", &after).ok());
    EXPECT_EQ(json::parse(after.json)["spec"]["cidr"],
              result_a.ok() ? "198.18.1.0/24" : "198.18.2.0/24");
  }
  // Conditional deletes race the same way.
  Stored current;
  ASSERT_TRUE(writer_a->get("IPPool", "", "contended", &current).ok());
  ASSERT_TRUE(writer_a->update(with_spec(pool("contended"), {{"cidr", "198.18.3.0/24"}})).ok());
  EXPECT_EQ(writer_b->remove("IPPool", "", "contended", current.revision).code,
            BRINDLE_ERR_CONFLICT);
}

// ---------------------------------------------------------------------------------------------
// Transactions (ABI 0.2 `txn`)

using TxnOp = DatastoreInstance::TxnOp;

Stored at(Stored resource, const std::string& revision) {
  resource.revision = revision;
  return resource;
}

json metadata_of(const std::string& document) {
  return json::parse(document)["metadata"];
}

TEST_F(EtcdTest, TxnAppliesEveryOperationAtOneRevision) {
  Client c(config());
  Stored a, b;
  ASSERT_TRUE(c->create(pool("pool-a"), &a).ok());
  ASSERT_TRUE(c->create(pool("pool-b"), &b).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", b.revision, recorder).ok());
  const int64_t before = etcd_->revision();

  std::vector<Stored> results;
  size_t failed = 99;
  const Status s = c->txn(
      {{BRINDLE_TXN_CREATE, pool("pool-c", "198.19.0.0/16")},
       {BRINDLE_TXN_UPDATE, at(with_spec(pool("pool-a"), {{"cidr", "198.18.4.0/22"}}), a.revision)},
       {BRINDLE_TXN_DELETE, at(Stored{"IPPool", "", "pool-b", "", ""}, b.revision)}},
      &results, &failed);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(failed, 3u);  // "no operation failed" is the operation count
  ASSERT_EQ(results.size(), 3u);
  // One write: one new store revision, which every result carries.
  EXPECT_EQ(etcd_->revision(), before + 1);
  for (const Stored& r : results) {
    EXPECT_EQ(rev(r.revision), before + 1) << r.name;
  }
  EXPECT_EQ(results[0].name, "pool-c");
  EXPECT_EQ(metadata_of(results[0].json)["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(results[1].name, "pool-a");
  EXPECT_EQ(json::parse(results[1].json)["spec"]["cidr"], "198.18.4.0/22");
  // The update kept what belongs to the stored object, in the stored value too.
  EXPECT_EQ(metadata_of(results[1].json)["uid"], metadata_of(a.json)["uid"]);
  EXPECT_EQ(metadata_of(results[1].json)["creationTimestamp"],
            metadata_of(a.json)["creationTimestamp"]);
  const std::string value =
      etcd_->etcdctl_ok({"get", "/brindle/v1/IPPool/_/pool-a", "--print-value-only"});
  EXPECT_EQ(metadata_of(value)["uid"], metadata_of(a.json)["uid"]) << value;
  EXPECT_EQ(results[2].name, "pool-b");
  EXPECT_TRUE(results[2].json.empty());

  Stored got;
  ASSERT_TRUE(c->get("IPPool", "", "pool-c", &got).ok());
  EXPECT_EQ(got.json, results[0].json);
  EXPECT_EQ(c->get("IPPool", "", "pool-b", &got).code, BRINDLE_ERR_NOT_FOUND);
  // A watch sees one event per operation, all at the transaction's revision.
  ASSERT_TRUE(wait_revision(recorder, before + 1));
  std::map<std::string, brindle_watch_event_type_t> seen;
  for (const auto& e : recorder.events()) {
    if (is_resource_event(e.type)) {
      EXPECT_EQ(rev(e.revision), before + 1);
      seen[e.resource.name] = e.type;
    }
  }
  EXPECT_EQ(seen,
            (std::map<std::string, brindle_watch_event_type_t>{{"pool-a", BRINDLE_WATCH_MODIFIED},
                                                               {"pool-b", BRINDLE_WATCH_DELETED},
                                                               {"pool-c", BRINDLE_WATCH_ADDED}}));

  // Another instance has never seen pool-a's current value: it reads it to keep uid and
  // creationTimestamp, with the same result.
  Client other(config());
  ASSERT_TRUE(
      other
          ->txn({{BRINDLE_TXN_UPDATE,
                  at(with_spec(pool("pool-a"), {{"cidr", "198.18.8.0/22"}}), results[1].revision)}},
                &results)
          .ok());
  EXPECT_EQ(metadata_of(results[0].json)["uid"], metadata_of(a.json)["uid"]);
  EXPECT_EQ(metadata_of(results[0].json)["creationTimestamp"],
            metadata_of(a.json)["creationTimestamp"]);
  EXPECT_EQ(etcd_->revision(), before + 2);

  // Nothing to do is done without a write.
  ASSERT_TRUE(c->txn({}, &results).ok());
  EXPECT_TRUE(results.empty());
  EXPECT_EQ(etcd_->revision(), before + 2);
}

TEST_F(EtcdTest, TxnFailingConditionWritesNothingAndNamesTheOperation) {
  Client c(config());
  Client fresh(config());  // knows no identities: takes the read-first path for updates
  Stored a0, a, b;
  ASSERT_TRUE(c->create(pool("pool-a"), &a0).ok());
  ASSERT_TRUE(
      c->update(at(with_spec(pool("pool-a"), {{"cidr", "198.18.1.0/24"}}), a0.revision), &a).ok());
  ASSERT_TRUE(c->create(pool("pool-b"), &b).ok());
  const int64_t before = etcd_->revision();
  const std::string stored_before = etcd_->etcdctl_ok({"get", "--prefix", "/"});

  struct Case {
    const char* what;
    std::vector<TxnOp> ops;
    brindle_status_t code;
    size_t failed_op;
    const char* names;  // expected in the message
  };
  const Stored absent_key{"IPPool", "", "pool-x", "", ""};
  const std::vector<Case> cases = {
      {"stale update after a create",
       {{BRINDLE_TXN_CREATE, pool("pool-new")},
        {BRINDLE_TXN_UPDATE, at(pool("pool-a"), a0.revision)},
        {BRINDLE_TXN_DELETE, at(pool("pool-b"), b.revision)}},
       BRINDLE_ERR_CONFLICT,
       1,
       "pool-a"},
      {"create of an existing resource",
       {{BRINDLE_TXN_UPDATE, at(pool("pool-a"), a.revision)}, {BRINDLE_TXN_CREATE, pool("pool-b")}},
       BRINDLE_ERR_ALREADY_EXISTS,
       1,
       "pool-b"},
      {"the first failing operation is reported",
       {{BRINDLE_TXN_CREATE, pool("pool-new")},
        {BRINDLE_TXN_CREATE, pool("pool-a")},
        {BRINDLE_TXN_DELETE, at(pool("pool-b"), a0.revision)}},
       BRINDLE_ERR_ALREADY_EXISTS,
       1,
       "pool-a"},
      {"delete of an absent resource",
       {{BRINDLE_TXN_UPDATE, at(pool("pool-a"), a.revision)},
        {BRINDLE_TXN_DELETE, at(absent_key, b.revision)}},
       BRINDLE_ERR_NOT_FOUND,
       1,
       "pool-x"},
      {"update of an absent resource",
       {{BRINDLE_TXN_UPDATE, at(pool("pool-x"), b.revision)}},
       BRINDLE_ERR_NOT_FOUND,
       0,
       "pool-x"},
      {"stale delete",
       {{BRINDLE_TXN_DELETE, at(pool("pool-a"), a0.revision)},
        {BRINDLE_TXN_CREATE, pool("pool-new")}},
       BRINDLE_ERR_CONFLICT,
       0,
       "pool-a"},
      {"the same resource twice",
       {{BRINDLE_TXN_UPDATE, at(pool("pool-a"), a.revision)},
        {BRINDLE_TXN_DELETE, at(pool("pool-a"), a.revision)}},
       BRINDLE_ERR_INVALID_ARGUMENT,
       1,
       "operation 0"},
      {"update without a revision",
       {{BRINDLE_TXN_CREATE, pool("pool-new")}, {BRINDLE_TXN_UPDATE, pool("pool-a")}},
       BRINDLE_ERR_INVALID_ARGUMENT,
       1,
       "revision"},
      {"document contradicting its key",
       {{BRINDLE_TXN_CREATE, pool("pool-new")},
        {BRINDLE_TXN_UPDATE,
         at(Stored{"IPPool", "", "pool-b", pool("pool-a").json, ""}, b.revision)}},
       BRINDLE_ERR_INVALID_ARGUMENT,
       1,
       "metadata.name"},
      {"unknown operation type",
       {{BRINDLE_TXN_CREATE, pool("pool-new")},
        {static_cast<brindle_txn_op_type_t>(0), pool("pool-y")}},
       BRINDLE_ERR_UNSUPPORTED,
       1,
       "pool-y"},
  };
  for (const Case& t : cases) {
    for (Client* via : {&c, &fresh}) {
      std::vector<Stored> results;
      size_t failed = 99;
      const Status s = (*via)->txn(t.ops, &results, &failed);
      const char* who = via == &c ? " (instance that wrote)" : " (fresh instance)";
      EXPECT_EQ(s.code, t.code) << t.what << who << ": " << s;
      EXPECT_EQ(failed, t.failed_op) << t.what << who;
      EXPECT_NE(s.message.find(t.names), std::string::npos) << t.what << who << ": " << s;
      EXPECT_TRUE(results.empty()) << t.what << who;
    }
  }
  // Not one of those transactions wrote anything.
  EXPECT_EQ(etcd_->revision(), before);
  EXPECT_EQ(etcd_->etcdctl_ok({"get", "--prefix", "/"}), stored_before);
  Stored got;
  EXPECT_EQ(c->get("IPPool", "", "pool-new", &got).code, BRINDLE_ERR_NOT_FOUND);
}

TEST_F(EtcdTest, RacingTransactionsOneWinsTheLoserWritesNothing) {
  Client writer_a(config());
  Client writer_b(config());
  Stored base;
  ASSERT_TRUE(writer_a->create(pool("contended"), &base).ok());
  for (int round = 0; round < 20; ++round) {
    Stored current;
    ASSERT_TRUE(writer_a->get("IPPool", "", "contended", &current).ok());
    std::barrier sync(2);
    Status result_a, result_b;
    size_t failed_a = 99, failed_b = 99;
    auto write = [&](DatastoreInstance& store, const std::string& who, Status* result,
                     size_t* failed) {
      // Each writer claims the contended pool and creates a marker of its own: both or neither.
      const std::vector<TxnOp> ops = {
          {BRINDLE_TXN_UPDATE,
           at(with_spec(pool("contended"), {{"cidr", "198.18.0.0/16"}, {"owner", who}}),
              current.revision)},
          {BRINDLE_TXN_CREATE, pool("marker-" + who + "-" + std::to_string(round))}};
      sync.arrive_and_wait();
      *result = store.txn(ops, nullptr, failed);
    };
    std::thread a(write, std::ref(*writer_a.store), "a", &result_a, &failed_a);
    std::thread b(write, std::ref(*writer_b.store), "b", &result_b, &failed_b);
    a.join();
    b.join();
    ASSERT_NE(result_a.ok(), result_b.ok())
        << "round " << round << ": " << result_a << " / " << result_b;
    const std::string winner = result_a.ok() ? "a" : "b";
    const std::string loser = result_a.ok() ? "b" : "a";
    EXPECT_EQ((result_a.ok() ? result_b : result_a).code, BRINDLE_ERR_CONFLICT);
    EXPECT_EQ(result_a.ok() ? failed_b : failed_a, 0u);
    Stored after;
    ASSERT_TRUE(writer_b->get("IPPool", "", "contended", &after).ok());
    EXPECT_EQ(json::parse(after.json)["spec"]["owner"], winner);
    const std::string r = std::to_string(round);
    EXPECT_TRUE(writer_a->get("IPPool", "", "marker-" + winner + "-" + r, &after).ok());
    EXPECT_EQ(writer_a->get("IPPool", "", "marker-" + loser + "-" + r, &after).code,
              BRINDLE_ERR_NOT_FOUND)
        << "the loser's create was applied without its update";
  }
}

TEST_F(EtcdTest, WatchDeliversManyWritesInOrderExactlyOnce) {
  Client c(config());
  ASSERT_TRUE(c->create(pool("before-watch")).ok());
  std::vector<Stored> initial;
  std::string list_revision;
  ASSERT_TRUE(c->list("", "", &initial, &list_revision).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", list_revision, recorder).ok());

  // Three writers, each through its own plugin instance, create/update/delete their own keys.
  struct Op {
    int64_t revision;
    brindle_watch_event_type_t type;
    std::string name;
  };
  std::vector<std::vector<Op>> done(3);
  std::vector<std::thread> writers;
  std::vector<std::unique_ptr<Client>> clients;
  for (int w = 0; w < 3; ++w) {
    clients.push_back(std::make_unique<Client>(config()));
  }
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      DatastoreInstance& store = *clients[w]->store;
      for (int i = 0; i < 40; ++i) {
        const std::string name = "w" + std::to_string(w) + "-" + std::to_string(i);
        Stored out;
        ASSERT_TRUE(store.create(pool(name), &out).ok());
        done[w].push_back({rev(out.revision), BRINDLE_WATCH_ADDED, name});
        Stored change = with_spec(pool(name), {{"cidr", "198.18.9.0/24"}});
        change.revision = out.revision;
        ASSERT_TRUE(store.update(change, &out).ok());
        done[w].push_back({rev(out.revision), BRINDLE_WATCH_MODIFIED, name});
        if (i % 2 == 0) {
          ASSERT_TRUE(store.remove("IPPool", "", name, out.revision).ok());
          done[w].push_back({0, BRINDLE_WATCH_DELETED, name});
        }
      }
    });
  }
  for (std::thread& t : writers) {
    t.join();
  }
  std::vector<Stored> final_items;
  std::string final_revision;
  ASSERT_TRUE(c->list("", "", &final_items, &final_revision).ok());
  ASSERT_TRUE(wait_revision(recorder, rev(final_revision)));

  const auto events = recorder.events();
  EXPECT_TRUE(strictly_increasing(events));
  std::map<std::string, std::vector<brindle_watch_event_type_t>> seen;
  std::map<int64_t, std::string> seen_revisions;
  for (const auto& e : events) {
    if (is_resource_event(e.type)) {
      seen[e.resource.name].push_back(e.type);
      seen_revisions[rev(e.revision)] = e.resource.name;
      if (e.type == BRINDLE_WATCH_DELETED) {
        // The last known document comes along.
        EXPECT_EQ(json::parse(e.resource.json)["spec"]["cidr"], "198.18.9.0/24");
      }
    }
  }
  size_t ops = 0;
  for (const auto& ops_of_writer : done) {
    for (const Op& op : ops_of_writer) {
      ++ops;
      if (op.revision != 0) {
        EXPECT_EQ(seen_revisions[op.revision], op.name) << "revision " << op.revision;
      }
    }
  }
  size_t delivered = 0;
  for (const auto& [name, types] : seen) {
    delivered += types.size();
    const int i = std::stoi(name.substr(name.find('-') + 1));
    std::vector<brindle_watch_event_type_t> expected = {BRINDLE_WATCH_ADDED,
                                                        BRINDLE_WATCH_MODIFIED};
    if (i % 2 == 0) {
      expected.push_back(BRINDLE_WATCH_DELETED);
    }
    EXPECT_EQ(types, expected) << name;
  }
  EXPECT_EQ(delivered, ops);
  EXPECT_EQ(seen.count("before-watch"), 0u);  // it is in the list, not in the watch

  Mirror mirror;
  mirror.load(initial);
  for (const auto& e : events) {
    mirror.apply(e);
  }
  Mirror truth;
  truth.load(final_items);
  EXPECT_EQ(mirror.revisions, truth.revisions);
}

TEST_F(EtcdTest, WatchFromNowAndByKind) {
  Client c(config());
  ASSERT_TRUE(c->create(pool("old")).ok());
  WatchRecorder pools, all;
  ASSERT_TRUE(c->watch("IPPool", "", pools).ok());
  ASSERT_TRUE(c->watch("", "", all).ok());
  ASSERT_TRUE(c->create(policy("prod", "p1")).ok());
  Stored last;
  ASSERT_TRUE(c->create(pool("new"), &last).ok());
  ASSERT_TRUE(wait_revision(pools, rev(last.revision), 10s));
  ASSERT_TRUE(wait_revision(all, rev(last.revision), 10s));
  auto only_resources = [](const std::vector<WatchRecorder::Event>& events) {
    std::vector<std::string> names;
    for (const auto& e : events) {
      if (is_resource_event(e.type)) {
        names.push_back(e.resource.kind + ":" + e.resource.name);
      }
    }
    return names;
  };
  EXPECT_EQ(only_resources(pools.events()), (std::vector<std::string>{"IPPool:new"}));
  EXPECT_EQ(only_resources(all.events()),
            (std::vector<std::string>{"NetworkPolicy:p1", "IPPool:new"}));
  // Cancelling stops deliveries.
  pools.cancel();
  const size_t before = pools.events().size();
  ASSERT_TRUE(c->create(pool("after-cancel")).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pools.events().size(), before);
}

class EtcdProgressTest : public EtcdTest {
  EtcdOptions options() override { return {.progress_notify_ms = 300}; }
};

TEST_F(EtcdProgressTest, ProgressNotificationsMarkTheRevision) {
  Client c(config());
  Stored created;
  ASSERT_TRUE(c->create(pool("p"), &created).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", "", recorder).ok());
  ASSERT_TRUE(recorder.wait_for(
      [&](const auto& events) {
        return std::any_of(events.begin(), events.end(), [&](const auto& e) {
          return e.type == BRINDLE_WATCH_PROGRESS && rev(e.revision) >= rev(created.revision);
        });
      },
      10s));
  // A watch of one kind also progresses past other kinds' writes.
  WatchRecorder nodes;
  ASSERT_TRUE(c->watch("Node", "", nodes).ok());
  Stored later;
  ASSERT_TRUE(c->create(pool("q"), &later).ok());
  EXPECT_TRUE(wait_revision(nodes, rev(later.revision), 10s));
  EXPECT_EQ(nodes.count(BRINDLE_WATCH_ADDED), 0u);
}

TEST_F(EtcdTest, CompactionRequiresResyncAndRelistLosesNothing) {
  Client c(config());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c->create(pool("p" + std::to_string(i))).ok());
  }
  std::vector<Stored> items;
  std::string old_revision;
  ASSERT_TRUE(c->list("", "", &items, &old_revision).ok());
  // Changes the host has not seen yet, then compaction of that history.
  ASSERT_TRUE(c->update(with_spec(pool("p0"), {{"cidr", "198.18.1.0/24"}})).ok());
  ASSERT_TRUE(c->remove("IPPool", "", "p1", "").ok());
  ASSERT_TRUE(c->create(pool("p5")).ok());
  etcd_->etcdctl_ok({"compact", std::to_string(etcd_->revision())});

  WatchRecorder stale;
  ASSERT_TRUE(c->watch("", old_revision, stale).ok());
  ASSERT_TRUE(stale.wait_for(
      [](const auto& events) {
        return !events.empty() && events.back().type == BRINDLE_WATCH_RESYNC_REQUIRED;
      },
      10s));
  EXPECT_EQ(stale.events().size(), 1u);
  EXPECT_NE(stale.events()[0].message.find("compacted"), std::string::npos);

  // The host relists and watches again: nothing is lost.
  Mirror mirror;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  mirror.load(items);
  WatchRecorder fresh;
  ASSERT_TRUE(c->watch("", revision, fresh).ok());
  ASSERT_TRUE(c->remove("IPPool", "", "p2", "").ok());
  Stored last;
  ASSERT_TRUE(c->create(pool("p6"), &last).ok());
  ASSERT_TRUE(wait_revision(fresh, rev(last.revision)));
  for (const auto& e : fresh.events()) {
    mirror.apply(e);
  }
  std::vector<Stored> now;
  ASSERT_TRUE(c->list("", "", &now, nullptr).ok());
  Mirror truth;
  truth.load(now);
  EXPECT_EQ(mirror.revisions, truth.revisions);
  EXPECT_EQ(truth.revisions.size(), 5u);  // p0 p3 p4 p5 p6, not p1 or p2
}

TEST_F(EtcdTest, CompactionWhileDisconnectedRequiresResync) {
  Client c(config());
  Client writer(config());
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->create(pool("p0")).ok());
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", revision, recorder).ok());

  // Take the member away from the plugin (same data, other client port), change and compact,
  // then bring it back where the plugin looks for it.
  EtcdMember& member = etcd_->member(0);
  const std::string endpoint = member.endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  member.kill();
  ASSERT_TRUE(recorder.wait_for(
      [](const auto& events) {
        return !events.empty() && events.back().type == BRINDLE_WATCH_DISCONNECTED;
      },
      10s));
  member.set_client_port(free_port());
  member.start();
  ASSERT_TRUE(member.wait_healthy(20s)) << member.log_tail();
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/_/p1", pool("p1").json});
  etcd_->etcdctl_ok({"del", "/brindle/v1/IPPool/_/p0"});
  etcd_->etcdctl_ok({"compact", std::to_string(etcd_->revision())});
  member.kill();
  member.set_client_port(port);
  member.start();
  ASSERT_TRUE(member.wait_healthy(20s)) << member.log_tail();

  ASSERT_TRUE(recorder.wait_for(
      [](const auto& events) {
        return !events.empty() && events.back().type == BRINDLE_WATCH_RESYNC_REQUIRED;
      },
      20s));
  for (const auto& e : recorder.events()) {
    EXPECT_FALSE(is_resource_event(e.type)) << event_name(e.type);
  }
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].name, "p1");
}

TEST_F(EtcdTest, EtcdKilledAndRestartedMidWatchLosesAndRepeatsNothing) {
  Client c(config());
  Client writer(config());
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", revision, recorder).ok());

  constexpr int kWrites = 240;
  std::atomic<int> written{0};
  std::string writer_error;
  std::thread writes([&] {
    try {
      for (int i = 0; i < kWrites; ++i) {
        create_retrying(*writer.store, pool("r" + std::to_string(i)));
        written = i + 1;
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  while (written < 80 && writer_error.empty()) {
    std::this_thread::sleep_for(5ms);
  }
  etcd_->member(0).kill();
  std::this_thread::sleep_for(700ms);
  etcd_->member(0).start();
  writes.join();
  ASSERT_EQ(writer_error, "");

  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  ASSERT_EQ(items.size(), static_cast<size_t>(kWrites));
  ASSERT_TRUE(wait_revision(recorder, rev(revision)));
  const auto events = recorder.events();
  EXPECT_TRUE(strictly_increasing(events));
  std::multiset<std::string> added;
  for (const auto& e : events) {
    if (is_resource_event(e.type)) {
      EXPECT_EQ(e.type, BRINDLE_WATCH_ADDED) << e.resource.name;
      added.insert(e.resource.name);
    }
  }
  std::multiset<std::string> listed;
  for (const Stored& item : items) {
    listed.insert(item.name);
  }
  EXPECT_EQ(added, listed);
  EXPECT_GE(recorder.count(BRINDLE_WATCH_DISCONNECTED), 1u);
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_DISCONNECTED), recorder.count(BRINDLE_WATCH_RECONNECTED));
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_RESYNC_REQUIRED), 0u);
  EXPECT_GE(c.host->metric("watch_reconnects_total"), 1);
}

TEST_F(EtcdTest, WritesMadeWhileTheWatchWasDisconnectedAreDelivered) {
  Client c(config());
  Stored first;
  ASSERT_TRUE(c->create(pool("p0"), &first).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", first.revision, recorder).ok());
  ASSERT_TRUE(c->create(pool("p1")).ok());
  Stored updated;
  ASSERT_TRUE(c->update(with_spec(pool("p0"), {{"cidr", "198.18.7.0/24"}}), &updated).ok());
  ASSERT_TRUE(wait_revision(recorder, rev(updated.revision)));

  // The member serves on another port for a while (same data): the watch cannot reach it while
  // these writes happen, so it can only see them by resuming from its last revision.
  EtcdMember& member = etcd_->member(0);
  const std::string endpoint = member.endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  member.kill();
  member.set_client_port(free_port());
  member.start();
  ASSERT_TRUE(member.wait_healthy(20s)) << member.log_tail();
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/_/p2", pool("p2").json});
  etcd_->etcdctl_ok({"del", "/brindle/v1/IPPool/_/p1"});
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/_/p0", with_spec(pool("p0"), {}).json});
  member.kill();
  member.set_client_port(port);
  member.start();
  ASSERT_TRUE(member.wait_healthy(20s)) << member.log_tail();

  Stored last;
  ASSERT_TRUE(c->create(pool("p3"), &last).ok());
  ASSERT_TRUE(wait_revision(recorder, rev(last.revision)));
  std::vector<std::string> seen;
  for (const auto& e : recorder.events()) {
    seen.push_back(std::string(event_name(e.type)) +
                   (is_resource_event(e.type) ? " " + e.resource.name : ""));
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"ADDED p1", "MODIFIED p0", "DISCONNECTED", "RECONNECTED",
                                      "ADDED p2", "DELETED p1", "MODIFIED p0", "ADDED p3"}));
  EXPECT_TRUE(strictly_increasing(recorder.events()));
}

TEST_F(EtcdTest, UnreachableAndHungEtcdMapToUnavailableAndTimeout) {
  Client c(etcd_config(etcd_->endpoints(), "", "", 800));
  ASSERT_TRUE(c->create(pool("p")).ok());
  etcd_->member(0).pause();  // connection stays up, nothing answers
  Stored got;
  const auto start = std::chrono::steady_clock::now();
  const Status hung = c->get("IPPool", "", "p", &got);
  etcd_->member(0).resume();
  EXPECT_EQ(hung.code, BRINDLE_ERR_TIMEOUT) << hung;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ASSERT_TRUE(c->get("IPPool", "", "p", &got).ok());

  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", "", recorder).ok());
  etcd_->member(0).kill();
  const Status down = c->get("IPPool", "", "p", &got);
  EXPECT_EQ(down.code, BRINDLE_ERR_UNAVAILABLE) << down;
  EXPECT_NE(down.message.find(etcd_->member(0).endpoint()), std::string::npos) << down;
  // Cancelling a watch that is waiting to reconnect returns promptly.
  ASSERT_TRUE(recorder.wait_for([](const auto& e) { return !e.empty(); }, 10s));
  EXPECT_EQ(recorder.events()[0].type, BRINDLE_WATCH_DISCONNECTED);
  const auto cancel_start = std::chrono::steady_clock::now();
  recorder.cancel();
  EXPECT_LT(std::chrono::steady_clock::now() - cancel_start, 1s);
}

TEST_F(EtcdTest, GarbageUnderThePrefixIsLoggedAndSkipped) {
  Client c(config());
  ASSERT_TRUE(c->create(pool("good")).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", "", recorder).ok());
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/_/bad-json", "{not json"});
  etcd_->etcdctl_ok({"put", "/brindle/v1/junk", "{}"});
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/_/wrong-kind", R"({"kind":"Node"})"});
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/_/array", "[1,2]"});
  etcd_->etcdctl_ok({"put", "/brindle/v1/IPPool/x/y/z", "{}"});
  Stored last;
  ASSERT_TRUE(c->create(pool("good-2"), &last).ok());

  ASSERT_TRUE(wait_revision(recorder, rev(last.revision)));
  std::vector<std::string> watched;
  for (const auto& e : recorder.events()) {
    if (is_resource_event(e.type)) {
      watched.push_back(e.resource.name);
    }
  }
  EXPECT_EQ(watched, std::vector<std::string>{"good-2"});

  for (const std::string kind : {"", "IPPool"}) {
    std::vector<Stored> items;
    ASSERT_TRUE(c->list(kind, "", &items, nullptr).ok());
    std::vector<std::string> names;
    for (const Stored& item : items) {
      names.push_back(item.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"good", "good-2"})) << "kind=" << kind;
  }
  for (const char* key :
       {"/brindle/v1/IPPool/_/bad-json", "/brindle/v1/junk", "/brindle/v1/IPPool/_/wrong-kind",
        "/brindle/v1/IPPool/_/array", "/brindle/v1/IPPool/x/y/z"}) {
    EXPECT_TRUE(c.host->logged(std::string("key=") + key, BRINDLE_LOG_WARN)) << key;
  }
  EXPECT_GE(c.host->metric("garbage_skipped_total"), 5);
  Stored got;
  const Status bad = c->get("IPPool", "", "bad-json", &got);
  EXPECT_EQ(bad.code, BRINDLE_ERR_INTERNAL);
  EXPECT_NE(bad.message.find("/brindle/v1/IPPool/_/bad-json"), std::string::npos) << bad;
  // A garbage value can still be replaced or deleted by its key.
  EXPECT_TRUE(c->update(pool("bad-json")).ok());
  EXPECT_TRUE(c->get("IPPool", "", "bad-json", &got).ok());
}

TEST_F(EtcdTest, UserAndPasswordAuthentication) {
  etcd_->etcdctl_ok({"user", "add", "root:root-secret"});
  etcd_->etcdctl_ok({"user", "grant-role", "root", "root"});
  etcd_->etcdctl_ok({"role", "add", "brindle"});
  etcd_->etcdctl_ok(
      {"role", "grant-permission", "brindle", "--prefix=true", "readwrite", "/brindle/"});
  etcd_->etcdctl_ok({"user", "add", "brindle:brindle-secret"});
  etcd_->etcdctl_ok({"user", "grant-role", "brindle", "brindle"});
  etcd_->etcdctl_ok({"auth", "enable"});
  etcd_->set_user("root:root-secret");  // for the harness's own etcdctl calls from now on

  const Status wrong = create_status(config("username = \"brindle\"\npassword = \"nope\"\n"));
  EXPECT_EQ(wrong.code, BRINDLE_ERR_PERMISSION) << wrong;
  Client anonymous(config());
  EXPECT_EQ(anonymous->create(pool("p")).code, BRINDLE_ERR_PERMISSION);

  Client c(config("username = \"brindle\"\npassword = \"brindle-secret\"\n"));
  Stored created;
  ASSERT_TRUE(c->create(pool("p"), &created).ok());
  Client outside(
      config("username = \"brindle\"\npassword = \"brindle-secret\"\n"
             "prefix = \"/elsewhere/\"\n"));
  EXPECT_EQ(outside->create(pool("p")).code, BRINDLE_ERR_PERMISSION);

  // Tokens do not survive a restart: the plugin authenticates again, for requests and watches.
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", created.revision, recorder).ok());
  etcd_->member(0).kill();
  etcd_->member(0).start();
  ASSERT_TRUE(etcd_->member(0).wait_healthy(20s));
  Stored got;
  ASSERT_TRUE(c->get("IPPool", "", "p", &got).ok());
  Stored second;
  ASSERT_TRUE(c->create(pool("q"), &second).ok());
  ASSERT_TRUE(wait_revision(recorder, rev(second.revision)));
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_ADDED), 1u);
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_RESYNC_REQUIRED), 0u);
}

// ---------------------------------------------------------------------------------------------
// A three-member cluster

class EtcdClusterTest : public EtcdTest {
  EtcdOptions options() override { return {.members = 3}; }
};

TEST_F(EtcdClusterTest, FailsOverWhenAMemberStops) {
  // Order the endpoints so that the plugin starts on a follower: stopping it must move requests
  // and the watch to another member at once (no election is involved).
  const int leader = etcd_->leader_index();
  ASSERT_GE(leader, 0);
  std::vector<size_t> order;
  for (size_t i = 0; i < etcd_->size(); ++i) {
    if (static_cast<int>(i) != leader) {
      order.push_back(i);
    }
  }
  order.push_back(static_cast<size_t>(leader));
  std::vector<std::string> endpoints;
  for (size_t i : order) {
    endpoints.push_back(etcd_->endpoints()[i]);
  }
  Client c(etcd_config(endpoints, "", "", 2500));
  WatchRecorder recorder;
  std::vector<Stored> items;
  std::string revision;
  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  ASSERT_TRUE(c->watch("", revision, recorder).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c->create(pool("before-" + std::to_string(i))).ok());
  }
  EtcdMember& first = etcd_->member(order[0]);
  first.kill();
  for (int i = 0; i < 10; ++i) {
    const Status s = c->create(pool("after-" + std::to_string(i)));
    ASSERT_TRUE(s.ok()) << s;
  }
  Stored got;
  ASSERT_TRUE(c->get("IPPool", "", "before-3", &got).ok());
  // A new instance skips the dead first endpoint.
  Client late(etcd_config(endpoints));
  ASSERT_TRUE(late->get("IPPool", "", "after-9", &got).ok());

  // Then the leader goes away (after the follower is back, to keep a quorum). Writes in flight
  // during the election may time out or find no leader: the writer retries, as a host would.
  first.start();
  ASSERT_TRUE(first.wait_healthy(20s)) << first.log_tail();
  etcd_->member(static_cast<size_t>(leader)).kill();
  for (int i = 0; i < 10; ++i) {
    create_retrying(*c.store, pool("election-" + std::to_string(i)));
  }

  ASSERT_TRUE(c->list("", "", &items, &revision).ok());
  EXPECT_EQ(items.size(), 30u);
  ASSERT_TRUE(wait_revision(recorder, rev(revision)));
  const auto events = recorder.events();
  EXPECT_TRUE(strictly_increasing(events));
  std::set<std::string> added;
  for (const auto& e : events) {
    if (e.type == BRINDLE_WATCH_ADDED) {
      added.insert(e.resource.name);
    }
  }
  EXPECT_EQ(added.size(), 30u);
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_ADDED), 30u);
  EXPECT_GE(recorder.count(BRINDLE_WATCH_RECONNECTED), 1u);
  EXPECT_EQ(recorder.count(BRINDLE_WATCH_RESYNC_REQUIRED), 0u);
}

// ---------------------------------------------------------------------------------------------
// TLS with client certificates

class EtcdTlsTest : public EtcdTest {
  EtcdOptions options() override { return {.tls = true}; }

 protected:
  // Failing handshakes are retried until the dial timeout: keep it short for the negative cases.
  std::string tls_config(const std::string& ca, const std::string& cert, const std::string& key,
                         int dial_timeout_ms = 1500) {
    std::string tls = "ca_file = " + toml_string(ca) + "\n";
    if (!cert.empty()) {
      tls += "cert_file = " + toml_string(cert) + "\nkey_file = " + toml_string(key) + "\n";
    }
    return etcd_config(etcd_->endpoints(), "", tls, 5000, dial_timeout_ms);
  }
};

TEST_F(EtcdTlsTest, ClientCertificatesAreRequiredAndChecked) {
  const TestPki& pki = etcd_->pki();
  Client c(tls_config(pki.ca_file, pki.client_cert, pki.client_key));
  Stored created;
  ASSERT_TRUE(c->create(pool("secure"), &created).ok());
  WatchRecorder recorder;
  ASSERT_TRUE(c->watch("", created.revision, recorder).ok());
  Stored second;
  ASSERT_TRUE(c->create(pool("secure-2"), &second).ok());
  ASSERT_TRUE(wait_revision(recorder, rev(second.revision)));
  std::vector<Stored> items;
  ASSERT_TRUE(c->list("", "", &items, nullptr).ok());
  EXPECT_EQ(items.size(), 2u);

  EXPECT_EQ(create_status(tls_config(pki.ca_file, "", "", 400)).code, BRINDLE_ERR_UNAVAILABLE);
  EXPECT_EQ(
      create_status(tls_config(pki.ca_file, pki.rogue_client_cert, pki.rogue_client_key, 400)).code,
      BRINDLE_ERR_UNAVAILABLE);
  EXPECT_EQ(create_status(tls_config(pki.rogue_ca_file, pki.client_cert, pki.client_key, 400)).code,
            BRINDLE_ERR_UNAVAILABLE);
  // Plain-text gRPC to a TLS port does not work either.
  std::vector<std::string> plain;
  for (const std::string& e : etcd_->endpoints()) {
    plain.push_back(e.substr(e.find("://") + 3));
  }
  EXPECT_EQ(create_status(etcd_config(plain, "", "", 5000, 400)).code, BRINDLE_ERR_UNAVAILABLE);
}

}  // namespace
}  // namespace brindle::test
