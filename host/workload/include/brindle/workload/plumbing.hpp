// Pod network plumbing, run inside brindled for CNI ADD/DEL/CHECK (docs/cni.md, "Plumbing"):
// a veth pair per pod, the host side `<prefix><11 hex of sha1>` with MAC ee:ee:ee:ee:ee:ee and
// proxy ARP, the container side CNI_IFNAME with /32 and /128 addresses, a link route to
// 169.254.1.1 and default routes via 169.254.1.1 (IPv6: via fe80::ecee:eeff:feee:eeee, the host
// side's link-local address), and a host route per pod address.
//
// Every function takes the host-side network namespace in PlumbingOptions (tests use a scratch
// "node" namespace; brindled leaves the default, its own namespace). The functions are
// thread-safe: each call opens its own netlink sockets. Failures throw PlumbingError.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/types.hpp"

namespace brindle::workload {

inline constexpr std::string_view kDefaultVethPrefix = "brv";
// prefix + 11 hex characters must fit the kernel's 15-character interface names.
inline constexpr size_t kVethHashChars = 11;
inline constexpr size_t kMaxVethPrefixChars = 15 - kVethHashChars;
// Protocol number of the host routes to pods (`ip route ... proto 201`), so that they can be told
// apart from routes of the routing plugins and of other software.
inline constexpr uint8_t kDefaultRouteProtocol = 201;
// Device group that marks the veths of torn-down pods until the reaper deletes them.
inline constexpr uint32_t kDefaultReapGroup = 0x6272;  // 25202
inline constexpr std::string_view kHostVethMac = "ee:ee:ee:ee:ee:ee";
inline constexpr std::string_view kGatewayV4 = "169.254.1.1";
// The EUI-64 link-local address of MAC ee:ee:ee:ee:ee:ee, set explicitly on every host veth.
inline constexpr std::string_view kGatewayV6 = "fe80::ecee:eeff:feee:eeee";

struct PlumbingOptions {
  std::string veth_prefix{kDefaultVethPrefix};  // 1..4 characters of [A-Za-z0-9_-]
  uint8_t route_protocol = kDefaultRouteProtocol;
  uint32_t reap_group = kDefaultReapGroup;  // nonzero, used by nothing else
  // Network namespace of the host side (not owned); -1: the calling thread's namespace.
  int host_netns_fd = -1;
  // GSO/GRO size limits of both ends of every new pod veth (BIG TCP: above 65536), set in the
  // creating request; members left 0 keep the kernel's defaults.
  netlink::GsoLimits veth_gso{};
};

// Who the attachment is for.
struct PodIdentity {
  std::string container_id;
  std::string pod_namespace;  // Kubernetes namespace; empty for other containers
  std::string pod_name;       // Kubernetes pod name; empty for other containers
  std::string ifname = "eth0";
  std::string netns_path;  // the pod's network namespace; may be empty or gone on teardown
};

struct PodNetworkSpec {
  // Pod addresses; any prefix length is accepted, the address alone is used (/32, /128).
  std::vector<netlink::IpPrefix> addresses;
  uint32_t mtu = 0;  // 0: the kernel default (1500)
};

struct PodRoute {
  netlink::IpPrefix destination;  // "0.0.0.0/0", "::/0"
  netlink::IpPrefix gateway;
};

// What setup_pod() built.
struct PodPlumbing {
  std::string host_ifname;
  int host_ifindex = 0;
  netlink::MacAddress host_mac;
  std::string container_ifname;
  int container_ifindex = 0;
  netlink::MacAddress container_mac;
  std::string netns_path;
  uint32_t mtu = 0;                          // of both ends
  std::vector<netlink::IpPrefix> addresses;  // full-length prefixes, in the order given
  std::vector<PodRoute> routes;              // default routes programmed in the pod
};

class PlumbingError : public std::runtime_error {
 public:
  enum class Kind {
    invalid_request,    // bad names, no address, bad MTU, bad options
    netns_unavailable,  // the pod's network namespace cannot be opened or entered
    interface_exists,   // CNI_IFNAME already exists in the pod
    address_conflict,   // a host route to a pod address already points elsewhere
    kernel,             // netlink or sysctl failure
  };
  PlumbingError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// "<prefix><first 11 hex of sha1(key)>", key = "<namespace>.<pod>" for Kubernetes pods, else the
// container ID; a CNI_IFNAME other than "eth0" is appended to the key ("<key>.<ifname>") so that a
// second attachment of the same pod gets its own name. Throws PlumbingError for a bad prefix.
std::string host_veth_name(const PodIdentity& pod, std::string_view prefix = kDefaultVethPrefix);

// Builds the pod's network. Fails (and leaves nothing behind) if CNI_IFNAME exists in the pod, the
// namespace cannot be opened, or any step fails: everything done so far is undone. A host veth
// of the same name left from an earlier incarnation of the pod is replaced.
// Same as finish_pod(prepare_pod(pod, network.mtu, options), network).
PodPlumbing setup_pod(const PodIdentity& pod, const PodNetworkSpec& network,
                      const PlumbingOptions& options = {});

// setup_pod() in two halves, so that everything but the addresses (the veth pair, the costly
// part, the sysctls, the pod's link and default routes) can be done while the pod's addresses are
// still being allocated. After prepare_pod() the pod side has no address and the host has no
// route to the pod: nothing can reach it. finish_pod() adds the addresses and the host routes.
// Destroying a PreparedPod that was not finished deletes the pair.
class PreparedPod {
 public:
  PreparedPod(PreparedPod&&) noexcept;
  PreparedPod& operator=(PreparedPod&&) noexcept;
  ~PreparedPod();
  const std::string& host_ifname() const;

  struct State;  // in plumbing.cpp

 private:
  explicit PreparedPod(std::unique_ptr<State> state);
  friend PreparedPod prepare_pod(const PodIdentity&, uint32_t, struct PodFamilies,
                                 const PlumbingOptions&);
  friend PodPlumbing finish_pod(PreparedPod&&, const PodNetworkSpec&);
  std::unique_ptr<State> state_;
};

// The address families the pod will have (its default routes and sysctls depend on them).
struct PodFamilies {
  bool v4 = true;
  bool v6 = false;
};
// The pair for `pod` with `mtu` (0: the kernel default). Fails like setup_pod().
PreparedPod prepare_pod(const PodIdentity& pod, uint32_t mtu, PodFamilies families,
                        const PlumbingOptions& options = {});
// The addresses and the host routes (and what a family that prepare_pod() was not told of
// needs); `network.mtu` is ignored (the pair has its MTU). On failure the pair is deleted.
PodPlumbing finish_pod(PreparedPod&& prepared, const PodNetworkSpec& network);

// Removes the pod's host routes at once (the pod is unreachable when this returns) and hands
// its veth pair to a background reaper: deleting a device makes the caller wait for an RCU
// barrier (~25 ms), so the pair is marked (device group `reap_group`) and all marked pairs of a
// namespace are deleted together shortly after; flush_pending_teardowns() waits for that.
// Succeeds when the namespace, the interface or the routes are already gone. The pod's own
// interface (CNI_IFNAME, a veth) identifies the attachment while its namespace exists; without
// the namespace the host-side name is used, which depends only on the pod's identity, so the
// caller must make sure `pod` is the attachment that currently owns that name (a late DEL of an
// old sandbox of a re-created pod must not remove the new one's).
void teardown_pod(const PodIdentity& pod, const PlumbingOptions& options = {});

// Waits until the veths of every teardown_pod()/delete_host_veth() call made before are deleted.
void flush_pending_teardowns();

// Compares the kernel with what setup_pod() would build: both veth ends (up, MTU when given,
// host MAC), the pod's addresses, its link and default routes and the host routes. Returns one
// line per difference; empty: all as expected. Throws PlumbingError for an invalid request or a
// kernel failure while reading.
std::vector<std::string> check_pod(const PodIdentity& pod, const PodNetworkSpec& network,
                                   const PlumbingOptions& options = {});

// Node-wide settings pod routing needs (brindled calls it once at start): net.ipv4.ip_forward=1
// and, when IPv6 is enabled, net.ipv6.conf.all.forwarding=1, in the host-side namespace.
void enable_node_forwarding(const PlumbingOptions& options = {});

// Host veths whose name starts with the configured prefix (for GC).
std::vector<std::string> list_host_veths(const PlumbingOptions& options = {});
// Deletes one host veth (and its peer) like teardown_pod(): its routes at once, the pair in the
// background. Succeeds when it does not exist.
void delete_host_veth(std::string_view name, const PlumbingOptions& options = {});

}  // namespace brindle::workload
