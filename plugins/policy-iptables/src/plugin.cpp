// The "iptables" policy plugin: programs this node's policy model (brindle/policy.h) as
// iptables chains and IP sets through libiptc and libipset (legacy x_tables), IPv4 and IPv6.
//
// Configuration ([policy.iptables] in brindle.toml), every key optional:
//   mark_mask = 0xff0000          # packet mark bits the plugin may use; needs at least two bits:
//                                 # the lowest is "accepted", the next "passed to the profiles"
//   ipv6 = true                   # also program ip6tables
//   ipset_max_elements = 1048576  # maxelem of the sets it creates, 1024..268435456
//
// Kernel state is programmed in the network namespace of the thread that calls the plugin.
#include <brindle/sdk.hpp>

#include <cstdint>
#include <string>

#include "dataplane.hpp"

namespace brindle::policy_iptables {
namespace {

Options read_options(const Host& host) {
  const Config config = host.config();
  config.allow_only("", {"mark_mask", "ipv6", "ipset_max_elements"});
  Options options;
  const policy_model::MarkBits marks = policy_model::read_mark_bits(config, options.mark_mask);
  options.mark_mask = marks.mask;
  options.accept_mark = marks.accept;
  options.pass_mark = marks.pass;
  options.ipv6 = config.bool_or("ipv6", true);
  options.ipset_max_elements = static_cast<uint32_t>(
      config.int_or("ipset_max_elements", options.ipset_max_elements, 1024, 268435456));
  return options;
}

class IptablesPolicy final : public policy_model::DataplanePolicyPlugin<Dataplane> {
 public:
  explicit IptablesPolicy(Host host) : DataplanePolicyPlugin(host, read_options(host)) {
    char mask[16];
    std::snprintf(mask, sizeof(mask), "0x%x", dataplane_.options().mark_mask);
    host.info("iptables policy ready", std::string("mark_mask=") + mask +
                                           " ipv6=" + (dataplane_.options().ipv6 ? "1" : "0"));
  }

  // Side-effect free: checks the [policy.iptables] section.
  static void validate_config(const Host& host) { read_options(host); }
};

}  // namespace
}  // namespace brindle::policy_iptables

BRINDLE_PLUGIN(brindle::policy_iptables::IptablesPolicy, "iptables", "0.1.0",
               "Network policy as iptables chains and IP sets (libiptc, libipset; IPv4 and IPv6)")
