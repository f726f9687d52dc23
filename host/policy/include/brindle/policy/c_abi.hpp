// The compiled model as the C structs of brindle/policy.h, for handing to a policy plugin. Each
// holder copies its source and owns every array the C struct points to, so the pointers stay valid
// for as long as the holder lives (at least the plugin call). Holders are neither copied nor moved.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "brindle/policy.h"
#include "brindle/policy/model.hpp"

namespace brindle::policy {

// A view of a string for the duration of a call.
inline brindle_str_t c_str(const std::string& s) {
  return {s.data(), s.size()};
}

class CMembers {
 public:
  explicit CMembers(const std::vector<IpSetMember>& members);
  CMembers(const CMembers&) = delete;
  CMembers& operator=(const CMembers&) = delete;
  const brindle_ipset_member_t* data() const { return members_.data(); }
  size_t size() const { return members_.size(); }

 private:
  std::vector<brindle_ipset_member_t> members_;
};

class CIpSet {
 public:
  explicit CIpSet(const IpSet& set);
  CIpSet(const CIpSet&) = delete;
  CIpSet& operator=(const CIpSet&) = delete;
  const brindle_ipset_t* get() const { return &c_; }

 private:
  IpSet source_;
  CMembers members_;
  brindle_ipset_t c_{};
};

class CPolicy {
 public:
  explicit CPolicy(const Policy& policy);
  CPolicy(const CPolicy&) = delete;
  CPolicy& operator=(const CPolicy&) = delete;
  const brindle_policy_t* get() const { return &c_; }

 private:
  const brindle_rule_match_t* add_match(const RuleMatch& match);
  std::vector<const brindle_rule_t*> add_rules(const std::vector<Rule>& rules);

  Policy source_;
  std::deque<brindle_rule_t> rules_;  // deques: element addresses stay put as they grow
  std::deque<brindle_rule_match_t> matches_;
  std::deque<std::vector<brindle_ip_prefix_t>> prefixes_;
  std::deque<std::vector<brindle_str_t>> strings_;
  std::deque<std::vector<brindle_port_range_t>> ranges_;
  std::vector<const brindle_rule_t*> ingress_;
  std::vector<const brindle_rule_t*> egress_;
  brindle_policy_t c_{};
};

class CEndpoint {
 public:
  explicit CEndpoint(const Endpoint& endpoint);
  CEndpoint(const CEndpoint&) = delete;
  CEndpoint& operator=(const CEndpoint&) = delete;
  const brindle_endpoint_t* get() const { return &c_; }

 private:
  Endpoint source_;
  std::vector<brindle_ip_prefix_t> addresses_;
  std::vector<brindle_str_t> ingress_;
  std::vector<brindle_str_t> egress_;
  std::vector<brindle_str_t> profiles_;
  brindle_endpoint_t c_{};
};

class CGlobals {
 public:
  explicit CGlobals(const Globals& globals);
  CGlobals(const CGlobals&) = delete;
  CGlobals& operator=(const CGlobals&) = delete;
  const brindle_policy_globals_t* get() const { return &c_; }

 private:
  Globals source_;
  std::vector<brindle_ip_prefix_t> all_pools_;
  std::vector<brindle_ip_prefix_t> nat_outgoing_pools_;
  std::vector<brindle_proto_port_t> failsafe_inbound_;
  std::vector<brindle_proto_port_t> failsafe_outbound_;
  std::vector<brindle_ip_prefix_t> node_addresses_;
  brindle_policy_globals_t c_{};
};

// Hands one change to a plugin through its vtable (converting it on the way). Returns the
// plugin's status; `err` is filled by the plugin on failure.
brindle_status_t send_change(const brindle_policy_vtable_t& vtable, brindle_instance_t* instance,
                             const Change& change, brindle_error_t* err);

// The reverse conversions (C struct -> owned model), for plugins written in C++ and for tests.
// Throw std::invalid_argument on malformed input (bad prefix family, NULL arrays with a count).
IpSet from_c(const brindle_ipset_t& set);
Policy from_c(const brindle_policy_t& policy);
Endpoint from_c(const brindle_endpoint_t& endpoint);
Globals from_c(const brindle_policy_globals_t& globals);
IpSetMember from_c(const brindle_ipset_member_t& member);

}  // namespace brindle::policy
