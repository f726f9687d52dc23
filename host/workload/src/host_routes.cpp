#include "brindle/workload/host_routes.hpp"

#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"
#include "host_sysctls.hpp"

namespace brindle::workload {

using netlink::IpPrefix;
using netlink::LinkInfo;
using netlink::RouteChange;
using netlink::RouteOp;
using netlink::RouteSpec;
using Clock = std::chrono::steady_clock;
using Kind = PlumbingError::Kind;

namespace {

// IPv6 routes get metric 1024 when none is given; IPv4 routes keep 0.
uint32_t default_priority(const IpPrefix& destination) {
  return destination.is_v6() ? 1024u : 0u;
}

// What setup_pod() programs: `<address> dev <ifindex> proto <p>` (libnl picks scope link for a
// route without gateway; IPv6 routes always list scope universe).
bool is_pod_route(const RouteSpec& route, int ifindex) {
  return route.ifindex == ifindex && route.type == netlink::RouteType::unicast &&
         route.gateway.empty() && !route.multipath && route.source.empty() &&
         route.priority == default_priority(route.destination) &&
         (route.destination.is_v6() || route.scope == RT_SCOPE_LINK);
}

std::string describe(const RouteSpec& route, const LinkInfo* link) {
  return route.destination.to_string() + " dev " +
         (link != nullptr ? link->name : "ifindex " + std::to_string(route.ifindex));
}

}  // namespace

struct HostRouteReconciler::State {
  PlumbingOptions options;
  std::chrono::milliseconds grace;
  netlink::Netlink nl;  // opened in the host-side namespace
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

  // The kernel's view: one dump per kind (links, ARP table parameters, routes).
  struct Snapshot {
    std::vector<LinkInfo> links;                           // the workload interfaces
    std::unordered_map<int, uint64_t> arp_proxy_delay_ms;  // by ifindex, where reported
    std::vector<RouteSpec> routes;  // ours (route_protocol, main table) through `links`
  };
  Snapshot read_kernel();

  void verify_sysctls(const LinkInfo& link, std::optional<uint64_t> arp_proxy_delay_ms, bool has_v4,
                      bool has_v6, HostRouteReport& report);
};

HostRouteReconciler::State::Snapshot HostRouteReconciler::State::read_kernel() {
  Snapshot kernel;
  try {
    for (LinkInfo& link : nl.links()) {
      if (link.name.starts_with(options.veth_prefix)) {
        kernel.links.push_back(std::move(link));
      }
    }
    if (kernel.links.empty()) {
      return kernel;
    }
    std::unordered_map<int, const LinkInfo*> by_index;
    by_index.reserve(kernel.links.size());
    for (const LinkInfo& link : kernel.links) {
      by_index.emplace(link.index, &link);
    }
    for (const netlink::NeighbourTableParms& parms : nl.neighbour_table_parms(4)) {
      if (parms.table == "arp_cache" && parms.proxy_delay_ms && by_index.contains(parms.ifindex)) {
        kernel.arp_proxy_delay_ms.emplace(parms.ifindex, *parms.proxy_delay_ms);
      }
    }
    for (RouteSpec& route : nl.routes(
             {.protocol = options.route_protocol, .table = netlink::kMainTable, .family = 0})) {
      // A multipath route names no single device: never one of setup_pod()'s.
      if (!route.multipath && by_index.contains(route.ifindex)) {
        kernel.routes.push_back(route);
      }
    }
  } catch (const netlink::NetlinkError& e) {
    throw PlumbingError(Kind::kernel, e.what());
  }
  return kernel;
}

// The current values come from the dumps; /proc/sys is only read for what they lack, and written
// when a value is wrong.
void HostRouteReconciler::State::verify_sysctls(const LinkInfo& link,
                                                std::optional<uint64_t> arp_proxy_delay_ms,
                                                bool has_v4, bool has_v6, HostRouteReport& report) {
  for (const detail::Sysctl& sysctl : detail::host_veth_sysctls(link.name, has_v4, has_v6)) {
    ++report.sysctls_checked;
    std::optional<int64_t> current;
    const auto index = static_cast<size_t>(sysctl.index);
    switch (sysctl.source) {
      case detail::SysctlSource::ipv4_conf:
        if (index >= 1 && index <= link.ipv4_conf.size()) {
          current = link.ipv4_conf[index - 1];
        }
        break;
      case detail::SysctlSource::ipv6_conf:
        if (index < link.ipv6_conf.size()) {
          current = link.ipv6_conf[index];
        }
        break;
      case detail::SysctlSource::arp_parms:
        // Milliseconds here, USER_HZ ticks in /proc: only 0 compares directly.
        if (arp_proxy_delay_ms && sysctl.number == 0) {
          current = static_cast<int64_t>(*arp_proxy_delay_ms);
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
                        std::string("open the route reconciler's netlink socket: ") + e.what());
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
  const State::Snapshot kernel = s.read_kernel();
  const std::vector<LinkInfo>& links = kernel.links;
  const std::vector<RouteSpec>& routes = kernel.routes;
  report.interfaces = links.size();
  std::unordered_map<std::string_view, const LinkInfo*> by_name;
  std::unordered_map<int, const LinkInfo*> by_index;
  by_name.reserve(links.size());
  by_index.reserve(links.size());
  for (const LinkInfo& link : links) {
    by_name.emplace(link.name, &link);
    by_index.emplace(link.index, &link);
  }
  std::erase_if(s.seen, [&](const auto& entry) { return !by_index.contains(entry.first); });
  for (const LinkInfo& link : links) {
    s.seen.emplace(link.index, State::Seen{s.first_run ? Clock::time_point::min() : started});
  }
  s.first_run = false;

  // 2. Desired: destination -> interface.
  auto usable = [&](const LinkInfo& link) { return link.up && link.group != s.options.reap_group; };
  std::map<IpPrefix, const LinkInfo*> desired;
  for (const LocalEndpoint& endpoint : endpoints) {
    auto found = by_name.find(endpoint.interface_name);
    if (found == by_name.end() || !usable(*found->second)) {
      continue;  // not created yet (ADD in progress), being torn down, or not a workload one
    }
    const LinkInfo& link = *found->second;
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
    const auto delay = kernel.arp_proxy_delay_ms.find(link.index);
    s.verify_sysctls(link,
                     delay != kernel.arp_proxy_delay_ms.end()
                         ? std::optional<uint64_t>(delay->second)
                         : std::nullopt,
                     has_v4, has_v6, report);
  }

  // 3. Differences. A route moved or removed from an interface younger than the grace period that
  // no endpoint claimed yet waits: its endpoint may not have reached the caller yet.
  std::multimap<IpPrefix, const RouteSpec*> ours;
  for (const RouteSpec& route : routes) {
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
  std::set<const RouteSpec*> settled;
  auto pod_route = [&](const IpPrefix& destination, int ifindex) {
    RouteSpec route;
    route.destination = destination;
    route.ifindex = ifindex;
    route.protocol = s.options.route_protocol;
    return route;
  };
  for (const auto& [destination, link] : desired) {
    auto [first, last] = ours.equal_range(destination);
    const RouteSpec* exact = nullptr;
    const RouteSpec* same_key = nullptr;  // the one a replace overwrites
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
      const LinkInfo* holder = by_index.at(same_key->ifindex);
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
  for (const RouteSpec& route : routes) {
    if (settled.contains(&route)) {
      continue;
    }
    const LinkInfo* link = by_index.at(route.ifindex);
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
    const std::vector<netlink::ChangeResult> results = s.nl.apply_routes(changes);
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
