// The agent's side of the pods' host routes: this node's WorkloadEndpoints, taken from the
// datastore sync, handed to workload::HostRouteReconciler, which verifies and repairs
// `<pod address> dev <host veth> proto <route_protocol>` (and the host veths' sysctls).
//
// When: once the datastore is in sync, after every change of one of this node's endpoints, every
// refresh interval (as the plugins' refresh), when a deferred removal becomes due, and with
// backoff after a failure. Requests coalesce: at most one
// reconcile runs (on the agent's worker pool, off the event loop) and one more waits.
//
// Threads: every member function runs on the event loop thread.
#pragma once

// Boost 1.74 Asio uses std::exchange without including <utility> (C++20 coroutine support).
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "brindle/datastore/client.hpp"
#include "brindle/workload/host_routes.hpp"
#include "brindle/workload/plumbing.hpp"

namespace brindle::agent {

class LocalRoutes : public std::enable_shared_from_this<LocalRoutes> {
 public:
  struct Settings {
    std::string node;  // this node's name: only its endpoints count
    workload::PlumbingOptions plumbing;
    std::chrono::seconds refresh_interval{90};  // 0: no periodic reconcile
    std::chrono::milliseconds cleanup_grace = workload::kDefaultRouteCleanupGrace;
  };

  // `io` and `workers` must outlive every use of the object (the agent's own). Throws
  // workload::PlumbingError when the netlink sockets cannot be opened.
  static std::shared_ptr<LocalRoutes> create(boost::asio::io_context& io,
                                             boost::asio::thread_pool& workers, Settings settings);

  // From the datastore sync, in its order; other kinds are ignored.
  void on_upsert(const datastore::Stored& stored);
  void on_remove(const datastore::Key& key);
  // The endpoints are complete: the first reconcile, then the periodic ones.
  void on_in_sync();

 private:
  LocalRoutes(boost::asio::io_context& io, boost::asio::thread_pool& workers, Settings settings);
  void request();
  void request_settled();  // request() after a short settling delay: for endpoint changes
  void start_run();
  void finished(const workload::HostRouteReport& report, const std::string& failure);
  void schedule_refresh();
  void arm(boost::asio::steady_timer& timer, std::chrono::steady_clock::time_point when);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  const Settings settings_;
  // Used by one reconcile at a time (running_), on a worker thread.
  std::unique_ptr<workload::HostRouteReconciler> reconciler_;
  // This node's endpoints by (namespace, name).
  std::map<std::pair<std::string, std::string>, workload::LocalEndpoint> endpoints_;
  bool synced_ = false;
  bool running_ = false;
  bool pending_ = false;
  bool first_done_ = false;
  std::chrono::seconds retry_delay_{0};  // backoff after a failed reconcile, 0: none pending
  std::string last_errors_;              // logged once while they stay the same
  boost::asio::steady_timer refresh_timer_;
  boost::asio::steady_timer due_timer_;  // deferred removals and retries
};

}  // namespace brindle::agent
