// brindlectl as a process against a real etcd: resource round trips, validation errors, IPAM.
#include <gtest/gtest.h>

#include <fstream>

#include "brindle/ipam/ipam.hpp"
#include "etcd_datastore.hpp"

namespace brindle {
namespace {

class BrindlectlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd_ = new test::EtcdDatastore();
    dir_ = new test::TempDir("brindlectl");
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete etcd_;
  }
  void SetUp() override {
    etcd_->cluster().etcdctl_ok({"del", "--prefix", "/brindle/"});
    config_ = (dir_->path() / "brindle.toml").string();
    std::ofstream(config_) << etcd_->node_config_toml("node-a");
  }

  // Runs brindlectl; returns its exit status, output in *out (stdout and stderr).
  int ctl(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), {BRINDLECTL_PATH, "--config", config_});
    return test::run_command(args, out);
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_->path() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  static test::EtcdDatastore* etcd_;
  static test::TempDir* dir_;
  std::string config_;
};
test::EtcdDatastore* BrindlectlTest::etcd_ = nullptr;
test::TempDir* BrindlectlTest::dir_ = nullptr;

constexpr const char* kPools = R"(apiVersion: brindle.network/v1
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 198.18.0.0/16
  vxlanMode: Always
---
apiVersion: brindle.network/v1
kind: NetworkSet
metadata:
  name: externals
  namespace: web
spec:
  nets: [198.19.200.0/24]
)";

TEST_F(BrindlectlTest, ApplyGetDeleteRoundTrip) {
  std::string out;
  const std::string file = write("pools.yaml", kPools);
  ASSERT_EQ(ctl({"apply", "-f", file}, &out), 0) << out;
  EXPECT_NE(out.find("ippool/pool-a created"), std::string::npos) << out;
  EXPECT_NE(out.find("networkset/web/externals created"), std::string::npos) << out;

  ASSERT_EQ(ctl({"apply", "-f", file}, &out), 0) << out;
  EXPECT_NE(out.find("ippool/pool-a unchanged"), std::string::npos) << out;

  ASSERT_EQ(ctl({"get", "ippools"}, &out), 0) << out;
  EXPECT_NE(out.find("NAME"), std::string::npos) << out;
  EXPECT_NE(out.find("pool-a"), std::string::npos) << out;
  EXPECT_NE(out.find("198.18.0.0/16"), std::string::npos) << out;

  ASSERT_EQ(ctl({"get", "ippool", "pool-a", "-o", "json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"blockSize\": 26"), std::string::npos) << "defaults are stored: " << out;
  ASSERT_EQ(ctl({"get", "ippool", "pool-a", "-o", "yaml"}, &out), 0) << out;
  EXPECT_NE(out.find("kind: IPPool"), std::string::npos) << out;

  // Namespaced kinds: default namespace unless told otherwise.
  ASSERT_EQ(ctl({"get", "networksets"}, &out), 0) << out;
  EXPECT_EQ(out.find("externals"), std::string::npos) << out;
  ASSERT_EQ(ctl({"get", "networksets", "-n", "web"}, &out), 0) << out;
  EXPECT_NE(out.find("externals"), std::string::npos) << out;
  ASSERT_EQ(ctl({"get", "networksets", "-A"}, &out), 0) << out;
  EXPECT_NE(out.find("NAMESPACE"), std::string::npos) << out;

  // Change through apply: configured, and the new value is stored.
  std::string changed = kPools;
  changed.replace(changed.find("vxlanMode: Always"), 17, "vxlanMode: CrossSubnet");
  ASSERT_EQ(ctl({"apply", "-f", write("changed.yaml", changed)}, &out), 0) << out;
  EXPECT_NE(out.find("ippool/pool-a configured"), std::string::npos) << out;
  ASSERT_EQ(ctl({"get", "ippool", "pool-a", "-o", "json"}, &out), 0) << out;
  EXPECT_NE(out.find("CrossSubnet"), std::string::npos) << out;

  EXPECT_NE(ctl({"create", "-f", file}, &out), 0) << "create of existing must fail";
  EXPECT_NE(out.find("exists"), std::string::npos) << out;

  ASSERT_EQ(ctl({"delete", "ippool", "pool-a"}, &out), 0) << out;
  EXPECT_NE(out.find("ippool/pool-a deleted"), std::string::npos) << out;
  EXPECT_NE(ctl({"get", "ippool", "pool-a"}, &out), 0);
  EXPECT_NE(out.find("not found"), std::string::npos) << out;
  ASSERT_EQ(ctl({"delete", "-f", file}, &out), 1) << "pool-a is already gone: " << out;
  EXPECT_NE(out.find("networkset/web/externals deleted"), std::string::npos) << out;
}

TEST_F(BrindlectlTest, InvalidDocumentsNameFileDocumentAndFieldAndChangeNothing) {
  std::string out;
  const std::string file = write("bad.yaml", std::string(kPools) + R"(---
apiVersion: brindle.network/v1
kind: IPPool
metadata:
  name: pool-b
spec:
  cidr: 198.18.0.0/16
  blockSize: 40
)");
  EXPECT_EQ(ctl({"apply", "-f", file}, &out), 1);
  EXPECT_NE(out.find("bad.yaml: document 3: spec.blockSize"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing was changed"), std::string::npos) << out;
  ASSERT_EQ(ctl({"get", "ippools", "-o", "json"}, &out), 0);
  EXPECT_EQ(out.find("pool-a"), std::string::npos) << "the valid documents were not applied";

  EXPECT_EQ(ctl({"get", "frobnicators"}, &out), 1);
  EXPECT_NE(out.find("unknown resource kind"), std::string::npos) << out;
}

TEST_F(BrindlectlTest, IpamShowCheckAndRelease) {
  std::string out;
  ASSERT_EQ(ctl({"apply", "-f", write("p.yaml", kPools)}, &out), 0) << out;
  ipam::Ipam ipam(etcd_->client());
  ipam::AssignRequest r;
  r.handle_id = "net.leaky";
  r.node = "node-a";
  r.node_labels = model::Labels{};
  const auto address = ipam.auto_assign(r).v4.at(0).address().to_string();

  ASSERT_EQ(ctl({"ipam", "show", "--show-blocks"}, &out), 0) << out;
  EXPECT_NE(out.find("| IP Pool  | 198.18.0.0/16"), std::string::npos) << out;
  EXPECT_NE(out.find("| 65536     | 1 (0%)"), std::string::npos) << out;
  EXPECT_NE(out.find("| Block    |"), std::string::npos) << out;
  EXPECT_NE(out.find("| 64        | 1 (2%)"), std::string::npos) << out;

  ASSERT_EQ(ctl({"ipam", "show", "--ip", address}, &out), 0) << out;
  EXPECT_NE(out.find("handle:   net.leaky"), std::string::npos) << out;

  const std::string report = (dir_->path() / "report.json").string();
  EXPECT_EQ(ctl({"ipam", "check", "-o", report}, &out), 1) << "a leak is a finding";
  EXPECT_NE(out.find("Found 1 leaked address(es)"), std::string::npos) << out;
  ASSERT_EQ(ctl({"ipam", "release", "--from-report", report}, &out), 0) << out;
  EXPECT_NE(out.find("released " + address), std::string::npos) << out;
  ASSERT_EQ(ctl({"ipam", "check"}, &out), 0) << out;
  EXPECT_NE(out.find("Found 0 leaked"), std::string::npos) << out;
}

TEST_F(BrindlectlTest, DeletingANodeReleasesItsBlockAffinities) {
  std::string out;
  ASSERT_EQ(ctl({"apply", "-f", write("p.yaml", kPools)}, &out), 0) << out;
  model::Node node;
  node.metadata.name = "node-x";
  ipam::Store(etcd_->client()).create(node);
  ipam::Ipam ipam(etcd_->client());
  ipam::AssignRequest r;
  r.handle_id = "h";
  r.node = "node-x";
  r.node_labels = model::Labels{};
  ipam.auto_assign(r);
  ipam.release_by_handle("h");  // an empty block, still affine to node-x
  ASSERT_EQ(ipam::Store(etcd_->client()).list<model::BlockAffinitySpec>().size(), 1u);
  ASSERT_EQ(ctl({"delete", "node", "node-x"}, &out), 0) << out;
  EXPECT_NE(out.find("released 1 block affinity of node node-x"), std::string::npos) << out;
  EXPECT_TRUE(ipam::Store(etcd_->client()).list<model::BlockAffinitySpec>().empty());
  EXPECT_TRUE(ipam::Store(etcd_->client()).list<model::IPAMBlockSpec>().empty());
}

TEST_F(BrindlectlTest, PolicyTraceUsesTheEngine) {
  std::string out;
  const std::string manifests = write("policy.yaml", R"(apiVersion: brindle.network/v1
kind: Profile
metadata:
  name: kns.web
spec:
  labelsToApply:
    kubernetes.io/metadata.name: web
---
apiVersion: brindle.network/v1
kind: WorkloadEndpoint
metadata:
  name: node--a-k8s-client-eth0
  namespace: web
  labels:
    app: client
spec:
  node: node-a
  pod: client
  interfaceName: brv00000000001
  ipNetworks: [198.18.0.10/32]
  profiles: [kns.web]
---
apiVersion: brindle.network/v1
kind: WorkloadEndpoint
metadata:
  name: node--a-k8s-server-eth0
  namespace: web
  labels:
    app: server
spec:
  node: node-a
  pod: server
  interfaceName: brv00000000002
  ipNetworks: [198.18.0.11/32]
  profiles: [kns.web]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: server-from-client
  namespace: web
spec:
  podSelector:
    matchLabels: {app: server}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: client}
    ports:
    - port: 80
)");
  ASSERT_EQ(ctl({"apply", "-f", manifests}, &out), 0) << out;
  ASSERT_EQ(
      ctl({"policy", "trace", "--from", "web/client", "--to", "web/server", "--port", "80/tcp"},
          &out),
      0)
      << out;
  EXPECT_NE(out.find("knp.web.server-from-client"), std::string::npos) << out;
  EXPECT_NE(out.find("verdict: allow"), std::string::npos) << out;
  ASSERT_EQ(
      ctl({"policy", "trace", "--from", "web/client", "--to", "web/server", "--port", "81/tcp"},
          &out),
      0)
      << out;
  EXPECT_NE(out.find("verdict: deny"), std::string::npos) << out;
  ASSERT_EQ(
      ctl({"policy", "trace", "--from", "198.19.5.5", "--to", "web/server", "--port", "80"}, &out),
      0)
      << out;
  EXPECT_NE(out.find("verdict: deny"), std::string::npos) << out;
  EXPECT_EQ(ctl({"policy", "trace", "--from", "web/nobody", "--to", "web/server"}, &out), 1);
  EXPECT_NE(out.find("no workload endpoint or pod"), std::string::npos) << out;
}

}  // namespace
}  // namespace brindle
