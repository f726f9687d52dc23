// The reference evaluator: walks a compiled Model exactly as the dataplane does (policy.h), so that
// `brindlectl policy trace` and the conformance tests judge the very model a plugin receives.
//
// Per endpoint and direction: replies of established connections are accepted first (the plugin
// keeps conntrack; Packet::established models a reply); on ingress, traffic from this node's
// addresses (Globals::node_addresses) is accepted; then each policy in order, each rule in order:
// the first matching rule decides (Allow accepts, Deny drops, Pass skips the remaining policies and
// goes to the profiles, Log records and continues). If policies apply and none decided (and none
// passed), the packet is dropped. Then the profiles the same way (a Pass in a profile ends the
// profiles); if no profile rule decided, the packet is dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brindle/model/ip.hpp"
#include "brindle/policy/model.hpp"

namespace brindle::policy {

enum class Direction : uint8_t { kIngress, kEgress };
std::string_view to_string(Direction direction);

struct Packet {
  model::IpAddress source;
  model::IpAddress destination;
  uint8_t protocol = kProtoTCP;
  uint16_t source_port = 49152;  // only TCP, UDP, SCTP and UDPLite have ports
  uint16_t destination_port = 0;
  int16_t icmp_type = -1;  // ICMP and ICMPv6 only
  int16_t icmp_code = -1;
  bool established = false;  // a reply of an accepted connection
};
std::string to_string(const Packet& packet);  // "tcp 198.18.0.1:49152 -> 198.18.0.2:80"

enum class Verdict : uint8_t {
  kAllow,
  kDeny,
  kNotEnforced  // the end is not a workload of this model: nothing is enforced here
};
std::string_view to_string(Verdict verdict);

struct RuleHit {
  PolicyKind kind = PolicyKind::kPolicy;
  std::string policy_id;
  size_t rule_index = 0;  // in the policy's rule list of the direction
  std::string rule_id;
  Action action = Action::kAllow;
  std::string rule;  // describe(rule)
};

struct DirectionTrace {
  Direction direction = Direction::kIngress;
  std::string endpoint_id;  // empty: not a workload endpoint of the model
  Verdict verdict = Verdict::kNotEnforced;
  std::vector<std::string> policies;  // applied in this direction, in order
  std::vector<std::string> profiles;
  std::vector<RuleHit> hits;  // matching rules in evaluation order (Log, Pass and the decider)
  std::string reason;         // why the verdict: "allowed by knp.x.web rule 0", "no policy matched"
};

// Evaluates one direction at one endpoint of the model.
DirectionTrace evaluate(const Model& model, const Endpoint& endpoint, Direction direction,
                        const Packet& packet);

// One end of a traced packet: a workload endpoint of the model (its id), or any address.
struct TraceEnd {
  std::string endpoint_id;  // empty when not an endpoint of the model
  std::string description;  // for output: "x/a" or "198.19.0.9"
};

struct TraceResult {
  Packet packet;
  DirectionTrace egress;   // at the source
  DirectionTrace ingress;  // at the destination
  bool self = false;       // source and destination are one pod: never leaves it, always allowed
  Verdict verdict = Verdict::kDeny;  // kAllow when neither direction denies
  std::string from;
  std::string to;
};

// Egress at `from` (when it is a workload of the model), ingress at `to` (likewise).
TraceResult trace(const Model& model, const TraceEnd& from, const TraceEnd& to,
                  const Packet& packet);

// Human-readable report for `brindlectl policy trace`.
std::string format_trace(const TraceResult& result);

}  // namespace brindle::policy
