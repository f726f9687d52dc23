// Typed kinds: JSON round trips for every kind, defaults, the registry and `get` tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "brindle/model/kinds.hpp"
#include "brindle/model/parse.hpp"
#include "brindle/model/registry.hpp"

namespace brindle::model {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ObjectMeta meta(std::string name, std::string ns = "") {
  ObjectMeta m;
  m.name = std::move(name);
  m.namespace_ = std::move(ns);
  m.labels = {{"app.kubernetes.io/name", "brindle"}, {"tier", "x"}};
  m.annotations = {{"example.com/note", "any text: even spaces"}};
  m.revision = "1234";
  m.uid = "0b9e5f2c-1111-2222-3333-444455556666";
  m.creation_timestamp = "2024-05-01T12:00:00Z";
  return m;
}

// Typed -> JSON text -> Resource -> typed gives back the same object and the same text.
template <class Spec>
void expect_round_trip(const Typed<Spec>& original) {
  Resource resource = encode(original);
  EXPECT_EQ(resource.kind, Spec::kKind);
  const std::string text = to_json_text(resource);
  Resource back = resource_from_json_text(text);
  EXPECT_EQ(back, resource) << text;
  Typed<Spec> typed = decode<Spec>(back);
  EXPECT_EQ(typed, original) << text;
  EXPECT_EQ(to_json_text(encode(typed)), text);
  // The generic path (what the datastore and brindlectl use) leaves a valid document unchanged.
  Resource generic = back;
  validate_and_default(generic);
  EXPECT_EQ(to_json_text(generic), text);
}

TEST(RoundTrip, IPPool) {
  IPPool p{meta("pool-a"), {}};
  p.spec.cidr = IpPrefix::parse("198.18.0.0/16");
  p.spec.block_size = 24;
  p.spec.ipip_mode = EncapsulationMode::kCrossSubnet;
  p.spec.nat_outgoing = true;
  p.spec.disabled = true;
  p.spec.node_selector = "zone == \"a\"";
  p.spec.allowed_uses = {AllowedUse::kTunnel};
  expect_round_trip(p);
  IPPool v6{meta("pool-v6"), {}};
  v6.spec.cidr = IpPrefix::parse("2001:db8:1::/64");
  v6.spec.block_size = 122;
  v6.spec.vxlan_mode = EncapsulationMode::kAlways;
  v6.spec.node_selector = "all()";
  v6.spec.allowed_uses = {AllowedUse::kWorkload, AllowedUse::kTunnel};
  expect_round_trip(v6);
}

TEST(RoundTrip, IPAMConfig) {
  IPAMConfig c{meta("default"), {}};
  c.spec.strict_affinity = true;
  c.spec.auto_allocate_blocks = false;
  c.spec.max_blocks_per_host = 20;
  expect_round_trip(c);
}

TEST(RoundTrip, IPAMBlock) {
  IPAMBlock b{meta("198-18-0-0-30"), {}};
  b.spec.cidr = IpPrefix::parse("198.18.0.0/30");
  b.spec.affinity = "host:node-a";
  b.spec.allocations = {0, std::nullopt, 1, std::nullopt};
  b.spec.unallocated = {3, 1};
  b.spec.attributes = {
      {"k8s-pod-network.abc", {{"namespace", "default"}, {"pod", "web-1"}, {"node", "node-a"}}},
      {"ipip-tunnel-addr-node-a", {}}};
  expect_round_trip(b);
}

TEST(RoundTrip, BlockAffinity) {
  BlockAffinity a{meta("node-a-198-18-0-0-26"), {}};
  a.spec.state = AffinityState::kPendingDeletion;
  a.spec.node = "node-a";
  a.spec.cidr = IpPrefix::parse("198.18.0.0/26");
  a.spec.deleted = true;
  expect_round_trip(a);
}

TEST(RoundTrip, IPAMHandle) {
  IPAMHandle h{meta("k8s-pod-network.abc"), {}};
  h.spec.handle_id = "k8s-pod-network.abc";
  h.spec.block = {{"198.18.0.0/26", 1}, {"2001:db8::/122", 1}};
  expect_round_trip(h);
}

TEST(RoundTrip, Node) {
  Node n{meta("node-a"), {}};
  n.spec.ipv4_address = IpPrefix::parse("198.19.0.1/24");
  n.spec.ipv6_address = IpPrefix::parse("2001:db8:ff::1/64");
  n.spec.bgp = NodeBGPSpec{64513, IpAddress::parse("198.19.0.254")};
  n.spec.ipip_tunnel_address = IpAddress::parse("198.18.0.1");
  n.spec.vxlan_tunnel_address = IpAddress::parse("198.18.0.2");
  n.spec.vxlan_tunnel_address_v6 = IpAddress::parse("2001:db8::2");
  n.spec.vxlan_tunnel_mac = MacAddress::parse("66:00:00:00:00:01");
  n.spec.vxlan_tunnel_mac_v6 = MacAddress::parse("66:00:00:00:00:02");
  expect_round_trip(n);
  expect_round_trip(Node{meta("node-b"), {}});  // everything optional
}

TEST(RoundTrip, WorkloadEndpoint) {
  WorkloadEndpoint w{meta("node-a-k8s-web-1-eth0", "shop"), {}};
  w.spec.node = "node-a";
  w.spec.orchestrator = "k8s";
  w.spec.pod = "web-1";
  w.spec.container_id = "3f2a9c";
  w.spec.endpoint = "eth1";
  w.spec.interface_name = "brn3f2a9c01";
  w.spec.mac = MacAddress::parse("ee:ee:ee:ee:ee:ee");
  w.spec.ip_networks = {IpPrefix::parse("198.18.0.5/32"), IpPrefix::parse("2001:db8::5/128")};
  w.spec.profiles = {"kns.shop", "ksa.shop.default"};
  w.spec.ports = {{"http", PortProtocol::kTCP, 8080}, {"dns", PortProtocol::kUDP, 53}};
  w.spec.service_account_name = "default";
  expect_round_trip(w);
}

Rule full_rule() {
  Rule r;
  r.action = RuleAction::kAllow;
  r.ip_version = 4;
  r.protocol = RuleProtocol{6};
  r.not_protocol = std::nullopt;
  r.source.nets = {IpPrefix::parse("198.18.0.0/24")};
  r.source.not_nets = {IpPrefix::parse("198.18.0.128/25")};
  r.source.selector = "role == \"client\"";
  r.source.not_selector = "has(quarantine)";
  r.source.namespace_selector = "team == \"blue\"";
  r.destination.ports = {{80, 80, ""}, {8000, 8100, ""}, {0, 0, "metrics"}};
  r.destination.not_ports = {{8050, 8050, ""}};
  return r;
}

Rule icmp_rule() {
  Rule r;
  r.action = RuleAction::kDeny;
  r.protocol = RuleProtocol{1};
  r.icmp = IcmpMatch{8, 0};
  r.not_icmp = IcmpMatch{3, std::nullopt};
  return r;
}

TEST(RoundTrip, NetworkPolicy) {
  NetworkPolicy p{meta("allow-web", "shop"), {}};
  p.spec.order = 100.5;
  p.spec.selector = "app == \"web\"";
  p.spec.types = {PolicyType::kIngress, PolicyType::kEgress};
  Rule log;
  log.action = RuleAction::kLog;
  Rule pass;
  pass.action = RuleAction::kPass;
  pass.protocol = RuleProtocol{47};  // GRE by number
  p.spec.ingress = {log, full_rule(), icmp_rule()};
  p.spec.egress = {pass};
  expect_round_trip(p);
}

TEST(RoundTrip, GlobalNetworkPolicy) {
  GlobalNetworkPolicy p{meta("deny-all"), {}};
  p.spec.order = 1000;
  p.spec.selector = "all()";
  p.spec.namespace_selector = "has(kubernetes.io/metadata.name)";
  p.spec.types = {PolicyType::kEgress};
  Rule r;
  r.action = RuleAction::kDeny;
  r.ip_version = 6;
  r.protocol = RuleProtocol{58};
  r.icmp = IcmpMatch{128, std::nullopt};
  r.destination.nets = {IpPrefix::parse("2001:db8::/32")};
  p.spec.egress = {r};
  expect_round_trip(p);
}

TEST(RoundTrip, NetworkSets) {
  NetworkSet s{meta("partners", "shop"), {}};
  s.spec.nets = {IpPrefix::parse("198.18.10.0/24"), IpPrefix::parse("2001:db8:10::/48"),
                 IpPrefix::parse("198.18.11.1/32")};
  expect_round_trip(s);
  GlobalNetworkSet g{meta("monitoring"), {}};
  g.spec.nets = {IpPrefix::parse("198.18.20.0/24")};
  expect_round_trip(g);
}

TEST(RoundTrip, Profile) {
  Profile p{meta("kns.shop"), {}};
  Rule allow;
  allow.action = RuleAction::kAllow;
  p.spec.ingress = {allow};
  p.spec.egress = {allow, full_rule()};
  p.spec.labels_to_apply = {{"kubernetes.io/metadata.name", "shop"}};
  expect_round_trip(p);
}

TEST(RoundTrip, KubernetesNetworkPolicy) {
  KubernetesNetworkPolicy k{meta("allow-frontend", "shop"), {}};
  k.spec.pod_selector.match_labels = {{"app", "api"}};
  k.spec.pod_selector.match_expressions = {{"tier", "In", {"a", "b"}}};
  k.spec.policy_types = {PolicyType::kIngress, PolicyType::kEgress};
  K8sNetworkPolicyPeer pods;
  pods.pod_selector = LabelSelector{{{"app", "web"}}, {}};
  pods.namespace_selector = LabelSelector{};  // {}: every namespace
  K8sNetworkPolicyPeer block;
  block.ip_block = K8sIPBlock{IpPrefix::parse("198.18.0.0/16"), {IpPrefix::parse("198.18.1.0/24")}};
  K8sNetworkPolicyIngressRule ingress;
  ingress.from = {pods, block};
  ingress.ports = {{PortProtocol::kTCP, IntOrString{80}, 90},
                   {PortProtocol::kUDP, IntOrString{std::string("dns")}, std::nullopt},
                   {PortProtocol::kSCTP, std::nullopt, std::nullopt}};
  k.spec.ingress = {ingress, K8sNetworkPolicyIngressRule{}};  // {} = allow everything
  K8sNetworkPolicyEgressRule egress;
  K8sNetworkPolicyPeer ns_only;
  ns_only.namespace_selector = LabelSelector{{}, {{"kubernetes.io/metadata.name", "Exists", {}}}};
  egress.to = {ns_only};
  k.spec.egress = {egress};
  expect_round_trip(k);

  // The empty peer selector and the empty rule survive as written.
  auto json = to_json(encode(k));
  EXPECT_EQ(json["spec"]["ingress"][0]["from"][0]["namespaceSelector"], nlohmann::json::object());
  EXPECT_EQ(json["spec"]["ingress"][1], nlohmann::json::object());
  EXPECT_FALSE(json["spec"]["ingress"][0]["from"][1].contains("podSelector"));
}

TEST(RoundTrip, BGPConfiguration) {
  BGPConfiguration c{meta("default"), {}};
  c.spec.as_number = 65001;
  c.spec.node_to_node_mesh_enabled = false;
  c.spec.listen_port = 1790;
  c.spec.service_cluster_ips = {{IpPrefix::parse("198.18.128.0/20")}};
  c.spec.service_external_ips = {{IpPrefix::parse("2001:db8:99::/112")}};
  expect_round_trip(c);
  BGPConfiguration node{meta("node.node-a"), {}};
  node.spec.listen_port = 1791;
  expect_round_trip(node);
}

TEST(RoundTrip, BGPPeer) {
  BGPPeer p{meta("tor-a"), {}};
  p.spec.node = "node-a";
  p.spec.peer_ip = PeerAddress::try_parse("198.19.0.254:1790");
  p.spec.as_number = 65100;
  p.spec.password = BGPPassword{SecretKeySelector{"bgp-secrets", "tor-a"}};
  p.spec.keep_original_next_hop = true;
  p.spec.max_restart_time = Duration{seconds(120)};
  expect_round_trip(p);
  BGPPeer rr{meta("to-route-reflectors"), {}};
  rr.spec.node_selector = "!has(route-reflector)";
  rr.spec.peer_selector = "has(route-reflector)";
  expect_round_trip(rr);
  BGPPeer v6{meta("tor-v6"), {}};
  v6.spec.peer_ip = PeerAddress::try_parse("[2001:db8::fe]:179");
  v6.spec.as_number = 65100;
  expect_round_trip(v6);
}

TEST(RoundTrip, AgentConfiguration) {
  AgentConfiguration a{meta("default"), default_agent_configuration()};
  a.spec.log_level = LogLevel::kDebug;
  a.spec.mtu = 1400;
  a.spec.failsafe_inbound_host_ports = std::vector<ProtoPort>{{PortProtocol::kTCP, 22}};
  a.spec.failsafe_outbound_host_ports = std::vector<ProtoPort>{};  // explicitly none
  a.spec.route_refresh_interval = Duration{milliseconds(1500)};
  expect_round_trip(a);
  EXPECT_EQ(to_json(encode(a))["spec"]["failsafeOutboundHostPorts"], nlohmann::json::array());
  AgentConfiguration node{meta("node.node-a"), {}};
  node.spec.mtu = 9000;
  expect_round_trip(node);
}

// ---- defaults ------------------------------------------------------------------------------

Resource only(const std::string& yaml) {
  auto resources = parse_resources_or_throw(yaml, "test.yaml");
  EXPECT_EQ(resources.size(), 1u);
  return resources.at(0);
}

TEST(Defaults, IPPool) {
  auto v4 = decode<IPPoolSpec>(only(R"(
apiVersion: brindle.network/v1
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 198.18.0.0/16}
)"));
  EXPECT_EQ(v4.spec.block_size, 26);
  EXPECT_EQ(v4.spec.ipip_mode, EncapsulationMode::kNever);
  EXPECT_EQ(v4.spec.vxlan_mode, EncapsulationMode::kNever);
  EXPECT_FALSE(v4.spec.nat_outgoing);
  EXPECT_FALSE(v4.spec.disabled);
  EXPECT_EQ(v4.spec.node_selector, "all()");
  EXPECT_EQ(v4.spec.allowed_uses,
            (std::vector<AllowedUse>{AllowedUse::kWorkload, AllowedUse::kTunnel}));
  EXPECT_TRUE(v4.metadata.namespace_.empty());

  auto v6 = decode<IPPoolSpec>(only(R"(
apiVersion: brindle.network/v1
kind: IPPool
metadata: {name: pool-b}
spec: {cidr: "2001:db8::/48", blockSize: 0}
)"));
  EXPECT_EQ(v6.spec.block_size, 122);

  // The defaults are written out explicitly in the canonical document.
  Resource r = only(
      "apiVersion: brindle.network/v1\nkind: IPPool\nmetadata: {name: p}\n"
      "spec: {cidr: 198.18.0.0/16}\n");
  EXPECT_EQ(to_json(r)["spec"],
            nlohmann::json::parse(R"json({"cidr":"198.18.0.0/16","blockSize":26,"ipipMode":"Never",
              "vxlanMode":"Never","natOutgoing":false,"disabled":false,"nodeSelector":"all()",
              "allowedUses":["Workload","Tunnel"]})json"));
}

TEST(Defaults, IPAMConfig) {
  auto c = decode<IPAMConfigSpec>(
      only("apiVersion: brindle.network/v1\nkind: IPAMConfig\nmetadata: {name: default}\n"));
  EXPECT_FALSE(c.spec.strict_affinity);
  EXPECT_TRUE(c.spec.auto_allocate_blocks);
  EXPECT_EQ(c.spec.max_blocks_per_host, 0);
}

TEST(Defaults, IPAMBlockStartsEmpty) {
  auto b = decode<IPAMBlockSpec>(
      only("apiVersion: brindle.network/v1\nkind: IPAMBlock\nmetadata: {name: 198-18-0-64-26}\n"
           "spec: {cidr: 198.18.0.64/26, affinity: 'host:node-a'}\n"));
  ASSERT_EQ(b.spec.allocations.size(), 64u);
  EXPECT_TRUE(std::none_of(b.spec.allocations.begin(), b.spec.allocations.end(),
                           [](const auto& a) { return a.has_value(); }));
  ASSERT_EQ(b.spec.unallocated.size(), 64u);
  for (int32_t i = 0; i < 64; ++i)
    EXPECT_EQ(b.spec.unallocated[static_cast<size_t>(i)], i);
  EXPECT_EQ(block_name(b.spec.cidr), "198-18-0-64-26");
  EXPECT_EQ(block_affinity_name("node-a", b.spec.cidr), "node-a-198-18-0-64-26");
  EXPECT_EQ(block_name(IpPrefix::parse("2001:db8::40/122")), "2001-db8--40-122");
}

TEST(Defaults, WorkloadEndpoint) {
  auto w = decode<WorkloadEndpointSpec>(only(R"(
apiVersion: brindle.network/v1
kind: WorkloadEndpoint
metadata: {name: node-a-k8s-web-eth0}
spec: {node: node-a, pod: web, interfaceName: brn0123456789a, ipNetworks: [198.18.0.9]}
)"));
  EXPECT_EQ(w.metadata.namespace_, "default");
  EXPECT_EQ(w.spec.endpoint, "eth0");
  EXPECT_EQ(w.spec.ip_networks, std::vector<IpPrefix>{IpPrefix::parse("198.18.0.9/32")});
}

TEST(Defaults, PolicyTypesAreInferredFromRules) {
  auto types_of = [](const std::string& spec) {
    return decode<NetworkPolicySpec>(only("apiVersion: brindle.network/v1\nkind: NetworkPolicy\n"
                                          "metadata: {name: p, namespace: shop}\nspec: " +
                                          spec + "\n"))
        .spec;
  };
  auto none = types_of("{}");
  EXPECT_EQ(none.types, std::vector<PolicyType>{PolicyType::kIngress});
  EXPECT_EQ(none.selector, "all()");
  EXPECT_EQ(types_of("{egress: [{action: Allow}]}").types,
            std::vector<PolicyType>{PolicyType::kEgress});
  EXPECT_EQ(types_of("{ingress: [{action: Deny}], egress: [{action: Allow}]}").types,
            (std::vector<PolicyType>{PolicyType::kIngress, PolicyType::kEgress}));
  EXPECT_EQ(types_of("{ingress: [{action: Deny}]}").types,
            std::vector<PolicyType>{PolicyType::kIngress});
}

TEST(Defaults, KubernetesNetworkPolicyAsTheApiServer) {
  auto k = decode<KubernetesNetworkPolicySpec>(only(R"(
apiVersion: brindle.network/v1
kind: KubernetesNetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock: {cidr: 198.18.5.7/16, except: [198.18.9.9/24]}
    - ipBlock: {cidr: "2001:db8::1/32"}
    ports: [{port: 80}]
)"));
  EXPECT_EQ(k.spec.policy_types, std::vector<PolicyType>{PolicyType::kIngress});
  const auto& rule = k.spec.ingress.at(0);
  EXPECT_EQ(rule.ports.at(0).protocol, PortProtocol::kTCP);
  EXPECT_EQ(rule.from.at(0).ip_block->cidr.to_string(), "198.18.0.0/16");  // masked
  EXPECT_EQ(rule.from.at(0).ip_block->except.at(0).to_string(), "198.18.9.0/24");
  EXPECT_EQ(rule.from.at(1).ip_block->cidr.to_string(), "2001:db8::/32");

  auto with_egress = decode<KubernetesNetworkPolicySpec>(only(R"(
apiVersion: brindle.network/v1
kind: KubernetesNetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {matchLabels: {app: db}}, egress: [{}]}
)"));
  EXPECT_EQ(with_egress.spec.policy_types,
            (std::vector<PolicyType>{PolicyType::kIngress, PolicyType::kEgress}));
  // An explicit list is kept as written.
  auto explicit_types = decode<KubernetesNetworkPolicySpec>(only(R"(
apiVersion: brindle.network/v1
kind: KubernetesNetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress], ingress: [{}]}
)"));
  EXPECT_EQ(explicit_types.spec.policy_types, std::vector<PolicyType>{PolicyType::kEgress});
}

TEST(Defaults, BGPConfiguration) {
  auto c = decode<BGPConfigurationSpec>(
      only("apiVersion: brindle.network/v1\nkind: BGPConfiguration\nmetadata: {name: default}\n"));
  EXPECT_EQ(c.spec.as_number, 64512u);
  EXPECT_EQ(c.spec.node_to_node_mesh_enabled, true);
  EXPECT_EQ(c.spec.listen_port, 179);
  // Per-node documents inherit: nothing is filled in.
  auto node = decode<BGPConfigurationSpec>(only(
      "apiVersion: brindle.network/v1\nkind: BGPConfiguration\nmetadata: {name: node.node-a}\n"));
  EXPECT_FALSE(node.spec.as_number.has_value());
  EXPECT_FALSE(node.spec.node_to_node_mesh_enabled.has_value());
  EXPECT_FALSE(node.spec.listen_port.has_value());
}

TEST(Defaults, AgentConfigurationAndResolvedSettings) {
  auto global = decode<AgentConfigurationSpec>(
      only("apiVersion: brindle.network/v1\nkind: AgentConfiguration\nmetadata: {name: default}\n"
           "spec: {logLevel: warn}\n"));
  EXPECT_EQ(global.spec.log_level, LogLevel::kWarn);
  EXPECT_EQ(global.spec.mtu, 0);
  ASSERT_TRUE(global.spec.failsafe_inbound_host_ports.has_value());
  EXPECT_EQ(global.spec.failsafe_inbound_host_ports->size(), 9u);
  EXPECT_EQ(global.spec.failsafe_inbound_host_ports->front(), (ProtoPort{PortProtocol::kTCP, 22}));
  EXPECT_EQ(global.spec.failsafe_outbound_host_ports->front(), (ProtoPort{PortProtocol::kUDP, 53}));
  EXPECT_EQ(global.spec.route_refresh_interval, Duration{seconds(90)});
  EXPECT_EQ(global.spec.reporting_interval, Duration{seconds(30)});

  auto node = decode<AgentConfigurationSpec>(only(
      "apiVersion: brindle.network/v1\nkind: AgentConfiguration\nmetadata: {name: node.node-a}\n"
      "spec: {mtu: 1450, failsafeInboundHostPorts: []}\n"));
  EXPECT_FALSE(node.spec.log_level.has_value());

  AgentSettings builtin = resolve_agent_settings(nullptr, nullptr);
  EXPECT_EQ(builtin.log_level, LogLevel::kInfo);
  EXPECT_EQ(builtin.mtu, 0);
  EXPECT_EQ(builtin.failsafe_outbound_host_ports.size(), 9u);

  AgentSettings resolved = resolve_agent_settings(&global.spec, &node.spec);
  EXPECT_EQ(resolved.log_level, LogLevel::kWarn);  // from the global document
  EXPECT_EQ(resolved.mtu, 1450);                   // from the node's
  EXPECT_TRUE(resolved.failsafe_inbound_host_ports.empty());
  EXPECT_EQ(resolved.failsafe_outbound_host_ports.size(), 9u);
  EXPECT_EQ(resolve_agent_settings(nullptr, &node.spec).log_level, LogLevel::kInfo);
}

// ---- value types ---------------------------------------------------------------------------

TEST(Duration, ParsesAndPrints) {
  struct Case {
    const char* text;
    int64_t ms;
    const char* canonical;
  };
  for (const auto& c :
       {Case{"90s", 90000, "1m30s"}, Case{"1m30s", 90000, "1m30s"}, Case{"500ms", 500, "500ms"},
        Case{"2h", 7200000, "2h"}, Case{"1.5s", 1500, "1s500ms"}, Case{"0", 0, "0s"},
        Case{"0s", 0, "0s"}, Case{"1h0m1s", 3601000, "1h1s"}}) {
    auto d = Duration::try_parse(c.text);
    ASSERT_TRUE(d.has_value()) << c.text;
    EXPECT_EQ(d->value.count(), c.ms) << c.text;
    EXPECT_EQ(d->to_string(), c.canonical) << c.text;
  }
  for (const char* bad : {"", "s", "10", "10x", "-5s", "1.s", ".5s", "1..5s", "5 s", "99999999h"}) {
    EXPECT_FALSE(Duration::try_parse(bad).has_value()) << bad;
  }
}

TEST(PeerAddress, ParsesAndPrints) {
  for (const char* text : {"198.19.0.1", "198.19.0.1:1790", "2001:db8::1", "[2001:db8::1]:179"}) {
    auto p = PeerAddress::try_parse(text);
    ASSERT_TRUE(p.has_value()) << text;
    EXPECT_EQ(p->to_string(), text);
  }
  EXPECT_EQ(PeerAddress::try_parse("198.19.0.1:1790")->port, 1790);
  for (const char* bad : {"", "198.19.0.1:", "198.19.0.1:0", "198.19.0.1:70000", "[198.19.0.1]:1",
                          "[2001:db8::1]", "[2001:db8::1]:x", "host:179"}) {
    EXPECT_FALSE(PeerAddress::try_parse(bad).has_value()) << bad;
  }
}

// ---- registry and tables -------------------------------------------------------------------

TEST(Registry, ListsEveryKind) {
  const std::vector<std::pair<std::string_view, bool>> expected = {
      {"IPPool", false},
      {"IPAMConfig", false},
      {"IPAMBlock", false},
      {"BlockAffinity", false},
      {"IPAMHandle", false},
      {"Node", false},
      {"WorkloadEndpoint", true},
      {"NetworkPolicy", true},
      {"GlobalNetworkPolicy", false},
      {"NetworkSet", true},
      {"GlobalNetworkSet", false},
      {"Profile", false},
      {"KubernetesNetworkPolicy", true},
      {"BGPConfiguration", false},
      {"BGPPeer", false},
      {"AgentConfiguration", false}};
  ASSERT_EQ(all_kinds().size(), expected.size());
  for (const auto& [name, namespaced] : expected) {
    const KindInfo* k = find_kind(name);
    ASSERT_NE(k, nullptr) << name;
    EXPECT_EQ(k->kind, name);
    EXPECT_EQ(k->namespaced, namespaced) << name;
    ASSERT_FALSE(k->columns.empty());
    EXPECT_EQ(k->columns[0].header, "NAME") << name;
  }
}

TEST(Registry, FindsKindsByAlias) {
  EXPECT_EQ(find_kind("ippools")->kind, "IPPool");
  EXPECT_EQ(find_kind("IPPOOL")->kind, "IPPool");
  EXPECT_EQ(find_kind("gnp")->kind, "GlobalNetworkPolicy");
  EXPECT_EQ(find_kind("networkpolicies")->kind, "NetworkPolicy");
  EXPECT_EQ(find_kind("knp")->kind, "KubernetesNetworkPolicy");
  EXPECT_EQ(find_kind("wep")->kind, "WorkloadEndpoint");
  EXPECT_EQ(find_kind("bgpconfig")->kind, "BGPConfiguration");
  EXPECT_EQ(find_kind("nodes")->kind, "Node");
  EXPECT_EQ(find_kind("nonsense"), nullptr);
  // Aliases are unique across kinds.
  std::set<std::string> seen;
  for (const auto& k : all_kinds()) {
    for (auto alias : k.aliases)
      EXPECT_TRUE(seen.insert(std::string(alias)).second) << alias;
  }
}

TEST(Registry, RendersTablesLikeCalicoctl) {
  auto resources = parse_resources_or_throw(R"(
apiVersion: brindle.network/v1
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 198.18.0.0/16, natOutgoing: true}
---
apiVersion: brindle.network/v1
kind: IPPool
metadata: {name: v6}
spec: {cidr: "2001:db8::/48", nodeSelector: "zone == 'a'"}
)",
                                            "pools.yaml");
  const KindInfo& pool = *find_kind("IPPool");
  EXPECT_EQ(render_table(pool, resources, false, false),
            "NAME     CIDR            SELECTOR\n"
            "pool-a   198.18.0.0/16   all()\n"
            "v6       2001:db8::/48   zone == 'a'\n");
  EXPECT_EQ(render_table(pool, resources, true, true),  // IPPool is not namespaced
            "NAME     CIDR            NAT     IPIPMODE   VXLANMODE   DISABLED   BLOCKSIZE   "
            "SELECTOR\n"
            "pool-a   198.18.0.0/16   true    Never      Never       false      26          "
            "all()\n"
            "v6       2001:db8::/48   false   Never      Never       false      122         "
            "zone == 'a'\n");
}

TEST(Registry, TableOfNamespacedKindsAndInvalidSpecs) {
  auto policies = parse_resources_or_throw(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: db}
    matchExpressions: [{key: tier, operator: NotIn, values: [a, b]}]
)",
                                           "np.yaml");
  const KindInfo& knp = *find_kind("KubernetesNetworkPolicy");
  auto gnp = parse_resources_or_throw(
      "apiVersion: brindle.network/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\n"
      "spec: {order: 100, selector: has(x)}\n---\n"
      "apiVersion: brindle.network/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: b}\n"
      "spec: {order: 2.5}\n---\n"
      "apiVersion: brindle.network/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: c}\n",
      "gnp.yaml");
  EXPECT_EQ(render_table(*find_kind("gnp"), gnp, false, true),
            "NAME   ORDER   SELECTOR\n"
            "a      100     has(x)\n"
            "b      2.5     all()\n"
            "c      -       all()\n");
  EXPECT_EQ(to_json(gnp[0])["spec"]["order"].dump(), "100");
  EXPECT_EQ(render_table(knp, policies, false, true),
            "NAMESPACE   NAME   POD-SELECTOR\n"
            "shop        db     app=db,tier notin (a,b)\n");
  Resource broken;
  broken.kind = "KubernetesNetworkPolicy";
  broken.metadata.name = "broken";
  broken.spec = {{"podSelector", 5}};
  EXPECT_EQ(knp.row(broken), (std::vector<std::string>{"broken", "<invalid>", "<invalid>"}));
}

}  // namespace
}  // namespace brindle::model
