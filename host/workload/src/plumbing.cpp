#include "brindle/workload/plumbing.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <system_error>

#include "brindle/common/log.hpp"
#include "brindle/netlink/netns.hpp"
#include "host_sysctls.hpp"
#include "link_reaper.hpp"
#include "sha1.hpp"

namespace brindle::workload {

using netlink::IpPrefix;
using netlink::LinkInfo;
using netlink::MacAddress;
using netlink::Netlink;
using netlink::NetlinkError;
using netlink::NetnsFd;
using netlink::NetnsGuard;
using netlink::RouteChange;
using netlink::RouteOp;
using netlink::RouteSpec;
using Kind = PlumbingError::Kind;

namespace {

const IpPrefix& gateway_v4() {
  static const IpPrefix kValue = IpPrefix::parse(kGatewayV4);
  return kValue;
}
const IpPrefix& gateway_v6() {
  static const IpPrefix kValue = IpPrefix::parse(kGatewayV6);
  return kValue;
}
const IpPrefix& default_v4() {
  static const IpPrefix kValue = IpPrefix::parse("0.0.0.0/0");
  return kValue;
}
const IpPrefix& default_v6() {
  static const IpPrefix kValue = IpPrefix::parse("::/0");
  return kValue;
}
const MacAddress& host_mac() {
  static const MacAddress kValue = MacAddress::parse(kHostVethMac);
  return kValue;
}

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

void validate_options(const PlumbingOptions& options) {
  const std::string& prefix = options.veth_prefix;
  if (prefix.empty() || prefix.size() > kMaxVethPrefixChars) {
    throw PlumbingError(Kind::invalid_request, "veth prefix " + in_quotes(prefix) +
                                                   " must have 1 to " +
                                                   std::to_string(kMaxVethPrefixChars) +
                                                   " characters (15-character interface names)");
  }
  for (char c : prefix) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-')) {
      throw PlumbingError(
          Kind::invalid_request,
          "veth prefix " + in_quotes(prefix) + " may contain only letters, digits, '_' and '-'");
    }
  }
  if (options.reap_group == 0) {
    throw PlumbingError(Kind::invalid_request, "reap group 0 (the default group) is not allowed");
  }
  if (options.route_protocol == 0) {
    throw PlumbingError(Kind::invalid_request, "route protocol 0 (unspecified) is not allowed");
  }
}

void validate_ifname(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 15 && name != "." && name != "..";
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0) {
      ok = false;
    }
  }
  if (!ok) {
    throw PlumbingError(Kind::invalid_request,
                        "interface name " + in_quotes(name) +
                            " must have 1 to 15 characters without '/', ':' or whitespace");
  }
}

std::string pod_label(const PodIdentity& pod) {
  if (!pod.pod_namespace.empty() && !pod.pod_name.empty()) {
    return "pod " + pod.pod_namespace + "/" + pod.pod_name + " (container " + pod.container_id +
           ")";
  }
  return "container " + pod.container_id;
}

// Opens a network namespace file; nullopt (with the reason) when it is missing or not a network
// namespace (e.g. a bind mount that was already unmounted).
std::optional<NetnsFd> try_open_netns(const std::string& path, std::string* reason) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (reason != nullptr) {
      *reason = "open " + path + ": " + std::strerror(errno);
    }
    return std::nullopt;
  }
  NetnsFd netns(fd);
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    if (reason != nullptr) {
      *reason = path + " is not a network namespace";
    }
    return std::nullopt;
  }
  return netns;
}

// Enters the host-side namespace on the calling thread for the lifetime of the object (nothing
// to do when the host side is the thread's own namespace).
class HostScope {
 public:
  explicit HostScope(const PlumbingOptions& options) {
    if (options.host_netns_fd >= 0) {
      guard_.emplace(options.host_netns_fd);
    }
  }

 private:
  std::optional<NetnsGuard> guard_;
};

// A netlink socket bound to `netns_fd`. The thread enters the namespace only to create the socket:
// cheaper than a helper thread, and the socket keeps acting there afterwards.
Netlink netlink_in(int netns_fd) {
  NetnsGuard guard(netns_fd);
  return Netlink();
}

// /proc/sys/net/... resolves in the network namespace of the calling thread.
void write_sysctl(const std::string& path, std::string_view value) {
  if (int error = detail::write_sysctl(path, value); error != 0) {
    throw PlumbingError(
        Kind::kernel, "write " + std::string(value) + " to " + path + ": " + std::strerror(error));
  }
}

void configure_host_sysctls(const std::string& ifname, bool has_v4, bool has_v6) {
  for (const detail::Sysctl& sysctl : detail::host_veth_sysctls(ifname, has_v4, has_v6)) {
    write_sysctl(sysctl.path, sysctl.value);
  }
}

void throw_change_failure(const netlink::ChangeResult& result) {
  throw NetlinkError(result.error, result.message, result.kernel_errno);
}

// A random locally administered unicast MAC, as the kernel would give the container end; chosen
// here so that the result knows it without asking the pod's namespace.
MacAddress random_container_mac() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  uint64_t bits = generator();
  std::array<uint8_t, 6> bytes{};
  for (uint8_t& byte : bytes) {
    byte = static_cast<uint8_t>(bits);
    bits >>= 8;
  }
  bytes[0] = static_cast<uint8_t>((bytes[0] & 0xfe) | 0x02);
  return MacAddress(bytes);
}

// Creates the pair in one request: the container side directly in the pod's namespace (down),
// the host side up with its fixed MAC, both with the MTU; returns the host link (its link_index
// is the container side's ifindex). "File exists" is resolved after the fact, so that the common
// case costs no lookup: `ifname` already in the pod (perhaps a DEL's pair still waiting for the
// reaper: waited for) fails the ADD; a host side left by an earlier incarnation of the pod is
// removed and the pair created again.
LinkInfo create_veth_pair(Netlink& host, Netlink& in_pod, const std::string& host_name,
                          const PodIdentity& pod, int pod_netns_fd, uint32_t mtu,
                          const MacAddress& container_mac, const netlink::GsoLimits& gso) {
  netlink::VethSpec spec;
  spec.name = host_name;
  spec.peer_name = pod.ifname;
  spec.peer_netns_fd = pod_netns_fd;
  spec.mtu = mtu;
  spec.mac = host_mac();
  spec.peer_mac = container_mac;
  spec.up = true;  // no carrier before the container side is up
  spec.gso = gso;
  try {
    return host.create_veth(spec);
  } catch (const NetlinkError& e) {
    if (!e.is_exists()) {
      throw;
    }
  }
  if (in_pod.find_link(pod.ifname) && (flush_pending_teardowns(), in_pod.find_link(pod.ifname))) {
    throw PlumbingError(Kind::interface_exists, "interface " + in_quotes(pod.ifname) +
                                                    " already exists in " + pod.netns_path);
  }
  if (host.find_link(host_name)) {
    log::warn("replacing a stale host veth", {{"interface", host_name}});
    host.delete_link(host_name);
  }
  return host.create_veth(spec);
}

// Deletes the host veth (and its peer with it) unless commit() was called.
class VethRollback {
 public:
  VethRollback(Netlink& host, std::string name) : host_(host), name_(std::move(name)) {}
  VethRollback(const VethRollback&) = delete;
  VethRollback& operator=(const VethRollback&) = delete;
  ~VethRollback() {
    if (committed_) {
      return;
    }
    try {
      host_.delete_link(name_);
    } catch (const std::exception& e) {
      log::error("cannot remove the veth of a failed pod setup",
                 {{"interface", name_}, {"error", e.what()}});
    }
  }
  void commit() { committed_ = true; }

 private:
  Netlink& host_;
  std::string name_;
  bool committed_ = false;
};

std::vector<RouteSpec> pod_routes(int ifindex, bool has_v4, bool has_v6) {
  std::vector<RouteSpec> routes;
  if (has_v4) {
    RouteSpec link;
    link.destination = gateway_v4();
    link.ifindex = ifindex;  // no gateway: scope link
    routes.push_back(link);
    RouteSpec fallback;
    fallback.destination = default_v4();
    fallback.gateway = gateway_v4();
    fallback.ifindex = ifindex;
    routes.push_back(fallback);
  }
  if (has_v6) {
    RouteSpec fallback;
    fallback.destination = default_v6();
    fallback.gateway = gateway_v6();
    fallback.ifindex = ifindex;
    routes.push_back(fallback);
  }
  return routes;
}

std::string link_name(Netlink& nl, int ifindex) {
  try {
    if (auto link = nl.find_link(ifindex)) {
      return link->name;
    }
  } catch (const NetlinkError&) {
  }
  return "ifindex " + std::to_string(ifindex);
}

// The host routes to a pod's addresses.
std::vector<RouteChange> host_route_changes(RouteOp op, int host_ifindex,
                                            const std::vector<IpPrefix>& addresses,
                                            uint8_t protocol) {
  std::vector<RouteChange> changes;
  for (const IpPrefix& address : addresses) {
    RouteSpec route;
    route.destination = address;
    route.ifindex = host_ifindex;
    route.protocol = protocol;
    changes.push_back(RouteChange{op, route});
  }
  return changes;
}

// Checks the results of adding the host routes to `addresses`: an existing route to a pod
// address is accepted only if it already points to this pod's veth.
void check_host_routes(Netlink& host, int host_ifindex, const std::string& host_name,
                       const std::vector<IpPrefix>& addresses,
                       std::span<const netlink::ChangeResult> results) {
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      continue;
    }
    if (results[i].error != make_error_code(netlink::Errc::exists)) {
      throw_change_failure(results[i]);
    }
    const IpPrefix& address = addresses[i];
    netlink::RouteFilter filter;
    filter.family = address.family();
    filter.table = netlink::kMainTable;
    for (const RouteSpec& existing : host.routes(filter)) {
      if (existing.destination != address) {
        continue;
      }
      if (existing.ifindex == host_ifindex) {
        break;
      }
      const std::string target = existing.type == netlink::RouteType::blackhole
                                     ? "a blackhole (an IPAM block of this single address?)"
                                 : existing.ifindex <= 0 ? "a route without interface"
                                                         : link_name(host, existing.ifindex);
      throw PlumbingError(Kind::address_conflict, "address " + address.to_string(true) +
                                                      " is already routed to " + target +
                                                      " (wanted " + host_name + ")");
    }
  }
}

void check_all(std::span<const netlink::ChangeResult> results) {
  for (const netlink::ChangeResult& result : results) {
    if (!result.ok()) {
      throw_change_failure(result);
    }
  }
}

// Converts the adapter's and the system's exceptions into PlumbingError with context.
template <typename Fn>
auto with_context(const std::string& context, Fn&& fn) {
  try {
    return fn();
  } catch (const PlumbingError& e) {
    throw PlumbingError(e.kind(), context + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    throw PlumbingError(Kind::invalid_request, context + ": " + e.what());
  } catch (const std::exception& e) {
    throw PlumbingError(Kind::kernel, context + ": " + e.what());
  }
}

bool is_link_local(const IpPrefix& address) {
  const auto& bytes = address.bytes();
  return address.is_v6() ? (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80)
                         : (bytes[0] == 169 && bytes[1] == 254);
}

// Removes the host routes to a pod (to `addresses` when known, else every route of our protocol
// through the pod's veth; routes already gone are fine) and marks the host veth for the reaper,
// in one batch; the calling thread is in the host namespace.
void release_host_veth(Netlink& host, int host_ifindex, const std::vector<IpPrefix>* addresses,
                       const PlumbingOptions& options) {
  std::vector<netlink::Change> changes;
  if (addresses != nullptr) {
    for (RouteChange& change :
         host_route_changes(RouteOp::remove, host_ifindex, *addresses, options.route_protocol)) {
      changes.emplace_back(change);
    }
  } else {
    netlink::RouteFilter filter;
    filter.protocol = options.route_protocol;
    filter.table = netlink::kMainTable;
    for (const RouteSpec& route : host.routes(filter)) {
      if (route.ifindex == host_ifindex) {
        changes.emplace_back(RouteChange{RouteOp::remove, route});
      }
    }
  }
  changes.emplace_back(netlink::LinkChange{.ifindex = host_ifindex, .group = options.reap_group});
  std::vector<netlink::ChangeResult> results = host.apply(changes);
  for (size_t i = 0; i + 1 < results.size(); ++i) {
    if (!results[i].ok() && results[i].error != make_error_code(netlink::Errc::not_found)) {
      throw_change_failure(results[i]);
    }
  }
  const netlink::ChangeResult& marked = results.back();
  if (!marked.ok()) {
    if (marked.kernel_errno == ENODEV) {
      return;  // already gone
    }
    throw PlumbingError(Kind::kernel, marked.message);
  }
  detail::LinkReaper::instance().schedule(options.reap_group);
}

std::vector<IpPrefix> pod_addresses(const PodNetworkSpec& network) {
  std::vector<IpPrefix> addresses;
  for (const IpPrefix& address : network.addresses) {
    if (address.empty()) {
      throw PlumbingError(Kind::invalid_request, "empty pod address");
    }
    IpPrefix host = address.address();
    if (std::find(addresses.begin(), addresses.end(), host) == addresses.end()) {
      addresses.push_back(host);
    }
  }
  return addresses;
}

}  // namespace

std::string host_veth_name(const PodIdentity& pod, std::string_view prefix) {
  PlumbingOptions options;
  options.veth_prefix = std::string(prefix);
  validate_options(options);
  std::string key;
  if (!pod.pod_namespace.empty() && !pod.pod_name.empty()) {
    key = pod.pod_namespace + "." + pod.pod_name;
  } else if (!pod.container_id.empty()) {
    key = pod.container_id;
  } else {
    throw PlumbingError(Kind::invalid_request,
                        "a pod needs a Kubernetes namespace and name or a container ID");
  }
  if (!pod.ifname.empty() && pod.ifname != "eth0") {
    key += "." + pod.ifname;
  }
  return std::string(prefix) + detail::sha1_hex(key).substr(0, kVethHashChars);
}

struct PreparedPod::State {
  PodIdentity pod;
  PlumbingOptions options;
  std::string label;
  std::string host_name;
  NetnsFd pod_netns;
  Netlink host;
  Netlink in_pod;
  LinkInfo host_link;
  int pod_ifindex = 0;
  MacAddress container_mac;
  PodFamilies families;  // those whose routes and sysctls are in place
  bool finished = false;
};

PreparedPod::PreparedPod(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreparedPod::PreparedPod(PreparedPod&&) noexcept = default;
PreparedPod& PreparedPod::operator=(PreparedPod&&) noexcept = default;

PreparedPod::~PreparedPod() {
  if (!state_ || state_->finished) {
    return;
  }
  VethRollback rollback(state_->host, state_->host_name);  // deletes the pair
}

const std::string& PreparedPod::host_ifname() const {
  return state_->host_name;
}

namespace {

PodFamilies families_of(const std::vector<IpPrefix>& addresses) {
  PodFamilies families{false, false};
  for (const IpPrefix& a : addresses) {
    (a.is_v4() ? families.v4 : families.v6) = true;
  }
  return families;
}

// What `families` need that `done` does not have yet: the host-side sysctls (written for all of
// `families`; rewriting is harmless), the pod's routes, the host side's IPv6 gateway address.
// The pod side comes up with its routes, after the sysctls.
void add_families(PreparedPod::State& st, PodFamilies families) {
  const PodFamilies done = st.families;
  const bool v4 = families.v4 && !done.v4;
  const bool v6 = families.v6 && !done.v6;
  if (!v4 && !v6) {
    return;
  }
  configure_host_sysctls(st.host_name, families.v4 || done.v4, families.v6 || done.v6);
  std::vector<netlink::Change> pod_changes;
  pod_changes.emplace_back(netlink::LinkChange{.ifindex = st.pod_ifindex, .up = true});
  for (const RouteSpec& route : pod_routes(st.pod_ifindex, v4, v6)) {
    pod_changes.emplace_back(RouteChange{RouteOp::add, route});
  }
  check_all(st.in_pod.apply(pod_changes));
  if (v6) {
    std::vector<netlink::Change> host_changes;
    host_changes.emplace_back(netlink::AddressChange{.ifindex = st.host_link.index,
                                                     .address = gateway_v6().with_prefix_len(64)});
    const std::vector<netlink::ChangeResult> results = st.host.apply(host_changes);
    // Already there when the host side had carrier before (IPv6 added by finish_pod()): its
    // EUI-64 link-local address is the gateway address.
    if (!results.at(0).ok() && results.at(0).kernel_errno != EEXIST) {
      check_all(results);
    }
  }
  st.families.v4 = st.families.v4 || v4;
  st.families.v6 = st.families.v6 || v6;
}

}  // namespace

PreparedPod prepare_pod(const PodIdentity& pod, uint32_t mtu, PodFamilies families,
                        const PlumbingOptions& options) {
  validate_options(options);
  validate_ifname(pod.ifname);
  const std::string label = pod_label(pod);
  if (mtu != 0 && (mtu < 68 || mtu > 65535)) {
    throw PlumbingError(Kind::invalid_request,
                        label + ": MTU " + std::to_string(mtu) + " is outside 68..65535");
  }
  if (pod.netns_path.empty()) {
    throw PlumbingError(Kind::invalid_request, label + ": no network namespace given");
  }
  const std::string host_name = host_veth_name(pod, options.veth_prefix);
  std::string reason;
  std::optional<NetnsFd> pod_netns = try_open_netns(pod.netns_path, &reason);
  if (!pod_netns) {
    throw PlumbingError(Kind::netns_unavailable,
                        label + ": network namespace unavailable: " + reason);
  }
  return with_context(label + ", " + host_name, [&] {
    HostScope host_scope(options);
    Netlink host;
    Netlink in_pod = netlink_in(pod_netns->get());
    // Up to three round trips: create the pair; bring the pod side up with its routes; (IPv6)
    // the host side's gateway address. The host end is up from the start, without carrier (and
    // so without IPv6 autoconfiguration) until the pod side comes up, after the sysctls.
    const MacAddress container_mac = random_container_mac();
    LinkInfo host_link = create_veth_pair(host, in_pod, host_name, pod, pod_netns->get(), mtu,
                                          container_mac, options.veth_gso);
    VethRollback rollback(host, host_name);
    const int pod_ifindex =
        host_link.link_index > 0 ? host_link.link_index : in_pod.link(pod.ifname).index;
    auto state = std::make_unique<PreparedPod::State>(PreparedPod::State{
        pod, options, label, host_name, std::move(*pod_netns), std::move(host), std::move(in_pod),
        std::move(host_link), pod_ifindex, container_mac, PodFamilies{false, false}});
    rollback.commit();
    PreparedPod prepared(std::move(state));  // owns the pair from here on
    add_families(*prepared.state_, families);
    return prepared;
  });
}

PodPlumbing finish_pod(PreparedPod&& prepared, const PodNetworkSpec& network) {
  PreparedPod owned = std::move(prepared);  // deletes the pair on failure
  PreparedPod::State& st = *owned.state_;
  std::vector<IpPrefix> addresses = pod_addresses(network);
  if (addresses.empty()) {
    throw PlumbingError(Kind::invalid_request, st.label + ": no address to configure");
  }
  const PodFamilies families = families_of(addresses);
  return with_context(st.label + ", " + st.host_name, [&] {
    HostScope host_scope(st.options);
    add_families(st, families);  // nothing to do unless the pod got an unexpected family
    // Two round trips: the pod's addresses; last, the host routes, which make the pod reachable.
    std::vector<netlink::Change> pod_changes;
    for (const IpPrefix& address : addresses) {
      pod_changes.emplace_back(
          netlink::AddressChange{.ifindex = st.pod_ifindex, .address = address});
    }
    check_all(st.in_pod.apply(pod_changes));
    std::vector<netlink::ChangeResult> host_results = st.host.apply_routes(
        host_route_changes(RouteOp::add, st.host_link.index, addresses, st.options.route_protocol));
    check_host_routes(st.host, st.host_link.index, st.host_name, addresses, host_results);
    st.finished = true;

    PodPlumbing result;
    result.host_ifname = st.host_name;
    result.host_ifindex = st.host_link.index;
    result.host_mac = host_mac();
    result.container_ifname = st.pod.ifname;
    result.container_ifindex = st.pod_ifindex;
    result.container_mac = st.container_mac;
    result.netns_path = st.pod.netns_path;
    result.mtu = st.host_link.mtu;  // both ends have the same
    result.addresses = addresses;
    for (const RouteSpec& route : pod_routes(st.pod_ifindex, st.families.v4, st.families.v6)) {
      if (!route.gateway.empty()) {
        result.routes.push_back(PodRoute{route.destination, route.gateway});
      }
    }
    return result;
  });
}

PodPlumbing setup_pod(const PodIdentity& pod, const PodNetworkSpec& network,
                      const PlumbingOptions& options) {
  validate_ifname(pod.ifname);
  const std::vector<IpPrefix> addresses = pod_addresses(network);
  if (addresses.empty()) {
    throw PlumbingError(Kind::invalid_request, pod_label(pod) + ": no address to configure");
  }
  return finish_pod(prepare_pod(pod, network.mtu, families_of(addresses), options), network);
}

void teardown_pod(const PodIdentity& pod, const PlumbingOptions& options) {
  validate_options(options);
  validate_ifname(pod.ifname);
  const std::string host_name = host_veth_name(pod, options.veth_prefix);
  with_context(pod_label(pod) + ", " + host_name, [&] {
    HostScope host_scope(options);
    Netlink host;
    if (!pod.netns_path.empty()) {
      if (std::optional<NetnsFd> pod_netns = try_open_netns(pod.netns_path, nullptr)) {
        Netlink in_pod = netlink_in(pod_netns->get());
        std::optional<LinkInfo> link = in_pod.find_link(pod.ifname);
        if (!link || link->kind != "veth") {
          return;  // nothing of ours in the pod
        }
        std::vector<IpPrefix> addresses;
        for (const IpPrefix& address : in_pod.addresses(link->index)) {
          if (!is_link_local(address)) {
            addresses.push_back(address.address());
          }
        }
        std::optional<LinkInfo> host_link = host.find_link(host_name);
        if (!host_link || host_link->kind != "veth") {
          // Ours, but its host side is not under the expected name (e.g. the prefix changed
          // since ADD): remove it from the pod's side, now.
          try {
            in_pod.delete_link(pod.ifname);
          } catch (const NetlinkError& e) {
            if (!e.is_not_found()) {
              throw;
            }
          }
          return;
        }
        release_host_veth(host, host_link->index, &addresses, options);
        return;
      }
    }
    // The namespace is gone, and normally the pair with it; a namespace kept alive by some
    // process without its path still holds the pair: remove it by the host-side name.
    std::optional<LinkInfo> host_link = host.find_link(host_name);
    if (!host_link || host_link->kind != "veth") {
      return;
    }
    release_host_veth(host, host_link->index, nullptr, options);
  });
}

void flush_pending_teardowns() {
  detail::LinkReaper::instance().flush();
}

std::vector<std::string> check_pod(const PodIdentity& pod, const PodNetworkSpec& network,
                                   const PlumbingOptions& options) {
  validate_options(options);
  validate_ifname(pod.ifname);
  const std::string host_name = host_veth_name(pod, options.veth_prefix);
  std::vector<IpPrefix> addresses = pod_addresses(network);
  const bool has_v4 =
      std::any_of(addresses.begin(), addresses.end(), [](const IpPrefix& a) { return a.is_v4(); });
  const bool has_v6 =
      std::any_of(addresses.begin(), addresses.end(), [](const IpPrefix& a) { return a.is_v6(); });
  std::vector<std::string> problems;
  auto report = [&problems](std::string text) { problems.push_back(std::move(text)); };

  return with_context(pod_label(pod) + ", " + host_name, [&] {
    HostScope host_scope(options);
    Netlink host;
    std::optional<LinkInfo> host_link = host.find_link(host_name);
    if (!host_link) {
      report("host interface " + host_name + " is missing");
    } else {
      if (host_link->kind != "veth") {
        report("host interface " + host_name + " is not a veth");
      }
      if (!host_link->up) {
        report("host interface " + host_name + " is down");
      }
      if (host_link->mac != host_mac()) {
        report("host interface " + host_name + " has MAC " + host_link->mac.to_string() +
               " instead of " + std::string(kHostVethMac));
      }
      if (network.mtu != 0 && host_link->mtu != network.mtu) {
        report("host interface " + host_name + " has MTU " + std::to_string(host_link->mtu) +
               " instead of " + std::to_string(network.mtu));
      }
      if (has_v4 &&
          detail::read_sysctl("/proc/sys/net/ipv4/conf/" + host_name + "/proxy_arp") != "1") {
        report("proxy_arp is not enabled on " + host_name);
      }
      netlink::RouteFilter filter;
      filter.protocol = options.route_protocol;
      filter.table = netlink::kMainTable;
      std::vector<RouteSpec> host_routes = host.routes(filter);
      for (const IpPrefix& address : addresses) {
        bool found = std::any_of(host_routes.begin(), host_routes.end(), [&](const RouteSpec& r) {
          return r.destination == address && r.ifindex == host_link->index;
        });
        if (!found) {
          report("host route " + address.to_string() + " dev " + host_name + " proto " +
                 std::to_string(options.route_protocol) + " is missing");
        }
      }
    }

    std::string reason;
    std::optional<NetnsFd> pod_netns = try_open_netns(pod.netns_path, &reason);
    if (!pod_netns) {
      report("network namespace unavailable: " + reason);
      return problems;
    }
    Netlink in_pod = netlink_in(pod_netns->get());
    std::optional<LinkInfo> pod_link = in_pod.find_link(pod.ifname);
    if (!pod_link) {
      report("interface " + pod.ifname + " is missing in " + pod.netns_path);
      return problems;
    }
    if (pod_link->kind != "veth") {
      report("interface " + pod.ifname + " is not a veth");
    }
    if (!pod_link->up) {
      report("interface " + pod.ifname + " is down");
    }
    if (network.mtu != 0 && pod_link->mtu != network.mtu) {
      report("interface " + pod.ifname + " has MTU " + std::to_string(pod_link->mtu) +
             " instead of " + std::to_string(network.mtu));
    }
    std::vector<IpPrefix> present = in_pod.addresses(pod_link->index);
    for (const IpPrefix& address : addresses) {
      if (std::find(present.begin(), present.end(), address) == present.end()) {
        report("address " + address.to_string() + " is missing on " + pod.ifname);
      }
    }
    netlink::RouteFilter filter;
    filter.table = netlink::kMainTable;
    std::vector<RouteSpec> routes = in_pod.routes(filter);
    for (const RouteSpec& expected : pod_routes(pod_link->index, has_v4, has_v6)) {
      bool found = std::any_of(routes.begin(), routes.end(), [&](const RouteSpec& r) {
        return r.destination == expected.destination && r.ifindex == expected.ifindex &&
               r.gateway.empty() == expected.gateway.empty() &&
               (expected.gateway.empty() || r.gateway.address() == expected.gateway.address());
      });
      if (!found) {
        std::string text = "route " + expected.destination.to_string();
        if (!expected.gateway.empty()) {
          text += " via " + expected.gateway.to_string(true);
        }
        report(text + " dev " + pod.ifname + " is missing in the pod");
      }
    }
    return problems;
  });
}

void enable_node_forwarding(const PlumbingOptions& options) {
  with_context("enable forwarding", [&] {
    HostScope host_scope(options);
    write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
    if (access("/proc/sys/net/ipv6/conf/all/forwarding", F_OK) == 0) {
      write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
    }
  });
}

std::vector<std::string> list_host_veths(const PlumbingOptions& options) {
  validate_options(options);
  return with_context("list host veths", [&] {
    HostScope host_scope(options);
    Netlink host;
    std::vector<std::string> names;
    for (const LinkInfo& link : host.links()) {
      if (link.kind == "veth" && link.name.starts_with(options.veth_prefix) &&
          link.name.size() == options.veth_prefix.size() + kVethHashChars) {
        names.push_back(link.name);
      }
    }
    return names;
  });
}

void delete_host_veth(std::string_view name, const PlumbingOptions& options) {
  validate_options(options);
  validate_ifname(name);
  with_context("delete host veth " + std::string(name), [&] {
    HostScope host_scope(options);
    Netlink host;
    std::optional<LinkInfo> link = host.find_link(name);
    if (!link) {
      return;
    }
    release_host_veth(host, link->index, nullptr, options);
  });
}

}  // namespace brindle::workload
