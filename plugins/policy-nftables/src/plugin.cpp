// The "nftables" policy plugin: programs this node's policy model (brindle/policy.h) as one
// nftables table (`table inet brindle`, IPv4 and IPv6) through libnftables, each change one
// atomic transaction.
//
// Configuration ([policy.nftables] in brindle.toml), every key optional:
//   mark_mask = 0xff0000   # packet mark bits the plugin may use; needs at least two bits:
//                          # the lowest is "accepted", the next "passed to the profiles"
//   ipv6 = true            # also filter IPv6 (false: IPv6 traffic is left alone)
//   priority_offset = -10  # base chains at filter/srcnat + this (-100..100)
//
// Kernel state is programmed in the network namespace of the thread that calls the plugin.
#include <brindle/sdk.hpp>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <string>

#include "dataplane.hpp"

namespace brindle::policy_nftables {
namespace {

Options read_options(const Host& host) {
  const Config config = host.config();
  config.allow_only("", {"mark_mask", "ipv6", "priority_offset"});
  Options options;
  const int64_t mask = config.int_or("mark_mask", options.mark_mask, 1, UINT32_MAX);
  options.mark_mask = static_cast<uint32_t>(mask);
  if (std::popcount(options.mark_mask) < 2) {
    config.fail("mark_mask",
                "needs at least two bits (accept and pass marks), e.g. 0xff0000; got " +
                    std::to_string(mask));
  }
  options.accept_mark = options.mark_mask & (~options.mark_mask + 1);
  const uint32_t rest = options.mark_mask & ~options.accept_mark;
  options.pass_mark = rest & (~rest + 1);
  options.ipv6 = config.bool_or("ipv6", true);
  options.priority_offset =
      static_cast<int>(config.int_or("priority_offset", options.priority_offset, -100, 100));
  return options;
}

class NftablesPolicy final : public PolicyPlugin {
 public:
  explicit NftablesPolicy(Host host) : PolicyPlugin(host), dataplane_(host, read_options(host)) {
    char mask[16];
    std::snprintf(mask, sizeof(mask), "0x%x", dataplane_.options().mark_mask);
    host.info("nftables policy ready", std::string("mark_mask=") + mask +
                                           " ipv6=" + (dataplane_.options().ipv6 ? "1" : "0"));
  }

  // Side-effect free: checks the [policy.nftables] section.
  static void validate_config(const Host& host) { read_options(host); }

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

 private:
  Dataplane dataplane_;
};

}  // namespace
}  // namespace brindle::policy_nftables

BRINDLE_PLUGIN(brindle::policy_nftables::NftablesPolicy, "nftables", "0.1.0",
               "Network policy as one nftables table (libnftables; IPv4 and IPv6, atomic updates)")
