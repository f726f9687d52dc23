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
  const policy_model::MarkBits marks = policy_model::read_mark_bits(config, options.mark_mask);
  options.mark_mask = marks.mask;
  options.accept_mark = marks.accept;
  options.pass_mark = marks.pass;
  options.ipv6 = config.bool_or("ipv6", true);
  options.priority_offset =
      static_cast<int>(config.int_or("priority_offset", options.priority_offset, -100, 100));
  return options;
}

class NftablesPolicy final : public policy_model::DataplanePolicyPlugin<Dataplane> {
 public:
  explicit NftablesPolicy(Host host) : DataplanePolicyPlugin(host, read_options(host)) {
    char mask[16];
    std::snprintf(mask, sizeof(mask), "0x%x", dataplane_.options().mark_mask);
    host.info("nftables policy ready", std::string("mark_mask=") + mask +
                                           " ipv6=" + (dataplane_.options().ipv6 ? "1" : "0"));
  }

  // Side-effect free: checks the [policy.nftables] section.
  static void validate_config(const Host& host) { read_options(host); }
};

}  // namespace
}  // namespace brindle::policy_nftables

BRINDLE_PLUGIN(brindle::policy_nftables::NftablesPolicy, "nftables", "0.1.0",
               "Network policy as one nftables table (libnftables; IPv4 and IPv6, atomic updates)")
