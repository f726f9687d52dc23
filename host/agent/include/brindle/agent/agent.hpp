// The node agent: what brindled does between the datastore and the plugins.
//
//  - registers this node (Node resource: addresses, tunnel address, VTEP MAC);
//  - keeps an in-memory copy of the datastore (list + watch) and feeds the calculation;
//  - drives the encapsulation and routing plugins with the differences (nothing removed before
//    the datastore is in sync; in_sync() then apply());
//  - with a policy plugin: feeds endpoints, profiles, policies and network sets to the policy
//    engine (host/policy) and sends its changes to the plugin; a new pod's endpoint is enforced
//    before its interface is created;
//  - serves the cni.* control methods: IPAM, the WorkloadEndpoint record, pod plumbing;
//  - releases this node's empty IPAM blocks after a grace period.
//
// Threads: all calculation state and every call into the routing/encapsulation/policy plugins
// live on the daemon's event loop thread. The syncer thread only posts to it. CNI requests run
// on a small worker pool (datastore and netlink calls block) and post to the loop what touches
// the dataplane.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"

namespace boost::asio {
class io_context;
}

namespace brindle::daemon {
class MethodTable;
class PluginSet;
}  // namespace brindle::daemon

namespace brindle::agent {

class Agent {
 public:
  // `plugins` must outlive the agent; the agent is destroyed before they are.
  Agent(boost::asio::io_context& io, const config::Config& config, const loader::NodeIdentity& node,
        daemon::PluginSet& plugins);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Registers this node and starts syncing. Without a datastore plugin the agent does nothing
  // (the daemon still serves health and control). Throws std::runtime_error when the node cannot
  // be registered.
  void start();

  // Ready: in sync with the datastore and the dataplane programmed once.
  bool ready() const;
  std::string not_ready_reason() const;

  // cni.add, cni.del, cni.check, cni.status and cni.gc (docs/cni.md).
  void register_methods(daemon::MethodTable& methods);

  nlohmann::json status() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace brindle::agent
