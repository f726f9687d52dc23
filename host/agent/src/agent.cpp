#include <algorithm>
#include <array>
#include <deque>
#include <latch>
#include <memory>
#include <string>

#include "agent_impl.hpp"
#include "brindle/common/log.hpp"
#include "brindle/common/thread_name.hpp"
#include "brindle/daemon/plugin_set.hpp"
#include "brindle/ipam/store.hpp"
#include "brindle/netlink/netlink.hpp"
#include "brindle/workload/big_tcp.hpp"
#include "local_routes.hpp"

namespace brindle::agent {

using loader::PluginKind;
using model::IpPrefix;

namespace {

brindle_str_t str(std::string_view s) {
  return {s.data(), s.size()};
}

std::string status_text(const brindle_error_t& err) {
  return err.message;
}

calc::Encap encap_of_plugin(const std::string& name) {
  if (name == "vxlan") {
    return calc::Encap::vxlan;
  }
  if (name == "ipip") {
    return calc::Encap::ipip;
  }
  return calc::Encap::none;
}

std::string tunnel_handle(calc::Encap kind, const std::string& node) {
  return std::string(calc::to_string(kind)) + "-tunnel-addr-" + node;
}

std::optional<IpPrefix> to_model(const std::optional<strings::IpPrefix>& p) {
  if (!p) {
    return std::nullopt;
  }
  return IpPrefix::parse(strings::format_ip_prefix(*p));
}

// An ABI view of a node for the encapsulation plugin. Strings point into `info`.
brindle_encap_node_t encap_node(const calc::NodeInfo& info, calc::Encap kind) {
  brindle_encap_node_t n{};
  n.struct_size = sizeof(n);
  n.name = str(info.name);
  if (info.ipv4) {
    n.address4 = info.ipv4->to_c();
  }
  if (info.ipv6) {
    n.address6 = info.ipv6->to_c();
  }
  const std::optional<model::IpAddress>& tunnel4 =
      kind == calc::Encap::ipip ? info.ipip_tunnel : info.vxlan_tunnel;
  if (tunnel4) {
    n.tunnel_address4 = IpPrefix::host(*tunnel4).to_c();
  }
  if (kind == calc::Encap::vxlan && info.vxlan_tunnel_v6) {
    n.tunnel_address6 = IpPrefix::host(*info.vxlan_tunnel_v6).to_c();
  }
  if (info.vtep_mac) {
    n.has_vtep_mac = 1;
    n.vtep_mac = info.vtep_mac->to_c();
  }
  return n;
}

const char* peer_type_name(calc::PeerType type) {
  switch (type) {
    case calc::PeerType::mesh:
      return "mesh";
    case calc::PeerType::global:
      return "global";
    case calc::PeerType::node:
      return "node";
    case calc::PeerType::rr_client:
      return "rr-client";
  }
  return "";
}

// This node's BGP settings and peers, BGP passwords read from [routing] secrets_dir.
calc::BgpState current_bgp(const Agent::Impl& self) {
  const calc::SecretsDirectory secrets(self.config.bgp_secrets_dir);
  return calc::compute_bgp(
      self.node.name, self.nodes_full, self.bgp_configs, self.bgp_peers,
      [&secrets](const model::SecretKeySelector& ref) { return secrets.read(ref); });
}

// Withheld BGP sessions (password unresolved) are logged when they appear or their reason
// changes, and when they come back; not on every sync.
void log_withheld_changes(const std::optional<calc::BgpState>& before, const calc::BgpState& now) {
  std::map<std::string, std::string> old_errors;
  if (before) {
    for (const calc::BgpPeerInfo& p : before->withheld_peers) {
      old_errors[p.name] = p.error;
    }
  }
  for (const calc::BgpPeerInfo& p : now.withheld_peers) {
    auto it = old_errors.find(p.name);
    if (it == old_errors.end() || it->second != p.error) {
      log::error("BGP session not started: its password cannot be read",
                 {{"peer", p.name}, {"address", p.address.to_string()}, {"error", p.error}});
    }
    old_errors.erase(p.name);
  }
  for (const calc::BgpPeerInfo& p : now.peers) {
    if (old_errors.count(p.name) != 0) {
      log::info("BGP session configured: its password is readable again", {{"peer", p.name}});
    }
  }
}

// BGP passwords are files: re-read them periodically, so that a rotated secret reaches BIRD
// (which applies a new password with `configure`) without a datastore change.
void recheck_bgp_secrets(Agent::Impl& self) {
  if (!self.sent_bgp || self.plugins.get(PluginKind::routing) == nullptr) {
    return;
  }
  const bool any_password = std::any_of(self.bgp_peers.begin(), self.bgp_peers.end(),
                                        [](const auto& p) { return p.second.spec.password; });
  if (any_password && current_bgp(self) != *self.sent_bgp) {
    self.schedule_sync();
  }
}

}  // namespace

namespace {

// Names each of a pool's threads: one task per thread, each waiting until all have started, so that
// no thread takes two.
void name_pool_threads(asio::thread_pool& pool, int threads, const std::string& name) {
  auto started = std::make_shared<std::latch>(threads);
  for (int i = 0; i < threads; ++i) {
    asio::post(pool, [started, name] {
      name_this_thread(name);
      started->arrive_and_wait();
    });
  }
}

}  // namespace

Agent::Impl::Impl(asio::io_context& io_context, const config::Config& cfg,
                  const loader::NodeIdentity& node_identity, daemon::PluginSet& plugin_set)
    : io(io_context),
      config(cfg),
      node(node_identity),
      plugins(plugin_set),
      routes(node_identity.name) {
  if (loader::LoadedPlugin* ds = plugins.get(PluginKind::datastore)) {
    client = std::make_unique<datastore::Client>(ds->library().datastore(), ds->instance());
  }
  if (loader::LoadedPlugin* encap = plugins.get(PluginKind::encapsulation)) {
    encap_name = encap->info().name;
    encap_kind = encap_of_plugin(encap_name);
  }
  if (plugins.get(PluginKind::policy) != nullptr) {
    policy_engine = std::make_unique<policy::PolicyEngine>(policy::EngineConfig{node.name});
  }
  name_pool_threads(workers, kWorkerThreads, "worker");
  name_pool_threads(plumbing_threads, kPlumbingThreads, "plumbing");
  plumbing.veth_prefix = config.workload.interface_prefix;
  if (config.workload.mtu != 0) {
    pod_mtu = config.workload.mtu;
  }
}

void Agent::Impl::set_not_ready(std::string why) {
  ready_flag = false;
  std::lock_guard lock(reason_mutex);
  reason = std::move(why);
}

void Agent::Impl::start() {
  if (!client) {
    // Nothing to sync or serve: the daemon is as ready as it can be (health and control work).
    log::warn("no datastore plugin configured: no IPAM, routes or pods on this node");
    ready_flag = true;
    std::lock_guard lock(reason_mutex);
    reason.clear();
    return;
  }
  workload::enable_node_forwarding(plumbing);
  register_node();
  ensure_encapsulation();
  // [workload] big_tcp: pod veth GSO/GRO sizes from the underlay device's (encapsulation none
  // only); set before any CNI request can be served.
  plumbing.veth_gso = workload::choose_big_tcp({.enabled = config.workload.big_tcp,
                                                .encapsulation = encap_name,
                                                .uplink = underlay_link})
                          .veth_gso;
  std::weak_ptr<Impl> weak = shared_from_this();
  // The pods' host routes follow this node's endpoints (owned by the sync callbacks, so it lives
  // as long as the syncer).
  auto local =
      LocalRoutes::create(io, workers,
                          {node.name, plumbing, std::chrono::seconds(config.plugin_refresh_seconds),
                           workload::kDefaultRouteCleanupGrace});
  datastore::SyncCallbacks callbacks;
  callbacks.upsert = [weak, local](const datastore::Stored& s) {
    if (auto self = weak.lock()) {
      asio::post(self->io, [self, local, s] {
        self->on_upsert(s);
        local->on_upsert(s);
        self->schedule_sync();
      });
    }
  };
  callbacks.remove = [weak, local](const datastore::Key& k) {
    if (auto self = weak.lock()) {
      asio::post(self->io, [self, local, k] {
        self->on_remove(k);
        local->on_remove(k);
        self->schedule_sync();
      });
    }
  };
  callbacks.in_sync = [weak, local] {
    if (auto self = weak.lock()) {
      asio::post(self->io, [self, local] {
        self->on_in_sync();
        local->on_in_sync();
      });
    }
  };
  callbacks.log_warning = [](const std::string& message) { log::warn(message); };
  syncer = std::make_unique<datastore::Syncer>(*client, callbacks);
  syncer->start();
  set_not_ready("waiting for the datastore to be in sync");
  schedule_gc();
  schedule_routing_check();
}

void Agent::Impl::stop() {
  stopping = true;
  if (gc_timer) {
    gc_timer->cancel();
  }
  if (routing_check_timer) {
    routing_check_timer->cancel();
  }
  if (syncer) {
    syncer->stop();
  }
  workers.join();
  plumbing_threads.join();
}

// Creates or updates this node's Node resource with its addresses (other fields are kept).
void Agent::Impl::register_node() {
  const ipam::Store store(*client);
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      auto current = store.get<model::NodeSpec>(node.name);
      model::Node doc;
      if (current) {
        doc = current->doc;
      } else {
        doc.metadata.name = node.name;
      }
      const auto v4 = to_model(node.ipv4);
      const auto v6 = to_model(node.ipv6);
      if (current && doc.spec.ipv4_address == v4 && doc.spec.ipv6_address == v6) {
        return;
      }
      doc.spec.ipv4_address = v4;
      doc.spec.ipv6_address = v6;
      if (current) {
        store.update(doc, current->revision);
      } else {
        store.create(doc);
      }
      log::info("node registered", {{"node", node.name}});
      return;
    } catch (const datastore::DatastoreError& e) {
      if (!e.conflict() && !e.already_exists()) {
        throw std::runtime_error(std::string("cannot register node: ") + e.what());
      }
    }
  }
  throw std::runtime_error("cannot register node " + node.name + ": too many conflicts");
}

// Creates or adjusts the tunnel device; publishes the VTEP MAC; learns the pod MTU.
void Agent::Impl::ensure_encapsulation() {
  if (stopping) {
    return;
  }
  loader::LoadedPlugin* encap = plugins.get(PluginKind::encapsulation);
  // The underlay device carries the node's IPv4 (or IPv6) address.
  try {
    netlink::Netlink nl;
    const std::string wanted = node.ipv4   ? strings::format_ip_prefix(*node.ipv4)
                               : node.ipv6 ? strings::format_ip_prefix(*node.ipv6)
                                           : std::string();
    for (const netlink::LinkInfo& link : nl.links()) {
      for (const netlink::IpPrefix& a : nl.addresses(link.index)) {
        if (!wanted.empty() && a.to_string() == wanted) {
          underlay_device = link.name;
          underlay_mtu = link.mtu;
          underlay_link = link;
        }
      }
    }
  } catch (const std::exception& e) {
    log::warn("cannot inspect the underlay interfaces", {{"error", e.what()}});
  }
  if (encap == nullptr) {
    if (config.workload.mtu == 0) {
      pod_mtu = underlay_mtu;
    }
    return;
  }
  calc::NodeInfo self;
  self.name = node.name;
  self.ipv4 = to_model(node.ipv4);
  self.ipv6 = to_model(node.ipv6);
  if (tunnel_address) {
    (encap_kind == calc::Encap::ipip ? self.ipip_tunnel : self.vxlan_tunnel) = *tunnel_address;
  }
  if (encap_kind == calc::Encap::vxlan) {
    self.vxlan_tunnel_v6 = tunnel_address6;
  }
  const brindle_encap_node_t raw_node = encap_node(self, encap_kind);
  brindle_encap_local_config_t cfg{};
  cfg.struct_size = sizeof(cfg);
  cfg.node = &raw_node;
  cfg.underlay_device = str(underlay_device);
  cfg.underlay_mtu = underlay_mtu;
  cfg.mtu_override = config.workload.mtu;
  brindle_encap_local_state_t state{};
  state.struct_size = sizeof(state);
  brindle_error_t err{};
  const brindle_status_t s =
      encap->library().encap()->ensure_local(encap->instance(), &cfg, &state, &err);
  if (s != BRINDLE_OK) {
    last_dataplane_error = "encapsulation: " + status_text(err);
    log::error("encapsulation plugin cannot set up this node", {{"error", err.message}});
    return;
  }
  if (state.pod_mtu != 0) {
    pod_mtu = state.pod_mtu;
  }
  encap_device = state.device;
  log::info("encapsulation ready", {{"plugin", encap_name},
                                    {"device", std::string(state.device)},
                                    {"pod_mtu", static_cast<long>(pod_mtu.load())}});
  if (state.has_vtep_mac != 0) {
    std::array<uint8_t, 6> bytes{};
    std::copy(std::begin(state.vtep_mac.bytes), std::end(state.vtep_mac.bytes), bytes.begin());
    const model::MacAddress mac(bytes);
    // Publish it on the Node resource (off the loop: datastore calls block).
    asio::post(workers, [self = shared_from_this(), mac] {
      const ipam::Store store(*self->client);
      for (int attempt = 0; attempt < 20 && !self->stopping; ++attempt) {
        try {
          auto current = store.get<model::NodeSpec>(self->node.name);
          if (!current || current->doc.spec.vxlan_tunnel_mac == mac) {
            return;
          }
          model::Node doc = current->doc;
          doc.spec.vxlan_tunnel_mac = mac;
          store.update(doc, current->revision);
          return;
        } catch (const datastore::DatastoreError& e) {
          if (!e.conflict()) {
            log::warn("cannot publish the VTEP MAC", {{"error", e.what()}});
            return;
          }
        }
      }
    });
  }
  tunnel_requested = tunnel_requested || state.needs_tunnel_address == 0;
  if (state.needs_tunnel_address != 0 && synced) {
    request_tunnel_address();  // does nothing when every family that needs one has its address
  }
}

// Allocates this node's tunnel addresses from the pools that use our encapsulation (IPv4; with
// VXLAN also IPv6, for the IPv6-underlay device, when this node has an IPv6 address), records
// them on the Node resource and hands them to the encapsulation plugin. Does nothing when every
// family with such a pool already has its address.
void Agent::Impl::request_tunnel_address() {
  if (tunnel_requested) {
    return;
  }
  std::vector<IpPrefix> pools4, pools6;
  for (const calc::PoolInfo& p : routes.pools()) {
    if (p.disabled || p.encap() != encap_kind) {
      continue;
    }
    if (p.cidr.is_v4() && !tunnel_address) {
      pools4.push_back(p.cidr);
    } else if (!p.cidr.is_v4() && encap_kind == calc::Encap::vxlan && node.ipv6 &&
               !tunnel_address6) {
      pools6.push_back(p.cidr);
    }
  }
  if (pools4.empty() && pools6.empty()) {
    return;  // nothing missing, or no pool uses the tunnel yet: asked again when one appears
  }
  tunnel_requested = true;
  asio::post(workers, [self = shared_from_this(), pools4, pools6] {
    const std::string handle = tunnel_handle(self->encap_kind, self->node.name);
    try {
      ipam::Ipam ipam(*self->client);
      std::optional<model::IpAddress> address4, address6;
      for (const auto& a : ipam.addresses_of_handle(handle)) {
        (a.is_v4() ? address4 : address6) = a;
      }
      const bool need4 = !pools4.empty() && !address4;
      const bool need6 = !pools6.empty() && !address6;
      if (need4 || need6) {
        ipam::AssignRequest request;
        request.handle_id = handle;
        request.node = self->node.name;
        request.use = model::AllowedUse::kTunnel;
        request.pools_v4 = pools4;
        request.pools_v6 = pools6;
        request.num_v4 = need4 ? 1 : 0;
        request.num_v6 = need6 ? 1 : 0;
        request.attributes = {{"node", self->node.name}, {"type", "tunnel"}};
        const ipam::AssignResult r = ipam.auto_assign(request);
        if (need4) {
          address4 = r.v4.at(0).address();
        }
        if (need6) {
          address6 = r.v6.at(0).address();
        }
      }
      if (pools4.empty()) {
        address4.reset();  // already known: not ours to publish again
      }
      if (pools6.empty()) {
        address6.reset();
      }
      const ipam::Store store(*self->client);
      for (int attempt = 0; attempt < 20; ++attempt) {
        try {
          auto current = store.get<model::NodeSpec>(self->node.name);
          if (!current) {
            break;
          }
          model::Node doc = current->doc;
          auto& field4 = self->encap_kind == calc::Encap::ipip ? doc.spec.ipip_tunnel_address
                                                               : doc.spec.vxlan_tunnel_address;
          auto& field6 = doc.spec.vxlan_tunnel_address_v6;
          const bool change4 = address4 && field4 != address4;
          const bool change6 = address6 && field6 != address6;
          if (!change4 && !change6) {
            break;
          }
          if (change4) {
            field4 = address4;
          }
          if (change6) {
            field6 = address6;
          }
          store.update(doc, current->revision);
          break;
        } catch (const datastore::DatastoreError& e) {
          if (!e.conflict()) {
            throw;
          }
        }
      }
      log::info("tunnel address assigned",
                {{"address", address4 ? address4->to_string() : std::string("-")},
                 {"address6", address6 ? address6->to_string() : std::string("-")}});
      asio::post(self->io, [self, address4, address6] {
        if (address4) {
          self->tunnel_address = address4;
        }
        if (address6) {
          self->tunnel_address6 = address6;
        }
        self->tunnel_requested = false;  // a pool of the other family may come later
        self->ensure_encapsulation();
        self->schedule_sync();
      });
    } catch (const std::exception& e) {
      log::error("cannot assign a tunnel address; retrying later", {{"error", e.what()}});
      asio::post(self->io, [self] { self->tunnel_requested = false; });
    }
  });
}

void Agent::Impl::on_upsert(const datastore::Stored& s) {
  if (s.key.kind == "IPAMHandle") {
    return;  // one per pod, changed by every ADD and DEL; nothing here uses them
  }
  if (s.key.kind == "IPAMBlock" && (take_written_block(s) || skip_foreign_block(s))) {
    return;
  }
  try {
    const model::Resource r = model::resource_from_json_text(s.json);
    if (policy_upsert(s.key.kind, r)) {
      return;
    }
    if (s.key.kind == "Node") {
      const model::Node node_doc = model::decode<model::NodeSpec>(r);
      routes.upsert_node(calc::NodeInfo::from(node_doc));
      nodes_full[node_doc.metadata.name] = node_doc;
      if (node_doc.metadata.name == node.name) {
        std::lock_guard lock(ipam_cache_mutex);
        ipam_cache.node_labels = node_doc.metadata.labels;
      }
    } else if (s.key.kind == "BGPConfiguration") {
      bgp_configs[s.key.name] = model::decode<model::BGPConfigurationSpec>(r);
    } else if (s.key.kind == "BGPPeer") {
      bgp_peers[s.key.name] = model::decode<model::BGPPeerSpec>(r);
    } else if (s.key.kind == "IPPool") {
      const model::IPPool pool = model::decode<model::IPPoolSpec>(r);
      routes.upsert_pool(calc::PoolInfo::from(pool));
      {
        std::lock_guard lock(ipam_cache_mutex);
        ipam_cache.pools[s.key.name] = pool;
      }
      if (synced) {
        request_tunnel_address();  // a new pool may need a tunnel address of its family
      }
    } else if (s.key.kind == "IPAMBlock") {
      model::IPAMBlock block = model::decode<model::IPAMBlockSpec>(r);
      const IpPrefix cidr = block.spec.cidr.masked();
      std::lock_guard lock(ipam_cache_mutex);
      if (block.spec.affinity == "host:" + node.name && !block.spec.deleted) {
        ipam_cache.own_block_docs[cidr] = {std::move(block), s.revision};
      } else {
        ipam_cache.own_block_docs.erase(cidr);
      }
    } else if (s.key.kind == "IPAMConfig" && s.key.name == "default") {
      const model::IPAMConfig config_doc = model::decode<model::IPAMConfigSpec>(r);
      std::lock_guard lock(ipam_cache_mutex);
      ipam_cache.config = config_doc.spec;
    } else if (s.key.kind == "BlockAffinity") {
      const model::BlockAffinity a = model::decode<model::BlockAffinitySpec>(r);
      if (a.spec.state == model::AffinityState::kConfirmed && !a.spec.deleted) {
        set_affinity(s.key.name, std::make_pair(a.spec.cidr.masked(), a.spec.node));
      } else {
        set_affinity(s.key.name, std::nullopt);
      }
    }
  } catch (const std::exception& e) {
    log::warn("ignoring an invalid resource", {{"key", s.key.to_string()}, {"error", e.what()}});
  }
}

bool Agent::Impl::take_written_block(const datastore::Stored& s) {
  // Most block events on a busy node are this agent's own writes, which it already holds decoded:
  // the event then only confirms that copy (a block document is several KB of JSON to parse).
  std::lock_guard lock(ipam_cache_mutex);
  for (const auto& [cidr, written] : written_block_copies) {
    if (written.now.revision == s.revision && written.now.doc.metadata.name == s.key.name) {
      const model::IPAMBlockSpec& block = written.now.doc.spec;
      if (block.affinity == "host:" + node.name && !block.deleted) {
        ipam_cache.own_block_docs[cidr] = written.now;
      } else {
        ipam_cache.own_block_docs.erase(cidr);
      }
      return true;
    }
  }
  return false;
}

bool Agent::Impl::skip_foreign_block(const datastore::Stored& s) {
  // Every node sees every block change in the cluster and keeps only its own blocks: another
  // node's block need not be parsed. Its document names its affinity as the IPAM code writes it;
  // a document that does not contain this node's affinity in that form is not kept (were it ours
  // after all, written by some other tool, IPAM reads the block when it needs it).
  const std::string own_affinity = "\"affinity\":\"host:" + node.name + "\"";
  if (s.json.find(own_affinity) != std::string::npos) {
    return false;
  }
  std::lock_guard lock(ipam_cache_mutex);
  std::erase_if(ipam_cache.own_block_docs,
                [&](const auto& entry) { return entry.second.doc.metadata.name == s.key.name; });
  return true;
}

void Agent::Impl::on_remove(const datastore::Key& key) {
  if (policy_remove(key)) {
    return;
  }
  if (key.kind == "Node") {
    routes.remove_node(key.name);
    nodes_full.erase(key.name);
  } else if (key.kind == "BGPConfiguration") {
    bgp_configs.erase(key.name);
  } else if (key.kind == "BGPPeer") {
    bgp_peers.erase(key.name);
  } else if (key.kind == "IPPool") {
    routes.remove_pool(key.name);
    std::lock_guard lock(ipam_cache_mutex);
    ipam_cache.pools.erase(key.name);
  } else if (key.kind == "IPAMBlock") {
    std::lock_guard lock(ipam_cache_mutex);
    std::erase_if(ipam_cache.own_block_docs,
                  [&](const auto& entry) { return entry.second.doc.metadata.name == key.name; });
  } else if (key.kind == "IPAMConfig" && key.name == "default") {
    std::lock_guard lock(ipam_cache_mutex);
    ipam_cache.config = {};
  } else if (key.kind == "BlockAffinity") {
    set_affinity(key.name, std::nullopt);
  }
}

void Agent::Impl::set_affinity(
    const std::string& name,
    const std::optional<std::pair<model::IpPrefix, std::string>>& confirmed) {
  std::set<IpPrefix> touched;
  std::lock_guard lock(ipam_cache_mutex);
  if (auto it = confirmed_affinities.find(name); it != confirmed_affinities.end()) {
    touched.insert(it->second.first);
    affinities_of_block[it->second.first].erase(name);
    if (it->second.second == node.name) {
      ipam_cache.own_blocks.erase(it->second.first);
    }
    confirmed_affinities.erase(it);
  }
  if (confirmed) {
    confirmed_affinities[name] = *confirmed;
    affinities_of_block[confirmed->first].insert(name);
    touched.insert(confirmed->first);
    if (confirmed->second == node.name) {
      ipam_cache.own_blocks.insert(confirmed->first);
    }
  }
  for (const IpPrefix& block : touched) {
    auto names = affinities_of_block.find(block);
    if (names == affinities_of_block.end() || names->second.empty()) {
      affinities_of_block.erase(block);
      routes.remove_affinity(block);
    } else if (confirmed && confirmed->first == block) {
      routes.upsert_affinity(block, confirmed->second);  // the newest confirmation wins
    } else {
      routes.upsert_affinity(block, confirmed_affinities.at(*names->second.begin()).second);
    }
  }
}

void Agent::Impl::on_in_sync() {
  synced = true;
  log::info("datastore in sync");
  if (encap_kind != calc::Encap::none) {
    request_tunnel_address();
  }
  schedule_sync();
}

void Agent::Impl::schedule_sync() {
  if (sync_posted || !synced) {
    return;
  }
  sync_posted = true;
  asio::post(io, [self = shared_from_this()] { self->sync_dataplane(); });
}

void Agent::Impl::sync_dataplane() {
  sync_posted = false;
  if (stopping) {
    return;
  }
  loader::LoadedPlugin* encap = plugins.get(PluginKind::encapsulation);
  loader::LoadedPlugin* routing = plugins.get(PluginKind::routing);
  std::vector<std::string> errors;
  brindle_error_t err{};

  // 1. Per-remote-node state of the encapsulation.
  const calc::NodeChanges node_changes = routes.take_node_changes();
  if (encap != nullptr) {
    const brindle_encap_vtable_t* vt = encap->library().encap();
    for (const calc::NodeInfo& n : node_changes.upserts) {
      const brindle_encap_node_t raw = encap_node(n, encap_kind);
      if (vt->upsert_remote(encap->instance(), &raw, &err) != BRINDLE_OK) {
        errors.push_back("node " + n.name + ": " + err.message);
      }
    }
    for (const std::string& name : node_changes.removals) {
      if (vt->remove_remote(encap->instance(), str(name), &err) != BRINDLE_OK) {
        errors.push_back("node " + name + ": " + err.message);
      }
    }
  }
  // A node change may make a pending route form possible (VTEP MAC or tunnel address arrived).
  const calc::RouteChanges changes = routes.take_route_changes();
  std::map<IpPrefix, calc::DesiredRoute> todo;
  for (const auto& [block, why] : unresolved) {
    auto it = routes.desired_routes().find(block);
    if (it != routes.desired_routes().end()) {
      todo.emplace(block, it->second);
    }
  }
  unresolved.clear();
  for (const calc::DesiredRoute& r : changes.upserts) {
    todo[r.block] = r;
  }

  // 2. Routes in the form the encapsulation dictates.
  std::deque<std::string> strings;  // keeps the ABI views' characters alive
  std::vector<brindle_route_t> raw_routes;
  std::vector<brindle_ip_prefix_t> removals;
  raw_routes.reserve(todo.size());
  for (const auto& [block, r] : todo) {
    brindle_route_t route{};
    route.struct_size = sizeof(route);
    route.destination = block.to_c();
    route.node = str(strings.emplace_back(r.node));
    route.pool = str(strings.emplace_back(r.pool));
    route.flags = r.no_export ? BRINDLE_ROUTE_NO_EXPORT : 0;
    if (r.local) {
      route.type = BRINDLE_ROUTE_LOCAL_BLOCK;
      raw_routes.push_back(route);
      continue;
    }
    route.type = BRINDLE_ROUTE_REMOTE_BLOCK;
    route.node_address = r.node_address->to_c();
    route.encap = r.encap == calc::Encap::vxlan  ? BRINDLE_ENCAP_VXLAN
                  : r.encap == calc::Encap::ipip ? BRINDLE_ENCAP_IPIP
                                                 : BRINDLE_ENCAP_NONE;
    if (r.cross_subnet) {
      route.flags |= BRINDLE_ROUTE_CROSS_SUBNET;
    }
    const bool plugin_decides = encap != nullptr && r.encap == encap_kind;
    if (r.encap != calc::Encap::none && !plugin_decides) {
      const std::string why = "pool " + r.pool + " asks for " +
                              std::string(calc::to_string(r.encap)) +
                              " but this node's encapsulation plugin is " +
                              (encap_name.empty() ? "not configured" : "\"" + encap_name + "\"");
      unresolved[block] = why;
      errors.push_back(block.to_string() + ": " + why);
      continue;
    }
    if (!plugin_decides) {
      // Direct route to the node (CrossSubnet within the subnet).
      route.gateway = IpPrefix::host(r.node_address->address()).to_c();
      raw_routes.push_back(route);
      continue;
    }
    const calc::NodeInfo* owner = routes.node(r.node);
    const brindle_encap_node_t raw_owner = encap_node(*owner, encap_kind);
    brindle_route_form_t form{};
    form.struct_size = sizeof(form);
    const brindle_ip_prefix_t raw_block = block.to_c();
    if (encap->library().encap()->route_form(encap->instance(), &raw_owner, &raw_block, &form,
                                             &err) != BRINDLE_OK) {
      unresolved[block] = err.message;
      if (err.code != BRINDLE_ERR_UNAVAILABLE) {
        errors.push_back(block.to_string() + ": " + err.message);
      }
      continue;
    }
    route.gateway = form.gateway;
    route.device = str(strings.emplace_back(form.device));
    route.flags |= form.flags;
    raw_routes.push_back(route);
  }
  for (const IpPrefix& block : changes.removals) {
    unresolved.erase(block);
    removals.push_back(block.to_c());
  }

  // 3. The routing plugin: record, (in_sync once), apply.
  if (routing != nullptr) {
    const brindle_routing_vtable_t* vt = routing->library().routing();
    std::vector<const brindle_route_t*> pointers;
    for (const brindle_route_t& r : raw_routes) {
      pointers.push_back(&r);
    }
    brindle_routing_update_t update{};
    update.struct_size = sizeof(update);
    update.upserts = pointers.data();
    update.n_upserts = pointers.size();
    update.removals = removals.data();
    update.n_removals = removals.size();
    // Pools and BGP settings/peers, when they changed (a bgp plugin builds its filters and
    // sessions from them; static routing ignores them).
    const std::vector<calc::PoolInfo> pools = routes.pools();
    std::vector<brindle_routing_pool_t> raw_pools;
    std::vector<const brindle_routing_pool_t*> pool_pointers;
    if (!sent_pools || *sent_pools != pools) {
      raw_pools.reserve(pools.size());
      for (const calc::PoolInfo& p : pools) {
        brindle_routing_pool_t rp{};
        rp.struct_size = sizeof(rp);
        rp.name = str(strings.emplace_back(p.name));
        rp.cidr = p.cidr.to_c();
        const calc::Encap e = p.encap();
        rp.encap = e == calc::Encap::vxlan  ? BRINDLE_ENCAP_VXLAN
                   : e == calc::Encap::ipip ? BRINDLE_ENCAP_IPIP
                                            : BRINDLE_ENCAP_NONE;
        rp.mode = p.mode() == model::EncapsulationMode::kAlways ? BRINDLE_POOL_MODE_ALWAYS
                  : p.mode() == model::EncapsulationMode::kCrossSubnet
                      ? BRINDLE_POOL_MODE_CROSS_SUBNET
                      : BRINDLE_POOL_MODE_NEVER;
        rp.tunnel_device = str(strings.emplace_back(e == encap_kind ? encap_device : ""));
        rp.flags =
            (p.no_export ? BRINDLE_POOL_NO_EXPORT : 0u) | (p.disabled ? BRINDLE_POOL_DISABLED : 0u);
        raw_pools.push_back(rp);
      }
      for (const auto& rp : raw_pools) {
        pool_pointers.push_back(&rp);
      }
      update.set_pools = 1;
      update.pools = pool_pointers.data();
      update.n_pools = pool_pointers.size();
      sent_pools = pools;
    }
    const calc::BgpState bgp = current_bgp(*this);
    brindle_bgp_settings_t raw_bgp{};
    std::vector<brindle_bgp_peer_t> raw_peers;
    std::vector<const brindle_bgp_peer_t*> peer_pointers;
    if (!sent_bgp || *sent_bgp != bgp) {
      raw_bgp.struct_size = sizeof(raw_bgp);
      raw_bgp.local_asn = bgp.local_asn;
      if (bgp.router_id) {
        raw_bgp.router_id = IpPrefix::host(*bgp.router_id).to_c();
      }
      raw_bgp.listen_port = bgp.listen_port;
      raw_bgp.route_reflector_cluster_id =
          str(strings.emplace_back(bgp.route_reflector_cluster_id));
      raw_bgp.graceful_restart_seconds = 120;
      raw_peers.reserve(bgp.peers.size());
      for (const calc::BgpPeerInfo& p : bgp.peers) {
        brindle_bgp_peer_t rp{};
        rp.struct_size = sizeof(rp);
        rp.name = str(strings.emplace_back(p.name));
        rp.type = p.type == calc::PeerType::mesh     ? BRINDLE_BGP_PEER_MESH
                  : p.type == calc::PeerType::global ? BRINDLE_BGP_PEER_GLOBAL
                  : p.type == calc::PeerType::node   ? BRINDLE_BGP_PEER_NODE
                                                     : BRINDLE_BGP_PEER_RR_CLIENT;
        rp.address = IpPrefix::host(p.address).to_c();
        rp.asn = p.asn;
        rp.port = p.port;
        rp.source = str(strings.emplace_back(p.source));
        rp.password = str(strings.emplace_back(p.password));
        raw_peers.push_back(rp);
      }
      for (const auto& rp : raw_peers) {
        peer_pointers.push_back(&rp);
      }
      update.set_bgp = 1;
      update.bgp = &raw_bgp;
      update.peers = peer_pointers.data();
      update.n_peers = peer_pointers.size();
      log_withheld_changes(sent_bgp, bgp);
      sent_bgp = bgp;
    }
    if (vt->update(routing->instance(), &update, &err) != BRINDLE_OK) {
      errors.push_back(std::string("routing update: ") + err.message);
      sent_pools.reset();  // send them again with the next update
      sent_bgp.reset();
    }
  }
  if (!dataplane_synced) {
    if (encap != nullptr &&
        encap->library().encap()->in_sync(encap->instance(), &err) != BRINDLE_OK) {
      errors.push_back(std::string("encapsulation in_sync: ") + err.message);
    }
    if (routing != nullptr &&
        routing->library().routing()->in_sync(routing->instance(), &err) != BRINDLE_OK) {
      errors.push_back(std::string("routing in_sync: ") + err.message);
    }
    dataplane_synced = true;
  }
  if (encap != nullptr && encap->library().encap()->apply(encap->instance(), &err) != BRINDLE_OK) {
    errors.push_back(std::string("encapsulation apply: ") + err.message);
  }
  if (routing != nullptr &&
      routing->library().routing()->apply(routing->instance(), &err) != BRINDLE_OK) {
    errors.push_back(std::string("routing apply: ") + err.message);
  }
  // 4. Policy.
  try {
    last_policy_error = sync_policy();
  } catch (const std::exception& e) {
    last_policy_error = std::string("policy: ") + e.what();
  }
  if (!last_policy_error.empty()) {
    errors.push_back(last_policy_error);
  }

  last_dataplane_error.clear();
  for (const std::string& e : errors) {
    last_dataplane_error += (last_dataplane_error.empty() ? "" : "; ") + e;
  }
  if (!errors.empty()) {
    log::warn("dataplane programming incomplete; retrying",
              {{"errors", static_cast<long>(errors.size())}, {"first", errors.front()}});
  }
  if (!applied_once) {
    applied_once = true;
    log::info("dataplane programmed",
              {{"routes", static_cast<long>(routes.desired_routes().size())}});
  }
  ready_flag = true;
  {
    std::lock_guard lock(reason_mutex);
    reason.clear();
  }
}

void Agent::Impl::schedule_gc() {
  if (!gc_timer) {
    gc_timer = std::make_unique<asio::steady_timer>(io);
  }
  // Often enough to honour short grace periods, at most every 10 s.
  const auto grace = std::chrono::seconds(config.workload.empty_block_grace_seconds);
  gc_timer->expires_after(std::clamp<std::chrono::milliseconds>(grace / 2, std::chrono::seconds(1),
                                                                std::chrono::seconds(10)));
  std::weak_ptr<Impl> weak = shared_from_this();
  gc_timer->async_wait([weak](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopping) {
      return;
    }
    if (!self->last_dataplane_error.empty() || !self->unresolved.empty() ||
        !self->policy_pending.empty()) {
      self->schedule_sync();  // retry what failed
    }
    recheck_bgp_secrets(*self);
    self->collect_empty_blocks();
    self->schedule_gc();
  });
}

// Polls the routing plugin's readiness every second: /readyz fails while, for instance, no BGP
// session is established (the plugin decides; with no peers at all it is ready).
void Agent::Impl::schedule_routing_check() {
  loader::LoadedPlugin* routing = plugins.get(PluginKind::routing);
  if (routing == nullptr) {
    return;
  }
  if (!routing_check_timer) {
    routing_check_timer = std::make_unique<asio::steady_timer>(io);
  }
  routing_check_timer->expires_after(std::chrono::seconds(1));
  std::weak_ptr<Impl> weak = shared_from_this();
  routing_check_timer->async_wait([weak, routing](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopping) {
      return;
    }
    if (self->applied_once) {
      brindle_error_t err{};
      int ready = 1;
      size_t peers = 0;
      auto count_peer = [](void* n, const brindle_routing_peer_status_t*) {
        ++*static_cast<size_t*>(n);
      };
      if (routing->library().routing()->status(routing->instance(), count_peer, &peers, &ready,
                                               &err) == BRINDLE_OK) {
        // A plugin without peers is ready, but not when the host withheld every peer this node
        // should have (their passwords cannot be read): that node has no routes to offer.
        const bool all_withheld =
            peers == 0 && self->sent_bgp && !self->sent_bgp->withheld_peers.empty();
        self->routing_ready = ready != 0 && !all_withheld;
      }
    }
    self->schedule_routing_check();
  });
}

// Releases this node's blocks that have been empty for the grace period.
void Agent::Impl::collect_empty_blocks() {
  if (!synced) {
    return;
  }
  asio::post(workers, [self = shared_from_this()] {
    try {
      ipam::Ipam ipam(*self->client);
      const auto now = std::chrono::steady_clock::now();
      const auto grace = std::chrono::seconds(self->config.workload.empty_block_grace_seconds);
      std::set<IpPrefix> empty_now;
      for (const ipam::PoolUsage& pool : ipam.usage()) {
        for (const ipam::Usage& block : pool.blocks) {
          if (block.affinity == "host:" + self->node.name && block.in_use == 0) {
            empty_now.insert(block.cidr);
          }
        }
      }
      std::set<IpPrefix> due;
      {
        // empty_since is only touched here, and only one collection runs at a time (10 s apart).
        for (auto it = self->empty_since.begin(); it != self->empty_since.end();) {
          it = empty_now.count(it->first) == 0 ? self->empty_since.erase(it) : std::next(it);
        }
        for (const IpPrefix& b : empty_now) {
          auto [it, inserted] = self->empty_since.emplace(b, now);
          if (!inserted && now - it->second >= grace) {
            due.insert(b);
          }
        }
      }
      if (due.empty()) {
        return;
      }
      for (const IpPrefix& b : ipam.release_empty_blocks(self->node.name)) {
        log::info("released an empty block", {{"block", b.to_string()}});
        self->empty_since.erase(b);
      }
    } catch (const std::exception& e) {
      log::warn("empty block collection failed", {{"error", e.what()}});
    }
  });
}

// --- public face ---------------------------------------------------------------------------

Agent::Agent(asio::io_context& io, const config::Config& config, const loader::NodeIdentity& node,
             daemon::PluginSet& plugins)
    : impl_(std::make_shared<Impl>(io, config, node, plugins)) {}

Agent::~Agent() {
  impl_->stop();
}

void Agent::start() {
  impl_->start();
}

bool Agent::ready() const {
  return impl_->ready_flag && impl_->routing_ready;
}

std::string Agent::not_ready_reason() const {
  std::lock_guard lock(impl_->reason_mutex);
  if (impl_->ready_flag && !impl_->routing_ready) {
    return "the routing plugin is not ready (no routing session established; a BGP peer whose "
           "password cannot be read gets none: see brindlectl node status)";
  }
  return impl_->reason;
}

void Agent::register_methods(daemon::MethodTable& methods) {
  impl_->register_methods(methods);
}

nlohmann::json Agent::status() const {
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& [block, r] : impl_->routes.desired_routes()) {
    routes.push_back({{"block", block.to_string()},
                      {"node", r.node},
                      {"local", r.local},
                      {"encapsulation", calc::to_string(r.encap)}});
  }
  // Routing peers (BGP sessions) and the routing plugin's readiness, for `brindlectl node status`.
  nlohmann::json peers = nlohmann::json::array();
  bool routing_ready = true;
  if (loader::LoadedPlugin* routing = impl_->plugins.get(PluginKind::routing)) {
    brindle_error_t err{};
    int ready = 1;
    auto sink = [](void* user, const brindle_routing_peer_status_t* p) {
      auto* out = static_cast<nlohmann::json*>(user);
      auto text = [](brindle_str_t v) {
        return std::string(v.data == nullptr ? "" : v.data, v.size);
      };
      std::string address;
      try {
        address = IpPrefix::from_c(p->address).address().to_string();
      } catch (const std::exception&) {
      }
      out->push_back({{"name", text(p->name)},
                      {"address", address},
                      {"type", text(p->type)},
                      {"state", text(p->state)},
                      {"since", text(p->since)},
                      {"info", text(p->info)},
                      {"established", p->established != 0}});
    };
    if (routing->library().routing()->status(routing->instance(), sink, &peers, &ready, &err) ==
        BRINDLE_OK) {
      routing_ready = ready != 0;
    }
    // Sessions the host withheld (their password cannot be read): the plugin never saw them.
    if (impl_->sent_bgp) {
      for (const calc::BgpPeerInfo& p : impl_->sent_bgp->withheld_peers) {
        peers.push_back({{"name", p.name},
                         {"address", p.address.to_string()},
                         {"type", peer_type_name(p.type)},
                         {"state", "Down"},
                         {"since", ""},
                         {"info", "no session: " + p.error},
                         {"established", false}});
      }
    }
  }
  nlohmann::json policy = nullptr;
  if (impl_->policy_engine) {
    const policy::EngineStats stats = impl_->policy_engine->stats();
    policy = {{"endpoints", stats.endpoints},
              {"local_endpoints", stats.local_endpoints},
              {"active_policies", stats.active_policies},
              {"active_ipsets", stats.active_ipsets},
              {"pending_changes", impl_->policy_pending.size()},
              {"error", impl_->last_policy_error}};
  }
  return {{"datastore_in_sync", impl_->synced},
          {"policy", policy},
          {"routing_peers", peers},
          {"routing_ready", routing_ready},
          {"pod_mtu", impl_->pod_mtu.load()},
          {"underlay_device", impl_->underlay_device},
          {"tunnel_address",
           impl_->tunnel_address ? impl_->tunnel_address->to_string() : std::string()},
          {"tunnel_address6",
           impl_->tunnel_address6 ? impl_->tunnel_address6->to_string() : std::string()},
          {"routes", routes},
          {"dataplane_error", impl_->last_dataplane_error}};
}

}  // namespace brindle::agent
