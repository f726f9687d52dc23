// The policy model rendered as iptables chains for one address family: the chain layout (see
// README.md), kernel names derived from model ids, and the internal IP sets the rules need
// (multi-CIDR matches and pool lists). Pure computation.
#pragma once

#include <brindle/sdk.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipsets.hpp"
#include "xtables.hpp"

namespace brindle::policy_iptables {

inline constexpr std::string_view kPrefix = "brindle-";

struct Options {
  uint32_t mark_mask = 0xff0000;
  uint32_t accept_mark = 0x10000;  // lowest set bit of mark_mask
  uint32_t pass_mark = 0x20000;    // next set bit
  bool ipv6 = true;
  uint32_t ipset_max_elements = 1048576;
};

// What render() needs to know about a model IP set.
struct SetInfo {
  std::string kernel_name;
  ipset::SetType type = ipset::SetType::kNet;
  int family = 4;
};

struct ModelView {
  const PolicyGlobals& globals;
  const std::map<std::string, SetInfo>& sets;
  const std::map<std::string, Policy>& policies;
  const std::map<std::string, Policy>& profiles;
  const std::map<std::string, Endpoint>& endpoints;
};

// A set the rendering needs beyond the model's own: named after its content (so an existing one
// never needs updating), hash:net of one family.
struct InternalSet {
  int family = 4;
  std::set<std::string> members;  // canonical text
};

struct TableRules {
  std::map<std::string, std::vector<xt::Rule>> chains;             // our chains, in full
  std::vector<std::pair<std::string, std::string>> builtin_jumps;  // (built-in chain, our chain)
};

struct Rendered {
  TableRules filter;
  TableRules nat;
  std::map<std::string, InternalSet> internal_sets;  // by kernel name
};

Rendered render(const ModelView& model, xt::Family family, const Options& options);

// Kernel names. A model set keeps its id when "brindle-s-<id>" fits, else a hash of it.
std::string set_kernel_name(std::string_view id);
std::string temporary_set_name(std::string_view kernel_name);
std::string policy_chain(brindle_policy_kind_t kind, std::string_view id, bool ingress);
std::string endpoint_chain(std::string_view interface, bool ingress);
// 16 hex digits of a stable 64-bit hash.
std::string short_hash(std::string_view text);

// Protocols x_tables' multiport match (and therefore port rules) handles.
bool protocol_has_ports(uint8_t protocol);

}  // namespace brindle::policy_iptables
