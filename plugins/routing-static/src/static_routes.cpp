#include "static_routes.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <utility>

namespace brindle::routing_static {

namespace {

constexpr size_t kFailuresNamed = 3;  // in an error message; the rest is only counted
constexpr uint32_t kIpv6DefaultMetric = 1024;

std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out.append(text).push_back('"');
  return out;
}

// The metric the kernel gives a route programmed without one.
uint32_t default_priority(int family) {
  return family == 6 ? kIpv6DefaultMetric : 0;
}

bool has_default_priority(const nl::RouteSpec& spec) {
  return spec.priority == default_priority(spec.destination.family()) ||
         (spec.destination.family() == 6 && spec.priority == 0);
}

// True when `actual` (listed from the kernel) is the route `wanted` asks for. A route without a
// requested device accepts whatever device the kernel picked.
bool matches(const nl::RouteSpec& wanted, const nl::RouteSpec& actual) {
  if (actual.type != wanted.type || actual.multipath || !has_default_priority(actual)) {
    return false;
  }
  if (wanted.type == nl::RouteType::blackhole) {
    return true;
  }
  return actual.gateway.address() == wanted.gateway.address() && actual.onlink == wanted.onlink &&
         (wanted.ifindex == 0 || actual.ifindex == wanted.ifindex);
}

// Same kernel route (as far as the adapter describes routes).
bool same_route(const nl::RouteSpec& a, const nl::RouteSpec& b) {
  return a.destination == b.destination && a.type == b.type && a.gateway == b.gateway &&
         a.ifindex == b.ifindex && a.onlink == b.onlink && a.priority == b.priority;
}

const char* verb(nl::RouteOp op) {
  switch (op) {
    case nl::RouteOp::add:
      return "add";
    case nl::RouteOp::replace:
      return "replace";
    case nl::RouteOp::remove:
      return "delete";
  }
  return "change";
}

// The adapter's message is "<verb> route <spec>: <cause>"; keep the cause only, the route is
// named our own way (with the device name and the node).
std::string reason(const nl::RouteChange& change, const nl::ChangeResult& result) {
  const std::string operation =
      std::string(verb(change.op)) + " route " + change.route.to_string() + ": ";
  std::string cause = result.message.compare(0, operation.size(), operation) == 0
                          ? result.message.substr(operation.size())
                          : result.message;
  // "Unspecific failure (kernel: Network is unreachable: ...)": the kernel's words say it all.
  const std::string_view kernel_marker = "(kernel: ";
  const size_t kernel = cause.find(kernel_marker);
  if (result.kernel_errno != 0 && kernel != std::string::npos && cause.back() == ')') {
    const size_t start = kernel + kernel_marker.size();
    return cause.substr(start, cause.size() - 1 - start);
  }
  return cause;
}

bool is_exists(const nl::ChangeResult& result) {
  return result.kernel_errno == EEXIST || result.error == nl::Errc::exists;
}

bool is_not_found(const nl::ChangeResult& result) {
  return result.kernel_errno == ESRCH || result.kernel_errno == ENOENT ||
         result.error == nl::Errc::not_found;
}

std::string describe_kernel_route(const nl::RouteSpec& spec) {
  std::string text = spec.type == nl::RouteType::blackhole ? "blackhole " : "";
  text += spec.destination.to_string();
  if (!spec.gateway.empty()) {
    text += " via " + spec.gateway.to_string(true);
  }
  if (spec.onlink) {
    text += " onlink";
  }
  if (!has_default_priority(spec)) {
    text += " metric " + std::to_string(spec.priority);
  }
  return text;
}

// Converts and checks one upsert. Throws Error(INVALID_ARGUMENT) naming the route.
DesiredRoute to_desired(const Route& route, const Options& options) {
  auto reject = [&](const std::string& why) -> Error {
    const std::string destination =
        route.destination.valid() ? route.destination.to_string() : std::string("(no destination)");
    const std::string owner = route.node.empty() ? std::string() : " of node " + quoted(route.node);
    return Error(BRINDLE_ERR_INVALID_ARGUMENT, "route " + destination + owner + ": " + why);
  };
  if (!route.destination.valid()) {
    throw reject("the destination is not an IPv4 or IPv6 prefix");
  }
  if (!(route.destination.network() == route.destination)) {
    throw reject("the destination has host bits set (the block is " +
                 route.destination.network().to_string() + ")");
  }
  DesiredRoute desired;
  nl::RouteSpec& spec = desired.spec;
  spec.destination = nl::IpPrefix::from_abi(route.destination.raw());
  spec.table = options.table;
  spec.protocol = options.protocol;
  switch (route.type) {
    case BRINDLE_ROUTE_LOCAL_BLOCK:
      spec.type = nl::RouteType::blackhole;
      desired.node = route.node;
      return desired;
    case BRINDLE_ROUTE_REMOTE_BLOCK:
      break;
    default:
      throw reject("unknown route type " + std::to_string(static_cast<int>(route.type)));
  }
  spec.type = nl::RouteType::unicast;
  if (route.gateway.valid()) {
    if (route.gateway.family() != route.destination.family()) {
      throw reject("the gateway " + route.gateway.address_string() +
                   " is not of the destination's IP family");
    }
    spec.gateway = nl::IpPrefix::from_abi(route.gateway.raw()).address();
  }
  if (route.device.size() > 15) {
    throw reject("device name " + quoted(route.device) + " is longer than 15 characters");
  }
  spec.onlink = (route.flags & BRINDLE_ROUTE_ONLINK) != 0;
  if (spec.gateway.empty() && route.device.empty()) {
    throw reject("a remote block route needs a gateway or a device");
  }
  if (spec.onlink && (spec.gateway.empty() || route.device.empty())) {
    throw reject("an onlink route needs both a gateway and a device");
  }
  desired.device = route.device;
  desired.node = route.node;
  return desired;
}

// "198.18.1.0/26 via 198.19.0.2 dev eth0 onlink (node "b")", "blackhole 198.18.0.0/26 (local
// block)". Built only for messages.
std::string describe(const DesiredRoute& desired) {
  const nl::RouteSpec& spec = desired.spec;
  if (spec.type == nl::RouteType::blackhole) {
    return "blackhole " + spec.destination.to_string() + " (local block)";
  }
  std::string text = spec.destination.to_string();
  if (!spec.gateway.empty()) {
    text += " via " + spec.gateway.to_string(true);
  }
  if (!desired.device.empty()) {
    text += " dev " + desired.device;
  }
  if (spec.onlink) {
    text += " onlink";
  }
  if (!desired.node.empty()) {
    text += " (node " + quoted(desired.node) + ")";
  }
  return text;
}

}  // namespace

// One change of a pass, with what it is for.
struct StaticRoutes::Planned {
  nl::RouteChange change;
  const DesiredRoute* desired = nullptr;  // null: removing a route nobody wants
  const char* unwanted = "stale";         // "stale" or "duplicate" when removing

  std::string description() const {
    return desired != nullptr
               ? "route " + describe(*desired)
               : std::string(unwanted) + " route " + describe_kernel_route(change.route);
  }
};

StaticRoutes::StaticRoutes(Host host, Options options, nl::Netlink netlink)
    : host_(host),
      options_(options),
      netlink_(std::move(netlink)),
      changes_(host.counter("route_changes_total",
                            "Route changes sent to the kernel, by operation and result")),
      desired_gauge_(host.gauge("routes_desired", "Routes this node wants programmed")),
      failed_gauge_(host.gauge("routes_failed", "Routes whose last programming attempt failed")) {}

void StaticRoutes::update(const RoutingUpdate& update) {
  std::vector<std::string> rejected;
  brindle_status_t first_status = BRINDLE_OK;
  for (const Route& route : update.upserts) {
    try {
      DesiredRoute desired = to_desired(route, options_);
      const nl::IpPrefix destination = desired.spec.destination;
      desired_.insert_or_assign(destination, std::move(desired));
      dirty_.insert(destination);
    } catch (const Error& e) {
      if (rejected.empty()) {
        first_status = e.code();
      }
      rejected.emplace_back(e.what());
    }
  }
  for (const IpPrefix& removal : update.removals) {
    if (!removal.valid()) {
      rejected.emplace_back("removal: not an IPv4 or IPv6 prefix");
      first_status = first_status == BRINDLE_OK ? BRINDLE_ERR_INVALID_ARGUMENT : first_status;
      continue;
    }
    const nl::IpPrefix destination = nl::IpPrefix::from_abi(removal.raw());
    desired_.erase(destination);
    dirty_.insert(destination);
  }
  desired_gauge_.set(static_cast<double>(desired_.size()));
  if (!rejected.empty()) {
    std::string message = "routing static: " + std::to_string(rejected.size()) +
                          (rejected.size() == 1 ? " route" : " routes") +
                          " rejected (the rest of the update is recorded): ";
    for (size_t i = 0; i < rejected.size() && i < kFailuresNamed; ++i) {
      message += (i == 0 ? "" : "; ") + rejected[i];
    }
    if (rejected.size() > kFailuresNamed) {
      message += "; and " + std::to_string(rejected.size() - kFailuresNamed) + " more";
    }
    throw Error(first_status, message);
  }
}

void StaticRoutes::in_sync() {
  if (!in_sync_) {
    host_.info("desired routes complete; stale routes are removed from the next apply on",
               "desired=" + std::to_string(desired_.size()));
  }
  in_sync_ = true;
}

PassSummary StaticRoutes::apply() {
  if (!kernel_known_ || (in_sync_ && !reconciled_)) {
    // Startup (what a previous run left is reused, not re-added) and the reconciliation after
    // in_sync(): both start from the kernel's own list.
    load_kernel();
    PassSummary summary = program(all_destinations(), in_sync_);
    dirty_.clear();
    reconciled_ = in_sync_;
    finish(in_sync_ ? "reconcile" : "apply", summary);
    return summary;
  }
  // Before in_sync() a removal only drops the destination from the desired state; the
  // reconciliation after in_sync() removes the route.
  PassSummary summary = program(dirty_, in_sync_);
  dirty_.clear();
  finish("apply", summary);
  return summary;
}

PassSummary StaticRoutes::refresh() {
  load_kernel();
  PassSummary summary = program(all_destinations(), in_sync_);
  dirty_.clear();
  reconciled_ = reconciled_ || in_sync_;
  finish("refresh", summary);
  return summary;
}

void StaticRoutes::load_kernel() {
  std::map<nl::IpPrefix, std::vector<nl::RouteSpec>> listed;
  for (nl::RouteSpec& spec :
       netlink_.routes({.protocol = options_.protocol, .table = options_.table})) {
    const nl::IpPrefix destination = spec.destination;
    listed[destination].push_back(spec);
  }
  kernel_ = std::move(listed);  // only once the listing succeeded
  kernel_known_ = true;
}

StaticRoutes::Targets StaticRoutes::all_destinations() const {
  Targets targets;
  for (const auto& [destination, desired] : desired_) {
    targets.insert(targets.end(), destination);
  }
  for (const auto& [destination, routes] : kernel_) {
    targets.insert(destination);
  }
  return targets;
}

std::optional<int> StaticRoutes::resolve_device(const std::string& device) {
  if (!links_) {
    links_.emplace();
    for (const nl::LinkInfo& link : netlink_.links()) {
      links_->emplace(link.name, link.index);
    }
  }
  const auto found = links_->find(device);
  return found == links_->end() ? std::nullopt : std::optional<int>(found->second);
}

PassSummary StaticRoutes::program(const Targets& targets, bool allow_removal) {
  PassSummary summary;
  std::vector<Planned> planned;
  links_.reset();  // devices may have come or gone since the last pass
  for (const nl::IpPrefix& destination : targets) {
    const auto desired = desired_.find(destination);
    const auto owned = kernel_.find(destination);
    const std::vector<nl::RouteSpec> none;
    const std::vector<nl::RouteSpec>& in_kernel = owned == kernel_.end() ? none : owned->second;
    if (desired == desired_.end()) {
      if (allow_removal) {
        for (const nl::RouteSpec& stale : in_kernel) {
          planned.push_back({{nl::RouteOp::remove, stale}, nullptr, "stale"});
        }
      }
      continue;
    }
    nl::RouteSpec spec = desired->second.spec;
    if (!desired->second.device.empty()) {
      const std::optional<int> ifindex = resolve_device(desired->second.device);
      if (!ifindex) {
        summary.failures.push_back({destination,
                                    "route " + describe(desired->second) + ": device " +
                                        quoted(desired->second.device) + " does not exist",
                                    BRINDLE_ERR_NOT_FOUND});
        continue;
      }
      spec.ifindex = *ifindex;
    }
    const nl::RouteSpec* kept = nullptr;
    const nl::RouteSpec* default_slot = nullptr;  // what a replace overwrites
    for (const nl::RouteSpec& route : in_kernel) {
      if (kept == nullptr && matches(spec, route)) {
        kept = &route;
      }
      if (default_slot == nullptr && has_default_priority(route)) {
        default_slot = &route;
      }
    }
    if (kept != nullptr) {
      ++summary.unchanged;
    } else {
      // Replace only a slot we own: an add never overwrites someone else's route.
      planned.push_back({{default_slot != nullptr ? nl::RouteOp::replace : nl::RouteOp::add, spec},
                         &desired->second});
    }
    if (allow_removal) {
      for (const nl::RouteSpec& extra : in_kernel) {
        if (&extra != kept && (kept != nullptr || &extra != default_slot)) {
          planned.push_back({{nl::RouteOp::remove, extra}, nullptr, "duplicate"});
        }
      }
    }
  }
  if (planned.empty()) {
    return summary;
  }

  std::vector<nl::RouteChange> changes;
  changes.reserve(planned.size());
  for (const Planned& item : planned) {
    changes.push_back(item.change);
  }
  const std::vector<nl::ChangeResult> results = netlink_.apply_routes(changes);
  std::vector<Planned> conflicts;
  size_t counts[3][2] = {};  // [op][ok, error], for the metric
  for (size_t i = 0; i < planned.size(); ++i) {
    const nl::RouteChange& change = planned[i].change;
    const nl::ChangeResult& result = results[i];
    const bool ok = result.ok() || (change.op == nl::RouteOp::remove && is_not_found(result));
    ++counts[static_cast<int>(change.op)][ok ? 0 : 1];
    if (ok) {
      if (change.op == nl::RouteOp::remove) {
        record_removed(change.route);
        ++summary.removed;
      } else {
        record_programmed(change.route);
        ++(change.op == nl::RouteOp::add ? summary.added : summary.replaced);
      }
      continue;
    }
    if (change.op == nl::RouteOp::add && is_exists(result)) {
      conflicts.push_back(planned[i]);
      continue;
    }
    summary.failures.push_back({change.route.destination,
                                planned[i].description() + ": " + reason(change, result),
                                nl::to_status(result.error, result.kernel_errno)});
  }
  for (const nl::RouteOp op : {nl::RouteOp::add, nl::RouteOp::replace, nl::RouteOp::remove}) {
    for (const int failed : {0, 1}) {
      const size_t n = counts[static_cast<int>(op)][failed];
      if (n > 0) {
        changes_.add(static_cast<double>(n), std::string("op=\"") + verb(op) + "\",result=\"" +
                                                 (failed != 0 ? "error" : "ok") + "\"");
      }
    }
  }
  if (!conflicts.empty()) {
    resolve_conflicts(conflicts, summary);
  }
  return summary;
}

// An add found the slot taken. If the route there is ours (added behind our back, or left by a
// previous run we had not listed), it is replaced; anyone else's route is left alone and the
// conflict reported.
void StaticRoutes::resolve_conflicts(std::vector<Planned>& conflicts, PassSummary& summary) {
  std::map<nl::IpPrefix, nl::RouteSpec> occupants;
  for (nl::RouteSpec& route : netlink_.routes({.table = options_.table})) {
    if (has_default_priority(route)) {
      const nl::IpPrefix destination = route.destination;
      occupants.try_emplace(destination, route);
    }
  }
  std::vector<Planned> replacements;
  for (Planned& conflict : conflicts) {
    const auto occupant = occupants.find(conflict.change.route.destination);
    if (occupant != occupants.end() && occupant->second.protocol == options_.protocol) {
      conflict.change.op = nl::RouteOp::replace;
      replacements.push_back(conflict);
      continue;
    }
    std::string message = conflict.description() + ": ";
    if (occupant != occupants.end()) {
      message += "left alone the existing route " + describe_kernel_route(occupant->second) +
                 " in table " + std::to_string(options_.table) + ", which has protocol " +
                 std::to_string(occupant->second.protocol) + " (this plugin owns only protocol " +
                 std::to_string(options_.protocol) + ")";
    } else {
      message += "the kernel says a route is in the way (File exists)";
    }
    summary.failures.push_back(
        {conflict.change.route.destination, std::move(message), BRINDLE_ERR_CONFLICT});
  }
  if (replacements.empty()) {
    return;
  }
  std::vector<nl::RouteChange> changes;
  for (const Planned& item : replacements) {
    changes.push_back(item.change);
  }
  const std::vector<nl::ChangeResult> results = netlink_.apply_routes(changes);
  for (size_t i = 0; i < replacements.size(); ++i) {
    const bool ok = results[i].ok();
    changes_.add(1, std::string("op=\"replace\",result=\"") + (ok ? "ok" : "error") + "\"");
    if (ok) {
      record_programmed(changes[i].route);
      ++summary.replaced;
    } else {
      summary.failures.push_back(
          {changes[i].route.destination,
           replacements[i].description() + ": " + reason(changes[i], results[i]),
           nl::to_status(results[i].error, results[i].kernel_errno)});
    }
  }
}

void StaticRoutes::record_programmed(const nl::RouteSpec& spec) {
  std::vector<nl::RouteSpec>& routes = kernel_[spec.destination];
  std::erase_if(routes, [](const nl::RouteSpec& route) { return has_default_priority(route); });
  nl::RouteSpec programmed = spec;
  programmed.priority = default_priority(spec.destination.family());
  routes.push_back(programmed);
}

void StaticRoutes::record_removed(const nl::RouteSpec& spec) {
  const auto found = kernel_.find(spec.destination);
  if (found == kernel_.end()) {
    return;
  }
  std::erase_if(found->second, [&](const nl::RouteSpec& route) { return same_route(route, spec); });
  if (found->second.empty()) {
    kernel_.erase(found);
  }
}

void StaticRoutes::finish(const char* pass, PassSummary& summary) {
  std::stable_sort(
      summary.failures.begin(), summary.failures.end(),
      [](const RouteFailure& a, const RouteFailure& b) { return a.destination < b.destination; });
  for (const RouteFailure& failure : summary.failures) {
    dirty_.insert(failure.destination);  // retried at the next apply()
  }
  failed_gauge_.set(static_cast<double>(summary.failures.size()));
  const std::string fields = "pass=" + std::string(pass) +
                             " added=" + std::to_string(summary.added) +
                             " replaced=" + std::to_string(summary.replaced) +
                             " removed=" + std::to_string(summary.removed) +
                             " unchanged=" + std::to_string(summary.unchanged) +
                             " failed=" + std::to_string(summary.failures.size());
  if (summary.failures.empty()) {
    if (summary.added + summary.replaced + summary.removed > 0 ||
        std::string_view(pass) != "apply") {
      host_.info("routes programmed", fields);
    }
    return;
  }
  const size_t total = summary.added + summary.replaced + summary.removed + summary.failures.size();
  std::string message = "routing static: " + std::to_string(summary.failures.size()) + " of " +
                        std::to_string(total) + " route changes failed at " + pass +
                        " (retried at the next apply; the others were programmed): ";
  for (size_t i = 0; i < summary.failures.size() && i < kFailuresNamed; ++i) {
    message += (i == 0 ? "" : "; ") + summary.failures[i].message;
  }
  if (summary.failures.size() > kFailuresNamed) {
    message += "; and " + std::to_string(summary.failures.size() - kFailuresNamed) + " more";
  }
  host_.warn("route changes failed", fields + " first=" + quoted(summary.failures[0].message));
  throw Error(summary.failures[0].status, message);
}

}  // namespace brindle::routing_static
