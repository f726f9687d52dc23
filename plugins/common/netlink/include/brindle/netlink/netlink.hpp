// The rtnetlink adapter shared by every netlink-using plugin: links, addresses, routes,
// neighbours and FDB entries, on top of libnl-route-3. No libnl type appears here.
//
// A Netlink object owns one NETLINK_ROUTE socket bound to the network namespace it was opened in
// (it keeps acting there even if the thread later moves). It is not thread-safe: use one per
// thread, or serialise calls. Every failing operation throws NetlinkError (error.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "brindle/netlink/error.hpp"
#include "brindle/netlink/types.hpp"

namespace brindle::netlink {

inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN
inline constexpr uint16_t kVxlanDefaultPort = 4789;

struct VxlanAttributes {
  uint32_t vni = 0;
  uint16_t port = kVxlanDefaultPort;  // set explicitly: the kernel's own default is 8472
  bool learning = false;
  IpPrefix local{};          // source address of the tunnel, empty: none
  int underlay_ifindex = 0;  // device the tunnel is bound to, 0: none
};

// The largest GSO packets a device builds and GRO packets it assembles, in bytes: above 65536 is
// BIG TCP. In LinkInfo, 0 when the kernel does not report the value (IPv4 ones: Linux < 6.3); in
// a request, 0 leaves the value as it is (creation: the kernel default). A kernel that does not
// know an attribute ignores it: read the link back to see what it took.
struct GsoLimits {
  uint32_t gso_max_size = 0;       // IFLA_GSO_MAX_SIZE: IPv6 (and IPv4 up to 65536)
  uint32_t gro_max_size = 0;       // IFLA_GRO_MAX_SIZE: IPv6 (and IPv4 up to 65536)
  uint32_t gso_ipv4_max_size = 0;  // IFLA_GSO_IPV4_MAX_SIZE (Linux >= 6.3)
  uint32_t gro_ipv4_max_size = 0;  // IFLA_GRO_IPV4_MAX_SIZE (Linux >= 6.3)

  bool empty() const {
    return gso_max_size == 0 && gro_max_size == 0 && gso_ipv4_max_size == 0 &&
           gro_ipv4_max_size == 0;
  }
  // "gso_max_size 196608 gro_max_size 196608 ..." (only the non-zero members)
  std::string to_string() const;
  bool operator==(const GsoLimits&) const = default;
};

struct LinkInfo {
  int index = 0;
  std::string name{};
  std::string kind{};  // "veth", "vxlan", "bridge", ... ; "" for physical/loopback devices
  uint32_t mtu = 0;
  uint32_t flags = 0;  // IFF_* flags
  bool up = false;     // IFF_UP (administratively up)
  MacAddress mac{};
  int master_index = 0;
  std::optional<VxlanAttributes> vxlan{};  // for kind "vxlan"
  // IFLA_LINK, 0 when absent: for a veth, its peer's ifindex (in the peer's namespace).
  int link_index = 0;
  uint32_t group = 0;  // device group (IFLA_GROUP); 0 is "default"
  // The device's IP settings as IFLA_AF_SPEC reports them, empty when the family is off on it:
  // net.ipv4.conf.<name>.* at [IPV4_DEVCONF_<X> - 1], net.ipv6.conf.<name>.* at [DEVCONF_<X>].
  std::vector<uint32_t> ipv4_conf{};
  std::vector<int32_t> ipv6_conf{};
  GsoLimits gso{};
  uint32_t tso_max_size = 0;  // IFLA_TSO_MAX_SIZE: the most gso sizes may be raised to; 0: unknown
};

struct VethSpec {
  std::string name{};
  std::string peer_name{};
  int peer_netns_fd = -1;  // >= 0: create the peer directly in that network namespace
  uint32_t mtu = 0;        // 0: kernel default
  // Set in the creating request itself (no follow-up requests): MACs (empty: random) and the
  // first end's administrative state. (The peer cannot be created up: the kernel opens it before
  // the pair is joined and refuses with ENOTCONN.)
  std::optional<MacAddress> mac{};
  std::optional<MacAddress> peer_mac{};
  bool up = false;
  GsoLimits gso{};  // both ends (non-zero members), in the creating request too
};

struct VxlanSpec {
  std::string name{};
  VxlanAttributes attributes{};
  uint32_t mtu = 0;                 // 0: derived by the kernel
  std::optional<MacAddress> mac{};  // empty: random
};

enum class RouteType : uint8_t { unicast, blackhole, unreachable, prohibit, local, other };

// One route, as programmed or as listed. Multipath routes are not programmed by the adapter; a
// listed multipath route reports its first next hop and multipath = true.
struct RouteSpec {
  IpPrefix destination{};
  uint32_t table = kMainTable;
  uint8_t protocol = 0;  // RTPROT_*; 0 lets the kernel use "boot". Deletes match it when non-zero.
  RouteType type = RouteType::unicast;
  IpPrefix gateway{};     // empty: none (device route or blackhole); listed RTA_VIA: any family
  int ifindex = 0;        // output device, 0: none
  bool onlink = false;    // RTNH_F_ONLINK: the gateway is reachable on `ifindex` without a route
  uint32_t priority = 0;  // metric; 0: kernel default (IPv6: 1024). Deletes match it when non-zero.
  IpPrefix source{};      // preferred source, empty: none
  bool multipath = false;  // only in listings
  // RT_SCOPE_*, only in listings (programming derives it: link for a unicast route without
  // gateway, host for local, universe otherwise).
  uint8_t scope = 0;

  std::string to_string() const;  // "198.18.0.0/26 via 198.19.0.2 dev 3 onlink table 254 proto 80"
};

struct RouteFilter {
  std::optional<uint8_t> protocol{};
  std::optional<uint32_t> table{};
  int family = 0;  // 4, 6 or 0 for both
};

enum class RouteOp : uint8_t { add, replace, remove };

struct RouteChange {
  RouteOp op = RouteOp::replace;
  RouteSpec route{};
};

enum class AddressOp : uint8_t { add, remove };

// An address (with its subnet prefix length) on a link; an add fails if it is present.
struct AddressChange {
  AddressOp op = AddressOp::add;
  int ifindex = 0;
  IpPrefix address{};
  bool no_dad = true;  // IPv6 adds only: usable at once (no duplicate address detection)
};

// Attributes changed on an existing link; unset members are left as they are.
struct LinkChange {
  int ifindex = 0;
  std::optional<bool> up{};
  std::optional<uint32_t> group{};  // device group (IFLA_GROUP)
  GsoLimits gso{};                  // non-zero members are set
};

// One request of a mixed batch (Netlink::apply).
using Change = std::variant<LinkChange, AddressChange, RouteChange>;

// Result of one change of a batch; message empty on success.
struct ChangeResult {
  std::error_code error{};
  int kernel_errno = 0;
  std::string message{};  // full description, as NetlinkError::what() would say
  bool ok() const { return !error; }
};

// A permanent neighbour (ARP/NDP) entry: ip -> mac on ifindex.
struct NeighbourEntry {
  int ifindex = 0;
  IpPrefix address{};  // full-length prefix
  MacAddress mac{};
  uint16_t state = 0;  // NUD_*; listings only (entries are always programmed NUD_PERMANENT)
};

// A bridge forwarding database entry with NTF_SELF (the device's own table, e.g. a VXLAN VTEP):
// mac -> remote underlay address on ifindex, permanent.
struct FdbEntry {
  int ifindex = 0;
  MacAddress mac{};
  IpPrefix destination{};  // remote VTEP address (full length), empty: none
  uint16_t state = 0;      // listings only
  bool self = true;        // listings only: NTF_SELF set
};

// A neighbour table's parameters for one device (net.ipv4.neigh.<name>.*,
// net.ipv6.neigh.<name>.*), or its defaults (ifindex 0), as RTM_GETNEIGHTBL reports them.
struct NeighbourTableParms {
  int family = 0;                            // 4: ARP ("arp_cache"), 6: NDP ("ndisc_cache")
  std::string table{};                       // the kernel's table name
  int ifindex = 0;                           // 0: the table's defaults
  std::optional<uint64_t> proxy_delay_ms{};  // NDTPA_PROXY_DELAY (/proc shows USER_HZ ticks)
};

class Netlink {
 public:
  // Opens a socket in the calling thread's current network namespace.
  Netlink();
  // Opens a socket in the namespace `netns_fd` refers to (the caller's thread is left as it was).
  static Netlink open_in_netns(int netns_fd);

  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  // --- links ---
  std::optional<LinkInfo> find_link(std::string_view name);
  std::optional<LinkInfo> find_link(int ifindex);
  LinkInfo link(std::string_view name);  // throws NetlinkError (no_device) when missing
  std::vector<LinkInfo> links();
  // Creates the pair and returns the new link as the kernel reports it (read in the same
  // exchange: one round trip); its link_index is the peer's ifindex.
  LinkInfo create_veth(const VethSpec& spec);
  void create_vxlan(const VxlanSpec& spec);
  void create_bridge(std::string_view name);
  void delete_link(std::string_view name);
  void set_link_up(int ifindex, bool up);
  void set_link_mtu(int ifindex, uint32_t mtu);
  void set_link_mac(int ifindex, const MacAddress& mac);
  void set_link_master(int ifindex, int master_ifindex);  // 0: detach
  // Sets the non-zero members and returns the link as the kernel reports it afterwards (one round
  // trip). Throws the kernel's refusal (e.g. EINVAL "too big gso_max_size" above the device's
  // tso_max_size), and Errc::not_supported when the kernel ignored a value (does not know it).
  LinkInfo set_link_gso_limits(int ifindex, const GsoLimits& limits);

  // --- addresses ---
  // Addresses carry their subnet prefix length ("198.19.0.1/24"). family: 4, 6 or 0 for both.
  std::vector<IpPrefix> addresses(int ifindex, int family = 0);
  // no_dad: IPv6 only, usable at once (no duplicate address detection). Fails if present.
  void add_address(int ifindex, const IpPrefix& address, bool no_dad = true);
  void delete_address(int ifindex, const IpPrefix& address);

  // --- routes ---
  void add_route(const RouteSpec& route);      // fails with Errc::exists if present
  void replace_route(const RouteSpec& route);  // creates or replaces
  void delete_route(const RouteSpec& route);   // fails with Errc::not_found if absent
  std::vector<RouteSpec> routes(const RouteFilter& filter = {});
  // Sends all changes pipelined (many requests in flight, acknowledgements collected as they
  // come) and reports each one's result in order; a failure does not stop the others.
  std::vector<ChangeResult> apply_routes(std::span<const RouteChange> changes);

  // --- mixed batches ---
  // Like apply_routes() for links, addresses and routes together: one round trip for the whole
  // batch. The kernel handles the requests in order, so a later one may rely on an earlier one
  // (e.g. a route through a link set up before it in the batch).
  std::vector<ChangeResult> apply(std::span<const Change> changes);

  // --- neighbours (permanent ARP/NDP entries) ---
  void replace_neighbour(const NeighbourEntry& entry);
  void delete_neighbour(const NeighbourEntry& entry);
  std::vector<NeighbourEntry> neighbours(int ifindex, int family = 0);
  // One dump of the neighbour tables of `family` (4, 6 or 0 for both): every device's parameters
  // and each table's defaults.
  std::vector<NeighbourTableParms> neighbour_table_parms(int family = 0);

  // --- FDB entries (NTF_SELF, permanent) ---
  void replace_fdb(const FdbEntry& entry);
  void delete_fdb(const FdbEntry& entry);
  std::vector<FdbEntry> fdb_entries(int ifindex);

  struct Impl;  // opaque; public only so the implementation's helpers can name it

 private:
  explicit Netlink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace brindle::netlink
