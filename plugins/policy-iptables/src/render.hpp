// The policy model rendered as iptables chains for one address family, one chain at a time (so
// that apply() re-renders only what changed): the chain layout (see README.md), kernel names
// derived from model ids, and the internal IP sets the rules need (multi-CIDR matches). Pure
// computation.
#pragma once

#include <brindle/plugins/policy_model.hpp>
#include <brindle/sdk.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipsets.hpp"
#include "xtables.hpp"

namespace brindle::policy_iptables {

inline constexpr std::string_view kPrefix = "brindle-";

// Fixed chain names.
inline const std::string kForwardChain = "brindle-FORWARD";
inline const std::string kInputChain = "brindle-INPUT";
inline const std::string kOutputChain = "brindle-OUTPUT";
inline const std::string kPostroutingChain = "brindle-POSTROUTING";
inline const std::string kNatOutgoingChain = "brindle-nat-outgoing";

struct Options {
  uint32_t mark_mask = 0xff0000;
  uint32_t accept_mark = 0x10000;  // lowest set bit of mark_mask
  uint32_t pass_mark = 0x20000;    // next set bit
  bool ipv6 = true;
  uint32_t ipset_max_elements = 1048576;
};

// What rendering needs to know about a model IP set.
struct SetInfo {
  std::string kernel_name;
  ipset::SetType type = ipset::SetType::kNet;
  int family = 4;
  bool operator==(const SetInfo&) const = default;
};

// The parts of the model a chain's rendering may look at.
struct ModelView {
  const PolicyGlobals& globals;
  std::function<const SetInfo*(const std::string& id)> find_set;  // nullptr: unknown
  std::function<bool(brindle_policy_kind_t kind, const std::string& id)> has_policy;
};

// A set the rendering needs beyond the model's own: named after its content (so an existing one
// never needs updating), hash:net of one family.
struct InternalSet {
  int family = 4;
  std::set<std::string> members;  // canonical text
};
using InternalSets = std::map<std::string, InternalSet>;  // by kernel name

// The chain an endpoint's traffic in one direction is sent to: its ordered policies, then its
// profiles. Endpoints with the same lists share one chain.
struct EndpointChainKey {
  bool ingress = true;
  std::vector<std::string> policies;
  std::vector<std::string> profiles;
  std::string chain_name() const;
  bool operator==(const EndpointChainKey&) const = default;
};

// One rule of a dispatch chain: traffic of an interface (or of every interface whose name starts
// with a prefix: "brn4a+") goes to a chain, per direction.
struct DispatchEntry {
  std::string match;
  std::string to_chain;    // ingress: traffic to the workload (-o)
  std::string from_chain;  // egress: traffic from the workload (-i)
  bool operator==(const DispatchEntry&) const = default;
};

class ChainRenderer {
 public:
  ChainRenderer(const ModelView& model, xt::Family family, const Options& options)
      : model_(model), family_(static_cast<int>(family)), options_(options) {}

  // brindle-FORWARD, brindle-INPUT, brindle-OUTPUT.
  std::vector<xt::Rule> fixed_chain(const std::string& chain) const;
  // The chains of the nat table, and which built-in chain jumps to which.
  std::map<std::string, std::vector<xt::Rule>> nat_chains() const;
  static std::vector<std::pair<std::string, std::string>> filter_builtin_jumps();
  static std::vector<std::pair<std::string, std::string>> nat_builtin_jumps();

  // One direction of a policy or profile; the internal sets it uses are added to `internal`.
  std::vector<xt::Rule> policy_chain(const Policy& policy, bool ingress,
                                     InternalSets& internal) const;
  std::vector<xt::Rule> endpoint_chain(const EndpointChainKey& key) const;
  std::vector<xt::Rule> dispatch_chain(const std::vector<DispatchEntry>& entries,
                                       bool ingress) const;

 private:
  const ModelView& model_;
  int family_;
  const Options& options_;
};

// A stable digest of a chain's rules (what apply() compares to find chains that changed).
uint64_t fingerprint(const std::vector<xt::Rule>& rules);

// Kernel names. A model set keeps its id when "brindle-s-<id>" fits, else a hash of it.
std::string set_kernel_name(std::string_view id);
std::string temporary_set_name(std::string_view kernel_name);
std::string policy_chain_name(brindle_policy_kind_t kind, std::string_view id, bool ingress);
// The dispatch chain of the interfaces starting with `prefix`; the root (prefix == the workload
// interface prefix) is brindle-to-wl-dispatch / brindle-from-wl-dispatch.
std::string dispatch_chain_name(std::string_view prefix, bool root, bool ingress);
// 16 hex digits of a stable hash; the protocols port rules need (x_tables' multiport handles
// exactly these).
using policy_model::protocol_has_ports;
using policy_model::short_hash;

}  // namespace brindle::policy_iptables
