// The per-interface sysctls of a host veth (setup_pod() writes them, the route reconciler
// verifies them), and /proc/sys access. /proc/sys/net resolves in the calling thread's network
// namespace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace brindle::workload::detail {

// Where rtnetlink reports a sysctl's current value, so that a reconciler can verify every
// interface from one link dump instead of reading /proc/sys file by file.
enum class SysctlSource : uint8_t {
  ipv4_conf,  // IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF[index - 1], index an IPV4_DEVCONF_*
  ipv6_conf,  // IFLA_AF_SPEC/AF_INET6/IFLA_INET6_CONF[index], index a DEVCONF_*
  arp_parms,  // RTM_GETNEIGHTBL, table "arp_cache", the device's NDTA_PARMS[index] (msecs)
};

struct Sysctl {
  std::string path;  // "/proc/sys/net/ipv4/conf/<ifname>/proxy_arp"
  std::string_view value;
  int number = 0;  // the value as a number
  SysctlSource source = SysctlSource::ipv4_conf;
  int index = 0;
};

// What a host veth needs: IPv4 proxy ARP (answering for 169.254.1.1) and forwarding; IPv6 proxy
// NDP and forwarding, no router advertisements accepted, no automatic link-local address.
std::vector<Sysctl> host_veth_sysctls(const std::string& ifname, bool has_v4, bool has_v6);

// The value with trailing whitespace removed; nullopt when the file cannot be read.
std::optional<std::string> read_sysctl(const std::string& path);
// 0 or an errno value.
int write_sysctl(const std::string& path, std::string_view value);

}  // namespace brindle::workload::detail
