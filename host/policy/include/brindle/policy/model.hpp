// The compiled per-node policy model: owned C++ mirrors of the structs in brindle/policy.h (IP
// sets, policies and profiles with their rules, endpoints, globals) and the ordered change
// operations that move a policy plugin from one model to the next. c_abi.hpp turns them into the
// C structs; trace.hpp evaluates packets against a model exactly as the dataplane does.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "brindle/model/ip.hpp"
#include "brindle/model/kinds.hpp"

namespace brindle::policy {

// IPPROTO_* numbers used by the engine.
inline constexpr uint8_t kProtoICMP = 1;
inline constexpr uint8_t kProtoTCP = 6;
inline constexpr uint8_t kProtoUDP = 17;
inline constexpr uint8_t kProtoICMPv6 = 58;
inline constexpr uint8_t kProtoSCTP = 132;
inline constexpr uint8_t kProtoUDPLite = 136;

// True for the protocols that have ports (TCP, UDP, SCTP, UDPLite).
bool protocol_has_ports(uint8_t protocol);
// "tcp", "udp", "icmp", ... or the number.
std::string protocol_name(uint8_t protocol);

enum class IpSetType : uint8_t {
  kNet = 1,     // addresses and CIDRs
  kNetPort = 2  // address + protocol + port (named ports)
};

struct IpSetMember {
  model::IpPrefix net;
  uint8_t protocol = 0;  // kNetPort sets only
  uint16_t port = 0;     // kNetPort sets only
  friend bool operator==(const IpSetMember&, const IpSetMember&) = default;
  friend std::strong_ordering operator<=>(const IpSetMember&, const IpSetMember&) = default;
};
std::string to_string(const IpSetMember& member);  // "198.18.0.1/32" or "198.18.0.1/32,tcp:80"

struct IpSet {
  std::string id;  // stable, short, [A-Za-z0-9_-]
  IpSetType type = IpSetType::kNet;
  model::IpFamily family = model::IpFamily::kV4;
  std::vector<IpSetMember> members;  // sorted, unique
  bool operator==(const IpSet&) const = default;

  // kNet: the address lies in a member; kNetPort: in a member with that protocol and port.
  bool contains(const model::IpAddress& address, uint8_t protocol = 0, uint16_t port = 0) const;
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;  // inclusive
  bool contains(uint16_t port) const { return port >= first && port <= last; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
  friend std::strong_ordering operator<=>(const PortRange&, const PortRange&) = default;
};

// One side (source or destination) of a rule; every present criterion must hold (see policy.h).
struct RuleMatch {
  std::vector<model::IpPrefix> nets;           // address in any of them
  std::vector<model::IpPrefix> not_nets;       // address in none of them
  std::vector<std::string> ipsets;             // address in every one of them
  std::vector<std::string> not_ipsets;         // address in none of them
  std::vector<PortRange> ports;                // port in any of them, or ...
  std::vector<PortRange> not_ports;            // port in none of them
  std::vector<std::string> named_port_ipsets;  // ... (address, protocol, port) in any of them
  bool empty() const;
  bool operator==(const RuleMatch&) const = default;
};

enum class Action : uint8_t { kAllow = 1, kDeny = 2, kPass = 3, kLog = 4 };
std::string_view to_string(Action action);

struct Rule {
  std::string id;  // stable hash of the rule's content (and its position among equal rules)
  Action action = Action::kAllow;
  uint8_t ip_version = 0;                // 0: both, 4, 6
  uint8_t protocol = 0;                  // 0: any
  uint8_t not_protocol = 0;              // 0: none
  int16_t icmp_type = -1;                // -1: any
  int16_t icmp_code = -1;                // -1: any
  std::optional<RuleMatch> source;       // absent: any
  std::optional<RuleMatch> destination;  // absent: any
  std::string log_prefix;                // kLog only
  bool operator==(const Rule&) const = default;
};
// One line, e.g. "allow v4 tcp src{ipsets=[s4n-…]} dst{ports=[80]}"; the rule id is not included.
std::string describe(const Rule& rule);

enum class PolicyKind : uint8_t { kPolicy = 1, kProfile = 2 };
std::string_view to_string(PolicyKind kind);

struct PolicyKey {
  PolicyKind kind = PolicyKind::kPolicy;
  std::string id;
  friend bool operator==(const PolicyKey&, const PolicyKey&) = default;
  friend std::strong_ordering operator<=>(const PolicyKey&, const PolicyKey&) = default;
};

struct Policy {
  std::string id;  // stable, short, [A-Za-z0-9_.-]: knp.<ns>.<name>, np.<ns>.<name>, gnp.<name>,
                   // or the profile's name
  PolicyKind kind = PolicyKind::kPolicy;
  std::vector<Rule> ingress;
  std::vector<Rule> egress;
  bool operator==(const Policy&) const = default;
  PolicyKey key() const { return {kind, id}; }
};

struct Endpoint {
  std::string id;              // "<namespace>/<name>" of the WorkloadEndpoint
  std::string interface_name;  // host-side interface
  std::vector<model::IpPrefix> addresses;
  std::optional<model::MacAddress> mac;
  std::vector<std::string> ingress_policies;  // ordered policy ids
  std::vector<std::string> egress_policies;
  std::vector<std::string> profiles;  // ordered profile ids, both directions
  bool operator==(const Endpoint&) const = default;
};

struct ProtoPort {
  uint8_t protocol = kProtoTCP;
  uint16_t port = 0;
  friend bool operator==(const ProtoPort&, const ProtoPort&) = default;
  friend std::strong_ordering operator<=>(const ProtoPort&, const ProtoPort&) = default;
};

struct Globals {
  std::string interface_prefix = "brn";
  std::vector<model::IpPrefix> all_pools;
  std::vector<model::IpPrefix> nat_outgoing_pools;
  std::vector<ProtoPort> failsafe_inbound;
  std::vector<ProtoPort> failsafe_outbound;
  std::vector<model::IpPrefix> node_addresses;  // traffic from these to local pods is allowed
  bool operator==(const Globals&) const = default;
};

// The whole model as a plugin holds it.
struct Model {
  Globals globals;
  std::map<std::string, IpSet> ipsets;
  std::map<PolicyKey, Policy> policies;  // policies and profiles
  std::map<std::string, Endpoint> endpoints;
  bool operator==(const Model&) const = default;
};

// ---- Changes: what the plugin must do, in the order it must do it ----------------------------

struct SetGlobals {
  Globals globals;
  bool operator==(const SetGlobals&) const = default;
};
struct UpsertIpSet {  // replaces the set's membership, creating it if new
  IpSet set;
  bool operator==(const UpsertIpSet&) const = default;
};
struct UpdateIpSetMembers {  // changes an existing set
  std::string id;
  std::vector<IpSetMember> added;    // sorted
  std::vector<IpSetMember> removed;  // sorted
  bool operator==(const UpdateIpSetMembers&) const = default;
};
struct UpsertPolicy {
  Policy policy;
  bool operator==(const UpsertPolicy&) const = default;
};
struct UpsertEndpoint {
  Endpoint endpoint;
  bool operator==(const UpsertEndpoint&) const = default;
};
struct RemoveEndpoint {
  std::string id;
  bool operator==(const RemoveEndpoint&) const = default;
};
struct RemovePolicy {
  PolicyKind kind = PolicyKind::kPolicy;
  std::string id;
  bool operator==(const RemovePolicy&) const = default;
};
struct RemoveIpSet {
  std::string id;
  bool operator==(const RemoveIpSet&) const = default;
};

// PolicyEngine::take_changes() orders them: globals, set upserts and member updates, policy
// upserts, endpoint upserts, then endpoint, policy and set removals.
using Change = std::variant<SetGlobals, UpsertIpSet, UpdateIpSetMembers, UpsertPolicy,
                            UpsertEndpoint, RemoveEndpoint, RemovePolicy, RemoveIpSet>;

// One line for logs: "upsert-ipset s4n-0123456789abcdef (3 members)".
std::string describe(const Change& change);

// Applies a change to a model as a plugin would. Throws std::invalid_argument when the change
// refers to something the model lacks (a member update of an unknown set, a removal of an
// unknown object, an endpoint or policy using a set or policy not present).
void apply_change(Model& model, const Change& change);

}  // namespace brindle::policy
