// The "vxlan" encapsulation: pod traffic to other nodes crosses a VXLAN overlay.
//
// This node gets a VXLAN device `vxlan.brindle` (VNI 4096, UDP port 4789 set explicitly, learning
// off, source address = this node's IPv4 underlay address, bound to the underlay device) carrying
// this node's tunnel address (from IPAM) as a /32. When the node also has an IPv6 underlay address
// a second device `vxlan6.brindle` (same VNI and port, IPv6 source address) carries IPv6 pools with
// the IPv6 tunnel address as a /128; Calico's name "vxlan-v6.<x>" does not fit IFNAMSIZ here.
// Both devices use this node's one VTEP MAC, derived from the node name (vtep_mac.hpp), so it is
// the same after every restart and every re-creation of the device; the ABI publishes one MAC.
//
// Per remote node, on the device of each underlay family: a permanent neighbour entry (remote
// tunnel address -> remote VTEP MAC) and a permanent FDB entry with NTF_SELF (remote VTEP MAC ->
// remote underlay address). Routes to a remote block take the form
// `<block> via <remote tunnel address> dev vxlan.brindle onlink`.
//
// Kernel state follows the host's desired state like the routing plugins: upsert_remote adds and
// replaces entries at once; nothing is removed before in_sync() (entries of nodes that are gone are
// removed at the first apply() after it); refresh() re-creates a missing device and repairs
// missing or altered entries. Failed entries are reported and retried at the next apply().
//
// Configuration ([encapsulation.vxlan] in brindle.toml), every key optional:
//   device  = "vxlan.brindle"   # the IPv4-underlay device
//   device6 = "vxlan6.brindle"  # the IPv6-underlay device
//   vni     = 4096              # 1..16777215
//   port    = 4789              # 1..65535 (the kernel's own default would be 8472)
//   mtu     = 1450              # 576..65535: device and pod MTU; default underlay MTU - 50 (-70)
#include <linux/neighbour.h>  // NUD_PERMANENT
#include <brindle/sdk.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "brindle/netlink/netlink.hpp"
#include "vtep_mac.hpp"

namespace {

namespace nl = brindle::netlink;

constexpr uint32_t kOverhead4 = 50;  // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
constexpr uint32_t kOverhead6 = 70;  // outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14
constexpr int64_t kDefaultVni = 4096;
constexpr int64_t kMaxVni = 16777215;
constexpr int64_t kDefaultPort = 4789;
constexpr int64_t kMinMtu = 576;
constexpr int64_t kMaxMtu = 65535;
constexpr uint32_t kMinIpv6Mtu = 1280;  // below it the kernel drops IPv6 from the device
constexpr uint32_t kMinInnerMtu = 68;
constexpr size_t kMaxIfnameLength = BRINDLE_IFNAME_CAPACITY - 1;
constexpr size_t kMaxNamedFailures = 5;

// Index into per-family arrays: 0 for IPv4, 1 for IPv6.
constexpr size_t kV4 = 0;
constexpr size_t kV6 = 1;
constexpr std::array<size_t, 2> kFamilies = {kV4, kV6};
int family_number(size_t f) {
  return f == kV4 ? 4 : 6;
}
const char* family_label(size_t f) {
  return f == kV4 ? "IPv4" : "IPv6";
}

std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out.append(text).push_back('"');
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    out += out.empty() ? "" : std::string(separator);
    out += item;
  }
  return out;
}

nl::IpPrefix to_netlink(const brindle::IpPrefix& prefix) {
  return prefix.valid() ? nl::IpPrefix::from_abi(prefix.raw()) : nl::IpPrefix{};
}

struct Settings {
  std::array<std::string, 2> device;  // per family
  uint32_t vni = 0;
  uint16_t port = 0;
  uint32_t mtu = 0;  // 0: derived from the underlay
};

void check_ifname(const brindle::Config& config, std::string_view key, const std::string& name) {
  if (name.empty() || name.size() > kMaxIfnameLength) {
    config.fail(key, "must be an interface name of 1 to " + std::to_string(kMaxIfnameLength) +
                         " characters, got " + quoted(name));
  }
  if (name == "." || name == ".." || std::any_of(name.begin(), name.end(), [](char c) {
        return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0';
      })) {
    config.fail(key, "is not a valid interface name: " + quoted(name));
  }
}

Settings read_settings(const brindle::Host& host) {
  const brindle::Config config = host.config();
  config.allow_only("", {"device", "device6", "vni", "port", "mtu"});
  Settings s;
  s.device[kV4] = config.string_or("device", "vxlan.brindle");
  check_ifname(config, "device", s.device[kV4]);
  s.device[kV6] = config.string_or("device6", "vxlan6.brindle");
  check_ifname(config, "device6", s.device[kV6]);
  if (s.device[kV4] == s.device[kV6]) {
    config.fail("device6", "must differ from device (both are " + quoted(s.device[kV4]) + ")");
  }
  s.vni = static_cast<uint32_t>(config.int_or("vni", kDefaultVni, 1, kMaxVni));
  s.port = static_cast<uint16_t>(config.int_or("port", kDefaultPort, 1, 65535));
  s.mtu = static_cast<uint32_t>(config.int_or("mtu", 0, kMinMtu, kMaxMtu));
  return s;
}

// A remote node as far as VXLAN cares; addresses are full-length host addresses.
struct Remote {
  std::optional<nl::MacAddress> mac;
  std::array<nl::IpPrefix, 2> underlay;  // per family
  std::array<nl::IpPrefix, 2> tunnel;
  friend bool operator==(const Remote&, const Remote&) = default;
};

nl::IpPrefix host_address(const brindle::IpPrefix& prefix, int family, const std::string& node,
                          const char* field) {
  if (!prefix.valid()) {
    return {};
  }
  if (prefix.family() != family) {
    throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                         "vxlan: node " + quoted(node) + ": " + field + " " + prefix.to_string() +
                             " is not an IPv" + std::to_string(family) + " address");
  }
  return to_netlink(prefix).address();
}

Remote to_remote(const brindle::EncapNode& node) {
  Remote r;
  if (node.has_vtep_mac) {
    r.mac = nl::MacAddress::from_abi(node.vtep_mac.raw);
    if (r.mac->is_zero() || (r.mac->bytes()[0] & 0x01) != 0) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT, "vxlan: node " + quoted(node.name) +
                                                             ": VTEP MAC " + r.mac->to_string() +
                                                             " is not a unicast MAC address");
    }
  }
  r.underlay[kV4] = host_address(node.address4, 4, node.name, "address4");
  r.underlay[kV6] = host_address(node.address6, 6, node.name, "address6");
  r.tunnel[kV4] = host_address(node.tunnel_address4, 4, node.name, "tunnel_address4");
  r.tunnel[kV6] = host_address(node.tunnel_address6, 6, node.name, "tunnel_address6");
  return r;
}

// The entries one device should hold, each with the node it is for (for messages).
struct DeviceEntries {
  std::map<nl::IpPrefix, std::pair<nl::MacAddress, std::string>> neighbours;  // tunnel -> MAC
  std::map<nl::MacAddress, std::pair<nl::IpPrefix, std::string>> fdb;         // MAC -> underlay
};

void add_entries(const std::string& node, const Remote& remote, size_t f, DeviceEntries& out) {
  if (!remote.mac) {
    return;
  }
  if (!remote.tunnel[f].empty()) {
    out.neighbours[remote.tunnel[f]] = {*remote.mac, node};
  }
  if (!remote.underlay[f].empty()) {
    out.fdb[*remote.mac] = {remote.underlay[f], node};
  }
}

// Collects per-entry failures so that one bad entry does not stop the others.
class Failures {
 public:
  template <typename Fn>
  void attempt(const std::string& what, Fn&& fn) {
    try {
      fn();
    } catch (const nl::NetlinkError& e) {
      add(what + ": " + e.what());
    } catch (const std::invalid_argument& e) {
      add(what + ": " + e.what());
    }
  }
  void add(std::string message) { messages_.push_back(std::move(message)); }
  bool empty() const { return messages_.empty(); }
  size_t size() const { return messages_.size(); }
  std::string summary() const {
    std::vector<std::string> named(
        messages_.begin(), messages_.begin() + static_cast<std::ptrdiff_t>(
                                                   std::min(messages_.size(), kMaxNamedFailures)));
    std::string out = join(named, "; ");
    if (messages_.size() > named.size()) {
      out += "; and " + std::to_string(messages_.size() - named.size()) + " more";
    }
    return out;
  }

 private:
  std::vector<std::string> messages_;
};

// Deletes, treating "already gone" as success. True when something was deleted.
template <typename Fn>
bool delete_if_present(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const nl::NetlinkError& e) {
    if (!e.is_not_found()) {
      throw;
    }
    return false;
  }
}

brindle::Error to_error(const nl::NetlinkError& e, const std::string& context) {
  return brindle::Error(nl::to_status(e.code(), e.kernel_errno()), context + ": " + e.what());
}

class VxlanEncap final : public brindle::EncapPlugin {
 public:
  explicit VxlanEncap(brindle::Host host)
      : EncapPlugin(host),
        settings_(read_settings(host)),
        route_forms_(host.counter("route_forms_total",
                                  "Route forms computed, by result (ok, unavailable, invalid)")),
        entry_failures_(host.counter("entry_failures_total",
                                     "Neighbour/FDB entries that could not be programmed")),
        stale_removed_(host.counter("stale_entries_removed_total",
                                    "Neighbour/FDB entries removed because no node wants them")),
        recreations_(host.counter("device_recreations_total",
                                  "VXLAN devices deleted and created again (wrong parameters)")),
        remotes_gauge_(host.gauge("remote_nodes", "Remote nodes known to the VXLAN plugin")),
        pod_mtu_gauge_(host.gauge("pod_mtu", "MTU pods and VXLAN devices use")) {}

  // Side-effect free: checks the [encapsulation.vxlan] section.
  static void validate_config(const brindle::Host& host) { read_settings(host); }

  brindle::EncapLocalState ensure_local(const brindle::EncapLocalConfig& config) override {
    nl::Netlink netlink;
    brindle::EncapLocalState state = ensure_devices(netlink, config);
    // Entries recorded before the device existed (or lost with a re-created device).
    try {
      reconcile(netlink, /*remove_stale=*/false);
    } catch (const brindle::Error& e) {
      host().warn("some VXLAN neighbour/FDB entries could not be programmed; retrying at apply",
                  "error=" + quoted(e.what()));
    }
    return state;
  }

  void upsert_remote(const brindle::EncapNode& node) override {
    if (node.name.empty()) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT, "vxlan: upsert_remote: empty node name");
    }
    if (node.name == local_name_) {
      host().debug("ignoring upsert_remote for this node itself", "node=" + quoted(node.name));
      return;
    }
    const Remote remote = to_remote(node);
    const auto found = remotes_.find(node.name);
    std::optional<Remote> previous;
    if (found != remotes_.end()) {
      if (found->second == remote) {
        return;  // nothing changed
      }
      previous = found->second;
    }
    warn_about_clashes(node.name, remote);
    remotes_[node.name] = remote;
    remotes_gauge_.set(static_cast<double>(remotes_.size()));
    if (!have_local_) {
      return;  // programmed by ensure_local()
    }
    nl::Netlink netlink;
    Failures failures;
    for (const size_t f : enabled_families()) {
      const std::optional<int> ifindex = device_index(netlink, f, failures);
      if (!ifindex) {
        continue;
      }
      DeviceEntries wanted;
      add_entries(node.name, remote, f, wanted);
      program(netlink, *ifindex, f, wanted, failures);
      // The entries of the node's previous MAC/addresses; kept until in_sync like any removal.
      if (previous && synced_) {
        DeviceEntries before;
        add_entries(node.name, *previous, f, before);
        remove_unwanted(netlink, *ifindex, f, before, failures);
      }
    }
    report(failures, "node " + quoted(node.name));
  }

  void remove_remote(std::string_view node_name) override {
    const auto found = remotes_.find(std::string(node_name));
    if (found == remotes_.end()) {
      return;
    }
    const Remote previous = found->second;
    remotes_.erase(found);
    remotes_gauge_.set(static_cast<double>(remotes_.size()));
    if (!have_local_ || !synced_) {
      return;  // before in_sync nothing is removed: the first apply() after it does
    }
    nl::Netlink netlink;
    Failures failures;
    for (const size_t f : enabled_families()) {
      const std::optional<int> ifindex = device_index(netlink, f, failures);
      if (!ifindex) {
        continue;
      }
      DeviceEntries before;
      add_entries(std::string(node_name), previous, f, before);
      remove_unwanted(netlink, *ifindex, f, before, failures);
    }
    report(failures, "removing node " + quoted(node_name));
  }

  brindle::RouteForm route_form(const brindle::EncapNode& remote,
                                const brindle::IpPrefix& block) override {
    if (!block.valid()) {
      route_forms_.add(1, "result=\"invalid\"");
      throw brindle::Error(
          BRINDLE_ERR_INVALID_ARGUMENT,
          "vxlan: route_form: block of node " + quoted(remote.name) + " is not a valid IP prefix");
    }
    const size_t f = block.family() == 4 ? kV4 : kV6;
    const std::string what = std::string("vxlan cannot route ") + family_label(f) + " block " +
                             block.to_string() + " of node " + quoted(remote.name);
    if (!family_enabled(f)) {
      route_forms_.add(1, "result=\"invalid\"");
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           what + ": this node " + quoted(node_name()) + " has no " +
                               family_label(f) + " underlay address, so it has no " +
                               family_label(f) + " VXLAN device (" + quoted(settings_.device[f]) +
                               ")");
    }
    const brindle::IpPrefix& tunnel = f == kV4 ? remote.tunnel_address4 : remote.tunnel_address6;
    const brindle::IpPrefix& underlay = f == kV4 ? remote.address4 : remote.address6;
    std::string missing;
    if (!remote.has_vtep_mac) {
      missing = "has not published a VTEP MAC";
    } else if (!tunnel.valid()) {
      missing = std::string("has no ") + family_label(f) + " VXLAN tunnel address";
    } else if (!underlay.valid()) {
      missing = std::string("has no ") + family_label(f) + " underlay address to send VXLAN to";
    }
    if (!missing.empty()) {
      route_forms_.add(1, "result=\"unavailable\"");
      throw brindle::Error(BRINDLE_ERR_UNAVAILABLE, what + " yet: the node " + missing + " (yet)");
    }
    if (tunnel.family() != block.family()) {
      route_forms_.add(1, "result=\"invalid\"");
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT, what + ": its tunnel address " +
                                                             tunnel.to_string() + " is not an " +
                                                             family_label(f) + " address");
    }
    route_forms_.add(1, "result=\"ok\"");
    brindle::RouteForm form;
    form.device = settings_.device[f];
    brindle_ip_prefix_t gateway = tunnel.raw();
    gateway.prefix_len = static_cast<uint8_t>(tunnel.max_len());
    form.gateway = brindle::IpPrefix(gateway);
    form.flags = BRINDLE_ROUTE_ONLINK;
    return form;
  }

  void in_sync() override {
    synced_ = true;
    reconcile_pending_ = true;  // the first apply() removes what nobody wants any more
  }

  void apply() override {
    if (!reconcile_pending_ || !have_local_) {
      return;
    }
    nl::Netlink netlink;
    reconcile(netlink, synced_);
  }

  void refresh() override {
    if (!have_local_) {
      return;
    }
    nl::Netlink netlink;
    ensure_devices(netlink, last_config_);  // re-creates a deleted device, restores its address
    reconcile(netlink, synced_);
  }

 private:
  struct LocalFamily {
    bool enabled = false;
    nl::IpPrefix underlay;  // this node's underlay address (full length)
    uint32_t mtu = 0;
  };

  std::string node_name() const {
    return local_name_.empty() ? std::string(host().node_name()) : local_name_;
  }

  bool family_enabled(size_t f) const {
    if (have_local_) {
      return local_[f].enabled;
    }
    return (f == kV4 ? host().node_ipv4() : host().node_ipv6()).valid();
  }

  std::vector<size_t> enabled_families() const {
    std::vector<size_t> out;
    for (const size_t f : kFamilies) {
      if (have_local_ && local_[f].enabled) {
        out.push_back(f);
      }
    }
    return out;
  }

  std::optional<int> device_index(nl::Netlink& netlink, size_t f, Failures& failures) {
    const std::optional<nl::LinkInfo> link = netlink.find_link(settings_.device[f]);
    if (!link) {
      failures.add("device " + quoted(settings_.device[f]) + " is missing (refresh re-creates it)");
      return std::nullopt;
    }
    return link->index;
  }

  void warn_about_clashes(const std::string& name, const Remote& remote) const {
    for (const auto& [other_name, other] : remotes_) {
      if (other_name == name) {
        continue;
      }
      if (remote.mac && other.mac == remote.mac) {
        host().warn("two nodes publish the same VTEP MAC; the later one wins",
                    "node=" + quoted(name) + " other=" + quoted(other_name) +
                        " mac=" + remote.mac->to_string());
      }
      for (const size_t f : kFamilies) {
        if (!remote.tunnel[f].empty() && other.tunnel[f] == remote.tunnel[f]) {
          host().warn("two nodes publish the same VXLAN tunnel address",
                      "node=" + quoted(name) + " other=" + quoted(other_name) +
                          " address=" + remote.tunnel[f].to_string(true));
        }
      }
    }
  }

  // Everything every known remote wants on the device of family f.
  DeviceEntries desired(size_t f) const {
    DeviceEntries out;
    for (const auto& [name, remote] : remotes_) {
      add_entries(name, remote, f, out);
    }
    return out;
  }

  void program(nl::Netlink& netlink, int ifindex, size_t f, const DeviceEntries& wanted,
               Failures& failures) {
    const std::string& device = settings_.device[f];
    for (const auto& [address, target] : wanted.neighbours) {
      const auto& [mac, node] = target;
      failures.attempt(
          "neighbour " + address.to_string(true) + " lladdr " + mac.to_string() + " dev " + device +
              " (node " + quoted(node) + ")",
          [&] { netlink.replace_neighbour({.ifindex = ifindex, .address = address, .mac = mac}); });
    }
    for (const auto& [mac, target] : wanted.fdb) {
      const auto& [destination, node] = target;
      failures.attempt(
          "fdb " + mac.to_string() + " dst " + destination.to_string(true) + " dev " + device +
              " (node " + quoted(node) + ")",
          [&] {
            netlink.replace_fdb({.ifindex = ifindex, .mac = mac, .destination = destination});
          });
    }
  }

  // Removes the entries in `candidates` that no remote wants (any more) on the device.
  void remove_unwanted(nl::Netlink& netlink, int ifindex, size_t f, const DeviceEntries& candidates,
                       Failures& failures) {
    const DeviceEntries wanted = desired(f);
    const std::string& device = settings_.device[f];
    for (const auto& [address, target] : candidates.neighbours) {
      if (wanted.neighbours.contains(address)) {
        continue;
      }
      failures.attempt("delete neighbour " + address.to_string(true) + " dev " + device, [&] {
        if (delete_if_present(
                [&] { netlink.delete_neighbour({.ifindex = ifindex, .address = address}); })) {
          removed("neighbour", device,
                  address.to_string(true) + " lladdr " + target.first.to_string());
        }
      });
    }
    for (const auto& [mac, target] : candidates.fdb) {
      const auto want = wanted.fdb.find(mac);
      if (want != wanted.fdb.end() && want->second.first == target.first) {
        continue;
      }
      failures.attempt(
          "delete fdb " + mac.to_string() + " dst " + target.first.to_string(true) + " dev " +
              device,
          [&] {
            if (delete_if_present([&] {
                  netlink.delete_fdb({.ifindex = ifindex, .mac = mac, .destination = target.first});
                })) {
              removed("fdb", device, mac.to_string() + " dst " + target.first.to_string(true));
            }
          });
    }
  }

  void removed(const char* kind, const std::string& device, const std::string& entry) {
    stale_removed_.add(1);
    host().info(std::string("removed stale VXLAN ") + kind + " entry",
                "device=" + quoted(device) + " entry=" + quoted(entry));
  }

  // Makes the kernel hold exactly the desired entries: missing or altered ones are (re)written;
  // with remove_stale, permanent entries nobody wants are deleted (the devices are ours alone).
  void reconcile(nl::Netlink& netlink, bool remove_stale) {
    Failures failures;
    for (const size_t f : enabled_families()) {
      const std::optional<int> ifindex = device_index(netlink, f, failures);
      if (!ifindex) {
        continue;
      }
      const DeviceEntries wanted = desired(f);
      DeviceEntries present;  // permanent entries in the kernel now
      std::vector<std::pair<nl::MacAddress, nl::IpPrefix>> extra_fdb;  // same MAC, more dsts
      try {
        for (const nl::NeighbourEntry& n : netlink.neighbours(*ifindex, family_number(f))) {
          if ((n.state & NUD_PERMANENT) != 0) {
            present.neighbours[n.address.address()] = {n.mac, {}};
          }
        }
        for (const nl::FdbEntry& e : netlink.fdb_entries(*ifindex)) {
          if (!e.self || (e.state & NUD_PERMANENT) == 0) {
            continue;
          }
          const nl::IpPrefix destination =
              e.destination.empty() ? e.destination : e.destination.address();
          if (!present.fdb.emplace(e.mac, std::make_pair(destination, std::string{})).second) {
            extra_fdb.emplace_back(e.mac, destination);
          }
        }
      } catch (const nl::NetlinkError& e) {
        failures.add(std::string("listing entries of ") + quoted(settings_.device[f]) + ": " +
                     e.what());
        continue;
      }
      DeviceEntries to_write;
      for (const auto& [address, target] : wanted.neighbours) {
        const auto have = present.neighbours.find(address);
        if (have == present.neighbours.end() || have->second.first != target.first) {
          to_write.neighbours.emplace(address, target);
        }
      }
      for (const auto& [mac, target] : wanted.fdb) {
        const auto have = present.fdb.find(mac);
        if (have == present.fdb.end() || have->second.first != target.first) {
          to_write.fdb.emplace(mac, target);
        }
      }
      program(netlink, *ifindex, f, to_write, failures);
      if (remove_stale) {
        remove_unwanted(netlink, *ifindex, f, present, failures);
        for (const auto& [mac, destination] : extra_fdb) {
          DeviceEntries extra;
          extra.fdb[mac] = {destination, {}};
          remove_unwanted(netlink, *ifindex, f, extra, failures);
        }
      }
    }
    reconcile_pending_ = !failures.empty();
    report(failures, "reconciling VXLAN entries");
  }

  void report(const Failures& failures, const std::string& context) {
    if (failures.empty()) {
      return;
    }
    reconcile_pending_ = true;
    entry_failures_.add(static_cast<double>(failures.size()));
    throw brindle::Error(BRINDLE_ERR_UNAVAILABLE,
                         "vxlan: " + context + ": " + std::to_string(failures.size()) +
                             " failed (retried at the next apply): " + failures.summary());
  }

  // --- this node's devices -----------------------------------------------------------------

  brindle::EncapLocalState ensure_devices(nl::Netlink& netlink,
                                          const brindle::EncapLocalConfig& config) {
    const std::string name =
        config.node.name.empty() ? std::string(host().node_name()) : config.node.name;
    if (name.empty()) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           "vxlan: this node has no name (needed for its VTEP MAC)");
    }
    std::array<LocalFamily, 2> local{};
    local[kV4].underlay =
        to_netlink(config.node.address4.valid() ? config.node.address4 : host().node_ipv4());
    local[kV6].underlay =
        to_netlink(config.node.address6.valid() ? config.node.address6 : host().node_ipv6());
    for (const size_t f : kFamilies) {
      if (!local[f].underlay.empty() && local[f].underlay.family() != family_number(f)) {
        throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                             std::string("vxlan: this node's ") + family_label(f) +
                                 " underlay address " + local[f].underlay.to_string() +
                                 " is of the wrong family");
      }
      local[f].underlay =
          local[f].underlay.empty() ? local[f].underlay : local[f].underlay.address();
      local[f].enabled = !local[f].underlay.empty();
    }
    if (!local[kV4].enabled && !local[kV6].enabled) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           "vxlan: node " + quoted(name) +
                               " has no underlay address (neither IPv4 nor IPv6) to bind its VXLAN "
                               "device to");
    }

    int underlay_ifindex = 0;
    uint32_t underlay_mtu = config.underlay_mtu;
    if (!config.underlay_device.empty()) {
      std::optional<nl::LinkInfo> underlay;
      try {
        underlay = netlink.find_link(config.underlay_device);
      } catch (const nl::NetlinkError& e) {
        throw to_error(e, "vxlan: looking up underlay device " + quoted(config.underlay_device));
      }
      if (!underlay) {
        throw brindle::Error(
            BRINDLE_ERR_NOT_FOUND,
            "vxlan: underlay device " + quoted(config.underlay_device) + " does not exist");
      }
      underlay_ifindex = underlay->index;
      if (underlay_mtu == 0) {
        underlay_mtu = underlay->mtu;
      }
    }
    const uint32_t fixed_mtu = settings_.mtu != 0 ? settings_.mtu : config.mtu_override;
    for (const size_t f : kFamilies) {
      if (!local[f].enabled) {
        continue;
      }
      const uint32_t overhead = f == kV4 ? kOverhead4 : kOverhead6;
      if (fixed_mtu != 0) {
        local[f].mtu = fixed_mtu;
      } else if (underlay_mtu == 0) {
        throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                             "vxlan: the underlay MTU is unknown (neither an MTU nor an underlay "
                             "device was given) and no mtu is configured");
      } else if (underlay_mtu < overhead + kMinInnerMtu) {
        throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                             "vxlan: underlay MTU " + std::to_string(underlay_mtu) +
                                 " is too small for VXLAN over " + family_label(f) + " (overhead " +
                                 std::to_string(overhead) + ")");
      } else {
        local[f].mtu = underlay_mtu - overhead;
      }
      if (f == kV6 && local[f].mtu < kMinIpv6Mtu) {
        throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                             "vxlan: device " + quoted(settings_.device[kV6]) + " would get MTU " +
                                 std::to_string(local[f].mtu) + ", below IPv6's minimum of " +
                                 std::to_string(kMinIpv6Mtu));
      }
    }

    const nl::MacAddress mac = brindle::vxlan::vtep_mac_for_node(name);
    const std::array<nl::IpPrefix, 2> tunnel = {to_netlink(config.node.tunnel_address4),
                                                to_netlink(config.node.tunnel_address6)};
    bool recreated = false;
    for (const size_t f : kFamilies) {
      if (!local[f].enabled) {
        continue;
      }
      const int ifindex = ensure_device(netlink, f, local[f].underlay, underlay_ifindex,
                                        local[f].mtu, mac, recreated);
      ensure_tunnel_address(netlink, f, ifindex, tunnel[f]);
    }

    local_name_ = name;
    local_ = local;
    have_local_ = true;
    last_config_ = config;
    if (recreated) {
      reconcile_pending_ = true;
    }

    brindle::EncapLocalState state;
    state.device = settings_.device[local[kV4].enabled ? kV4 : kV6];
    state.mtu_overhead4 = kOverhead4;
    state.mtu_overhead6 = kOverhead6;
    uint32_t pod_mtu = 0;
    for (const size_t f : kFamilies) {
      if (local[f].enabled) {
        pod_mtu = pod_mtu == 0 ? local[f].mtu : std::min(pod_mtu, local[f].mtu);
      }
    }
    state.pod_mtu = pod_mtu;
    state.has_vtep_mac = true;
    state.vtep_mac.raw = mac.to_abi();
    state.needs_tunnel_address = true;
    if (pod_mtu != reported_pod_mtu_) {
      pod_mtu_gauge_.set(pod_mtu);
      reported_pod_mtu_ = pod_mtu;
    }
    return state;
  }

  // Creates the device of family f or brings an existing one to the wanted parameters (re-created
  // when VNI, port, learning, source address or underlay binding differ). Returns its ifindex.
  int ensure_device(nl::Netlink& netlink, size_t f, const nl::IpPrefix& underlay,
                    int underlay_ifindex, uint32_t mtu, const nl::MacAddress& mac,
                    bool& recreated) {
    const std::string& device = settings_.device[f];
    const std::string fields =
        "device=" + quoted(device) + " vni=" + std::to_string(settings_.vni) +
        " port=" + std::to_string(settings_.port) + " local=" + underlay.to_string(true) +
        " mtu=" + std::to_string(mtu) + " mac=" + mac.to_string();
    try {
      std::optional<nl::LinkInfo> link = netlink.find_link(device);
      if (link) {
        const std::string wrong = mismatch(*link, underlay, underlay_ifindex);
        if (!wrong.empty()) {
          host().warn("re-creating VXLAN device with wrong parameters: " + wrong, fields);
          recreations_.add(1);
          netlink.delete_link(device);
          link.reset();
          recreated = true;
        }
      }
      if (!link) {
        nl::VxlanSpec spec;
        spec.name = device;
        spec.attributes.vni = settings_.vni;
        spec.attributes.port = settings_.port;
        spec.attributes.learning = false;
        spec.attributes.local = underlay;
        spec.attributes.underlay_ifindex = underlay_ifindex;
        spec.mtu = mtu;
        spec.mac = mac;
        try {
          netlink.create_vxlan(spec);
        } catch (const nl::NetlinkError& e) {
          if (e.kernel_errno() == EOPNOTSUPP) {
            throw brindle::Error(BRINDLE_ERR_UNSUPPORTED,
                                 "vxlan: the kernel does not support VXLAN devices (module vxlan "
                                 "missing?): " +
                                     std::string(e.what()));
          }
          throw;
        }
        link = netlink.link(device);
        host().info("created VXLAN device", fields);
      }
      if (link->mtu != mtu) {
        host().info("setting VXLAN device MTU", fields + " old_mtu=" + std::to_string(link->mtu));
        netlink.set_link_mtu(link->index, mtu);
      }
      if (link->mac != mac) {
        host().info("setting VXLAN device MAC to this node's VTEP MAC",
                    fields + " old_mac=" + link->mac.to_string());
        if (link->up) {
          netlink.set_link_up(link->index, false);  // vxlan refuses a MAC change while up
          link->up = false;
        }
        netlink.set_link_mac(link->index, mac);
      }
      if (!link->up) {
        netlink.set_link_up(link->index, true);
      }
      return link->index;
    } catch (const nl::NetlinkError& e) {
      throw to_error(e, "vxlan: setting up device " + quoted(device));
    } catch (const std::invalid_argument& e) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           "vxlan: setting up device " + quoted(device) + ": " + e.what());
    }
  }

  // Why an existing device cannot be kept ("" when it can).
  std::string mismatch(const nl::LinkInfo& link, const nl::IpPrefix& underlay,
                       int underlay_ifindex) const {
    if (link.kind != "vxlan" || !link.vxlan) {
      return "it is a " + (link.kind.empty() ? std::string("non-VXLAN") : quoted(link.kind)) +
             " device";
    }
    const nl::VxlanAttributes& a = *link.vxlan;
    std::vector<std::string> wrong;
    if (a.vni != settings_.vni) {
      wrong.push_back("vni " + std::to_string(a.vni) + " (want " + std::to_string(settings_.vni) +
                      ")");
    }
    if (a.port != settings_.port) {
      wrong.push_back("port " + std::to_string(a.port) + " (want " +
                      std::to_string(settings_.port) + ")");
    }
    if (a.learning) {
      wrong.emplace_back("learning on (want off)");
    }
    const nl::IpPrefix local = a.local.empty() ? a.local : a.local.address();
    if (local != underlay) {
      wrong.push_back("local " + (local.empty() ? std::string("none") : local.to_string(true)) +
                      " (want " + underlay.to_string(true) + ")");
    }
    if (underlay_ifindex != 0 && a.underlay_ifindex != underlay_ifindex) {
      wrong.push_back("underlay ifindex " + std::to_string(a.underlay_ifindex) + " (want " +
                      std::to_string(underlay_ifindex) + ")");
    }
    return join(wrong, ", ");
  }

  // Puts the tunnel address on the device as a host address and removes any other address of the
  // family (the device is ours). Without a tunnel address (not assigned yet) nothing is removed.
  void ensure_tunnel_address(nl::Netlink& netlink, size_t f, int ifindex,
                             const nl::IpPrefix& tunnel) {
    const std::string& device = settings_.device[f];
    if (tunnel.empty()) {
      return;
    }
    if (tunnel.family() != family_number(f)) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           std::string("vxlan: this node's ") + family_label(f) +
                               " tunnel address " + tunnel.to_string() + " is of the wrong family");
    }
    const nl::IpPrefix wanted = tunnel.address();
    try {
      bool present = false;
      for (const nl::IpPrefix& address : netlink.addresses(ifindex, family_number(f))) {
        if (address == wanted) {
          present = true;
          continue;
        }
        if (f == kV6 && nl::IpPrefix::parse("fe80::/10").contains(address)) {
          continue;  // the kernel's link-local address
        }
        host().info("removing old tunnel address from VXLAN device",
                    "device=" + quoted(device) + " address=" + address.to_string() +
                        " new=" + wanted.to_string());
        delete_if_present([&] { netlink.delete_address(ifindex, address); });
      }
      if (!present) {
        netlink.add_address(ifindex, wanted);
        host().info("tunnel address set on VXLAN device",
                    "device=" + quoted(device) + " address=" + wanted.to_string());
      }
    } catch (const nl::NetlinkError& e) {
      throw to_error(
          e, "vxlan: setting tunnel address " + wanted.to_string() + " on " + quoted(device));
    }
  }

  const Settings settings_;
  brindle::Metric route_forms_;
  brindle::Metric entry_failures_;
  brindle::Metric stale_removed_;
  brindle::Metric recreations_;
  brindle::Metric remotes_gauge_;
  brindle::Metric pod_mtu_gauge_;

  std::map<std::string, Remote> remotes_;  // desired state, by node name
  std::array<LocalFamily, 2> local_{};
  std::string local_name_;
  brindle::EncapLocalConfig last_config_;
  bool have_local_ = false;
  bool synced_ = false;
  bool reconcile_pending_ = false;  // a full reconcile is due at the next apply()
  uint32_t reported_pod_mtu_ = 0;
};

}  // namespace

BRINDLE_PLUGIN(VxlanEncap, "vxlan", "0.1.0",
               "VXLAN overlay between nodes (vxlan.brindle, permanent neighbour and FDB entries)")
