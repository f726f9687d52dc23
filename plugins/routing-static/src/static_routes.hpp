// The desired routes of this node and their reconciliation with one kernel routing table.
//
// Ownership is by route protocol number: only routes carrying `Options::protocol` in
// `Options::table` are ever replaced or removed. Routes of other protocols (pod host routes, the
// administrator's, other daemons') are left alone even when they are in the way; such a conflict
// is reported as a per-route error.
#pragma once

#include <brindle/sdk.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "brindle/netlink/netlink.hpp"

namespace brindle::routing_static {

namespace nl = brindle::netlink;

// RTPROT_* values 0..4 are the kernel's own (unspec, redirect, kernel, boot) and the
// administrator's ("static"); 201 is the default protocol of brindle's pod host routes.
inline constexpr uint8_t kDefaultProtocol = 202;
inline constexpr uint8_t kPodRouteProtocol = 201;
inline constexpr int64_t kMinProtocol = 5;
inline constexpr uint32_t kLocalTable = 255;  // RT_TABLE_LOCAL: the kernel's own

struct Options {
  uint8_t protocol = kDefaultProtocol;
  uint32_t table = nl::kMainTable;
};

// One destination the host wants routed.
struct DesiredRoute {
  nl::RouteSpec spec;  // the kernel form, ifindex not yet resolved
  std::string device;  // empty: the kernel picks the device
  std::string node;    // owning node, for messages
};

// One route that could not be programmed this time.
struct RouteFailure {
  nl::IpPrefix destination;
  std::string message;  // names the route and the kernel's reason
  brindle_status_t status = BRINDLE_ERR_INTERNAL;
};

// Counts of one programming pass.
struct PassSummary {
  size_t added = 0;
  size_t replaced = 0;
  size_t removed = 0;
  size_t unchanged = 0;
  std::vector<RouteFailure> failures;
};

class StaticRoutes {
 public:
  StaticRoutes(Host host, Options options, nl::Netlink netlink);

  const Options& options() const { return options_; }

  // Records upserts and removals (they take effect at the next apply()). Invalid upserts are
  // rejected (the previous state of that destination is kept) after the valid ones are recorded:
  // throws Error(INVALID_ARGUMENT) naming the first few and counting them.
  void update(const RoutingUpdate& update);
  // From the next apply() on, owned routes that are not desired are removed.
  void in_sync();
  // Programs the recorded changes. The first call lists the kernel (routes a previous run left
  // exactly as wanted are not touched); so does the first call after in_sync(), which reconciles.
  // Throws Error naming the first failed routes and their total; the rest is programmed anyway
  // and failed routes are retried on the next call.
  PassSummary apply();
  // Lists the kernel's routes again and repairs every difference (removals only after in_sync()).
  PassSummary refresh();

 private:
  struct Planned;
  using Targets = std::set<nl::IpPrefix>;

  void load_kernel();
  Targets all_destinations() const;
  PassSummary program(const Targets& targets, bool allow_removal);
  std::optional<int> resolve_device(const std::string& device);
  void resolve_conflicts(std::vector<Planned>& conflicts, PassSummary& summary);
  void record_programmed(const nl::RouteSpec& spec);
  void record_removed(const nl::RouteSpec& spec);
  void finish(const char* pass, PassSummary& summary);

  Host host_;
  Options options_;
  nl::Netlink netlink_;
  bool in_sync_ = false;
  bool reconciled_ = false;  // the full reconciliation after in_sync() has run
  bool kernel_known_ = false;
  std::map<nl::IpPrefix, DesiredRoute> desired_;
  // Owned routes in the kernel, per destination (normally one; more if someone added others
  // with our protocol, e.g. with another metric).
  std::map<nl::IpPrefix, std::vector<nl::RouteSpec>> kernel_;
  // Destinations whose kernel state must be brought in line at the next apply().
  Targets dirty_;
  // Device name -> ifindex, listed once per pass when needed.
  std::optional<std::map<std::string, int>> links_;
  Metric changes_;
  Metric desired_gauge_;
  Metric failed_gauge_;
};

}  // namespace brindle::routing_static
