// Private: the agent's state, shared by agent.cpp (sync + dataplane) and cni_methods.cpp.
#pragma once

// Boost 1.74 Asio uses std::exchange without including <utility> (C++20 coroutine support).
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "brindle/agent/agent.hpp"
#include "brindle/calc/bgp_calculator.hpp"
#include "brindle/calc/route_calculator.hpp"
#include "brindle/cni/protocol.hpp"
#include "brindle/datastore/client.hpp"
#include "brindle/datastore/syncer.hpp"
#include "brindle/ipam/ipam.hpp"
#include "brindle/ipam/store.hpp"
#include "brindle/policy/engine.hpp"
#include "brindle/workload/plumbing.hpp"

namespace brindle::daemon {
class PluginSet;
}

namespace brindle::agent {

namespace asio = boost::asio;

// The policy plugin could not program a new pod's endpoint (CNI code 103, policy_failed).
class EndpointPolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Agent::Impl : std::enable_shared_from_this<Agent::Impl> {
  Impl(asio::io_context& io, const config::Config& config, const loader::NodeIdentity& node,
       daemon::PluginSet& plugins);

  // --- fixed after construction ---
  asio::io_context& io;
  config::Config config;
  loader::NodeIdentity node;
  daemon::PluginSet& plugins;
  std::unique_ptr<datastore::Client> client;   // null without a datastore plugin
  std::string encap_name;                      // the encapsulation plugin's name, "" if none
  calc::Encap encap_kind = calc::Encap::none;  // what the encapsulation plugin provides
  workload::PlumbingOptions plumbing;
  static constexpr int kWorkerThreads = 4;
  static constexpr int kPlumbingThreads = 4;
  asio::thread_pool workers{kWorkerThreads};  // CNI requests and other blocking datastore work
  // A pod's interface work that runs beside its request's datastore work (one task per request
  // at most): threads kept, as one costs tens of microseconds to start here.
  asio::thread_pool plumbing_threads{kPlumbingThreads};

  // --- loop thread only ---
  calc::RouteCalculator routes;
  std::unique_ptr<datastore::Syncer> syncer;
  bool synced = false;            // the datastore was listed completely once
  bool dataplane_synced = false;  // in_sync() was given to the plugins
  bool applied_once = false;
  bool sync_posted = false;
  std::string underlay_device;
  uint32_t underlay_mtu = 1500;
  std::optional<netlink::LinkInfo> underlay_link;   // as found last (GSO/GRO limits for big_tcp)
  std::optional<model::IpAddress> tunnel_address;   // ours, from IPAM
  std::optional<model::IpAddress> tunnel_address6;  // VXLAN over an IPv6 underlay only
  bool tunnel_requested = false;
  std::map<model::IpPrefix, std::string> unresolved;  // remote blocks without a route form yet
  std::string last_dataplane_error;
  std::string encap_device;  // the encapsulation's tunnel device, "" for none
  // BGP inputs (only a bgp routing plugin uses them) and what was last sent.
  std::map<std::string, model::Node> nodes_full;
  std::map<std::string, model::BGPConfiguration> bgp_configs;
  std::map<std::string, model::BGPPeer> bgp_peers;
  // Confirmed BlockAffinities by name, and by block: a deletion names only the resource, and a
  // block may briefly have two affinities while it moves between nodes.
  std::map<std::string, std::pair<model::IpPrefix, std::string>> confirmed_affinities;
  std::map<model::IpPrefix, std::set<std::string>> affinities_of_block;
  std::optional<std::vector<calc::PoolInfo>> sent_pools;
  std::optional<calc::BgpState> sent_bgp;
  std::map<model::IpPrefix, std::chrono::steady_clock::time_point> empty_since;
  std::unique_ptr<asio::steady_timer> gc_timer;
  std::unique_ptr<asio::steady_timer> routing_check_timer;
  std::atomic<bool> stopping{false};
  // Policy (only with a policy plugin): the engine's changes not yet accepted by the plugin, in
  // order; they are retried from the first that failed.
  std::unique_ptr<policy::PolicyEngine> policy_engine;
  std::deque<policy::Change> policy_pending;
  bool policy_in_sync_sent = false;
  std::string last_policy_error;

  // --- any thread ---
  // What CNI workers use of the synced datastore to skip IPAM reads (ipam::AssignRequest's
  // known_* fields). Written on the loop thread, under the mutex.
  struct IpamCache {
    std::map<std::string, model::IPPool> pools;
    model::IPAMConfigSpec config;          // "default"; defaults when there is none
    model::Labels node_labels;             // this node's
    std::set<model::IpPrefix> own_blocks;  // this node's confirmed affinities
    // This node's IPAM blocks with their revisions: an allocation is then one transaction.
    std::map<model::IpPrefix, ipam::Versioned<model::IPAMBlockSpec>> own_block_docs;
  };
  mutable std::mutex ipam_cache_mutex;
  IpamCache ipam_cache;
  // This node's endpoints as this agent's CNI ADDs wrote them, by (namespace, name): a DEL starts
  // from them instead of reading (cni_methods.cpp). Only hints: every write from them is
  // conditional on their revisions, and without an entry (e.g. after a restart) a DEL reads.
  struct LocalEndpoint {
    std::string container_id;
    std::string revision;  // the WorkloadEndpoint's
    std::string handle_id;
    std::optional<ipam::Versioned<model::IPAMHandleSpec>> handle;  // as the ADD left it
  };
  std::mutex local_endpoints_mutex;
  std::map<std::pair<std::string, std::string>, LocalEndpoint> local_endpoints;
  std::atomic<uint32_t> pod_mtu{1500};
  std::atomic<bool> ready_flag{false};
  // The routing plugin's own readiness (e.g. a BGP session established), polled on the loop.
  std::atomic<bool> routing_ready{true};
  mutable std::mutex reason_mutex;
  std::string reason = "starting";

  void set_not_ready(std::string why);

  // agent.cpp
  void start();
  void stop();
  void register_node();
  void ensure_encapsulation();
  void on_upsert(const datastore::Stored& stored);
  void on_remove(const datastore::Key& key);
  void on_in_sync();
  // Records (or forgets, with nullopt) one confirmed affinity and routes the block to its owner.
  void set_affinity(const std::string& name,
                    const std::optional<std::pair<model::IpPrefix, std::string>>& confirmed);
  void schedule_sync();
  void sync_dataplane();
  // Feeds a policy resource to the engine; false when `kind` is not one.
  bool policy_upsert(const std::string& kind, const model::Resource& resource);
  bool policy_remove(const datastore::Key& key);
  // Sends the engine's changes to the policy plugin and applies them. Returns the error ("" = the
  // dataplane enforces the current model).
  std::string sync_policy();
  // From a CNI worker: makes the policy plugin enforce `endpoint` before the pod's interface
  // exists. Throws EndpointPolicyError when that fails or takes too long.
  void program_endpoint_policy(const model::WorkloadEndpoint& endpoint);
  void request_tunnel_address();
  void schedule_gc();
  void schedule_routing_check();
  void collect_empty_blocks();

  // cni_methods.cpp
  void register_methods(daemon::MethodTable& methods);
  nlohmann::json cni_add(const cni::Params& params);
  void cni_del(const cni::Params& params);
  void cni_check(const cni::Params& params);
  void cni_gc(const cni::Params& params);
  std::string handle_id(const std::string& network, const std::string& container_id) const;
  // The blocks CNI workers wrote, ahead of the watch (which delivers them a little later): what
  // was written last, and the revisions it replaced in order, oldest first. Under
  // ipam_cache_mutex; kept by cni_methods.cpp.
  struct WrittenBlockCopy {
    ipam::Versioned<model::IPAMBlockSpec> now;
    std::deque<std::string> superseded;
  };
  std::map<model::IpPrefix, WrittenBlockCopy> written_block_copies;
  // The newest copy of one of this node's blocks: the watch's, or a worker's write that the watch
  // has not delivered yet. Null when the block is not ours (any more). Under ipam_cache_mutex.
  const ipam::Versioned<model::IPAMBlockSpec>* newest_own_block(const model::IpPrefix& cidr);
  // Records the blocks `ipam` wrote, where the write replaced the newest copy.
  void note_written_blocks(const ipam::Ipam& ipam);
  // A watch event of a block at the revision this agent wrote it: takes the written copy as the
  // watched one, without decoding the event. False if the event is not such a write.
  bool take_written_block(const datastore::Stored& s);
  // A watch event of a block that is not this node's (by its affinity, without parsing it): it
  // drops any copy of that block. False when the block may be this node's.
  bool skip_foreign_block(const datastore::Stored& s);
};

}  // namespace brindle::agent
