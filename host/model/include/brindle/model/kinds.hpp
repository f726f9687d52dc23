// The typed form of every resource kind. Field names in comments are the JSON/YAML names;
// docs/resources.md is the user-facing reference with defaults and validation rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/model/ip.hpp"
#include "brindle/model/resource.hpp"
#include "brindle/model/selector.hpp"

namespace brindle::model {

// ---- Shared value types --------------------------------------------------------------------

// A Go-style duration: "90s", "1m30s", "500ms", "2h". Printed in the same form, largest unit first.
struct Duration {
  std::chrono::milliseconds value{0};
  static std::optional<Duration> try_parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const Duration&) const = default;
};

// TCP, UDP or SCTP: the protocols of ports (named ports, failsafe ports, Kubernetes policy ports).
enum class PortProtocol { kTCP, kUDP, kSCTP };
std::string_view to_string(PortProtocol protocol);
uint8_t ip_protocol_number(PortProtocol protocol);  // IPPROTO_*

// A Kubernetes IntOrString (a port number or a port name).
using IntOrString = std::variant<int32_t, std::string>;

enum class PolicyType { kIngress, kEgress };
std::string_view to_string(PolicyType type);

// ---- IPAM ----------------------------------------------------------------------------------

enum class EncapsulationMode { kNever, kAlways, kCrossSubnet };
enum class AllowedUse { kWorkload, kTunnel };
std::string_view to_string(EncapsulationMode mode);
std::string_view to_string(AllowedUse use);

struct IPPoolSpec {
  static constexpr std::string_view kKind = "IPPool";
  static constexpr bool kNamespaced = false;

  IpPrefix cidr;                                             // cidr (required, no host bits)
  int32_t block_size = 0;                                    // blockSize; 0 = default (26 / 122)
  EncapsulationMode ipip_mode = EncapsulationMode::kNever;   // ipipMode
  EncapsulationMode vxlan_mode = EncapsulationMode::kNever;  // vxlanMode
  bool nat_outgoing = false;                                 // natOutgoing
  bool disabled = false;                                     // disabled
  std::string node_selector;                                 // nodeSelector; default "all()"
  std::vector<AllowedUse> allowed_uses;  // allowedUses; default [Workload, Tunnel]
  bool operator==(const IPPoolSpec&) const = default;
};

struct IPAMConfigSpec {
  static constexpr std::string_view kKind = "IPAMConfig";
  static constexpr bool kNamespaced = false;

  bool strict_affinity = false;      // strictAffinity
  bool auto_allocate_blocks = true;  // autoAllocateBlocks
  int32_t max_blocks_per_host = 0;   // maxBlocksPerHost; 0 = unlimited
  bool operator==(const IPAMConfigSpec&) const = default;
};

struct AllocationAttribute {
  std::string handle_id;                         // handleID
  std::map<std::string, std::string> secondary;  // secondary: owner details (namespace, pod, node)
  bool operator==(const AllocationAttribute&) const = default;
};

struct IPAMBlockSpec {
  static constexpr std::string_view kKind = "IPAMBlock";
  static constexpr bool kNamespaced = false;

  IpPrefix cidr;         // cidr (required)
  std::string affinity;  // affinity: "host:<node>" or empty
  // allocations: one slot per address; null = free, else an index into attributes.
  std::vector<std::optional<int32_t>> allocations;
  std::vector<int32_t> unallocated;             // unallocated: free ordinals, reused oldest first
  std::vector<AllocationAttribute> attributes;  // attributes
  bool deleted = false;                         // deleted
  bool operator==(const IPAMBlockSpec&) const = default;
};

enum class AffinityState { kPending, kConfirmed, kPendingDeletion };
std::string_view to_string(AffinityState state);

struct BlockAffinitySpec {
  static constexpr std::string_view kKind = "BlockAffinity";
  static constexpr bool kNamespaced = false;

  AffinityState state = AffinityState::kPending;  // state (required)
  std::string node;                               // node (required)
  IpPrefix cidr;                                  // cidr (required)
  bool deleted = false;                           // deleted
  bool operator==(const BlockAffinitySpec&) const = default;
};

struct IPAMHandleSpec {
  static constexpr std::string_view kKind = "IPAMHandle";
  static constexpr bool kNamespaced = false;

  std::string handle_id;                 // handleID (required)
  std::map<std::string, int32_t> block;  // block: block CIDR -> number of addresses held
  bool deleted = false;                  // deleted
  bool operator==(const IPAMHandleSpec&) const = default;
};

// ---- Nodes and endpoints -------------------------------------------------------------------

struct NodeBGPSpec {
  std::optional<uint32_t> as_number;                    // asNumber; absent = the global AS
  std::optional<IpAddress> route_reflector_cluster_id;  // routeReflectorClusterID (IPv4 form)
  bool operator==(const NodeBGPSpec&) const = default;
};

struct NodeSpec {
  static constexpr std::string_view kKind = "Node";
  static constexpr bool kNamespaced = false;

  std::optional<IpPrefix> ipv4_address;           // ipv4Address: interface address, "198.19.0.1/24"
  std::optional<IpPrefix> ipv6_address;           // ipv6Address
  std::optional<NodeBGPSpec> bgp;                 // bgp
  std::optional<IpAddress> ipip_tunnel_address;   // ipipTunnelAddress (IPv4)
  std::optional<IpAddress> vxlan_tunnel_address;  // vxlanTunnelAddress (IPv4)
  std::optional<IpAddress> vxlan_tunnel_address_v6;  // vxlanTunnelAddressV6
  std::optional<MacAddress> vxlan_tunnel_mac;        // vxlanTunnelMAC
  std::optional<MacAddress> vxlan_tunnel_mac_v6;     // vxlanTunnelMACV6
  bool operator==(const NodeSpec&) const = default;
};

struct NamedPort {
  std::string name;                            // name (required, IANA service name)
  PortProtocol protocol = PortProtocol::kTCP;  // protocol
  uint16_t port = 0;                           // port (required)
  bool operator==(const NamedPort&) const = default;
};

struct WorkloadEndpointSpec {
  static constexpr std::string_view kKind = "WorkloadEndpoint";
  static constexpr bool kNamespaced = true;

  std::string node;                   // node (required)
  std::string orchestrator;           // orchestrator, e.g. "k8s"
  std::string pod;                    // pod (required)
  std::string container_id;           // containerID
  std::string endpoint = "eth0";      // endpoint: interface name inside the pod
  std::string interface_name;         // interfaceName (required): host-side interface
  std::optional<MacAddress> mac;      // mac
  std::vector<IpPrefix> ip_networks;  // ipNetworks: /32 and /128 entries
  std::vector<std::string> profiles;  // profiles
  std::vector<NamedPort> ports;       // ports: named container ports
  std::string service_account_name;   // serviceAccountName
  bool operator==(const WorkloadEndpointSpec&) const = default;
};

// ---- Policy --------------------------------------------------------------------------------

enum class RuleAction { kAllow, kDeny, kPass, kLog };
std::string_view to_string(RuleAction action);

// A rule's protocol: a name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or a number 1-255.
struct RuleProtocol {
  uint8_t number = 0;      // IPPROTO_*
  bool has_ports() const;  // TCP, UDP, SCTP, UDPLite
  bool operator==(const RuleProtocol&) const = default;
};

// One entry of a rule's ports: a number (80), an inclusive range ("1000:2000") or a named port.
struct RulePort {
  uint16_t first = 0;
  uint16_t last = 0;
  std::string name;  // non-empty for a named port (first/last unused)
  bool is_named() const { return !name.empty(); }
  bool operator==(const RulePort&) const = default;
};

struct IcmpMatch {
  std::optional<int32_t> type;  // type 0-254
  std::optional<int32_t> code;  // code 0-255, needs type
  bool operator==(const IcmpMatch&) const = default;
};

struct EntityRule {
  std::vector<IpPrefix> nets;       // nets
  std::vector<IpPrefix> not_nets;   // notNets
  std::string selector;             // selector: endpoints and network sets with these labels
  std::string not_selector;         // notSelector
  std::string namespace_selector;   // namespaceSelector: namespaces with these labels
  std::vector<RulePort> ports;      // ports
  std::vector<RulePort> not_ports;  // notPorts
  bool operator==(const EntityRule&) const = default;
};

struct Rule {
  RuleAction action = RuleAction::kAllow;    // action (required)
  std::optional<int32_t> ip_version;         // ipVersion: 4 or 6
  std::optional<RuleProtocol> protocol;      // protocol
  std::optional<RuleProtocol> not_protocol;  // notProtocol
  std::optional<IcmpMatch> icmp;             // icmp
  std::optional<IcmpMatch> not_icmp;         // notICMP
  EntityRule source;                         // source
  EntityRule destination;                    // destination
  bool operator==(const Rule&) const = default;
};

struct NetworkPolicySpec {
  static constexpr std::string_view kKind = "NetworkPolicy";
  static constexpr bool kNamespaced = true;

  std::optional<double> order;    // order: lower first; absent = after all ordered policies
  std::string selector;           // selector; default "all()"
  std::vector<PolicyType> types;  // types; default inferred from the rules
  std::vector<Rule> ingress;      // ingress
  std::vector<Rule> egress;       // egress
  bool operator==(const NetworkPolicySpec&) const = default;
};

struct GlobalNetworkPolicySpec {
  static constexpr std::string_view kKind = "GlobalNetworkPolicy";
  static constexpr bool kNamespaced = false;

  std::optional<double> order;
  std::string selector;            // default "all()"
  std::string namespace_selector;  // namespaceSelector: endpoints in namespaces with these labels
  std::vector<PolicyType> types;
  std::vector<Rule> ingress;
  std::vector<Rule> egress;
  bool operator==(const GlobalNetworkPolicySpec&) const = default;
};

struct NetworkSetSpec {
  static constexpr std::string_view kKind = "NetworkSet";
  static constexpr bool kNamespaced = true;
  std::vector<IpPrefix> nets;  // nets
  bool operator==(const NetworkSetSpec&) const = default;
};

struct GlobalNetworkSetSpec {
  static constexpr std::string_view kKind = "GlobalNetworkSet";
  static constexpr bool kNamespaced = false;
  std::vector<IpPrefix> nets;  // nets
  bool operator==(const GlobalNetworkSetSpec&) const = default;
};

struct ProfileSpec {
  static constexpr std::string_view kKind = "Profile";
  static constexpr bool kNamespaced = false;
  std::vector<Rule> ingress;                           // ingress
  std::vector<Rule> egress;                            // egress
  std::map<std::string, std::string> labels_to_apply;  // labelsToApply: added to endpoints
  bool operator==(const ProfileSpec&) const = default;
};

// ---- Kubernetes NetworkPolicy (networking.k8s.io/v1 spec, field for field) ------------------

struct K8sNetworkPolicyPort {
  PortProtocol protocol = PortProtocol::kTCP;  // protocol; default TCP
  std::optional<IntOrString> port;             // port: number or container port name
  std::optional<int32_t> end_port;             // endPort
  bool operator==(const K8sNetworkPolicyPort&) const = default;
};

struct K8sIPBlock {
  IpPrefix cidr;                 // cidr (required; host bits are masked)
  std::vector<IpPrefix> except;  // except
  bool operator==(const K8sIPBlock&) const = default;
};

struct K8sNetworkPolicyPeer {
  std::optional<LabelSelector> pod_selector;        // podSelector
  std::optional<LabelSelector> namespace_selector;  // namespaceSelector
  std::optional<K8sIPBlock> ip_block;               // ipBlock
  bool operator==(const K8sNetworkPolicyPeer&) const = default;
};

struct K8sNetworkPolicyIngressRule {
  std::vector<K8sNetworkPolicyPeer> from;   // from
  std::vector<K8sNetworkPolicyPort> ports;  // ports
  bool operator==(const K8sNetworkPolicyIngressRule&) const = default;
};

struct K8sNetworkPolicyEgressRule {
  std::vector<K8sNetworkPolicyPeer> to;     // to
  std::vector<K8sNetworkPolicyPort> ports;  // ports
  bool operator==(const K8sNetworkPolicyEgressRule&) const = default;
};

struct KubernetesNetworkPolicySpec {
  static constexpr std::string_view kKind = "KubernetesNetworkPolicy";
  static constexpr bool kNamespaced = true;

  LabelSelector pod_selector;                        // podSelector (required; {} = all pods)
  std::vector<PolicyType> policy_types;              // policyTypes; defaulted as upstream
  std::vector<K8sNetworkPolicyIngressRule> ingress;  // ingress
  std::vector<K8sNetworkPolicyEgressRule> egress;    // egress
  bool operator==(const KubernetesNetworkPolicySpec&) const = default;
};

// ---- BGP -----------------------------------------------------------------------------------

struct ServiceCidr {
  IpPrefix cidr;  // cidr
  bool operator==(const ServiceCidr&) const = default;
};

// Name "default" holds the cluster-wide settings; "node.<node>" overrides listenPort per node.
struct BGPConfigurationSpec {
  static constexpr std::string_view kKind = "BGPConfiguration";
  static constexpr bool kNamespaced = false;

  std::optional<uint32_t> as_number;              // asNumber; default 64512 ("default" only)
  std::optional<bool> node_to_node_mesh_enabled;  // nodeToNodeMeshEnabled; default true
  std::optional<uint16_t> listen_port;            // listenPort; default 179
  std::vector<ServiceCidr> service_cluster_ips;   // serviceClusterIPs
  std::vector<ServiceCidr> service_external_ips;  // serviceExternalIPs
  bool operator==(const BGPConfigurationSpec&) const = default;
};

// The address of a BGP peer, with an optional port: "198.19.0.10", "198.19.0.10:1790",
// "2001:db8::10", "[2001:db8::10]:1790".
struct PeerAddress {
  IpAddress ip;
  std::optional<uint16_t> port;
  static std::optional<PeerAddress> try_parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const PeerAddress&) const = default;
};

struct SecretKeySelector {
  std::string name;  // name: the Secret
  std::string key;   // key within the Secret
  bool operator==(const SecretKeySelector&) const = default;
};

struct BGPPassword {
  std::optional<SecretKeySelector> secret_key_ref;  // secretKeyRef
  bool operator==(const BGPPassword&) const = default;
};

struct BGPPeerSpec {
  static constexpr std::string_view kKind = "BGPPeer";
  static constexpr bool kNamespaced = false;

  std::string node;                          // node: only this node peers (empty = every node)
  std::string node_selector;                 // nodeSelector: nodes that peer
  std::optional<PeerAddress> peer_ip;        // peerIP
  std::string peer_selector;                 // peerSelector: peer with the nodes it selects
  std::optional<uint32_t> as_number;         // asNumber: required with peerIP
  std::optional<BGPPassword> password;       // password
  bool keep_original_next_hop = false;       // keepOriginalNextHop
  std::optional<Duration> max_restart_time;  // maxRestartTime: graceful restart window
  bool operator==(const BGPPeerSpec&) const = default;
};

// ---- Agent ---------------------------------------------------------------------------------

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
std::string_view to_string(LogLevel level);

struct ProtoPort {
  PortProtocol protocol = PortProtocol::kTCP;  // protocol
  uint16_t port = 0;                           // port (required)
  bool operator==(const ProtoPort&) const = default;
};

// Name "default" holds cluster-wide settings (defaults are filled in); "node.<node>" overrides
// them for one node (absent fields inherit).
struct AgentConfigurationSpec {
  static constexpr std::string_view kKind = "AgentConfiguration";
  static constexpr bool kNamespaced = false;

  std::optional<LogLevel> log_level;                                   // logLevel
  std::optional<int32_t> mtu;                                          // mtu; 0 = detect
  std::optional<std::vector<ProtoPort>> failsafe_inbound_host_ports;   // failsafeInboundHostPorts
  std::optional<std::vector<ProtoPort>> failsafe_outbound_host_ports;  // failsafeOutboundHostPorts
  std::optional<Duration> route_refresh_interval;                      // routeRefreshInterval
  std::optional<Duration> dataplane_refresh_interval;                  // dataplaneRefreshInterval
  std::optional<Duration> ipsets_refresh_interval;                     // ipsetsRefreshInterval
  std::optional<Duration> reporting_interval;                          // reportingInterval
  bool operator==(const AgentConfigurationSpec&) const = default;
};

// The effective agent settings for one node: built-in defaults, overridden by the "default"
// AgentConfiguration, overridden by the node's own.
struct AgentSettings {
  LogLevel log_level = LogLevel::kInfo;
  int32_t mtu = 0;
  std::vector<ProtoPort> failsafe_inbound_host_ports;
  std::vector<ProtoPort> failsafe_outbound_host_ports;
  Duration route_refresh_interval;
  Duration dataplane_refresh_interval;
  Duration ipsets_refresh_interval;
  Duration reporting_interval;
  bool operator==(const AgentSettings&) const = default;
};
AgentConfigurationSpec default_agent_configuration();
AgentSettings resolve_agent_settings(const AgentConfigurationSpec* global,
                                     const AgentConfigurationSpec* node);

// ---- Typed documents -----------------------------------------------------------------------

template <typename Spec>
struct Typed {
  ObjectMeta metadata;
  Spec spec;
  bool operator==(const Typed&) const = default;
};

using IPPool = Typed<IPPoolSpec>;
using IPAMConfig = Typed<IPAMConfigSpec>;
using IPAMBlock = Typed<IPAMBlockSpec>;
using BlockAffinity = Typed<BlockAffinitySpec>;
using IPAMHandle = Typed<IPAMHandleSpec>;
using Node = Typed<NodeSpec>;
using WorkloadEndpoint = Typed<WorkloadEndpointSpec>;
using NetworkPolicy = Typed<NetworkPolicySpec>;
using GlobalNetworkPolicy = Typed<GlobalNetworkPolicySpec>;
using NetworkSet = Typed<NetworkSetSpec>;
using GlobalNetworkSet = Typed<GlobalNetworkSetSpec>;
using Profile = Typed<ProfileSpec>;
using KubernetesNetworkPolicy = Typed<KubernetesNetworkPolicySpec>;
using BGPConfiguration = Typed<BGPConfigurationSpec>;
using BGPPeer = Typed<BGPPeerSpec>;
using AgentConfiguration = Typed<AgentConfigurationSpec>;

// The functions below exist for exactly the Spec types above.

// Decodes the spec strictly (unknown fields are errors) without defaults or checks.
// Throws ValidationError with paths under `path`.
template <typename Spec>
Spec spec_from_json(const nlohmann::json& spec, const std::string& path = "spec");
// Every set field; optional fields only when present, empty lists omitted.
template <typename Spec>
nlohmann::json spec_to_json(const Spec& spec);

// Fills defaults into the spec, then checks metadata and spec. Throws ValidationError.
template <typename Spec>
void validate_and_default(Typed<Spec>& typed);

// Resource -> typed: checks kind, decodes, fills defaults and validates. Throws ValidationError.
template <typename Spec>
Typed<Spec> decode(const Resource& resource);
// Typed -> resource (no validation).
template <typename Spec>
Resource encode(const Typed<Spec>& typed);

// The text of to_json_text(encode(block)), byte for byte, written directly: a block is written on
// every pod ADD and DEL, and the generic encoding of a full /26 block (~7 KB) takes ~80 us here.
std::string block_json_text(const IPAMBlock& block);

// The conventional names: IPAMBlock "198-18-0-0-26", BlockAffinity "<node>-198-18-0-0-26".
std::string block_name(const IpPrefix& block);
std::string block_affinity_name(std::string_view node, const IpPrefix& block);

}  // namespace brindle::model
