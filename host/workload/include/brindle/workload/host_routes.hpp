// The host routes to this node's pods, verified and repaired against their endpoints (what
// Felix's route table does for Calico): setup_pod() creates `<pod address> dev <host veth>
// proto <route_protocol>` once; HostRouteReconciler keeps it there afterwards.
//
// One reconcile() reads the kernel with one link dump, one dump of the ARP table's parameters and
// one route dump, and sends every change in one pipelined batch:
//   - desired: for every endpoint whose host interface exists, carries the workload prefix, is up
//     and is not being reaped (device group reap_group), a route per address (main table, scope
//     link, no gateway, default metric) — what setup_pod() adds;
//   - ours: routes of route_protocol in the main table on interfaces with the workload prefix;
//   - missing routes are added (never replacing a route of another protocol or interface: such a
//     conflict is reported), wrong ones of ours replaced, stale ones of ours removed.
// Routes of other protocols, of other tables and on other interfaces are never touched. The
// host-side sysctls of setup_pod() (proxy ARP/NDP, forwarding, ...) of every usable interface are
// verified from the same link dump (and the ARP table's parameters) and repaired through /proc.
//
// An interface that appears while the reconciler runs (a CNI ADD in progress, its endpoint maybe
// not known to the caller yet) keeps its routes for `cleanup_grace` before they count as stale,
// unless an endpoint claimed it meanwhile; the interfaces present at the first reconcile() (a
// restart) have no grace.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brindle/netlink/types.hpp"
#include "brindle/workload/plumbing.hpp"

namespace brindle::workload {

inline constexpr std::chrono::milliseconds kDefaultRouteCleanupGrace{10'000};

// A pod attachment of this node, as its endpoint records it.
struct LocalEndpoint {
  std::string interface_name;                // the host veth
  std::vector<netlink::IpPrefix> addresses;  // any prefix length: the address alone is routed
};

struct HostRouteReport {
  size_t endpoints = 0;          // given
  size_t interfaces = 0;         // workload-prefixed interfaces in the kernel
  size_t managed_endpoints = 0;  // endpoints whose interface is usable (exists, up, not reaped)
  size_t routes_verified = 0;    // desired routes that were already right
  size_t routes_added = 0;
  size_t routes_fixed = 0;    // a route of ours to a pod address that was wrong, replaced
  size_t routes_removed = 0;  // stale routes of ours
  size_t sysctls_checked = 0;
  size_t sysctls_fixed = 0;
  // Stale routes kept because their interface is younger than the grace period.
  size_t removals_deferred = 0;
  std::vector<std::string> errors;  // one line per route that could not be programmed
  std::chrono::microseconds elapsed{};
  // When a deferred removal becomes due (call reconcile() again then); nullopt: none.
  std::optional<std::chrono::steady_clock::time_point> next_due;

  size_t changes() const { return routes_added + routes_fixed + routes_removed; }
};

// Not thread-safe: use it from one thread at a time. Keeps its netlink socket (the netlink
// adapter's, opened in the host-side namespace of `options`) between calls.
class HostRouteReconciler {
 public:
  // Throws PlumbingError for invalid options or when the socket cannot be opened.
  explicit HostRouteReconciler(const PlumbingOptions& options = {},
                               std::chrono::milliseconds cleanup_grace = kDefaultRouteCleanupGrace);
  ~HostRouteReconciler();
  HostRouteReconciler(const HostRouteReconciler&) = delete;
  HostRouteReconciler& operator=(const HostRouteReconciler&) = delete;

  // Brings the host routes and sysctls to `endpoints` (this node's, complete). Per-route failures
  // are reported in the result; throws PlumbingError only when the kernel cannot be read.
  HostRouteReport reconcile(const std::vector<LocalEndpoint>& endpoints);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace brindle::workload
