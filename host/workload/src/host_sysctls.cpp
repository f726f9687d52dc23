#include "host_sysctls.hpp"

#include <fcntl.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/neighbour.h>
#include <unistd.h>

#include <cerrno>

namespace brindle::workload::detail {

std::vector<Sysctl> host_veth_sysctls(const std::string& ifname, bool has_v4, bool has_v6) {
  std::vector<Sysctl> sysctls;
  if (has_v4) {
    const std::string conf = "/proc/sys/net/ipv4/conf/" + ifname + "/";
    sysctls.push_back(
        {conf + "proxy_arp", "1", 1, SysctlSource::ipv4_conf, IPV4_DEVCONF_PROXY_ARP});
    sysctls.push_back({"/proc/sys/net/ipv4/neigh/" + ifname + "/proxy_delay", "0", 0,
                       SysctlSource::arp_parms, NDTPA_PROXY_DELAY});
    sysctls.push_back(
        {conf + "forwarding", "1", 1, SysctlSource::ipv4_conf, IPV4_DEVCONF_FORWARDING});
  }
  if (has_v6) {
    const std::string conf = "/proc/sys/net/ipv6/conf/" + ifname + "/";
    sysctls.push_back({conf + "accept_ra", "0", 0, SysctlSource::ipv6_conf, DEVCONF_ACCEPT_RA});
    sysctls.push_back({conf + "proxy_ndp", "1", 1, SysctlSource::ipv6_conf, DEVCONF_PROXY_NDP});
    sysctls.push_back({conf + "forwarding", "1", 1, SysctlSource::ipv6_conf, DEVCONF_FORWARDING});
    // No automatic link-local address: the fixed gateway address is added explicitly, without
    // duplicate address detection, so that it answers neighbour solicitations at once.
    sysctls.push_back(
        {conf + "addr_gen_mode", "1", 1, SysctlSource::ipv6_conf, DEVCONF_ADDR_GEN_MODE});
  }
  return sysctls;
}

std::optional<std::string> read_sysctl(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  char buffer[64];
  ssize_t n = ::read(fd, buffer, sizeof(buffer));
  ::close(fd);
  if (n < 0) {
    return std::nullopt;
  }
  std::string text(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

int write_sysctl(const std::string& path, std::string_view value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  ssize_t written = ::write(fd, value.data(), value.size());
  int error = errno;
  ::close(fd);
  if (written < 0) {
    return error;
  }
  return written == static_cast<ssize_t>(value.size()) ? 0 : EIO;
}

}  // namespace brindle::workload::detail
