#include "local_routes.hpp"

#include <algorithm>

#include "brindle/common/log.hpp"
#include "brindle/model/kinds.hpp"
#include "brindle/model/resource.hpp"

namespace brindle::agent {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::seconds kFirstRetry{1};
constexpr std::chrono::seconds kMaxRetry{60};
// Endpoint changes come in bursts (each CNI ADD and DEL writes one, and has already made or removed
// that pod's routes itself): one reconcile per burst, this long after its first change, keeps the
// dumps (which hold the kernel's rtnl lock) and the CPU out of the ADDs' way.
constexpr std::chrono::milliseconds kSettle{250};

}  // namespace

std::shared_ptr<LocalRoutes> LocalRoutes::create(asio::io_context& io, asio::thread_pool& workers,
                                                 Settings settings) {
  return std::shared_ptr<LocalRoutes>(new LocalRoutes(io, workers, std::move(settings)));
}

LocalRoutes::LocalRoutes(asio::io_context& io, asio::thread_pool& workers, Settings settings)
    : io_(io),
      workers_(workers),
      settings_(std::move(settings)),
      reconciler_(std::make_unique<workload::HostRouteReconciler>(settings_.plumbing,
                                                                  settings_.cleanup_grace)),
      refresh_timer_(io),
      due_timer_(io) {}

void LocalRoutes::on_upsert(const datastore::Stored& stored) {
  if (stored.key.kind != model::WorkloadEndpointSpec::kKind) {
    return;
  }
  const auto key = std::make_pair(stored.key.namespace_, stored.key.name);
  std::optional<workload::LocalEndpoint> endpoint;
  try {
    const model::WorkloadEndpoint wep =
        model::decode<model::WorkloadEndpointSpec>(model::resource_from_json_text(stored.json));
    if (wep.spec.node == settings_.node) {
      endpoint.emplace();
      endpoint->interface_name = wep.spec.interface_name;
      for (const model::IpPrefix& address : wep.spec.ip_networks) {
        endpoint->addresses.push_back(netlink::IpPrefix::from_abi(address.to_c()));
      }
    }
  } catch (const std::exception& e) {
    // The agent logs invalid resources; without a usable record the endpoint has no routes.
    log::debug("local routes: endpoint ignored",
               {{"key", stored.key.to_string()}, {"error", e.what()}});
  }
  auto it = endpoints_.find(key);
  if (!endpoint) {
    if (it == endpoints_.end()) {
      return;  // another node's
    }
    endpoints_.erase(it);
  } else if (it != endpoints_.end()) {
    if (it->second.interface_name == endpoint->interface_name &&
        it->second.addresses == endpoint->addresses) {
      return;  // labels, ports, profiles...: nothing for the routes
    }
    it->second = std::move(*endpoint);
  } else {
    endpoints_.emplace(key, std::move(*endpoint));
  }
  request_settled();
}

void LocalRoutes::on_remove(const datastore::Key& key) {
  if (key.kind == model::WorkloadEndpointSpec::kKind &&
      endpoints_.erase({key.namespace_, key.name}) != 0) {
    request_settled();
  }
}

void LocalRoutes::on_in_sync() {
  if (synced_) {
    return;  // a resync of the watch: the changes came as upserts and removals
  }
  synced_ = true;
  request();
  schedule_refresh();
}

void LocalRoutes::request() {
  if (!synced_) {
    return;  // before the datastore is in sync, the endpoints are incomplete
  }
  pending_ = true;
  if (!running_) {
    start_run();
  }
}

void LocalRoutes::request_settled() {
  if (synced_) {
    arm(due_timer_, Clock::now() + kSettle);  // keeps an earlier expiry
  }
}

void LocalRoutes::start_run() {
  running_ = true;
  pending_ = false;
  std::vector<workload::LocalEndpoint> endpoints;
  endpoints.reserve(endpoints_.size());
  for (const auto& [key, endpoint] : endpoints_) {
    endpoints.push_back(endpoint);
  }
  asio::post(workers_, [self = shared_from_this(), endpoints = std::move(endpoints)] {
    workload::HostRouteReport report;
    std::string failure;
    try {
      report = self->reconciler_->reconcile(endpoints);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    std::weak_ptr<LocalRoutes> weak = self;
    asio::post(self->io_, [weak, report = std::move(report), failure = std::move(failure)] {
      if (auto again = weak.lock()) {
        again->finished(report, failure);
      }
    });
  });
}

void LocalRoutes::finished(const workload::HostRouteReport& report, const std::string& failure) {
  running_ = false;
  std::string errors = failure;
  for (const std::string& e : report.errors) {
    errors += (errors.empty() ? "" : "; ") + e;
  }
  const std::initializer_list<log::Field> fields = {
      {"endpoints", static_cast<long>(report.endpoints)},
      {"interfaces", static_cast<long>(report.interfaces)},
      {"managed", static_cast<long>(report.managed_endpoints)},
      {"verified", static_cast<long>(report.routes_verified)},
      {"added", static_cast<long>(report.routes_added)},
      {"fixed", static_cast<long>(report.routes_fixed)},
      {"removed", static_cast<long>(report.routes_removed)},
      {"deferred", static_cast<long>(report.removals_deferred)},
      {"sysctls_fixed", static_cast<long>(report.sysctls_fixed)},
      {"errors", static_cast<long>(report.errors.size() + (failure.empty() ? 0 : 1))},
      {"duration_us", static_cast<long>(report.elapsed.count())}};
  const log::Level level = !first_done_ || report.changes() != 0 || report.sysctls_fixed != 0
                               ? log::Level::info
                               : log::Level::debug;
  if (log::logger().enabled(level)) {
    log::logger().write(level, first_done_ ? "local routes reconciled" : "local routes resynced",
                        std::span<const log::Field>(fields.begin(), fields.size()));
  }
  first_done_ = true;
  if (!errors.empty() && errors != last_errors_) {
    log::warn("local routes incomplete; retrying", {{"error", errors}});
  }
  last_errors_ = errors;

  Clock::time_point due = Clock::time_point::max();
  if (report.next_due) {
    due = *report.next_due;
  }
  if (!errors.empty()) {
    retry_delay_ = retry_delay_.count() == 0 ? kFirstRetry : std::min(retry_delay_ * 2, kMaxRetry);
    due = std::min(due, Clock::now() + retry_delay_);
  } else {
    retry_delay_ = std::chrono::seconds(0);
  }
  if (due != Clock::time_point::max()) {
    arm(due_timer_, due);
  }
  if (pending_) {
    start_run();
  }
}

void LocalRoutes::arm(asio::steady_timer& timer, Clock::time_point when) {
  if (timer.expiry() > Clock::now() && timer.expiry() <= when) {
    return;  // already due earlier
  }
  timer.expires_at(when);
  std::weak_ptr<LocalRoutes> weak = shared_from_this();
  timer.async_wait([weak](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) {
      self->request();
    }
  });
}

void LocalRoutes::schedule_refresh() {
  if (settings_.refresh_interval.count() == 0) {
    return;
  }
  refresh_timer_.expires_after(settings_.refresh_interval);
  std::weak_ptr<LocalRoutes> weak = shared_from_this();
  refresh_timer_.async_wait([weak](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) {
      self->request();
      self->schedule_refresh();
    }
  });
}

}  // namespace brindle::agent
