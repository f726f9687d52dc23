// Shared by the policy plugins (policy-iptables, policy-nftables): the parts of handling the
// policy model (brindle/policy.h) that do not depend on how the kernel is programmed.
#pragma once

#include <brindle/sdk.hpp>

#include <netinet/in.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brindle::policy_model {

// 16 hex digits of a stable 64-bit hash (FNV-1a): kernel object names derived from model ids.
inline std::string short_hash(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

// Protocols whose transport header starts with ports (rules with ports need one).
inline bool protocol_has_ports(uint8_t protocol) {
  return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP ||
         protocol == IPPROTO_UDPLITE || protocol == IPPROTO_DCCP;
}

// Policies and tiered kinds share one namespace of ids; profiles have their own.
inline brindle_policy_kind_t normal_kind(brindle_policy_kind_t kind) {
  return kind == BRINDLE_POLICY_KIND_PROFILE ? BRINDLE_POLICY_KIND_PROFILE
                                             : BRINDLE_POLICY_KIND_POLICY;
}

inline bool has_ports(const RuleMatch& m) {
  return !m.ports.empty() || !m.not_ports.empty();
}

// What every rule must satisfy whatever the dataplane: ports only with a port-bearing protocol,
// ip_version 0, 4 or 6. `what` names the rule in the error ("policy <id> ingress rule <id>").
inline void check_rule(const Rule& r, const std::string& what) {
  if ((has_ports(r.source) || has_ports(r.destination)) && !protocol_has_ports(r.protocol)) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                what + ": ports need protocol tcp, udp, sctp, udplite or dccp (got " +
                    std::to_string(r.protocol) + ")");
  }
  if (r.ip_version != 0 && r.ip_version != 4 && r.ip_version != 6) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                what + ": ip_version must be 0, 4 or 6, got " + std::to_string(r.ip_version));
  }
}

// The packet-mark bits a policy plugin may use ([policy.<plugin>] mark_mask, at least two bits):
// the lowest set bit marks "accepted", the next "passed to the profiles".
struct MarkBits {
  uint32_t mask;
  uint32_t accept;
  uint32_t pass;
};
inline MarkBits read_mark_bits(const Config& config, uint32_t default_mask) {
  const int64_t value = config.int_or("mark_mask", default_mask, 1, UINT32_MAX);
  MarkBits bits{};
  bits.mask = static_cast<uint32_t>(value);
  if (std::popcount(bits.mask) < 2) {
    config.fail("mark_mask",
                "needs at least two bits (accept and pass marks), e.g. 0xff0000; got " +
                    std::to_string(value));
  }
  bits.accept = bits.mask & (~bits.mask + 1);
  const uint32_t rest = bits.mask & ~bits.accept;
  bits.pass = rest & (~rest + 1);
  return bits;
}

// A policy plugin that hands every call of the policy ABI to its Dataplane (constructed from the
// host and the plugin's options), which keeps the model and programs the kernel.
template <typename Dataplane>
class DataplanePolicyPlugin : public PolicyPlugin {
 public:
  template <typename Options>
  DataplanePolicyPlugin(Host host, Options options)
      : PolicyPlugin(host), dataplane_(host, std::move(options)) {}

  void set_globals(const PolicyGlobals& globals) override { dataplane_.set_globals(globals); }
  void upsert_ipset(const IpSet& set) override { dataplane_.upsert_ipset(set); }
  void update_ipset_members(std::string_view id, const std::vector<IpSetMember>& added,
                            const std::vector<IpSetMember>& removed) override {
    dataplane_.update_ipset_members(id, added, removed);
  }
  void remove_ipset(std::string_view id) override { dataplane_.remove_ipset(id); }
  void upsert_policy(const Policy& policy) override { dataplane_.upsert_policy(policy); }
  void remove_policy(brindle_policy_kind_t kind, std::string_view id) override {
    dataplane_.remove_policy(kind, id);
  }
  void upsert_endpoint(const Endpoint& endpoint) override { dataplane_.upsert_endpoint(endpoint); }
  void remove_endpoint(std::string_view id) override { dataplane_.remove_endpoint(id); }
  void in_sync() override { dataplane_.in_sync(); }
  void apply() override { dataplane_.apply(); }
  void refresh() override { dataplane_.refresh(); }

 protected:
  Dataplane dataplane_;
};

}  // namespace brindle::policy_model
