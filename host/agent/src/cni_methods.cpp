// The cni.* control methods (docs/cni.md): brindle-cni forwards each CNI call here.
//
// ADD: IPAM (handle "<network>.<containerID>") -> WorkloadEndpoint record -> pod plumbing ->
// result; any failure undoes what was done. DEL: plumbing torn down, endpoint removed, addresses
// released; everything already gone is success. The work runs on the agent's worker pool; the
// reply is posted back to the event loop that owns the connection.
//
// With a datastore that has transactions, the endpoint's creation goes into the IPAM transaction
// of the allocation and its removal into that of the release, so that an ADD or a DEL from the
// agent's synced copies is one datastore round trip; a DEL tears the pod's interface down while
// that write is under way.
#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <future>
#include <sstream>
#include <type_traits>

#include "agent_impl.hpp"
#include "brindle/cni/protocol.hpp"
#include "brindle/common/log.hpp"
#include "brindle/daemon/control_server.hpp"
#include "brindle/ipam/store.hpp"
#include "brindle/workload/cni_adapter.hpp"

namespace brindle::agent {

using model::IpPrefix;
using json = nlohmann::json;

namespace {

// A CNI failure: the CNI code travels as its control-API error name.
struct CniFailure {
  int code;
  std::string message;
};

[[noreturn]] void fail(int code, std::string message) {
  throw CniFailure{code, std::move(message)};
}

// Endpoint names like Calico's: "<node>-k8s-<pod>-<ifname>" with '-' doubled inside each part
// so that the parts stay unambiguous.
std::string escape_part(std::string_view part) {
  std::string out;
  for (char c : part) {
    out += c == '-' ? std::string("--") : std::string(1, c);
  }
  return out;
}

std::string endpoint_name(const std::string& node, const workload::PodIdentity& pod) {
  if (!pod.pod_name.empty()) {
    return escape_part(node) + "-k8s-" + escape_part(pod.pod_name) + "-" + escape_part(pod.ifname);
  }
  return escape_part(node) + "-cni-" + pod.container_id.substr(0, 12) + "-" +
         escape_part(pod.ifname);
}

std::string endpoint_namespace(const workload::PodIdentity& pod) {
  return pod.pod_namespace.empty() ? "default" : pod.pod_namespace;
}

// Labels for the endpoint: runtimeConfig.labels (object) and CNI_ARGS BRINDLE_POD_LABELS
// ("k=v,k=v"), so that non-Kubernetes runtimes and tests can label pods.
model::Labels pod_labels(const cni::Params& params) {
  model::Labels labels;
  const json rc = params.runtime_config();
  if (rc.contains("labels") && rc["labels"].is_object()) {
    for (const auto& [k, v] : rc["labels"].items()) {
      if (v.is_string()) {
        labels[k] = v.get<std::string>();
      }
    }
  }
  if (auto text = params.arg("BRINDLE_POD_LABELS")) {
    std::stringstream in(*text);
    std::string pair;
    while (std::getline(in, pair, ',')) {
      const auto eq = pair.find('=');
      if (eq != std::string::npos && eq > 0) {
        labels[pair.substr(0, eq)] = pair.substr(eq + 1);
      }
    }
  }
  return labels;
}

// Named container ports from runtimeConfig.ports: [{name, containerPort, protocol}]. They are
// decoded by the model's own WorkloadEndpoint decoder, so names and protocols are checked alike.
std::vector<model::NamedPort> pod_ports(const cni::Params& params) {
  const json rc = params.runtime_config();
  if (!rc.contains("ports") || !rc["ports"].is_array()) {
    return {};
  }
  json ports = json::array();
  for (const json& p : rc["ports"]) {
    if (!p.is_object() || !p.contains("name") || !p.contains("containerPort")) {
      fail(cni::errors::kInvalidNetworkConfig,
           "runtimeConfig.ports: every entry needs name and containerPort");
    }
    ports.push_back({{"name", p["name"]},
                     {"port", p["containerPort"]},
                     {"protocol", p.value("protocol", std::string("TCP"))}});
  }
  try {
    return model::spec_from_json<model::WorkloadEndpointSpec>(
               json{{"node", "-"}, {"pod", "-"}, {"interfaceName", "-"}, {"ports", ports}})
        .ports;
  } catch (const std::exception& e) {
    fail(cni::errors::kInvalidNetworkConfig, std::string("runtimeConfig.ports: ") + e.what());
  }
}

// Which families to assign and requested addresses: network config "ipam": {"assign_ipv4",
// "assign_ipv6", "ipv4_pools", "ipv6_pools"}; runtimeConfig "ips" and CNI_ARGS "IP" request
// specific addresses.
struct IpamChoice {
  bool v4 = true;
  bool v6 = false;
  std::vector<IpPrefix> pools_v4, pools_v6;
  std::vector<model::IpAddress> requested;
};

IpamChoice ipam_choice(const cni::Params& params) {
  IpamChoice c;
  const json& cfg = params.config;
  try {
    if (cfg.contains("ipam") && cfg["ipam"].is_object()) {
      const json& ipam = cfg["ipam"];
      c.v4 = ipam.value("assign_ipv4", true);
      c.v6 = ipam.value("assign_ipv6", false);
      for (const char* key : {"ipv4_pools", "ipv6_pools"}) {
        if (ipam.contains(key)) {
          for (const json& p : ipam[key]) {
            (std::string(key) == "ipv4_pools" ? c.pools_v4 : c.pools_v6)
                .push_back(IpPrefix::parse(p.get<std::string>()));
          }
        }
      }
    }
    const json rc = params.runtime_config();
    if (rc.contains("ips") && rc["ips"].is_array()) {
      for (const json& ip : rc["ips"]) {
        const std::string text = ip.get<std::string>();
        c.requested.push_back(IpPrefix::parse_address_or_prefix(text).address());
      }
    }
    if (auto ips = params.arg("IP")) {
      std::stringstream in(*ips);
      std::string one;
      while (std::getline(in, one, ',')) {
        c.requested.push_back(model::IpAddress::parse(one));
      }
    }
  } catch (const CniFailure&) {
    throw;
  } catch (const std::exception& e) {
    fail(cni::errors::kInvalidNetworkConfig, std::string("ipam settings: ") + e.what());
  }
  return c;
}

int ipam_error_code(const ipam::IpamError& e) {
  switch (e.code()) {
    case ipam::IpamError::Code::exhausted:
    case ipam::IpamError::Code::no_pool:
      return cni::errors::kAddressesExhausted;
    case ipam::IpamError::Code::invalid_request:
    case ipam::IpamError::Code::address_in_use:
      return cni::errors::kAddressUnavailable;
    case ipam::IpamError::Code::conflict_retries:
    case ipam::IpamError::Code::datastore:
      return cni::errors::kTryAgainLater;
  }
  return cni::errors::kDaemonInternal;
}

}  // namespace

std::string Agent::Impl::handle_id(const std::string& network,
                                   const std::string& container_id) const {
  return network + "." + container_id;
}

const ipam::Versioned<model::IPAMBlockSpec>* Agent::Impl::newest_own_block(const IpPrefix& cidr) {
  const auto watched = ipam_cache.own_block_docs.find(cidr);
  auto written = written_block_copies.find(cidr);
  if (watched == ipam_cache.own_block_docs.end()) {
    if (written != written_block_copies.end()) {
      written_block_copies.erase(written);  // not ours any more
    }
    return nullptr;
  }
  if (written == written_block_copies.end()) {
    return &watched->second;
  }
  // Watch events come in order and a worker's writes form one compare-and-swap chain: a watched
  // revision in the chain is older than the worker's copy; one outside it is newer (someone
  // else wrote after the chain's last write).
  auto& chain = written->second.superseded;
  const auto at = std::find(chain.begin(), chain.end(), watched->second.revision);
  if (at == chain.end()) {
    written_block_copies.erase(written);  // the watch caught up with it, or overtook it
    return &watched->second;
  }
  chain.erase(chain.begin(), at);  // the watch is past those
  return &written->second.now;
}

void Agent::Impl::note_written_blocks(const ipam::Ipam& ipam) {
  std::lock_guard lock(ipam_cache_mutex);
  for (const auto& [cidr, written] : ipam.written_blocks()) {
    const ipam::Versioned<model::IPAMBlockSpec>* newest = newest_own_block(cidr);
    if (newest == nullptr || newest->revision != written.previous_revision) {
      continue;  // not ours, or not written from the newest copy: the watch will tell
    }
    WrittenBlockCopy& copy = written_block_copies[cidr];
    copy.superseded.push_back(written.previous_revision);
    copy.now = written.now;
  }
}

namespace {

// A pod's interface work goes beside its request's datastore transaction, but when it is woken
// on the CPU of the request's thread (the other one is busy, e.g. with etcd) the scheduler lets
// it run first and the transaction waits for it. As SCHED_BATCH the plumbing threads do not
// preempt on wake-up: the request sends its transaction, and the interface work fills the wait
// for the answer. Once per thread; a refusal leaves the default policy.
void plumbing_thread_yields_on_wakeup() {
  thread_local const bool kDone = [] {
    sched_param param{};
    return pthread_setschedparam(pthread_self(), SCHED_BATCH, &param) == 0;
  }();
  (void)kDone;
}

// Runs a pod's interface `work` on `pool` (the plumbing threads) and gives its future.
template <typename Work>
std::future<std::invoke_result_t<Work>> run_on_plumbing_thread(asio::thread_pool& pool, Work work) {
  using Result = std::invoke_result_t<Work>;
  auto task = std::make_shared<std::packaged_task<Result()>>(std::move(work));
  std::future<Result> future = task->get_future();
  asio::post(pool, [task] {
    plumbing_thread_yields_on_wakeup();
    (*task)();
  });
  return future;
}

// Leaving the scope waits for the work and disposes of its result here, as the future of
// std::async does: the work never outlives the request that started it (an unfinished pair is
// deleted before the ADD answers).
template <typename T>
class AwaitAtExit {
 public:
  explicit AwaitAtExit(std::future<T>& future) : future_(future) {}
  AwaitAtExit(const AwaitAtExit&) = delete;
  AwaitAtExit& operator=(const AwaitAtExit&) = delete;
  ~AwaitAtExit() {
    if (future_.valid()) {
      try {
        future_.get();
      } catch (...) {  // what failed is reported elsewhere, or not at all on this path
      }
    }
  }

 private:
  std::future<T>& future_;
};

}  // namespace

void Agent::Impl::register_methods(daemon::MethodTable& methods) {
  std::weak_ptr<Impl> weak = shared_from_this();
  // Runs `work` on the worker pool, which answers with its outcome.
  auto async_method = [weak](cni::Method method,
                             const std::function<json(Impl&, const cni::Params&)>& work) {
    return [weak, method, work](const json& raw, const daemon::ControlReply& reply) {
      auto self = weak.lock();
      if (!self) {
        reply.fail("not_ready", "brindled is stopping");
        return;
      }
      asio::post(self->workers, [self, method, work, raw, reply] {
        json result;
        std::string error_name;
        std::string error_message;
        try {
          const cni::Params params = cni::decode_params(method, raw);
          result = work(*self, params);
        } catch (const CniFailure& f) {
          error_name = std::string(cni::error_name(f.code));
          error_message = f.message;
        } catch (const cni::ProtocolError& e) {
          error_name = std::string(cni::error_name(e.code()));
          error_message = e.what();
        } catch (const std::exception& e) {
          error_name = std::string(cni::error_name(cni::errors::kDaemonInternal));
          error_message = e.what();
        }
        // Answered from here: the loop may be busy with the events this very request caused.
        if (error_name.empty()) {
          reply.ok(result);
        } else {
          reply.fail(error_name, error_message);
        }
      });
    };
  };

  methods.add_async("cni.add", "CNI ADD: assign addresses, record the endpoint, plumb the pod",
                    async_method(cni::Method::add,
                                 [](Impl& self, const cni::Params& p) { return self.cni_add(p); }));
  methods.add_async("cni.del", "CNI DEL: remove the pod's network, endpoint and addresses",
                    async_method(cni::Method::del, [](Impl& self, const cni::Params& p) {
                      self.cni_del(p);
                      return json::object();
                    }));
  methods.add_async("cni.check", "CNI CHECK: verify the pod's network against the records",
                    async_method(cni::Method::check, [](Impl& self, const cni::Params& p) {
                      self.cni_check(p);
                      return json::object();
                    }));
  methods.add_async("cni.status", "CNI STATUS: whether this node can serve ADD",
                    async_method(cni::Method::status, [](Impl& self, const cni::Params&) {
                      if (!self.client) {
                        fail(cni::errors::kNotAvailable, "no datastore is configured");
                      }
                      if (!self.ready_flag) {
                        std::lock_guard lock(self.reason_mutex);
                        fail(cni::errors::kNotAvailable, "not ready: " + self.reason);
                      }
                      return json::object();
                    }));
  methods.add_async("cni.gc", "CNI GC: remove attachments that are not in valid_attachments",
                    async_method(cni::Method::gc, [](Impl& self, const cni::Params& p) {
                      self.cni_gc(p);
                      return json::object();
                    }));
}

json Agent::Impl::cni_add(const cni::Params& params) {
  if (!client) {
    fail(cni::errors::kTryAgainLater, "brindled has no datastore configured");
  }
  if (!ready_flag) {
    std::lock_guard lock(reason_mutex);
    fail(cni::errors::kTryAgainLater, "brindled is not ready: " + reason);
  }
  const workload::PodIdentity pod = workload::pod_identity(params);
  const IpamChoice choice = ipam_choice(params);
  const std::string handle = handle_id(params.network_name, pod.container_id);
  const std::vector<model::NamedPort> ports = pod_ports(params);
  ipam::Ipam ipam(*client);
  ipam::AssignRequest request;
  request.handle_id = handle;
  request.node = node.name;
  // The container is in the handle's name already (and a 64-character ID per address would make
  // every block document, written and watched on every ADD and DEL, much larger).
  request.attributes = {{"node", node.name}};
  if (!pod.pod_name.empty()) {
    request.attributes["namespace"] = pod.pod_namespace;
    request.attributes["pod"] = pod.pod_name;
  }
  request.pools_v4 = choice.pools_v4;
  request.pools_v6 = choice.pools_v6;
  {
    // The synced copy (ready implies synced) saves the reads of pools, config, node and affinities.
    std::lock_guard lock(ipam_cache_mutex);
    request.known_pools.emplace();
    for (const auto& [name, pool] : ipam_cache.pools) {
      request.known_pools->push_back(pool);
    }
    request.known_config = ipam_cache.config;
    request.node_labels = ipam_cache.node_labels;
    request.known_own_blocks.emplace(ipam_cache.own_blocks.begin(), ipam_cache.own_blocks.end());
    // Copies of the blocks that can serve the request (full ones are only tried, and read, when
    // these turn out full too).
    request.known_blocks.emplace();
    for (const auto& [cidr, watched] : ipam_cache.own_block_docs) {
      const ipam::Versioned<model::IPAMBlockSpec>* block = newest_own_block(cidr);
      if (block != nullptr && !block->doc.spec.unallocated.empty()) {
        request.known_blocks->emplace(cidr, *block);
      }
    }
  }

  std::vector<IpPrefix> addresses;
  const ipam::Store store(*client);
  const std::string wep_name = endpoint_name(node.name, pod);
  const std::string wep_namespace = endpoint_namespace(pod);
  model::WorkloadEndpoint wep;
  wep.metadata.name = wep_name;
  wep.metadata.namespace_ = wep_namespace;
  wep.metadata.labels = pod_labels(params);
  wep.spec.node = node.name;
  wep.spec.orchestrator = pod.pod_name.empty() ? "cni" : "k8s";
  wep.spec.pod = pod.pod_name.empty() ? pod.container_id.substr(0, 12) : pod.pod_name;
  wep.spec.container_id = pod.container_id;
  wep.spec.endpoint = pod.ifname;
  wep.spec.interface_name = workload::host_veth_name(pod, plumbing.veth_prefix);
  wep.spec.ports = ports;
  if (!pod.pod_namespace.empty()) {
    wep.spec.profiles = {"kns." + pod.pod_namespace};
  }
  auto with_addresses = [&wep](const std::vector<IpPrefix>& held) {
    model::WorkloadEndpoint doc = wep;
    doc.spec.ip_networks = held;
    return doc;
  };
  std::string wep_revision;  // set once the endpoint is written
  // The endpoint as the datastore stores and shows it, which may say more than was written (the
  // kubernetes datastore shows a pod's own labels and named ports): its policy is computed from it.
  std::optional<model::WorkloadEndpoint> stored_wep;
  std::optional<ipam::Versioned<model::IPAMHandleSpec>> handle_doc;
  // The veth pair is made on a thread of its own while the addresses are allocated: it carries
  // nothing (no address, no route to the pod) until finish_pod(), after the policy is in place.
  const uint32_t mtu = params.mtu.value_or(pod_mtu.load());
  workload::PodFamilies families{choice.v4, choice.v6};
  if (!choice.requested.empty()) {
    families = {false, false};
    for (const model::IpAddress& a : choice.requested) {
      (a.is_v4() ? families.v4 : families.v6) = true;
    }
  }
  std::future<workload::PreparedPod> prepared = run_on_plumbing_thread(
      plumbing_threads,
      [pod, mtu, families, this] { return workload::prepare_pod(pod, mtu, families, plumbing); });
  const AwaitAtExit<workload::PreparedPod> await_prepared(prepared);
  // Microseconds per phase, logged with the result: where an ADD's time goes.
  auto phase_start = std::chrono::steady_clock::now();
  auto lap = [&phase_start] {
    const auto now = std::chrono::steady_clock::now();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - phase_start);
    phase_start = now;
    return static_cast<long>(us.count());
  };
  long ipam_us = 0, endpoint_us = 0, policy_us = 0;
  try {
    // 1. addresses, and with them (one transaction) usually the endpoint record
    if (!choice.requested.empty()) {
      for (const model::IpAddress& a : choice.requested) {
        addresses.push_back(IpPrefix::host(ipam.assign_address(a, request).address()));
      }
    } else {
      request.num_v4 = choice.v4 ? 1 : 0;
      request.num_v6 = choice.v6 ? 1 : 0;
      // Usually a new pod: the endpoint is created with the allocation's last write. An earlier
      // sandbox's endpoint refuses the create; it is updated below instead.
      request.extra_ops = [&](const ipam::AssignResult& r) {
        std::vector<IpPrefix> held;
        for (const auto* list : {&r.v4, &r.v6}) {
          for (const IpPrefix& p : *list) {
            held.push_back(IpPrefix::host(p.address()));
          }
        }
        return std::vector<datastore::TxnOp>{ipam::Store::create_op(with_addresses(held))};
      };
      const ipam::AssignResult r = ipam.auto_assign(request);
      for (const auto* list : {&r.v4, &r.v6}) {
        for (const IpPrefix& p : *list) {
          addresses.push_back(IpPrefix::host(p.address()));
        }
      }
      if (r.extra == ipam::ExtraOps::written) {
        wep_revision = r.extra_stored.at(0).revision;
        stored_wep = ipam::Store::decode<model::WorkloadEndpointSpec>(r.extra_stored.at(0)).doc;
      }
      handle_doc = r.handle;
    }
    note_written_blocks(ipam);
    ipam_us = lap();
    // 2. the endpoint record, if the allocation did not carry it (policy is computed from it
    // before the pod can send anything)
    wep = with_addresses(addresses);
    for (int attempt = 0; wep_revision.empty(); ++attempt) {
      try {
        // Usually a new pod: create without reading first.
        std::optional<ipam::Versioned<model::WorkloadEndpointSpec>> existing;
        if (attempt > 0) {
          existing = store.get<model::WorkloadEndpointSpec>(wep_name, wep_namespace);
        }
        // (an earlier sandbox of the same pod when it exists)
        ipam::Versioned<model::WorkloadEndpointSpec> stored =
            existing ? store.update(wep, existing->revision) : store.create(wep);
        wep_revision = stored.revision;
        stored_wep = std::move(stored.doc);
      } catch (const datastore::DatastoreError& e) {
        if (attempt >= 10 || (!e.conflict() && !e.already_exists())) {
          throw;
        }
      }
    }
    wep = std::move(*stored_wep);  // set by whichever write stored it
    {
      // From now on a DEL of this pod can start from what was written here.
      std::lock_guard lock(local_endpoints_mutex);
      local_endpoints[{wep_namespace, wep_name}] = {pod.container_id, wep_revision, handle,
                                                    handle_doc};
    }
    endpoint_us = lap();
    // 3. policy: enforced before the interface exists, so the pod is never reachable without it
    program_endpoint_policy(wep);
    policy_us = lap();
    // 4. plumbing: the addresses and routes on the pair made meanwhile
    workload::PodNetworkSpec network;
    for (const IpPrefix& a : addresses) {
      network.addresses.push_back(netlink::IpPrefix::parse(a.to_string()));
    }
    network.mtu = mtu;
    workload::PreparedPod pair = prepared.get();
    const long pair_wait_us = lap();  // the pair not made yet when the policy was in place
    const workload::PodPlumbing plumbed = workload::finish_pod(std::move(pair), network);
    log::info("pod added", {{"container", pod.container_id.substr(0, 12)},
                            {"pod", pod.pod_namespace + "/" + pod.pod_name},
                            {"interface", plumbed.host_ifname},
                            {"addresses", static_cast<long>(addresses.size())},
                            {"ipam_us", ipam_us},
                            {"endpoint_us", endpoint_us},
                            {"policy_us", policy_us},
                            {"pair_wait_us", pair_wait_us},
                            {"plumbing_us", lap()}});
    return cni::to_json(workload::to_cni_result(plumbed));
  } catch (...) {
    // Undo in reverse order; what is already gone is fine. The endpoint may have been written by
    // the allocation's transaction even when a later step failed: look for it either way.
    if (prepared.valid()) {
      try {
        prepared.get();  // an unfinished pair is deleted with it
      } catch (const std::exception&) {
        // its failure is not the one to report
      }
    }
    try {
      {
        std::lock_guard lock(local_endpoints_mutex);
        auto it = local_endpoints.find({wep_namespace, wep_name});
        if (it != local_endpoints.end() && it->second.container_id == pod.container_id) {
          local_endpoints.erase(it);
        }
      }
      if (!wep_revision.empty()) {
        auto existing = store.get<model::WorkloadEndpointSpec>(wep_name, wep_namespace);
        if (existing && existing->doc.spec.container_id == pod.container_id) {
          store.remove<model::WorkloadEndpointSpec>(wep_name, existing->revision, wep_namespace);
        }
      }
      ipam.release_by_handle(handle);
      note_written_blocks(ipam);
    } catch (const std::exception& e) {
      log::error("rollback of a failed ADD is incomplete; GC will finish it",
                 {{"container", pod.container_id}, {"error", e.what()}});
    }
    try {
      throw;
    } catch (const ipam::IpamError& e) {
      fail(ipam_error_code(e), e.what());
    } catch (const workload::PlumbingError& e) {
      fail(workload::cni_error_code(e), e.what());
    } catch (const datastore::DatastoreError& e) {
      fail(e.code() == BRINDLE_ERR_UNAVAILABLE || e.code() == BRINDLE_ERR_TIMEOUT
               ? cni::errors::kTryAgainLater
               : cni::errors::kDaemonInternal,
           std::string("datastore: ") + e.what());
    } catch (const EndpointPolicyError& e) {
      fail(cni::errors::kPolicyFailed, e.what());
    }
  }
}

void Agent::Impl::cni_del(const cni::Params& params) {
  if (!client) {
    fail(cni::errors::kTryAgainLater, "brindled has no datastore configured");
  }
  const workload::PodIdentity pod = workload::pod_identity(params);
  const ipam::Store store(*client);
  const std::string wep_name = endpoint_name(node.name, pod);
  const std::string wep_namespace = endpoint_namespace(pod);
  const std::string handle = handle_id(params.network_name, pod.container_id);
  auto remove_wep_op = [&](const std::string& revision) {
    return ipam::Store::remove_op<model::WorkloadEndpointSpec>(wep_name, revision, wep_namespace);
  };
  // The pod's interface is torn down on a thread of its own while the datastore work goes on.
  // Only the sandbox that owns the endpoint may tear it down: a late DEL of an old sandbox must
  // not remove its successor's network (the host side is named after the pod, not the sandbox).
  std::future<void> teardown;
  const AwaitAtExit<void> await_teardown(teardown);
  const auto started = std::chrono::steady_clock::now();
  auto start_teardown = [&] {
    if (!teardown.valid()) {
      teardown = run_on_plumbing_thread(plumbing_threads,
                                        [pod, this] { workload::teardown_pod(pod, plumbing); });
    }
  };
  try {
    ipam::Ipam ipam(*client);
    if (!store.supports_txn()) {
      // Single writes in the crash-safe order: the endpoint before its addresses.
      auto wep = store.get<model::WorkloadEndpointSpec>(wep_name, wep_namespace);
      const bool owner = !wep || wep->doc.spec.container_id == pod.container_id;
      if (owner) {
        workload::teardown_pod(pod, plumbing);
      }
      if (wep && owner) {
        try {
          store.remove<model::WorkloadEndpointSpec>(wep_name, wep->revision, wep_namespace);
        } catch (const datastore::DatastoreError& e) {
          if (!e.not_found()) {
            throw;
          }
        }
      }
      ipam.release_by_handle(handle);
    } else {
      // One transaction: the endpoint's removal rides on the release's first write.
      ipam::ReleaseRequest release;
      release.handle_id = handle;
      // What this agent's ADD wrote, if it did: then nothing needs reading first.
      std::optional<LocalEndpoint> local;
      {
        std::lock_guard lock(local_endpoints_mutex);
        if (auto it = local_endpoints.find({wep_namespace, wep_name});
            it != local_endpoints.end()) {
          local = it->second;
        }
      }
      std::optional<std::string> wep_revision;  // the endpoint to remove, if it is ours
      if (local && local->container_id == pod.container_id) {
        wep_revision = local->revision;
        if (local->handle_id == handle) {
          release.known_handle = local->handle;
        }
      }
      {
        // Copies of the blocks the handle holds addresses in (all own blocks if not known).
        std::lock_guard lock(ipam_cache_mutex);
        release.known_blocks.emplace();
        for (const auto& [cidr, watched] : ipam_cache.own_block_docs) {
          if (!release.known_handle ||
              release.known_handle->doc.spec.block.count(cidr.to_string()) != 0) {
            if (const auto* block = newest_own_block(cidr)) {
              release.known_blocks->emplace(cidr, *block);
            }
          }
        }
      }
      // Without a copy, or with a stale one (a refused condition; nothing was written), the
      // endpoint as stored decides.
      bool read_endpoint = !local;
      for (int attempt = 0;; ++attempt) {
        if (read_endpoint) {
          auto wep = store.get<model::WorkloadEndpointSpec>(wep_name, wep_namespace);
          const bool owner = !wep || wep->doc.spec.container_id == pod.container_id;
          wep_revision.reset();
          if (wep && owner) {
            wep_revision = wep->revision;
          }
          if (owner) {
            start_teardown();
          }
        } else if (wep_revision) {
          start_teardown();
        }
        release.extra_ops.clear();
        if (wep_revision) {
          release.extra_ops.push_back(remove_wep_op(*wep_revision));
        }
        const ipam::ReleaseResult r = ipam.release(release);
        if (r.extra == ipam::ExtraOps::not_written && wep_revision) {
          // The handle holds nothing: the endpoint on its own.
          try {
            store.client().remove(
                ipam::Store::key<model::WorkloadEndpointSpec>(wep_name, wep_namespace),
                *wep_revision);
            break;
          } catch (const datastore::DatastoreError& e) {
            if (e.not_found()) {
              break;
            }
            if (!e.conflict() || attempt >= 10) {
              throw;
            }
          }
        } else if (r.extra != ipam::ExtraOps::refused) {
          break;
        } else if (attempt >= 10) {
          fail(cni::errors::kTryAgainLater,
               "the endpoint " + wep_namespace + "/" + wep_name + " keeps changing");
        }
        read_endpoint = true;
        release.known_handle.reset();
      }
    }
    note_written_blocks(ipam);
    {
      std::lock_guard lock(local_endpoints_mutex);
      auto it = local_endpoints.find({wep_namespace, wep_name});
      if (it != local_endpoints.end() && it->second.container_id == pod.container_id) {
        local_endpoints.erase(it);
      }
    }
    const auto released = std::chrono::steady_clock::now();
    const bool tore_down = teardown.valid();
    if (tore_down) {
      teardown.get();  // its PlumbingError, if any
    }
    auto us = [](auto from, auto to) {
      return static_cast<long>(
          std::chrono::duration_cast<std::chrono::microseconds>(to - from).count());
    };
    // Where a DEL's time goes: the datastore transaction, then what the teardown still needed.
    log::info("pod removed",
              {{"container", pod.container_id.substr(0, 12)},
               {"pod", pod.pod_namespace + "/" + pod.pod_name},
               {"torn_down", tore_down},
               {"release_us", us(started, released)},
               {"teardown_wait_us", us(released, std::chrono::steady_clock::now())}});
  } catch (const ipam::IpamError& e) {
    fail(cni::errors::kTryAgainLater, e.what());
  } catch (const workload::PlumbingError& e) {
    fail(workload::cni_error_code(e), e.what());
  } catch (const datastore::DatastoreError& e) {
    fail(cni::errors::kTryAgainLater, std::string("datastore: ") + e.what());
  }
}

void Agent::Impl::cni_check(const cni::Params& params) {
  if (!client) {
    fail(cni::errors::kTryAgainLater, "brindled has no datastore configured");
  }
  const workload::PodIdentity pod = workload::pod_identity(params);
  const ipam::Store store(*client);
  try {
    auto wep = store.get<model::WorkloadEndpointSpec>(endpoint_name(node.name, pod),
                                                      endpoint_namespace(pod));
    if (!wep || wep->doc.spec.container_id != pod.container_id) {
      fail(cni::errors::kCheckFailed, "no endpoint is recorded for container " + pod.container_id);
    }
    const auto held =
        ipam::Ipam(*client).addresses_of_handle(handle_id(params.network_name, pod.container_id));
    workload::PodNetworkSpec network;
    for (const IpPrefix& a : wep->doc.spec.ip_networks) {
      if (std::find(held.begin(), held.end(), a.address()) == held.end()) {
        fail(cni::errors::kCheckFailed,
             "address " + a.address().to_string() + " is not assigned to this container in IPAM");
      }
      network.addresses.push_back(netlink::IpPrefix::parse(a.to_string()));
    }
    network.mtu = params.mtu.value_or(pod_mtu.load());
    const std::vector<std::string> differences = workload::check_pod(pod, network, plumbing);
    if (!differences.empty()) {
      std::string text;
      for (const std::string& d : differences) {
        text += (text.empty() ? "" : "; ") + d;
      }
      fail(cni::errors::kCheckFailed, text);
    }
  } catch (const workload::PlumbingError& e) {
    fail(workload::cni_error_code(e), e.what());
  } catch (const datastore::DatastoreError& e) {
    fail(cni::errors::kTryAgainLater, std::string("datastore: ") + e.what());
  }
}

void Agent::Impl::cni_gc(const cni::Params& params) {
  if (!client) {
    fail(cni::errors::kTryAgainLater, "brindled has no datastore configured");
  }
  std::set<std::pair<std::string, std::string>> valid;
  for (const cni::Attachment& a : params.valid_attachments) {
    valid.emplace(a.container_id, a.ifname);
  }
  const ipam::Store store(*client);
  ipam::Ipam ipam(*client);
  try {
    for (const auto& wep : store.list<model::WorkloadEndpointSpec>()) {
      const model::WorkloadEndpointSpec& spec = wep.doc.spec;
      if (spec.node != node.name) {
        continue;
      }
      if (valid.count({spec.container_id, spec.endpoint}) != 0) {
        continue;
      }
      workload::delete_host_veth(spec.interface_name, plumbing);
      store.remove<model::WorkloadEndpointSpec>(wep.doc.metadata.name, wep.revision,
                                                wep.doc.metadata.namespace_);
      {
        std::lock_guard lock(local_endpoints_mutex);
        local_endpoints.erase({wep.doc.metadata.namespace_, wep.doc.metadata.name});
      }
      ipam.release_by_handle(handle_id(params.network_name, spec.container_id));
      log::info("gc removed an attachment", {{"container", spec.container_id}});
    }
    // Addresses of this network held for containers that are no longer valid.
    const std::string prefix = params.network_name + ".";
    std::set<std::string> valid_ids;
    for (const auto& [id, ifname] : valid) {
      valid_ids.insert(id);
    }
    for (const auto& h : store.list<model::IPAMHandleSpec>()) {
      const std::string& id = h.doc.spec.handle_id;
      if (id.rfind(prefix, 0) != 0 || valid_ids.count(id.substr(prefix.size())) != 0) {
        continue;
      }
      // Only this node's allocations: look at the owner recorded with the address.
      bool ours = false;
      for (const model::IpAddress& a : ipam.addresses_of_handle(id)) {
        ours = ours || ipam.describe(a).attributes["node"] == node.name;
      }
      if (ours) {
        ipam.release_by_handle(id);
        log::info("gc released addresses", {{"handle", id}});
      }
    }
  } catch (const std::exception& e) {
    fail(cni::errors::kTryAgainLater, std::string("gc: ") + e.what());
  }
}

}  // namespace brindle::agent
