// The iptables policy plugin loaded like the host loads it, fed by a real PolicyEngine with model
// resources, checked with real traffic between network namespaces (the test acts as the node):
// the behaviour every policy plugin shares (policy_behaviour_tests.hpp), and the tests of the
// plugin's own representation (chains, ipsets, iptables-save), configuration and scale.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <regex>

#include "policy_behaviour_tests.hpp"
#include "policy_iptables_lab.hpp"

namespace brindle::policy_lab {
// The shared scenarios and configuration keys (ctest: "PolicyBehaviour.<Test><Traits>",
// "PolicyConfig.<Test><Traits>").
INSTANTIATE_TYPED_TEST_SUITE_P(PolicyBehaviour, PolicyBehaviourTest,
                               policy_iptables_test::IptablesTraits);
INSTANTIATE_TYPED_TEST_SUITE_P(PolicyConfig, PolicyConfigTest,
                               policy_iptables_test::IptablesTraits);
}  // namespace brindle::policy_lab

namespace brindle::policy_iptables_test {
namespace {

using policy::PolicyEngine;
using policy_lab::feed;
using policy_lab::kAllowFromBOnTcp80;
using policy_lab::kDenyIngressXa;
namespace pt = brindle::policy::testing;

// The chain the dispatch sends an interface's traffic to (ingress: to the workload).
std::string endpoint_chain_of(const std::string& saved, const std::string& interface,
                              bool ingress) {
  std::smatch match;
  const std::regex rule(std::string(ingress ? "-o " : "-i ") + interface +
                        " -g (brindle-[tf]w-[0-9a-f]{16})");
  return std::regex_search(saved, match, rule) ? match[1].str() : "";
}

using PolicyIptables = policy_lab::PolicyPluginTest<IptablesTraits>;

// The table and set work runs on a thread of the plugin's own (for its malloc arena): it still
// acts in the network namespace of the thread calling the plugin, not the one it was created in,
// and follows the caller from one namespace to another.
TEST_F(PolicyIptables, ActsInTheNamespaceOfTheCallingThread) {
  const ScratchNetns elsewhere = ScratchNetns::create_named("bpi-else");
  const std::string in_elsewhere = "ip netns exec " + elsewhere.name() + " ";
  const auto elsewhere_state = [&] {
    return must(in_elsewhere + "iptables-legacy-save") +
           must(in_elsewhere + "ip6tables-legacy-save") + must(in_elsewhere + "ipset list -n");
  };
  apply_yaml(kAllowFromBOnTcp80);  // a selector: an IP set
  TestHost other_host;
  Plugin other;
  ASSERT_EQ(other.create(elsewhere, other_host).status, BRINDLE_OK);
  ASSERT_EQ(other.send(lab.node, engine).status, BRINDLE_OK);
  ASSERT_EQ(other.in_sync(lab.node).status, BRINDLE_OK);
  const Plugin::Result applied = other.apply(lab.node);
  ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;
  const std::string saved = lab.save();
  EXPECT_EQ(lines_with(saved, "-A FORWARD").at(0), "-A FORWARD -j brindle-FORWARD") << saved;
  EXPECT_TRUE(contains(must("ip netns exec " + lab.node.name() + " ipset list -n"), "brindle-s-"));
  EXPECT_FALSE(contains(elsewhere_state(), "brindle")) << elsewhere_state();

  // Called from the other namespace: a full pass programs that one (the node's stays).
  const Plugin::Result refreshed = other.refresh(elsewhere);
  ASSERT_EQ(refreshed.status, BRINDLE_OK) << refreshed.message;
  const std::string there = elsewhere_state();
  EXPECT_TRUE(contains(there, "-A FORWARD -j brindle-FORWARD")) << there;
  EXPECT_TRUE(contains(there, "brindle-s-")) << there;
  EXPECT_EQ(without_counters(lab.save()), without_counters(saved));
}

TEST_F(PolicyIptables, RefreshRepairsTamperedChainsAndSets) {
  apply_yaml(kAllowFromBOnTcp80);
  program();
  const std::string programmed = without_counters(lab.save());
  ASSERT_TRUE(lab.reach("x/b", "x/a"));
  ASSERT_FALSE(lab.reach("y/a", "x/a"));

  const std::string in_node = "ip netns exec " + lab.node.name() + " ";
  // Someone empties the set of pods labelled pod=b and opens x/a's ingress chain.
  for (const std::string& line : lines_with(must(in_node + "ipset list -n"), "brindle-s-n4")) {
    must(in_node + "ipset flush " + line);
  }
  EXPECT_FALSE(lab.reach("x/b", "x/a")) << "the set tampering took effect";
  const std::string ingress_chain = endpoint_chain_of(programmed, "brnxa", true);
  ASSERT_FALSE(ingress_chain.empty()) << programmed;
  must(in_node + "iptables-legacy -I " + ingress_chain + " 1 -j ACCEPT");
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "the rule tampering took effect";

  const Plugin::Result refreshed = plugin.refresh(lab.node);
  ASSERT_EQ(refreshed.status, BRINDLE_OK) << refreshed.message;
  EXPECT_EQ(without_counters(lab.save()), programmed);
  EXPECT_TRUE(lab.reach("x/b", "x/a"));
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
  EXPECT_GE(host.metric("repairs_total"), 2);

  // A member added to the set of pods labelled pod=b (y/a's address): removed again.
  for (const std::string& line : lines_with(must(in_node + "ipset list -n"), "brindle-s-n4")) {
    if (contains(must(in_node + "ipset list " + line), Lab::pod_ip("x/b"))) {
      must(in_node + "ipset add " + line + " " + Lab::pod_ip("y/a"));
    }
  }
  EXPECT_TRUE(lab.reach("y/a", "x/a")) << "the added member took effect";
  ASSERT_EQ(plugin.refresh(lab.node).status, BRINDLE_OK);
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
  EXPECT_EQ(without_counters(lab.save()), programmed);

  // The jump from FORWARD removed: restored as the first rule.
  must(in_node + "iptables-legacy -D FORWARD -j brindle-FORWARD");
  EXPECT_TRUE(lab.reach("y/a", "x/a"));
  ASSERT_EQ(plugin.refresh(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(without_counters(lab.save()), programmed);
  EXPECT_FALSE(lab.reach("y/a", "x/a"));
}

TEST_F(PolicyIptables, ForeignRulesChainsAndSetsAreLeftAlone) {
  const std::string in_node = "ip netns exec " + lab.node.name() + " ";
  must(in_node + "ipset create foreign-set hash:ip");
  must(in_node + "iptables-legacy -N foreign-chain");
  must(in_node + "iptables-legacy -A foreign-chain -s 198.19.9.9/32 -j ACCEPT");
  must(in_node + "iptables-legacy -A FORWARD -j foreign-chain");
  must(in_node + "iptables-legacy -A INPUT -m set --match-set foreign-set src -j DROP");
  must(in_node + "iptables-legacy -t nat -A POSTROUTING -s 198.19.9.9/32 -j ACCEPT");
  must(in_node + "ip6tables-legacy -A FORWARD -s 2001:db8:9::9/128 -j ACCEPT");
  const auto foreign = [&] {
    std::vector<std::string> out = lines_with(lab.save(), "foreign");
    for (const std::string& line : lines_with(lab.save(), "198.19.9.9")) {
      out.push_back(line);
    }
    for (const std::string& line : lines_with(lab.save(6), "2001:db8:9::9")) {
      out.push_back(line);
    }
    return out;
  };
  const std::vector<std::string> before = foreign();
  ASSERT_EQ(before.size(), 7u);

  apply_yaml(kDenyIngressXa);
  program();
  EXPECT_EQ(foreign(), before);
  // Removing a pod and a policy removes their chains; the foreign state stays.
  engine.remove_workload_endpoint("y", "a");
  apply_yaml(kDenyIngressXa, true);
  program();
  const std::string saved = lab.save();
  EXPECT_FALSE(contains(saved, "-o brnya")) << saved;
  EXPECT_FALSE(contains(saved, "brindle-pi-")) << saved;
  EXPECT_EQ(foreign(), before);
  EXPECT_TRUE(contains(must(in_node + "ipset list -n"), "foreign-set"));
  EXPECT_EQ(lines_with(saved, "-A FORWARD").at(0), "-A FORWARD -j brindle-FORWARD");
}

constexpr const char* kRichPolicies = R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: rich, namespace: x}
spec:
  order: 10
  selector: pod == "a"
  ingress:
  - action: Log
    protocol: TCP
  - action: Deny
    protocol: UDP
    destination: {ports: [81, "1000:2000"]}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
  - action: Allow
    notProtocol: UDP
    source: {nets: [198.18.1.0/24, 198.18.2.0/24], notNets: [198.18.1.3/32]}
  - action: Allow
    protocol: TCP
    destination: {notPorts: [22]}
  egress:
  - action: Pass
    protocol: TCP
    destination: {ports: [serve-80-tcp]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: kube, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}, {ipBlock: {cidr: 198.18.0.0/16, except: [198.18.3.0/24]}}]
    ports: [{port: 80, endPort: 90}, {protocol: SCTP, port: 9}]
)";

// Our hand-built entries are byte for byte what iptables-legacy builds from the same text: the
// tables saved from the node and loaded by iptables-legacy-restore into a fresh namespace (with
// the same sets) compare equal to the same model there, so a plugin instance commits nothing.
TEST_F(PolicyIptables, EntriesAreWhatIptablesItselfBuilds) {
  apply_yaml(kRichPolicies);
  program();
  const std::string dir = ::testing::TempDir();
  ScratchNetns twin = ScratchNetns::create_named("bpi-twin");
  const std::string in_node = "ip netns exec " + lab.node.name() + " ";
  const std::string in_twin = "ip netns exec " + twin.name() + " ";
  must(in_node + "ipset save > " + dir + "/" + twin.name() + "-sets");
  must(in_twin + "ipset restore < " + dir + "/" + twin.name() + "-sets");
  for (const std::string tool : {"iptables", "ip6tables"}) {
    must(in_node + tool + "-legacy-save > " + dir + "/" + twin.name() + "-" + tool);
    must(in_twin + tool + "-legacy-restore < " + dir + "/" + twin.name() + "-" + tool);
  }
  must("rm -f " + dir + "/" + twin.name() + "-*");
  const auto saved_tables = [](const ScratchNetns& ns) {
    std::string out;
    for (const char* table : {"filter", "nat"}) {
      out += must("ip netns exec " + ns.name() + " iptables-legacy-save -t " + table +
                  " | grep -v '^#'");
    }
    return without_counters(out);
  };
  const std::string restored = saved_tables(twin);
  ASSERT_EQ(restored, saved_tables(lab.node));
  ASSERT_TRUE(contains(restored, "-m set --match-set brindle-")) << restored;
  ASSERT_TRUE(contains(restored, "-m multiport --dports 81,1000:2000")) << restored;
  ASSERT_TRUE(contains(restored, "-j LOG")) << restored;

  TestHost twin_host;
  Plugin twin_plugin;
  ASSERT_EQ(twin_plugin.create(twin, twin_host).status, BRINDLE_OK);
  PolicyEngine twin_engine({.node_name = "node-1"});
  feed(twin_engine, {"x/a", "x/b", "y/a"});
  pt::apply_yaml(twin_engine, kRichPolicies);
  ASSERT_EQ(twin_plugin.send(twin, twin_engine).status, BRINDLE_OK);
  ASSERT_EQ(twin_plugin.in_sync(twin).status, BRINDLE_OK);
  const Plugin::Result applied = twin_plugin.apply(twin);
  ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;
  EXPECT_EQ(twin_host.metric("table_commits_total"), 0)
      << "some entry differs from iptables-legacy's own encoding:\n"
      << [&] {
           std::string out;
           for (const std::string& line : twin_host.logs) {
             out += line + "\n";
           }
           return out;
         }();
  EXPECT_EQ(saved_tables(twin), restored);
  // And a change is committed (the comparison is not blind).
  must(in_twin + "iptables-legacy -D brindle-FORWARD 1");
  ASSERT_EQ(twin_plugin.refresh(twin).status, BRINDLE_OK);
  EXPECT_EQ(twin_host.metric("table_commits_total"), 1);
  EXPECT_EQ(saved_tables(twin), restored);
  twin_plugin.destroy();
  must(in_twin + "iptables-legacy -F && " + in_twin + "iptables-legacy -X");  // before ipsets go
}

// An endpoint of the model without an interface in the namespace (the dispatch does not care).
model::WorkloadEndpoint paper_pod(const std::string& ns, const std::string& name,
                                  const std::string& interface, model::Labels labels,
                                  uint32_t index) {
  model::WorkloadEndpoint w = pt::make_pod(
      ns, name, std::move(labels), {model::IpAddress::v4(0xC6128000u + index)},  // 198.18.128.0/17
      pt::conformance_ports());
  w.spec.interface_name = interface;
  return w;
}

// How many rules each dispatch chain holds, by chain.
std::map<std::string, size_t> dispatch_chain_sizes(const std::string& saved) {
  std::map<std::string, size_t> out;
  std::istringstream in(saved);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m,
                          std::regex("^-A (brindle-(to-wl-dispatch|from-wl-dispatch|"
                                     "twd-[^ ]+|fwd-[^ ]+)) "))) {
      ++out[m[1].str()];
    }
  }
  return out;
}

// Many endpoints: the dispatch becomes a tree of chains by interface-name prefix, so no chain
// (and no packet's path) grows with the number of endpoints; traffic is still decided by each
// pod's policies and an interface the model does not know is still dropped.
TEST_F(PolicyIptables, DispatchTreeKeepsTrafficCorrectWithManyEndpoints) {
  // A real interface under a prefix that splits, which no endpoint claims.
  const ScratchNetns& rogue = lab.add_pod("y/z", "brnxa0zz", "198.18.9.9", "2001:db8:9::9");
  lab.serve(rogue);
  // 600 more endpoints, 300 of them under the real pods' own prefixes "brnxa" and "brnya".
  for (uint32_t i = 0; i < 600; ++i) {
    char interface[16];
    if (i < 300) {
      std::snprintf(interface, sizeof(interface), "brn%ca%02x", i % 2 == 0 ? 'x' : 'y', i);
    } else {
      std::snprintf(interface, sizeof(interface), "brnq%03x", i);
    }
    engine.upsert_workload_endpoint(paper_pod(i % 2 == 0 ? "x" : "y", "p" + std::to_string(i),
                                              interface, {{"pod", "paper"}}, i + 1));
  }
  apply_yaml(kAllowFromBOnTcp80);
  program();
  const std::string saved = lab.save();
  const std::map<std::string, size_t> sizes = dispatch_chain_sizes(saved);
  ASSERT_GT(sizes.size(), 6u) << "the dispatch is split into a tree";
  for (const auto& [chain, rules] : sizes) {
    EXPECT_LE(rules, 65u) << chain << " grows with the number of endpoints";
  }
  // x/a sits below the root: its own node "brnxa" lists it next to its namesakes.
  EXPECT_TRUE(std::regex_search(saved, std::regex("-A brindle-twd-brnxa -o brnxa -g brindle-tw-")))
      << saved;
  EXPECT_EQ(dispatch_chain_sizes(lab.save(6)).size(), sizes.size());

  EXPECT_TRUE(lab.reach("x/b", "x/a", 80));
  EXPECT_FALSE(lab.reach("x/b", "x/a", 81));
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80)) << "y/a has pod=a, not pod=b";
  EXPECT_TRUE(lab.reach("x/a", "y/a", 81));
  EXPECT_TRUE(lab.reach("x/a", "x/b", 80, "tcp", 6));
  EXPECT_TRUE(lab.node_reaches("x/a"));
  // The interface no endpoint claims: dropped both ways.
  EXPECT_TRUE(Lab::probe(rogue, Lab::pod_ip("x/b"), 80).empty());
  EXPECT_TRUE(Lab::probe(lab.pods.at("x/b"), "198.18.9.9", 80).empty());

  // Removing most of them folds the tree back into one chain.
  for (uint32_t i = 0; i < 600; ++i) {
    engine.remove_workload_endpoint(i % 2 == 0 ? "x" : "y", "p" + std::to_string(i));
  }
  program();
  EXPECT_EQ(dispatch_chain_sizes(lab.save()).size(), 2u) << lab.save();
  EXPECT_TRUE(lab.reach("x/b", "x/a", 80));
  EXPECT_FALSE(lab.reach("y/a", "x/a", 80));
}

// The kernel state, comparable across namespaces: iptables-save of both families and tables
// without counters, and every set with its members (without ipset's random initval).
std::string kernel_state(const ScratchNetns& ns) {
  std::string out;
  for (const char* tool : {"iptables", "ip6tables"}) {
    out += must("ip netns exec " + ns.name() + " " + tool + "-legacy-save | grep -v '^#'");
  }
  out = without_counters(out);
  out += must("ip netns exec " + ns.name() + " ipset save | sed 's/ initval 0x[0-9a-f]*//' | sort");
  return out;
}

// The first line where two texts differ, for messages.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream ia(a);
  std::istringstream ib(b);
  std::string la;
  std::string lb;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(ia, la));
    const bool more_b = static_cast<bool>(std::getline(ib, lb));
    if (!more_a && !more_b) {
      return "identical";
    }
    if (!more_a || !more_b || la != lb) {
      return "line " + std::to_string(line) + ":\n  incremental: " + (more_a ? la : "<end>") +
             "\n  fresh:       " + (more_b ? lb : "<end>");
    }
  }
}

constexpr const char* kRandomPolicies[] = {
    R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}, {namespaceSelector: {matchLabels: {team: blue}}}]
    ports: [{port: serve-80-tcp}, {port: 443}]
)",
    R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
)",
    R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: blocks, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 198.18.0.0/16, except: [198.18.2.0/24, 198.18.3.0/24]}}]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432, endPort: 5440}]
)",
    R"(
apiVersion: brindle.network/v1
kind: GlobalNetworkPolicy
metadata: {name: deny-db}
spec:
  order: 5
  selector: app == "db"
  ingress:
  - action: Pass
    source: {selector: app == "web"}
  - action: Deny
    protocol: UDP
)",
    R"(
apiVersion: brindle.network/v1
kind: NetworkPolicy
metadata: {name: ordered, namespace: z}
spec:
  order: 20
  selector: pod == "b"
  ingress:
  - action: Allow
    protocol: TCP
    source: {nets: [198.18.1.0/24, 198.18.4.0/24]}
    destination: {ports: [serve-81-tcp]}
)",
};

// Random sequences of changes (pods added, removed and relabelled, policies created, changed and
// deleted, namespace labels changed, around the size where the dispatch splits): after every
// incremental apply() the kernel holds exactly what a fresh plugin instance programs into a
// fresh namespace for the same resources.
TEST(PolicyIptablesIncremental, EveryApplyEqualsAFreshRendering) {
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const auto pick = [&](size_t n) { return static_cast<size_t>(random() % n); };

  // Every operation so far, replayed into a fresh engine for the reference.
  std::vector<std::function<void(PolicyEngine&)>> operations;
  const auto run = [&](std::function<void(PolicyEngine&)> op, PolicyEngine& engine) {
    op(engine);
    operations.push_back(std::move(op));
  };
  const std::vector<std::string> namespaces{"x", "y", "z"};
  const std::vector<std::string> apps{"web", "db", "client"};
  const auto pod = [&](size_t i) {
    const std::string ns = namespaces[i % 3];
    model::Labels labels{{"pod", std::string(1, static_cast<char>('a' + i % 3))},
                         {"app", apps[pick(apps.size())]}};
    // 60+ interfaces under "brnx" (the split point of a dispatch chain is 64 interfaces).
    const std::string interface = "brn" + ns + std::to_string(i);
    return paper_pod(ns, "p" + std::to_string(i), interface, std::move(labels),
                     static_cast<uint32_t>(i + 1));
  };

  Lab lab;
  TestHost host;
  host.set_bool("ipv6", true);
  Plugin plugin;
  ASSERT_EQ(plugin.create(lab.node, host).status, BRINDLE_OK);
  PolicyEngine engine({.node_name = "node-1"});
  run([](PolicyEngine& e) { feed(e, {}); }, engine);
  std::set<size_t> present;
  for (size_t i = 0; i < 190; ++i) {
    if (i % 3 == 0 || i < 20) {
      const model::WorkloadEndpoint w = pod(i);
      run([w](PolicyEngine& e) { e.upsert_workload_endpoint(w); }, engine);
      present.insert(i);
    }
  }
  ASSERT_EQ(plugin.send(lab.node, engine).status, BRINDLE_OK);
  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);

  const double commits_before = host.metric("table_commits_total");
  for (int step = 0; step < 30; ++step) {
    std::string done;
    for (size_t n = 1 + pick(3); n-- > 0;) {
      switch (pick(6)) {
        case 0:
        case 1: {  // a pod comes (or is relabelled) in x, where the dispatch splits
          const size_t i = 3 * pick(70);
          const model::WorkloadEndpoint w = pod(i);
          run([w](PolicyEngine& e) { e.upsert_workload_endpoint(w); }, engine);
          present.insert(i);
          done += " upsert p" + std::to_string(i);
          break;
        }
        case 2: {  // a pod goes
          if (present.empty()) {
            break;
          }
          const size_t i = *std::next(present.begin(), static_cast<long>(pick(present.size())));
          const std::string ns = namespaces[i % 3];
          run([ns, i](PolicyEngine& e) { e.remove_workload_endpoint(ns, "p" + std::to_string(i)); },
              engine);
          present.erase(i);
          done += " remove p" + std::to_string(i);
          break;
        }
        case 3:
        case 4: {  // a policy is created, changed or deleted
          const std::string yaml = kRandomPolicies[pick(std::size(kRandomPolicies))];
          const bool remove = pick(3) == 0;
          run([yaml, remove](PolicyEngine& e) { pt::apply_yaml(e, yaml, remove); }, engine);
          done += remove ? " delete-policy" : " upsert-policy";
          break;
        }
        default: {  // a namespace's labels change
          const std::string ns = namespaces[pick(3)];
          const model::Profile profile =
              pt::namespace_profile(ns, {{"team", pick(2) == 0 ? "blue" : "red"}});
          run([profile](PolicyEngine& e) { e.upsert_profile(profile); }, engine);
          done += " relabel-ns-" + ns;
          break;
        }
      }
    }
    SCOPED_TRACE("step " + std::to_string(step) + ":" + done);
    ASSERT_EQ(plugin.send(lab.node, engine).status, BRINDLE_OK);
    const Plugin::Result applied = plugin.apply(lab.node);
    ASSERT_EQ(applied.status, BRINDLE_OK) << applied.message;

    ScratchNetns fresh = ScratchNetns::create_named("bpi-fresh");
    TestHost fresh_host;
    Plugin fresh_plugin;
    ASSERT_EQ(fresh_plugin.create(fresh, fresh_host).status, BRINDLE_OK);
    PolicyEngine replayed({.node_name = "node-1"});
    for (const auto& op : operations) {
      op(replayed);
    }
    ASSERT_EQ(fresh_plugin.send(fresh, replayed).status, BRINDLE_OK);
    ASSERT_EQ(fresh_plugin.in_sync(fresh).status, BRINDLE_OK);
    ASSERT_EQ(fresh_plugin.apply(fresh).status, BRINDLE_OK);
    const std::string incremental = kernel_state(lab.node);
    const std::string reference = kernel_state(fresh);
    ASSERT_TRUE(contains(reference, "-A brindle-to-wl-dispatch")) << reference;
    ASSERT_EQ(incremental, reference) << first_difference(incremental, reference);
    fresh_plugin.destroy();
    must("ip netns exec " + fresh.name() + " iptables-legacy -F && ip netns exec " + fresh.name() +
         " iptables-legacy -X && ip netns exec " + fresh.name() + " ip6tables-legacy -F && " +
         "ip netns exec " + fresh.name() + " ip6tables-legacy -X");
  }
  EXPECT_GT(host.metric("table_commits_total"), commits_before) << "the changes were programmed";
  // And a refresh finds nothing to repair: what apply() tracked is what the kernel holds.
  ASSERT_EQ(plugin.refresh(lab.node).status, BRINDLE_OK);
  EXPECT_EQ(host.metric("repairs_total"), 0);
}

// Keys of its own (the shared ones: PolicyConfigTest).
TEST(PolicyIptablesConfig, BadValuesNameTheirLocation) {
  Plugin plugin;
  ScratchNetns ns = ScratchNetns::create();
  {
    TestHost host;
    host.set_int("ipset_max_elements", 10);
    host.set_string("marks", "0xff");
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "brindle.toml:11:1: marks: unknown key")) << r.message;
  }
  {
    TestHost host;
    host.set_int("ipset_max_elements", 10);
    const Plugin::Result r = plugin.create(ns, host);
    EXPECT_EQ(r.status, BRINDLE_ERR_CONFIG);
    EXPECT_TRUE(contains(r.message, "brindle.toml:10:1: ipset_max_elements: must be between"))
        << r.message;
  }
}

TEST(PolicyIptablesConfig, MarkMaskBitsAreTheAcceptAndPassMarks) {
  Lab lab;
  TestHost host;
  host.set_int("mark_mask", 0x300000);
  host.set_bool("ipv6", false);
  Plugin plugin;
  ASSERT_EQ(plugin.create(lab.node, host).status, BRINDLE_OK);
  PolicyEngine engine({.node_name = "node-1"});
  feed(engine, {"x/a"});
  ASSERT_EQ(plugin.send(lab.node, engine).status, BRINDLE_OK);
  ASSERT_EQ(plugin.in_sync(lab.node).status, BRINDLE_OK);
  ASSERT_EQ(plugin.apply(lab.node).status, BRINDLE_OK);
  const std::string saved = lab.save();
  EXPECT_TRUE(std::regex_search(
      saved, std::regex("-A brindle-tw-[0-9a-f]{16} -j MARK --set-xmark 0x0/0x300000")))
      << saved;
  EXPECT_TRUE(contains(saved, "-m mark --mark 0x100000/0x100000 -j RETURN")) << saved;
  EXPECT_EQ(
      sh("ip netns exec " + lab.node.name() + " ip6tables-legacy-save").output.find("brindle"),
      std::string::npos)
      << "ipv6 = false leaves ip6tables alone";
}

}  // namespace
}  // namespace brindle::policy_iptables_test
