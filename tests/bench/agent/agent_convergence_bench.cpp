// Agent-level convergence of brindled: a real etcd and the real brindled process (routing
// "static", encapsulation "none", then "vxlan"), each mode in a network namespace of its own (a
// forked child unshares it: the machine's namespace is never touched). The "cluster" is 1k fake
// remote nodes written to etcd as Node + IPAMBlock + confirmed BlockAffinity resources, with
// underlay addresses on the namespace's veth subnet 198.19.0.0/20 so that routes resolve.
//
// Every kernel figure comes from a netlink monitor socket (route + neighbour groups) in the same
// namespace, read by a thread that timestamps each message on arrival: nothing polls the kernel.
//   1. resync: brindled started with 1k remote nodes in etcd -> all 1k routes (vxlan: and 1k
//      neighbour + 1k FDB entries) in the kernel; brindled's peak RSS (VmHWM) at 1k nodes;
//   2. restart: brindled stopped, one of its routes deleted and a stale route of its protocol
//      added (vxlan: one neighbour and one FDB entry deleted), brindled started again -> drift
//      repaired; counts the routes removed or rewritten during the restart (want 0);
//   3. convergence: --changes datastore changes, in turn: a remote block affinity created, moved
//      to another node, deleted; a remote node (with its block) added, deleted. Time from just
//      before the datastore write to the route being present/absent in the kernel:
//      p50/p90/p99/max per kind and overall (goal of issue 5: p99 <= 100 ms).
// Options: --nodes N (1000), --changes N (200), --encap none|vxlan|both (both).
#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.hpp"
#include "brindle/common/log.hpp"
#include "brindle/ipam/store.hpp"
#include "brindle/model/kinds.hpp"
#include "brindled_process.hpp"
#include "etcd_datastore.hpp"
#include "etcd_writers.hpp"
#include "samples.hpp"

using namespace brindle;
using namespace brindle::bench;
using Clock = std::chrono::steady_clock;
using model::IpAddress;
using model::IpPrefix;

namespace {

constexpr int kProtocol = 202;  // routing-static's default route protocol
constexpr const char* kSelf = "bench-node";
constexpr const char* kUnderlay = "198.19.0.1/20";
constexpr const char* kStaleRoute = "198.19.200.0/24";  // outside the pool, owned by protocol 202
constexpr auto kChangeTimeout = std::chrono::seconds(5);
constexpr auto kResyncTimeout = std::chrono::seconds(180);

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---- the netlink monitor -------------------------------------------------------------------

struct KernelEvent {
  Clock::time_point at;
  uint16_t type = 0;     // RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWNEIGH, RTM_DELNEIGH
  uint8_t family = 0;    // AF_INET; AF_BRIDGE for FDB entries
  uint8_t protocol = 0;  // routes
  uint8_t table = 0;     // routes
  std::string dst;       // routes: "a.b.c.d/len"; neighbours/FDB: the NDA_DST address
  std::string gateway;   // routes
  std::string lladdr;    // neighbours/FDB: "aa:bb:cc:dd:ee:ff"
};

std::string address_text(int family, const void* data) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, data, text, sizeof(text));
  return text;
}

std::string mac_text(const uint8_t* b) {
  char text[18];
  std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return text;
}

// Route and neighbour notifications of the calling thread's network namespace, timestamped on
// arrival by a reader thread and kept in order.
class Monitor {
 public:
  Monitor() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) {
      throw std::runtime_error("netlink socket: " + std::string(std::strerror(errno)));
    }
    const int size = 64 << 20;  // bursts of thousands of notifications must not overflow
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_NEIGH;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      throw std::runtime_error("netlink bind: " + std::string(std::strerror(errno)));
    }
    reader_ = std::thread([this] { read_loop(); });
  }
  ~Monitor() {
    stop_ = true;
    reader_.join();
    close(fd_);
  }
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  size_t size() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }
  bool overflowed() const { return overflowed_; }

  // Calls `consume` for each event from index `from` on, in order, until it returns true (then
  // returns that event's arrival time) or `deadline` passes (nullopt). *next is set to the index
  // after the last event consumed.
  std::optional<Clock::time_point> wait(size_t from, Clock::time_point deadline,
                                        const std::function<bool(const KernelEvent&)>& consume,
                                        size_t* next = nullptr) {
    std::unique_lock lock(mutex_);
    size_t i = from;
    for (;;) {
      for (; i < events_.size(); ++i) {
        if (consume(events_[i])) {
          if (next != nullptr) {
            *next = i + 1;
          }
          return events_[i].at;
        }
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && i == events_.size()) {
        if (next != nullptr) {
          *next = i;
        }
        return std::nullopt;
      }
    }
  }

  // Calls `visit` for every event in [from, to).
  void each(size_t from, size_t to, const std::function<void(const KernelEvent&)>& visit) const {
    std::lock_guard lock(mutex_);
    for (size_t i = from; i < std::min(to, events_.size()); ++i) {
      visit(events_[i]);
    }
  }

 private:
  void read_loop() {
    std::vector<char> buffer(1 << 20);
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) {
        continue;
      }
      const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
      const Clock::time_point now = Clock::now();
      if (n < 0) {
        if (errno == ENOBUFS) {
          overflowed_ = true;
        }
        continue;
      }
      std::vector<KernelEvent> parsed;
      int remaining = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, remaining);
           h = NLMSG_NEXT(h, remaining)) {
        if (auto e = parse(h)) {
          e->at = now;
          parsed.push_back(std::move(*e));
        }
      }
      if (!parsed.empty()) {
        std::lock_guard lock(mutex_);
        for (KernelEvent& e : parsed) {
          events_.push_back(std::move(e));
        }
        cv_.notify_all();
      }
    }
  }

  static std::optional<KernelEvent> parse(const nlmsghdr* h) {
    KernelEvent e;
    e.type = h->nlmsg_type;
    if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
      const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
      if (r->rtm_family != AF_INET) {
        return std::nullopt;
      }
      e.family = r->rtm_family;
      e.protocol = r->rtm_protocol;
      e.table = r->rtm_table;
      int len = static_cast<int>(RTM_PAYLOAD(h));
      std::string dst = "0.0.0.0";
      for (auto* a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST) {
          dst = address_text(AF_INET, RTA_DATA(a));
        } else if (a->rta_type == RTA_GATEWAY) {
          e.gateway = address_text(AF_INET, RTA_DATA(a));
        }
      }
      e.dst = dst + "/" + std::to_string(r->rtm_dst_len);
      return e;
    }
    if (h->nlmsg_type == RTM_NEWNEIGH || h->nlmsg_type == RTM_DELNEIGH) {
      const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
      e.family = nd->ndm_family;
      int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
      for (auto* a = reinterpret_cast<rtattr*>(const_cast<ndmsg*>(nd) + 1); RTA_OK(a, len);
           a = RTA_NEXT(a, len)) {
        if (a->rta_type == NDA_DST) {
          const int family = RTA_PAYLOAD(a) == 4 ? AF_INET : AF_INET6;
          e.dst = address_text(family, RTA_DATA(a));
        } else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          e.lladdr = mac_text(static_cast<const uint8_t*>(RTA_DATA(a)));
        }
      }
      return e;
    }
    return std::nullopt;
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> overflowed_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<KernelEvent> events_;
  std::thread reader_;
};

bool is_route(const KernelEvent& e) {
  return (e.type == RTM_NEWROUTE || e.type == RTM_DELROUTE) && e.protocol == kProtocol;
}

// ---- statistics ----------------------------------------------------------------------------

void print_stats_row(const std::string& name, const Samples& s) {
  std::printf("  %-26s %5zu %8.1f %8.1f %8.1f %8.1f %8d\n", name.c_str(), s.ms.size(), s.pct(50),
              s.pct(90), s.pct(99), s.max(), s.timeouts);
}

// ---- the fake cluster ----------------------------------------------------------------------

struct RemoteNode {
  std::string name;
  IpAddress address;  // on the namespace's underlay subnet
  IpAddress tunnel;   // vxlan: its tunnel address (in its first block)
  model::MacAddress mac;
};

IpPrefix block_at(int k) {  // /28 blocks of 198.18.0.0/16
  return IpPrefix(IpAddress::parse("198.18.0.0").plus(static_cast<uint64_t>(k) * 16).value(), 28);
}

// Node i; its tunnel address is the first address of block `tunnel_block` (one it owns).
RemoteNode remote_node(int i, int tunnel_block) {
  RemoteNode n;
  char name[32];
  std::snprintf(name, sizeof(name), "remote-%04d", i);
  n.name = name;
  n.address = IpAddress::parse("198.19.0.0").plus(static_cast<uint64_t>(16 + i)).value();
  n.tunnel = block_at(tunnel_block).network().plus(1).value();
  n.mac = model::MacAddress(std::array<uint8_t, 6>{0x02, 0xbd, 0, 0, static_cast<uint8_t>(i >> 8),
                                                   static_cast<uint8_t>(i & 0xff)});
  return n;
}

class Cluster {
 public:
  Cluster(const datastore::Client& client, bool vxlan) : store_(client), vxlan_(vxlan) {}

  model::Node node_doc(const RemoteNode& n) const {
    model::Node doc;
    doc.metadata.name = n.name;
    doc.spec.ipv4_address = IpPrefix(n.address, 20);
    if (vxlan_) {
      doc.spec.vxlan_tunnel_address = n.tunnel;
      doc.spec.vxlan_tunnel_mac = n.mac;
    }
    return doc;
  }
  void create_node(const RemoteNode& n) const { store_.create(node_doc(n)); }
  std::string node_revision(const std::string& name) const {
    return store_.get<model::NodeSpec>(name).value().revision;
  }
  void delete_node(const std::string& name, const std::string& revision) const {
    store_.remove<model::NodeSpec>(name, revision);
  }
  void create_block(const IpPrefix& block, const std::string& node) const {
    model::IPAMBlock doc;
    doc.metadata.name = model::block_name(block);
    doc.spec.cidr = block;
    doc.spec.affinity = "host:" + node;
    for (int32_t i = 0; i < static_cast<int32_t>(block.size()); ++i) {
      doc.spec.allocations.emplace_back(std::nullopt);
      doc.spec.unallocated.push_back(i);
    }
    store_.create(doc);
  }
  void set_block_affinity(const IpPrefix& block, const std::string& node) const {
    auto current = store_.get<model::IPAMBlockSpec>(model::block_name(block)).value();
    current.doc.spec.affinity = "host:" + node;
    store_.update(current.doc, current.revision);
  }
  void delete_block(const IpPrefix& block) const {
    auto current = store_.get<model::IPAMBlockSpec>(model::block_name(block));
    store_.remove<model::IPAMBlockSpec>(model::block_name(block), current.value().revision);
  }
  void create_affinity(const IpPrefix& block, const std::string& node) const {
    model::BlockAffinity doc;
    doc.metadata.name = model::block_affinity_name(node, block);
    doc.spec.state = model::AffinityState::kConfirmed;
    doc.spec.node = node;
    doc.spec.cidr = block;
    store_.create(doc);
  }
  // The revision to delete at (read before the timed delete).
  std::string affinity_revision(const IpPrefix& block, const std::string& node) const {
    return store_.get<model::BlockAffinitySpec>(model::block_affinity_name(node, block))
        .value()
        .revision;
  }
  void delete_affinity(const IpPrefix& block, const std::string& node,
                       const std::string& revision) const {
    store_.remove<model::BlockAffinitySpec>(model::block_affinity_name(node, block), revision);
  }
  std::set<IpPrefix> existing_blocks() const {
    std::set<IpPrefix> out;
    for (const auto& b : store_.list<model::IPAMBlockSpec>()) {
      out.insert(b.doc.spec.cidr.masked());
    }
    return out;
  }
  // The address routes to `n` go through: its tunnel address (vxlan) or its node address.
  std::string gateway(const RemoteNode& n) const {
    return (vxlan_ ? n.tunnel : n.address).to_string();
  }

 private:
  ipam::Store store_;
  bool vxlan_;
};

// ---- one mode ------------------------------------------------------------------------------

struct Options {
  int nodes = 1000;
  int changes = 200;
  std::vector<std::string> encaps = {"none", "vxlan"};
};

// Waits until every route in `want` (dst -> gateway), and with vxlan every neighbour
// (tunnel IP -> MAC) and FDB entry (MAC -> node IP), is present. Returns the arrival time of the
// first and the last event that was needed, or nullopt on timeout.
struct Completion {
  Clock::time_point first, last;
  Clock::time_point routes_done, neigh_done, fdb_done;
};
std::optional<Completion> wait_complete(Monitor& monitor, size_t from,
                                        const std::map<std::string, std::string>& want_routes,
                                        const std::map<std::string, std::string>& want_neigh,
                                        const std::map<std::string, std::string>& want_fdb) {
  std::set<std::string> routes, neigh, fdb;
  Completion c{};
  bool any = false;
  auto done = [&] {
    return routes.size() == want_routes.size() && neigh.size() == want_neigh.size() &&
           fdb.size() == want_fdb.size();
  };
  auto track = [&](std::set<std::string>& have, const std::map<std::string, std::string>& want,
                   const std::string& key, const std::string& value, bool added,
                   Clock::time_point at, Clock::time_point& done_at) {
    auto it = want.find(key);
    if (it == want.end()) {
      return;
    }
    if (added && it->second == value) {
      if (have.insert(key).second) {
        c.first = any ? c.first : at;
        any = true;
        if (have.size() == want.size()) {
          done_at = at;
        }
      }
    } else {
      have.erase(key);
    }
  };
  const auto at = monitor.wait(from, Clock::now() + kResyncTimeout, [&](const KernelEvent& e) {
    if (is_route(e)) {
      track(routes, want_routes, e.dst, e.gateway, e.type == RTM_NEWROUTE, e.at, c.routes_done);
    } else if (e.type == RTM_NEWNEIGH || e.type == RTM_DELNEIGH) {
      if (e.family == AF_INET) {
        track(neigh, want_neigh, e.dst, e.lladdr, e.type == RTM_NEWNEIGH, e.at, c.neigh_done);
      } else if (e.family == AF_BRIDGE) {
        track(fdb, want_fdb, e.lladdr, e.dst, e.type == RTM_NEWNEIGH, e.at, c.fdb_done);
      }
    }
    return done();
  });
  if (!at) {
    std::cerr << "timeout: " << routes.size() << "/" << want_routes.size() << " routes, "
              << neigh.size() << "/" << want_neigh.size() << " neighbours, " << fdb.size() << "/"
              << want_fdb.size() << " FDB entries\n";
    return std::nullopt;
  }
  c.last = *at;
  return c;
}

int run_mode(const std::string& encap, const Options& options) {
  const bool vxlan = encap == "vxlan";
  // The "node": lo and an underlay veth with 198.19.0.1/20 (4k on-link node addresses).
  if (!test::become_node_namespace(kUnderlay, false)) {
    return 1;
  }
  Monitor monitor;
  test::EtcdDatastore etcd;
  test::TempDir dir("bench-agent");
  const auto connection = etcd.connect("bench-writer");
  Cluster cluster(connection->client(), vxlan);
  {
    model::IPPool pool;
    pool.metadata.name = "pods";
    pool.spec.cidr = IpPrefix::parse("198.18.0.0/16");
    pool.spec.block_size = 28;
    pool.spec.vxlan_mode =
        vxlan ? model::EncapsulationMode::kAlways : model::EncapsulationMode::kNever;
    ipam::Store(connection->client()).create(pool);
  }

  // 1k remote nodes, each with one confirmed block, written by 4 writers.
  const int n_nodes = options.nodes;
  std::vector<RemoteNode> nodes;
  for (int i = 0; i < n_nodes; ++i) {
    nodes.push_back(remote_node(i, i));
  }
  std::vector<int> owner(4096, -1);  // block index -> node index
  const auto populate_start = Clock::now();
  const bool written =
      write_in_parallel(etcd, 4, nodes.size(), [&](const ipam::Store& store, size_t i) {
        const Cluster c(store.client(), vxlan);
        c.create_node(nodes[i]);
        c.create_block(block_at(static_cast<int>(i)), nodes[i].name);
        c.create_affinity(block_at(static_cast<int>(i)), nodes[i].name);
      });
  if (!written) {
    return 1;
  }
  for (int i = 0; i < n_nodes; ++i) {
    owner[static_cast<size_t>(i)] = i;
  }
  const double populate_s = std::chrono::duration<double>(Clock::now() - populate_start).count();

  std::map<std::string, std::string> want_routes, want_neigh, want_fdb;
  for (int i = 0; i < n_nodes; ++i) {
    const RemoteNode& n = nodes[static_cast<size_t>(i)];
    want_routes[block_at(i).to_string()] = cluster.gateway(n);
    if (vxlan) {
      want_neigh[n.tunnel.to_string()] = n.mac.to_string();
      want_fdb[n.mac.to_string()] = n.address.to_string();
    }
  }

  const std::string socket = (dir.path() / "run" / "brindled.sock").string();
  const int health = test::free_port();
  const std::string config_file = (dir.path() / "brindle.toml").string();
  const std::string log_file = (dir.path() / "brindled.log").string();
  std::ofstream(config_file) << "[node]\nname = \"" << kSelf << "\"\nipv4 = \"" << kUnderlay
                             << "\"\n\n"
                             << etcd.config_toml() << "\n[routing]\nplugin = \"static\"\n"
                             << "[routing.static]\nprotocol = " << kProtocol << "\n"
                             << "[encapsulation]\nplugin = \"" << encap << "\"\n"
                             << "[control]\nsocket = \"" << socket << "\"\n"
                             << "[health]\nlisten = \"127.0.0.1:" << health << "\"\n"
                             << "[metrics]\nlisten = \"\"\n[log]\nlevel = \"warn\"\n";

  // 1. Resync from start.
  size_t mark = monitor.size();
  const Clock::time_point resync_started = Clock::now();
  auto daemon = std::make_unique<test::Brindled>(config_file, log_file);
  const std::optional<Completion> resync =
      wait_complete(monitor, mark, want_routes, want_neigh, want_fdb);
  if (!resync) {
    std::cerr << "brindled log:\n" << test::log_tail(log_file);
    return 1;
  }
  const long hwm_start = status_kib(daemon->pid(), "VmHWM");
  const long rss_start = status_kib(daemon->pid(), "VmRSS");

  // 2. Restart with drift: one route and (vxlan) one neighbour + FDB entry deleted, one stale
  // route of the plugin's protocol added while brindled is down.
  const size_t stop_mark = monitor.size();
  daemon->stop();
  daemon.reset();
  const RemoteNode& n0 = nodes[0];
  if (!sh("ip route del " + block_at(0).to_string() + " proto " + std::to_string(kProtocol)) ||
      !sh("ip route add " + std::string(kStaleRoute) + " via 198.19.0.2 proto " +
          std::to_string(kProtocol)) ||
      (vxlan && (!sh("ip neigh del " + n0.tunnel.to_string() + " dev vxlan.brindle") ||
                 !sh("bridge fdb del " + n0.mac.to_string() + " dev vxlan.brindle dst " +
                     n0.address.to_string())))) {
    return 1;
  }
  mark = monitor.size();
  const Clock::time_point restart_started = Clock::now();
  daemon = std::make_unique<test::Brindled>(config_file, log_file);
  bool stale_gone = false, route_back = false, neigh_back = !vxlan, fdb_back = !vxlan;
  const auto reconciled = monitor.wait(mark, Clock::now() + kResyncTimeout, [&](const auto& e) {
    if (is_route(e) && e.dst == kStaleRoute && e.type == RTM_DELROUTE) {
      stale_gone = true;
    } else if (is_route(e) && e.dst == block_at(0).to_string() && e.type == RTM_NEWROUTE &&
               e.gateway == cluster.gateway(n0)) {
      route_back = true;
    } else if (e.type == RTM_NEWNEIGH && e.family == AF_INET && e.dst == n0.tunnel.to_string()) {
      neigh_back = true;
    } else if (e.type == RTM_NEWNEIGH && e.family == AF_BRIDGE && e.lladdr == n0.mac.to_string()) {
      fdb_back = true;
    }
    return stale_gone && route_back && neigh_back && fdb_back;
  });
  if (!reconciled) {
    std::cerr << "restart: drift not repaired (stale removed " << stale_gone << ", route back "
              << route_back << ", neighbour back " << neigh_back << ", FDB back " << fdb_back
              << ")\nbrindled log:\n"
              << test::log_tail(log_file);
    return 1;
  }
  // Let the restarted agent finish what it does after the repair, then count what the restart
  // did to the routes that were right all along.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int removed_during_restart = 0, rewritten_during_restart = 0, neigh_removed_during_restart = 0;
  monitor.each(stop_mark, monitor.size(), [&](const KernelEvent& e) {
    if (e.type == RTM_DELNEIGH &&
        ((e.family == AF_INET && want_neigh.count(e.dst) != 0 && e.dst != n0.tunnel.to_string()) ||
         (e.family == AF_BRIDGE && want_fdb.count(e.lladdr) != 0 &&
          e.lladdr != n0.mac.to_string()))) {
      ++neigh_removed_during_restart;
    }
    if (!is_route(e) || want_routes.count(e.dst) == 0 || e.dst == block_at(0).to_string()) {
      return;
    }
    (e.type == RTM_DELROUTE ? removed_during_restart : rewritten_during_restart)++;
  });
  const long hwm_restart = status_kib(daemon->pid(), "VmHWM");

  // 3. Convergence: datastore change -> kernel route.
  std::set<IpPrefix> used = cluster.existing_blocks();
  int next_block = 0;
  auto free_block = [&] {
    while (used.count(block_at(next_block)) != 0) {
      ++next_block;
    }
    used.insert(block_at(next_block));
    return next_block;
  };
  const char* kinds[] = {"affinity created", "affinity moved", "affinity deleted", "node added",
                         "node deleted"};
  std::map<std::string, Samples> per_kind;
  Samples overall, writes;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, n_nodes - 1);
  int block = -1;        // the block of the current affinity cycle
  int added = n_nodes;   // index of the next added node
  int added_block = -1;  // the block of the added node
  std::optional<RemoteNode> extra;
  for (int change = 0; change < options.changes; ++change) {
    const std::string kind = kinds[change % 5];
    std::string dst, gateway;
    uint16_t type = RTM_NEWROUTE;
    std::function<void()> timed_write;
    std::function<void()> after;
    try {
      if (kind == "affinity created") {
        block = free_block();
        owner[static_cast<size_t>(block)] = pick(rng);
        const RemoteNode& n = nodes[static_cast<size_t>(owner[static_cast<size_t>(block)])];
        cluster.create_block(block_at(block), n.name);
        dst = block_at(block).to_string();
        gateway = cluster.gateway(n);
        timed_write = [&, name = n.name] { cluster.create_affinity(block_at(block), name); };
      } else if (kind == "affinity moved") {
        const int from = owner[static_cast<size_t>(block)];
        int to = pick(rng);
        while (to == from) {
          to = pick(rng);
        }
        owner[static_cast<size_t>(block)] = to;
        const RemoteNode& old_owner = nodes[static_cast<size_t>(from)];
        const RemoteNode& new_owner = nodes[static_cast<size_t>(to)];
        cluster.set_block_affinity(block_at(block), new_owner.name);
        dst = block_at(block).to_string();
        gateway = cluster.gateway(new_owner);
        timed_write = [&, name = new_owner.name] {
          cluster.create_affinity(block_at(block), name);
        };
        after = [&, name = old_owner.name] {
          cluster.delete_affinity(block_at(block), name,
                                  cluster.affinity_revision(block_at(block), name));
        };
      } else if (kind == "affinity deleted") {
        const std::string name = nodes[static_cast<size_t>(owner[static_cast<size_t>(block)])].name;
        const std::string revision = cluster.affinity_revision(block_at(block), name);
        dst = block_at(block).to_string();
        type = RTM_DELROUTE;
        timed_write = [&, name, revision] {
          cluster.delete_affinity(block_at(block), name, revision);
        };
        after = [&] {
          cluster.delete_block(block_at(block));
          used.erase(block_at(block));
          next_block = std::min(next_block, block);
        };
      } else if (kind == "node added") {
        added_block = free_block();
        extra = remote_node(added++, added_block);
        cluster.create_block(block_at(added_block), extra->name);
        cluster.create_affinity(block_at(added_block), extra->name);
        // The affinity alone routes nothing (its node is unknown); let the agent take it in.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        dst = block_at(added_block).to_string();
        gateway = cluster.gateway(*extra);
        timed_write = [&] { cluster.create_node(*extra); };
      } else {
        dst = block_at(added_block).to_string();
        type = RTM_DELROUTE;
        timed_write = [&, revision = cluster.node_revision(extra->name)] {
          cluster.delete_node(extra->name, revision);
        };
        after = [&] {
          cluster.delete_affinity(block_at(added_block), extra->name,
                                  cluster.affinity_revision(block_at(added_block), extra->name));
          cluster.delete_block(block_at(added_block));
          used.erase(block_at(added_block));
          next_block = std::min(next_block, added_block);
        };
      }
      mark = monitor.size();
      const auto t0 = Clock::now();
      timed_write();
      writes.ms.push_back(ms_between(t0, Clock::now()));
      const auto seen = monitor.wait(mark, t0 + kChangeTimeout, [&](const KernelEvent& e) {
        return is_route(e) && e.type == type && e.dst == dst &&
               (type == RTM_DELROUTE || e.gateway == gateway);
      });
      if (seen) {
        per_kind[kind].ms.push_back(ms_between(t0, *seen));
        overall.ms.push_back(ms_between(t0, *seen));
      } else {
        per_kind[kind].timeouts++;
        overall.timeouts++;
        std::cerr << "change " << change << " (" << kind << " " << dst << "): no kernel event in "
                  << kChangeTimeout.count() << " s\n";
      }
      if (after) {
        after();
      }
      // Let the follow-up writes settle before the next timed change.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } catch (const std::exception& e) {
      std::cerr << "change " << change << " (" << kind << "): " << e.what() << "\n";
      return 1;
    }
  }
  const long hwm_end = status_kib(daemon->pid(), "VmHWM");
  const bool daemon_alive = daemon->running();
  daemon.reset();

  std::printf("\n== brindled, routing static, encapsulation %s, %d remote nodes ==\n",
              encap.c_str(), n_nodes);
  std::printf("etcd populated with %d Node + IPAMBlock + BlockAffinity in %.2f s\n", n_nodes,
              populate_s);
  std::printf("resync from start: all %zu routes", want_routes.size());
  if (vxlan) {
    std::printf(" + %zu neighbours + %zu FDB entries", want_neigh.size(), want_fdb.size());
  }
  std::printf(" in %.1f ms (first kernel change at %.1f ms, routes complete at %.1f ms",
              ms_between(resync_started, resync->last), ms_between(resync_started, resync->first),
              ms_between(resync_started, resync->routes_done));
  if (vxlan) {
    std::printf(", neighbours at %.1f ms, FDB at %.1f ms",
                ms_between(resync_started, resync->neigh_done),
                ms_between(resync_started, resync->fdb_done));
  }
  std::printf(")\n");
  std::printf(
      "brindled at %d nodes: VmHWM %ld KiB, VmRSS %ld KiB after the resync; VmHWM %ld KiB "
      "after the restart, %ld KiB after the changes%s\n",
      n_nodes, hwm_start, rss_start, hwm_restart, hwm_end,
      daemon_alive ? "" : " (brindled had exited!)");
  std::printf(
      "restart: drift repaired %.1f ms after the start (stale route removed, deleted route "
      "re-added%s); routes removed during the restart: %d, rewritten: %d (want 0, 0)\n",
      ms_between(restart_started, *reconciled), vxlan ? ", neighbour and FDB entry re-added" : "",
      removed_during_restart, rewritten_during_restart);
  if (vxlan) {
    std::printf("restart: neighbour/FDB entries removed during the restart: %d (want 0)\n",
                neigh_removed_during_restart);
  }
  std::printf("convergence, ms from the datastore write to the kernel route (%d changes)\n",
              options.changes);
  std::printf("  %-26s %5s %8s %8s %8s %8s %8s\n", "change", "n", "p50", "p90", "p99", "max",
              "timeouts");
  for (const char* k : kinds) {
    print_stats_row(k, per_kind[k]);
  }
  print_stats_row("all", overall);
  print_stats_row("(datastore write alone)", writes);
  std::printf("goal (issue 5) p99 <= 100 ms: %s\n",
              overall.timeouts == 0 && overall.pct(99) <= 100.0 ? "met" : "NOT met");
  if (monitor.overflowed()) {
    std::printf("WARNING: the netlink monitor overflowed: figures may be incomplete\n");
  }
  return overall.timeouts == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  log::logger().set_level(log::Level::warn);  // the datastore plugin loaded in this process
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--nodes") {
      options.nodes = std::clamp(std::stoi(value), 1, 3000);
    } else if (flag == "--changes") {
      options.changes = std::max(1, std::stoi(value));
    } else if (flag == "--encap") {
      options.encaps = value == "both" ? std::vector<std::string>{"none", "vxlan"}
                                       : std::vector<std::string>{value};
    } else {
      std::cerr << "usage: " << argv[0] << " [--nodes N] [--changes N] [--encap none|vxlan|both]\n";
      return 2;
    }
  }
  int status = 0;
  for (const std::string& encap : options.encaps) {
    if (run_forked("encapsulation " + encap, [&] { return run_mode(encap, options); }) != 0) {
      std::cerr << "encapsulation " << encap << ": failed\n";
      status = 1;
    }
  }
  return status;
}
