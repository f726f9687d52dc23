// The change stream and the model a plugin receives: order of operations, member deltas, what is
// in the model (local endpoints, used policies and sets only), set sharing and stable ids, and the
// conversion to the C structs of brindle/policy.h.
#include <gtest/gtest.h>

#include "brindle/policy/c_abi.hpp"
#include "policy_test_support.hpp"

namespace brindle::policy {
namespace {

using testing::apply_yaml;

// The rank of a change in the order the plugin must apply them.
int rank(const Change& c) {
  return static_cast<int>(c.index()) <= 2 ? static_cast<int>(c.index() == 0 ? 0 : 1)
                                          : static_cast<int>(c.index()) - 1;
}

// Applies changes to a replica as a plugin would; apply_change() refuses a set or policy used
// before it exists or removed while used, so this checks the order too.
void apply_all(Model& replica, const std::vector<Change>& changes) {
  int last = 0;
  for (const Change& c : changes) {
    EXPECT_GE(rank(c), last) << describe(c);
    last = rank(c);
    apply_change(replica, c);
  }
}

constexpr const char* kFromB = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: serve-80-tcp}]
)";

class Changes : public ::testing::Test {
 protected:
  // node-1 holds every pod but the b's (see conformance_pod()).
  PolicyEngine engine{EngineConfig{"node-1", false}};
  Model replica;
};

TEST_F(Changes, InitialSyncIsOrderedAndComplete) {
  Globals g;
  g.node_addresses = {model::IpPrefix::parse("198.19.0.1/32")};
  engine.set_globals(g);
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  const std::vector<Change> changes = engine.take_changes();
  ASSERT_FALSE(changes.empty());
  EXPECT_TRUE(std::holds_alternative<SetGlobals>(changes.front()));
  apply_all(replica, changes);
  EXPECT_EQ(replica, engine.snapshot());
  EXPECT_TRUE(engine.take_changes().empty());
}

TEST_F(Changes, OnlyLocalEndpointsGetRecordsButRemoteAddressesFillSets) {
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  const Model m = engine.snapshot();
  EXPECT_EQ(m.endpoints.size(), 6u);  // a and c of x, y, z
  EXPECT_EQ(m.endpoints.count("x/b"), 0u);
  const Rule& rule = m.policies.at({PolicyKind::kPolicy, "knp.x.from-b"}).ingress.at(0);
  ASSERT_EQ(rule.source->ipsets.size(), 1u);
  const IpSet& peers = m.ipsets.at(rule.source->ipsets[0]);
  EXPECT_EQ(peers.members,
            (std::vector<IpSetMember>{{model::IpPrefix::host(testing::pod_ip("x", "b")), 0, 0}}));
  const IpSet& named = m.ipsets.at(rule.destination->named_port_ipsets.at(0));
  EXPECT_EQ(named.type, IpSetType::kNetPort);
  EXPECT_EQ(named.members, (std::vector<IpSetMember>{
                               {model::IpPrefix::host(testing::pod_ip("x", "a")), kProtoTCP, 80}}));
  // The trace of a remote destination says it is enforced elsewhere.
  TraceResult t = testing::trace_pods(engine, "x/a", "x/b", kProtoTCP, 80);
  EXPECT_EQ(t.ingress.verdict, Verdict::kNotEnforced);
  EXPECT_EQ(t.egress.verdict, Verdict::kAllow);
}

TEST_F(Changes, NewPodIsAMemberDeltaNotARerender) {
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  apply_all(replica, engine.take_changes());
  // A new b in x on another node: only the peer set changes.
  engine.upsert_workload_endpoint(testing::make_pod(
      "x", "b2", {{"pod", "b"}}, {model::IpAddress::parse("198.18.1.20")}, {}, "node-3"));
  const std::vector<Change> changes = engine.take_changes();
  ASSERT_EQ(changes.size(), 1u) << describe(changes.at(0));
  const auto* update = std::get_if<UpdateIpSetMembers>(&changes[0]);
  ASSERT_NE(update, nullptr) << describe(changes[0]);
  EXPECT_EQ(update->added,
            (std::vector<IpSetMember>{{model::IpPrefix::parse("198.18.1.20/32"), 0, 0}}));
  EXPECT_TRUE(update->removed.empty());
  apply_all(replica, changes);
  EXPECT_EQ(replica, engine.snapshot());
  // Added and removed again before the plugin heard of it: nothing to do.
  engine.upsert_workload_endpoint(testing::make_pod(
      "x", "b3", {{"pod", "b"}}, {model::IpAddress::parse("198.18.1.21")}, {}, "node-3"));
  engine.remove_workload_endpoint("x", "b3");
  EXPECT_TRUE(engine.take_changes().empty());
}

// A policy handed from one local pod to another within one batch stays in the model throughout:
// its sets get member deltas, never a whole re-send (whatever order the engine visits the pods).
TEST_F(Changes, PolicyHandedOverInOneBatchKeepsItsSets) {
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  apply_all(replica, engine.take_changes());
  auto relabel = [&](const std::string& pod, const std::string& label) {
    auto w = testing::conformance_pod("x", pod);
    w.metadata.labels = {{"pod", label}};
    engine.upsert_workload_endpoint(w);
  };
  for (int round = 0; round < 4; ++round) {
    // x/a and x/c swap the label the policy selects (both on node-1), in either order.
    const bool to_c = round % 2 == 0;
    const std::string gains = to_c ? "c" : "a";
    const std::string loses = to_c ? "a" : "c";
    if (round < 2) {
      relabel(loses, "none");
      relabel(gains, "a");
    } else {
      relabel(gains, "a");
      relabel(loses, "none");
    }
    const std::vector<Change> changes = engine.take_changes();
    size_t endpoints = 0;
    size_t updates = 0;
    for (const Change& c : changes) {
      if (std::holds_alternative<UpsertEndpoint>(c)) {
        ++endpoints;
      } else if (std::holds_alternative<UpdateIpSetMembers>(c)) {
        ++updates;
      } else {
        ADD_FAILURE() << "round " << round << ": unexpected " << describe(c);
      }
    }
    EXPECT_EQ(endpoints, 2u) << "round " << round;
    EXPECT_GE(updates, 1u) << "round " << round;  // the named-port set of the selected pods
    apply_all(replica, changes);
    ASSERT_EQ(replica, engine.snapshot()) << "round " << round;
    EXPECT_EQ(replica.endpoints.at("x/" + gains).ingress_policies,
              std::vector<std::string>{"knp.x.from-b"});
  }
}

TEST_F(Changes, RemovalsComeAfterUpsertsAndSetsLast) {
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  apply_all(replica, engine.take_changes());
  apply_yaml(engine, kFromB, true);
  const std::vector<Change> changes = engine.take_changes();
  apply_all(replica, changes);
  EXPECT_EQ(replica, engine.snapshot());
  ASSERT_GE(changes.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<UpsertEndpoint>(changes.front()));  // x/a loses the policy
  EXPECT_TRUE(std::holds_alternative<RemoveIpSet>(changes.back()));
  EXPECT_TRUE(replica.ipsets.empty());
  EXPECT_EQ(replica.policies.size(), 3u);  // the namespace profiles
}

TEST_F(Changes, UnusedPoliciesAndSetsAreNotInTheModel) {
  testing::build_conformance(engine);
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: for-b-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: c}}}]
)");
  Model m = engine.snapshot();  // x/b lives on node-2
  EXPECT_EQ(m.policies.count({PolicyKind::kPolicy, "knp.x.for-b-only"}), 0u);
  EXPECT_TRUE(m.ipsets.empty());
  EXPECT_EQ(engine.stats().policies, 4u);
  EXPECT_EQ(engine.stats().active_policies, 3u);
  // x/b moves here: the policy and its set arrive, before the endpoint that uses them.
  apply_all(replica, engine.take_changes());
  auto xb = testing::conformance_pod("x", "b");
  xb.spec.node = "node-1";
  engine.upsert_workload_endpoint(xb);
  const std::vector<Change> changes = engine.take_changes();
  apply_all(replica, changes);
  EXPECT_EQ(replica, engine.snapshot());
  EXPECT_EQ(replica.endpoints.at("x/b").ingress_policies,
            std::vector<std::string>{"knp.x.for-b-only"});
}

TEST_F(Changes, EqualSelectorsShareOneSetWithStableIds) {
  testing::build_conformance(engine);
  // Two policies, the same peer written differently (matchLabels vs matchExpressions).
  apply_yaml(engine, kFromB);
  apply_yaml(engine, R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b-again, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [b]}]}}]
)");
  const Model m = engine.snapshot();
  const auto& p1 = m.policies.at({PolicyKind::kPolicy, "knp.x.from-b"}).ingress.at(0);
  const auto& p2 = m.policies.at({PolicyKind::kPolicy, "knp.x.from-b-again"}).ingress.at(0);
  EXPECT_EQ(p1.source->ipsets, p2.source->ipsets);
  // Ids depend on the definition only: another engine fed in another order agrees.
  PolicyEngine other(EngineConfig{"node-1", false});
  apply_yaml(other, kFromB);
  testing::build_conformance(other);
  const Model m2 = other.snapshot();
  EXPECT_EQ(m2.policies.at({PolicyKind::kPolicy, "knp.x.from-b"}).ingress.at(0).source->ipsets,
            p1.source->ipsets);
  for (const auto& [id, set] : m.ipsets) {
    EXPECT_LE(id.size(), 19u);
    EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos);
  }
}

TEST_F(Changes, GlobalsAreSentOnceAndOnChange) {
  Globals g;
  g.interface_prefix = "brn";
  engine.set_globals(g);
  EXPECT_EQ(engine.take_changes().size(), 1u);
  engine.set_globals(g);
  EXPECT_TRUE(engine.take_changes().empty());
  g.failsafe_inbound = {{kProtoTCP, 22}};
  engine.set_globals(g);
  ASSERT_EQ(engine.take_changes().size(), 1u);
}

// ---- The C structs -------------------------------------------------------------------------

TEST(CAbi, RoundTripsEveryStruct) {
  PolicyEngine engine(EngineConfig{"node-1", true});
  testing::build_conformance(engine);
  Globals g;
  g.all_pools = {model::IpPrefix::parse("198.18.0.0/16"), model::IpPrefix::parse("2001:db8::/32")};
  g.nat_outgoing_pools = {model::IpPrefix::parse("198.18.0.0/16")};
  g.failsafe_inbound = {{kProtoTCP, 22}, {kProtoUDP, 68}};
  g.failsafe_outbound = {{kProtoUDP, 53}};
  g.node_addresses = {model::IpPrefix::parse("198.19.0.1/32")};
  engine.set_globals(g);
  apply_yaml(engine, kFromB);
  apply_yaml(engine, R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: everything, namespace: y}
spec:
  selector: pod == "a"
  ingress:
  - action: Log
  - action: Deny
    protocol: TCP
    notProtocol: UDP
    source: {nets: [198.19.0.0/16], notNets: [198.19.1.0/24], notSelector: pod == "c"}
    destination: {ports: ["80:90", serve-80-tcp], notPorts: [85]}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
)");
  const Model m = engine.snapshot();
  for (const auto& [key, p] : m.policies) {
    CPolicy c(p);
    EXPECT_EQ(c.get()->struct_size, sizeof(brindle_policy_t));
    EXPECT_EQ(from_c(*c.get()), p) << p.id;
  }
  for (const auto& [id, s] : m.ipsets) {
    CIpSet c(s);
    EXPECT_EQ(from_c(*c.get()), s) << id;
  }
  for (const auto& [id, e] : m.endpoints) {
    CEndpoint c(e);
    EXPECT_EQ(from_c(*c.get()), e) << id;
  }
  CGlobals cg(m.globals);
  EXPECT_EQ(from_c(*cg.get()), g);
}

// A policy plugin made of plain C functions: replays the calls into a Model via the C structs.
struct Recorder {
  Model model;
  std::vector<std::string> calls;
};

Recorder* recorder(brindle_instance_t* inst) {
  return reinterpret_cast<Recorder*>(inst);
}

TEST(CAbi, SendChangeCallsThePlugin) {
  brindle_policy_vtable_t v{};
  v.struct_size = sizeof(v);
  v.set_globals = [](brindle_instance_t* i, const brindle_policy_globals_t* g, brindle_error_t*) {
    recorder(i)->model.globals = from_c(*g);
    recorder(i)->calls.push_back("set_globals");
    return BRINDLE_OK;
  };
  v.upsert_ipset = [](brindle_instance_t* i, const brindle_ipset_t* s, brindle_error_t*) {
    apply_change(recorder(i)->model, UpsertIpSet{from_c(*s)});
    recorder(i)->calls.push_back("upsert_ipset");
    return BRINDLE_OK;
  };
  v.update_ipset_members = [](brindle_instance_t* i, brindle_str_t id,
                              const brindle_ipset_member_t* added, size_t n_added,
                              const brindle_ipset_member_t* removed, size_t n_removed,
                              brindle_error_t*) {
    UpdateIpSetMembers u;
    u.id.assign(id.data, id.size);
    for (size_t k = 0; k < n_added; ++k) {
      u.added.push_back(from_c(added[k]));
    }
    for (size_t k = 0; k < n_removed; ++k) {
      u.removed.push_back(from_c(removed[k]));
    }
    apply_change(recorder(i)->model, u);
    recorder(i)->calls.push_back("update_ipset_members");
    return BRINDLE_OK;
  };
  v.remove_ipset = [](brindle_instance_t* i, brindle_str_t id, brindle_error_t*) {
    apply_change(recorder(i)->model, RemoveIpSet{std::string(id.data, id.size)});
    recorder(i)->calls.push_back("remove_ipset");
    return BRINDLE_OK;
  };
  v.upsert_policy = [](brindle_instance_t* i, const brindle_policy_t* p, brindle_error_t*) {
    apply_change(recorder(i)->model, UpsertPolicy{from_c(*p)});
    recorder(i)->calls.push_back("upsert_policy");
    return BRINDLE_OK;
  };
  v.remove_policy = [](brindle_instance_t* i, brindle_policy_kind_t kind, brindle_str_t id,
                       brindle_error_t*) {
    apply_change(recorder(i)->model,
                 RemovePolicy{kind == BRINDLE_POLICY_KIND_PROFILE ? PolicyKind::kProfile
                                                                  : PolicyKind::kPolicy,
                              std::string(id.data, id.size)});
    recorder(i)->calls.push_back("remove_policy");
    return BRINDLE_OK;
  };
  v.upsert_endpoint = [](brindle_instance_t* i, const brindle_endpoint_t* e, brindle_error_t*) {
    apply_change(recorder(i)->model, UpsertEndpoint{from_c(*e)});
    recorder(i)->calls.push_back("upsert_endpoint");
    return BRINDLE_OK;
  };
  v.remove_endpoint = [](brindle_instance_t* i, brindle_str_t id, brindle_error_t* err) {
    if (recorder(i)->model.endpoints.erase(std::string(id.data, id.size)) == 0) {
      err->code = BRINDLE_ERR_NOT_FOUND;
      return BRINDLE_ERR_NOT_FOUND;
    }
    recorder(i)->calls.push_back("remove_endpoint");
    return BRINDLE_OK;
  };

  Recorder rec;
  auto* inst = reinterpret_cast<brindle_instance_t*>(&rec);
  PolicyEngine engine(EngineConfig{"node-1", false});
  engine.set_globals(Globals{});
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  auto send = [&] {
    for (const Change& c : engine.take_changes()) {
      brindle_error_t err{};
      ASSERT_EQ(send_change(v, inst, c, &err), BRINDLE_OK) << describe(c);
    }
  };
  send();
  engine.upsert_workload_endpoint(testing::make_pod(
      "x", "b2", {{"pod", "b"}}, {model::IpAddress::parse("198.18.1.20")}, {}, "node-3"));
  send();
  apply_yaml(engine, kFromB, true);
  engine.remove_workload_endpoint("y", "a");
  send();
  EXPECT_EQ(rec.model, engine.snapshot());
  EXPECT_EQ(rec.calls.front(), "set_globals");
  EXPECT_NE(std::find(rec.calls.begin(), rec.calls.end(), "update_ipset_members"), rec.calls.end());
  EXPECT_NE(std::find(rec.calls.begin(), rec.calls.end(), "remove_ipset"), rec.calls.end());
  EXPECT_NE(std::find(rec.calls.begin(), rec.calls.end(), "remove_endpoint"), rec.calls.end());
}

TEST(CAbi, MalformedInputIsRejected) {
  brindle_ipset_t s{};
  s.struct_size = sizeof(s);
  s.type = BRINDLE_IPSET_NET;
  s.family = 4;
  s.n_members = 2;  // but no array
  EXPECT_THROW(from_c(s), std::invalid_argument);
  s.n_members = 0;
  s.family = 5;
  EXPECT_THROW(from_c(s), std::invalid_argument);
}

// ---- brindlectl policy trace arguments -----------------------------------------------------

TEST(TraceCommandLine, ParsesPeersAndPorts) {
  TracePeer pod = parse_trace_peer("shop/web-1");
  EXPECT_EQ(pod.namespace_, "shop");
  EXPECT_EQ(pod.name, "web-1");
  EXPECT_FALSE(pod.address);
  EXPECT_EQ(parse_trace_peer("2001:db8::5").address, model::IpAddress::parse("2001:db8::5"));
  EXPECT_THROW(parse_trace_peer("web-1"), PolicyError);
  EXPECT_THROW(parse_trace_peer("a/b/c"), PolicyError);

  TraceRequest r;
  parse_trace_port("80", r);
  EXPECT_EQ(r.protocol, kProtoTCP);
  EXPECT_EQ(r.port, 80);
  parse_trace_port("53/UDP", r);
  EXPECT_EQ(r.protocol, kProtoUDP);
  EXPECT_EQ(r.port, 53);
  parse_trace_port("icmp/8/0", r);
  EXPECT_EQ(r.protocol, kProtoICMP);
  EXPECT_EQ(r.icmp_type, 8);
  EXPECT_EQ(r.icmp_code, 0);
  for (const char* bad : {"0", "65536", "80/tcpx", "http", "80/tcp/1", "icmp/300", ""}) {
    TraceRequest ignored;
    EXPECT_THROW(parse_trace_port(bad, ignored), PolicyError) << bad;
  }
  try {
    parse_trace_port("80/quic", r);
    FAIL() << "expected PolicyError";
  } catch (const PolicyError& e) {
    EXPECT_STREQ(e.what(),
                 "port \"80/quic\": unknown protocol \"quic\" (expected tcp, udp or sctp)");
  }
}

TEST(TraceCommandLine, TracesFromArguments) {
  PolicyEngine engine(EngineConfig{"", true});
  testing::build_conformance(engine);
  apply_yaml(engine, kFromB);
  TraceRequest r;
  r.from = parse_trace_peer("x/b");
  r.to = parse_trace_peer("x/a");
  parse_trace_port("80/tcp", r);
  EXPECT_EQ(engine.trace(r).verdict, Verdict::kAllow);
  parse_trace_port("81/tcp", r);
  EXPECT_EQ(engine.trace(r).verdict, Verdict::kDeny);
  r.to = parse_trace_peer("x/nobody");
  EXPECT_THROW(engine.trace(r), PolicyError);
}

}  // namespace
}  // namespace brindle::policy
