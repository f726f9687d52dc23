#include "brindle/workload/host_routes.hpp"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <unordered_map>

#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"
#include "host_sysctls.hpp"

namespace brindle::workload {

using netlink::IpPrefix;
using netlink::RouteChange;
using netlink::RouteOp;
using netlink::RouteSpec;
using Clock = std::chrono::steady_clock;
using Kind = PlumbingError::Kind;

namespace {

// What the reconciler needs of a link; the adapter's LinkInfo has no device group nor sysctls.
struct KernelLink {
  int index = 0;
  std::string name;
  bool up = false;
  uint32_t group = 0;
  std::vector<uint32_t> inet_conf;             // IFLA_INET_CONF: [IPV4_DEVCONF_* - 1]
  std::vector<int32_t> inet6_conf;             // IFLA_INET6_CONF: [DEVCONF_*]
  std::optional<uint64_t> arp_proxy_delay_ms;  // from the neighbour tables
};

// A route of ours (route_protocol, main table), with what tells a pod route from another.
struct KernelRoute {
  IpPrefix destination;
  int ifindex = 0;
  uint8_t type = 0;
  uint8_t scope = 0;
  uint32_t priority = 0;
  bool has_gateway = false;  // RTA_GATEWAY, RTA_VIA or RTA_MULTIPATH
  bool has_source = false;   // RTA_PREFSRC
};

// IPv6 routes get metric 1024 when none is given; IPv4 routes keep 0.
uint32_t default_priority(const IpPrefix& destination) {
  return destination.is_v6() ? 1024u : 0u;
}

// What setup_pod() programs: `<address> dev <ifindex> proto <p>` (libnl picks scope link for a
// route without gateway; IPv6 routes always list scope universe).
bool is_pod_route(const KernelRoute& route, int ifindex) {
  return route.ifindex == ifindex && route.type == RTN_UNICAST && !route.has_gateway &&
         !route.has_source && route.priority == default_priority(route.destination) &&
         (route.destination.is_v6() || route.scope == RT_SCOPE_LINK);
}

template <typename T>
T attribute_value(const rtattr* attribute) {
  T value{};
  std::memcpy(&value, RTA_DATA(attribute), std::min(sizeof(T), size_t{RTA_PAYLOAD(attribute)}));
  return value;
}

// A NETLINK_ROUTE socket for dumps, parsed without libnl: a link dump of 1k veths is ~1 MB.
class DumpSocket {
 public:
  DumpSocket() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "open NETLINK_ROUTE socket");
    }
    const int on = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
    buffer_.resize(64 * 1024);
  }
  DumpSocket(const DumpSocket&) = delete;
  DumpSocket& operator=(const DumpSocket&) = delete;
  ~DumpSocket() { close(fd_); }

  // Sends a dump request with `header` (ifinfomsg, rtmsg) and calls on_message for each reply.
  // A dump the kernel marks interrupted (the table changed meanwhile) is started again.
  template <typename Header, typename OnMessage>
  void dump(uint16_t type, const Header& header, const char* what, OnMessage&& on_message) {
    for (int attempt = 0;; ++attempt) {
      on_message(nullptr);  // reset
      if (dump_once(type, &header, sizeof(header), what, on_message) || attempt >= 4) {
        return;
      }
    }
  }

 private:
  template <typename OnMessage>
  bool dump_once(uint16_t type, const void* header, size_t header_size, const char* what,
                 OnMessage& on_message) {
    struct {
      nlmsghdr message;
      char payload[64];
    } request{};
    request.message.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(header_size));
    request.message.nlmsg_type = type;
    request.message.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.message.nlmsg_seq = ++seq_;
    std::memcpy(request.payload, header, header_size);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, &request, request.message.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
      throw PlumbingError(Kind::kernel, std::string(what) + ": " + std::strerror(errno));
    }
    bool interrupted = false;
    for (;;) {
      ssize_t n = recv(fd_, buffer_.data(), buffer_.size(), 0);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        throw PlumbingError(Kind::kernel, std::string(what) + ": " + std::strerror(errno));
      }
      int remaining = static_cast<int>(n);
      for (auto* reply = reinterpret_cast<nlmsghdr*>(buffer_.data()); NLMSG_OK(reply, remaining);
           reply = NLMSG_NEXT(reply, remaining)) {
        if (reply->nlmsg_seq != seq_) {
          continue;
        }
        if ((reply->nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
          interrupted = true;
        }
        if (reply->nlmsg_type == NLMSG_DONE) {
          return !interrupted;
        }
        if (reply->nlmsg_type == NLMSG_ERROR) {
          const int error = -static_cast<nlmsgerr*>(NLMSG_DATA(reply))->error;
          if (error == EINTR || error == EBUSY) {
            return false;
          }
          throw PlumbingError(Kind::kernel, std::string(what) + ": " + std::strerror(error));
        }
        on_message(reply);
      }
    }
  }

  int fd_ = -1;
  uint32_t seq_ = 0;
  std::vector<char> buffer_;
};

std::vector<KernelLink> dump_links(DumpSocket& socket, const std::string& prefix) {
  std::vector<KernelLink> links;
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  socket.dump(RTM_GETLINK, header, "list links", [&](const nlmsghdr* message) {
    if (message == nullptr) {
      links.clear();
      return;
    }
    if (message->nlmsg_type != RTM_NEWLINK) {
      return;
    }
    const auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(message));
    KernelLink link;
    link.index = info->ifi_index;
    link.up = (info->ifi_flags & IFF_UP) != 0;
    int length = static_cast<int>(IFLA_PAYLOAD(message));
    for (const auto* a = IFLA_RTA(info); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
      if (a->rta_type == IFLA_IFNAME) {
        link.name = static_cast<const char*>(RTA_DATA(a));
      } else if (a->rta_type == IFLA_GROUP) {
        link.group = attribute_value<uint32_t>(a);
      } else if (a->rta_type == IFLA_AF_SPEC) {
        int families = static_cast<int>(RTA_PAYLOAD(a));
        for (const auto* f = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(f, families);
             f = RTA_NEXT(f, families)) {
          if (f->rta_type != AF_INET && f->rta_type != AF_INET6) {
            continue;
          }
          int inner = static_cast<int>(RTA_PAYLOAD(f));
          for (const auto* c = static_cast<const rtattr*>(RTA_DATA(f)); RTA_OK(c, inner);
               c = RTA_NEXT(c, inner)) {
            if (f->rta_type == AF_INET && c->rta_type == IFLA_INET_CONF) {
              link.inet_conf.resize(RTA_PAYLOAD(c) / sizeof(uint32_t));
              std::memcpy(link.inet_conf.data(), RTA_DATA(c), link.inet_conf.size() * 4);
            } else if (f->rta_type == AF_INET6 && c->rta_type == IFLA_INET6_CONF) {
              link.inet6_conf.resize(RTA_PAYLOAD(c) / sizeof(int32_t));
              std::memcpy(link.inet6_conf.data(), RTA_DATA(c), link.inet6_conf.size() * 4);
            }
          }
        }
      }
    }
    if (link.name.starts_with(prefix)) {
      links.push_back(std::move(link));
    }
  });
  return links;
}

// The ARP table's per-device proxy_delay (msecs) of the workload interfaces.
void dump_arp_parms(DumpSocket& socket, std::unordered_map<int, KernelLink*>& links) {
  ndtmsg header{};
  header.ndtm_family = AF_INET;
  socket.dump(RTM_GETNEIGHTBL, header, "list neighbour tables", [&](const nlmsghdr* message) {
    if (message == nullptr) {
      for (auto& [index, link] : links) {
        link->arp_proxy_delay_ms.reset();
      }
      return;
    }
    if (message->nlmsg_type != RTM_NEWNEIGHTBL) {
      return;
    }
    const auto* info = static_cast<const ndtmsg*>(NLMSG_DATA(message));
    int length = static_cast<int>(message->nlmsg_len - NLMSG_LENGTH(sizeof(ndtmsg)));
    bool arp = false;
    int ifindex = 0;
    std::optional<uint64_t> delay;
    const auto* first = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(info) +
                                                        NLMSG_ALIGN(sizeof(ndtmsg)));
    for (const auto* a = first; RTA_OK(a, length); a = RTA_NEXT(a, length)) {
      if (a->rta_type == NDTA_NAME) {
        arp = std::string_view(static_cast<const char*>(RTA_DATA(a))) == "arp_cache";
      } else if (a->rta_type == NDTA_PARMS) {
        int inner = static_cast<int>(RTA_PAYLOAD(a));
        for (const auto* p = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(p, inner);
             p = RTA_NEXT(p, inner)) {
          if (p->rta_type == NDTPA_IFINDEX) {
            ifindex = attribute_value<int>(p);
          } else if (p->rta_type == NDTPA_PROXY_DELAY) {
            delay = attribute_value<uint64_t>(p);
          }
        }
      }
    }
    auto it = links.find(ifindex);
    if (arp && it != links.end()) {
      it->second->arp_proxy_delay_ms = delay;
    }
  });
}

// Routes of `protocol` in the main table through one of `ifindexes` (both families, one dump).
std::vector<KernelRoute> dump_routes(DumpSocket& socket, uint8_t protocol,
                                     const std::unordered_map<int, const KernelLink*>& ifindexes) {
  std::vector<KernelRoute> routes;
  rtmsg header{};
  header.rtm_family = AF_UNSPEC;
  socket.dump(RTM_GETROUTE, header, "list routes", [&](const nlmsghdr* message) {
    if (message == nullptr) {
      routes.clear();
      return;
    }
    if (message->nlmsg_type != RTM_NEWROUTE) {
      return;
    }
    const auto* info = static_cast<const rtmsg*>(NLMSG_DATA(message));
    if ((info->rtm_family != AF_INET && info->rtm_family != AF_INET6) ||
        info->rtm_protocol != protocol || (info->rtm_flags & RTM_F_CLONED) != 0) {
      return;
    }
    KernelRoute route;
    route.type = info->rtm_type;
    route.scope = info->rtm_scope;
    uint32_t table = info->rtm_table;
    const int family = info->rtm_family == AF_INET ? 4 : 6;
    std::array<uint8_t, 16> destination{};
    int length = static_cast<int>(RTM_PAYLOAD(message));
    for (const auto* a = RTM_RTA(info); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
      switch (a->rta_type) {
        case RTA_TABLE:
          table = attribute_value<uint32_t>(a);
          break;
        case RTA_DST:
          std::memcpy(destination.data(), RTA_DATA(a),
                      std::min(destination.size(), size_t{RTA_PAYLOAD(a)}));
          break;
        case RTA_OIF:
          route.ifindex = attribute_value<int>(a);
          break;
        case RTA_PRIORITY:
          route.priority = attribute_value<uint32_t>(a);
          break;
        case RTA_GATEWAY:
        case RTA_VIA:
        case RTA_MULTIPATH:
          route.has_gateway = true;
          break;
        case RTA_PREFSRC:
          route.has_source = true;
          break;
        default:
          break;
      }
    }
    if (table != netlink::kMainTable || !ifindexes.contains(route.ifindex)) {
      return;
    }
    route.destination = IpPrefix::from_bytes(family, destination.data(), info->rtm_dst_len);
    routes.push_back(route);
  });
  return routes;
}

std::string describe(const KernelRoute& route, const KernelLink* link) {
  return route.destination.to_string() + " dev " +
         (link != nullptr ? link->name : "ifindex " + std::to_string(route.ifindex));
}

}  // namespace

struct HostRouteReconciler::State {
  PlumbingOptions options;
  std::chrono::milliseconds grace;
  DumpSocket dumps;          // opened in the host-side namespace
  netlink::Netlink changes;  // likewise
  bool first_run = true;
  // Workload interfaces by ifindex: when first seen (time_point::min(): before the first run),
  // and whether an endpoint named it since (then its endpoints alone decide its routes).
  struct Seen {
    Clock::time_point first;
    bool claimed = false;
  };
  std::unordered_map<int, Seen> seen;
  State(const PlumbingOptions& plumbing, std::chrono::milliseconds cleanup_grace)
      : options(plumbing), grace(cleanup_grace) {}

  void verify_sysctls(const KernelLink& link, bool has_v4, bool has_v6, HostRouteReport& report);
};

// The current values come from the dumps; /proc/sys is only read for what they lack, and written
// when a value is wrong.
void HostRouteReconciler::State::verify_sysctls(const KernelLink& link, bool has_v4, bool has_v6,
                                                HostRouteReport& report) {
  for (const detail::Sysctl& sysctl : detail::host_veth_sysctls(link.name, has_v4, has_v6)) {
    ++report.sysctls_checked;
    std::optional<int64_t> current;
    const auto index = static_cast<size_t>(sysctl.index);
    switch (sysctl.source) {
      case detail::SysctlSource::ipv4_conf:
        if (index >= 1 && index <= link.inet_conf.size()) {
          current = link.inet_conf[index - 1];
        }
        break;
      case detail::SysctlSource::ipv6_conf:
        if (index < link.inet6_conf.size()) {
          current = link.inet6_conf[index];
        }
        break;
      case detail::SysctlSource::arp_parms:
        // Milliseconds here, USER_HZ ticks in /proc: only 0 compares directly.
        if (link.arp_proxy_delay_ms && sysctl.number == 0) {
          current = static_cast<int64_t>(*link.arp_proxy_delay_ms);
        }
        break;
    }
    if (current ? *current == sysctl.number : detail::read_sysctl(sysctl.path) == sysctl.value) {
      continue;
    }
    if (int error = detail::write_sysctl(sysctl.path, sysctl.value); error != 0) {
      report.errors.push_back("sysctl " + sysctl.path + " = " + std::string(sysctl.value) + ": " +
                              std::strerror(error));
    } else {
      ++report.sysctls_fixed;
    }
  }
}

HostRouteReconciler::HostRouteReconciler(const PlumbingOptions& options,
                                         std::chrono::milliseconds cleanup_grace) {
  if (options.veth_prefix.empty()) {
    throw PlumbingError(Kind::invalid_request, "empty workload interface prefix");
  }
  if (options.route_protocol == 0) {
    throw PlumbingError(Kind::invalid_request, "route protocol 0 (unspecified) is not allowed");
  }
  try {
    std::optional<netlink::NetnsGuard> host;
    if (options.host_netns_fd >= 0) {
      host.emplace(options.host_netns_fd);
    }
    state_ = std::make_unique<State>(options, cleanup_grace);
  } catch (const PlumbingError&) {
    throw;
  } catch (const std::exception& e) {
    throw PlumbingError(Kind::kernel,
                        std::string("open the route reconciler's sockets: ") + e.what());
  }
}

HostRouteReconciler::~HostRouteReconciler() = default;

HostRouteReport HostRouteReconciler::reconcile(const std::vector<LocalEndpoint>& endpoints) {
  const Clock::time_point started = Clock::now();
  State& s = *state_;
  HostRouteReport report;
  report.endpoints = endpoints.size();
  // /proc/sys resolves in the calling thread's namespace.
  std::optional<netlink::NetnsGuard> host;
  if (s.options.host_netns_fd >= 0) {
    host.emplace(s.options.host_netns_fd);
  }

  // 1. The kernel: workload interfaces, then our routes through them.
  std::vector<KernelLink> links = dump_links(s.dumps, s.options.veth_prefix);
  report.interfaces = links.size();
  std::unordered_map<std::string_view, const KernelLink*> by_name;
  std::unordered_map<int, const KernelLink*> by_index;
  std::unordered_map<int, KernelLink*> writable;
  by_name.reserve(links.size());
  by_index.reserve(links.size());
  writable.reserve(links.size());
  for (KernelLink& link : links) {
    by_name.emplace(link.name, &link);
    by_index.emplace(link.index, &link);
    writable.emplace(link.index, &link);
  }
  if (!links.empty()) {
    dump_arp_parms(s.dumps, writable);
  }
  std::erase_if(s.seen, [&](const auto& entry) { return !by_index.contains(entry.first); });
  for (const KernelLink& link : links) {
    s.seen.emplace(link.index, State::Seen{s.first_run ? Clock::time_point::min() : started});
  }
  s.first_run = false;
  const std::vector<KernelRoute> routes = dump_routes(s.dumps, s.options.route_protocol, by_index);

  // 2. Desired: destination -> interface.
  auto usable = [&](const KernelLink& link) {
    return link.up && link.group != s.options.reap_group;
  };
  std::map<IpPrefix, const KernelLink*> desired;
  for (const LocalEndpoint& endpoint : endpoints) {
    auto found = by_name.find(endpoint.interface_name);
    if (found == by_name.end() || !usable(*found->second)) {
      continue;  // not created yet (ADD in progress), being torn down, or not a workload one
    }
    const KernelLink& link = *found->second;
    ++report.managed_endpoints;
    s.seen[link.index].claimed = true;
    bool has_v4 = false, has_v6 = false;
    for (const IpPrefix& address : endpoint.addresses) {
      if (address.empty()) {
        continue;
      }
      has_v4 = has_v4 || address.is_v4();
      has_v6 = has_v6 || address.is_v6();
      auto [it, inserted] = desired.emplace(address.address(), &link);
      if (!inserted && it->second != &link) {
        report.errors.push_back("address " + address.address().to_string(true) +
                                " is claimed by the endpoints of " + it->second->name + " and " +
                                link.name + "; routed to " + it->second->name);
      }
    }
    s.verify_sysctls(link, has_v4, has_v6, report);
  }

  // 3. Differences. A route moved or removed from an interface younger than the grace period that
  // no endpoint claimed yet waits: its endpoint may not have reached the caller yet.
  std::multimap<IpPrefix, const KernelRoute*> ours;
  for (const KernelRoute& route : routes) {
    ours.emplace(route.destination, &route);
  }
  auto young = [&](int ifindex) {
    auto it = s.seen.find(ifindex);
    if (it == s.seen.end() || it->second.claimed || it->second.first == Clock::time_point::min() ||
        started - it->second.first >= s.grace) {
      return false;
    }
    const Clock::time_point due = it->second.first + s.grace;
    if (!report.next_due || due < *report.next_due) {
      report.next_due = due;
    }
    return true;
  };
  enum class Effect : uint8_t { add, fix, remove };
  std::vector<RouteChange> changes;
  std::vector<std::pair<Effect, std::string>> what;  // parallel to changes
  std::set<const KernelRoute*> settled;
  auto pod_route = [&](const IpPrefix& destination, int ifindex) {
    RouteSpec route;
    route.destination = destination;
    route.ifindex = ifindex;
    route.protocol = s.options.route_protocol;
    return route;
  };
  for (const auto& [destination, link] : desired) {
    auto [first, last] = ours.equal_range(destination);
    const KernelRoute* exact = nullptr;
    const KernelRoute* same_key = nullptr;  // the one a replace overwrites
    for (auto it = first; it != last; ++it) {
      if (is_pod_route(*it->second, link->index)) {
        exact = it->second;
      } else if (it->second->priority == default_priority(destination)) {
        same_key = it->second;
      }
    }
    if (exact != nullptr) {
      ++report.routes_verified;
      settled.insert(exact);
    } else if (same_key != nullptr) {
      settled.insert(same_key);
      const KernelLink* holder = by_index.at(same_key->ifindex);
      if (holder != link && young(same_key->ifindex)) {
        ++report.removals_deferred;
      } else {
        changes.push_back({RouteOp::replace, pod_route(destination, link->index)});
        what.emplace_back(Effect::fix, describe(*same_key, holder) + " -> dev " + link->name);
      }
    } else {
      changes.push_back({RouteOp::add, pod_route(destination, link->index)});
      what.emplace_back(Effect::add, destination.to_string() + " dev " + link->name);
    }
  }
  for (const KernelRoute& route : routes) {
    if (settled.contains(&route)) {
      continue;
    }
    const KernelLink* link = by_index.at(route.ifindex);
    if (link->group == s.options.reap_group) {
      continue;  // being torn down: teardown_pod() removed its routes, the reaper does the rest
    }
    if (young(route.ifindex)) {
      ++report.removals_deferred;
      continue;
    }
    RouteSpec stale = pod_route(route.destination, route.ifindex);
    stale.priority = route.priority;
    changes.push_back({RouteOp::remove, stale});
    what.emplace_back(Effect::remove, describe(route, link));
  }

  // 4. One batch.
  if (!changes.empty()) {
    const std::vector<netlink::ChangeResult> results = s.changes.apply_routes(changes);
    for (size_t i = 0; i < results.size(); ++i) {
      const netlink::ChangeResult& result = results[i];
      const auto& [effect, text] = what[i];
      if (result.ok()) {
        ++(effect == Effect::add   ? report.routes_added
           : effect == Effect::fix ? report.routes_fixed
                                   : report.routes_removed);
        continue;
      }
      const int error = result.kernel_errno;
      if ((effect == Effect::remove && (error == ESRCH || error == ENOENT)) || error == ENODEV) {
        continue;  // gone meanwhile (the interface with it)
      }
      if (effect == Effect::add && error == EEXIST) {
        report.errors.push_back("route " + text +
                                ": the address is already routed by a route of another protocol "
                                "or interface, left alone");
      } else {
        report.errors.push_back(result.message);
      }
    }
  }
  report.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  return report;
}

}  // namespace brindle::workload
