// The "ipip" encapsulation: pod traffic to other nodes is IPv4-in-IPv4 through `tunl0`, the
// kernel's fallback IPIP device (created by the kernel in each network namespace when the ipip
// module is loaded; it receives every IPIP packet that no more specific tunnel claims and sends to
// the next hop of the route, so one device serves all remote nodes, as in Calico).
//
// ensure_local: makes sure tunl0 exists (asking the kernel for an ipip link loads the module on
// demand, which creates tunl0), sets its MTU to the underlay MTU - 20 (or the configured MTU), puts
// this node's IPv4 tunnel address (from IPAM) on it as a /32 (removing any other IPv4 address) and
// sets it up. A kernel without IPIP support fails with UNSUPPORTED naming CONFIG_NET_IPIP.
// Routes to a remote block: `<block> via <remote node IPv4> dev tunl0 onlink`. IPv4 pools only.
// No per-remote-node state: upsert_remote/remove_remote do nothing; refresh() repairs tunl0.
//
// Configuration ([encapsulation.ipip] in brindle.toml), every key optional:
//   mtu = 1480   # 576..65535: device and pod MTU; default underlay MTU - 20
#include <brindle/sdk.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brindle/netlink/netlink.hpp"
#include "ipip_link.hpp"

namespace {

namespace nl = brindle::netlink;

constexpr const char* kDevice = "tunl0";  // the fallback device's fixed name
constexpr uint32_t kOverhead4 = 20;       // the outer IPv4 header
constexpr int64_t kMinMtu = 576;
constexpr int64_t kMaxMtu = 65535;

std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out.append(text).push_back('"');
  return out;
}

brindle::Error to_error(const nl::NetlinkError& e, const std::string& context) {
  return brindle::Error(nl::to_status(e.code(), e.kernel_errno()), context + ": " + e.what());
}

class IpipEncap final : public brindle::EncapPlugin {
 public:
  explicit IpipEncap(brindle::Host host)
      : EncapPlugin(host),
        configured_mtu_(read_mtu(host)),
        route_forms_(host.counter("route_forms_total",
                                  "Route forms computed, by result (ok, invalid, unavailable)")),
        pod_mtu_gauge_(host.gauge("pod_mtu", "MTU of tunl0 and of pods under encapsulation ipip")) {
  }

  // Side-effect free: checks the [encapsulation.ipip] section.
  static void validate_config(const brindle::Host& host) { read_mtu(host); }

  brindle::EncapLocalState ensure_local(const brindle::EncapLocalConfig& config) override {
    const uint32_t mtu = pod_mtu(config);
    const brindle::IpPrefix& tunnel = config.node.tunnel_address4;
    if (tunnel.valid() && tunnel.family() != 4) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT, "ipip: this node's IPv4 tunnel address " +
                                                             tunnel.to_string() +
                                                             " is not an IPv4 address");
    }
    set_up_device(mtu,
                  tunnel.valid() ? nl::IpPrefix::from_abi(tunnel.raw()).address() : nl::IpPrefix{});
    last_config_ = config;
    have_local_ = true;
    if (mtu != reported_mtu_) {
      host().info("encapsulation ipip ready",
                  std::string("device=") + kDevice + " pod_mtu=" + std::to_string(mtu) +
                      " underlay_device=" + quoted(config.underlay_device) +
                      " tunnel_address=" + (tunnel.valid() ? tunnel.to_string() : "none"));
      reported_mtu_ = mtu;
      pod_mtu_gauge_.set(mtu);
    }
    brindle::EncapLocalState state;
    state.device = kDevice;
    state.mtu_overhead4 = kOverhead4;
    state.mtu_overhead6 = 0;  // IPIP has no IPv6 underlay: nothing is sent over one
    state.pod_mtu = mtu;
    state.has_vtep_mac = false;
    state.needs_tunnel_address = true;
    return state;
  }

  // One device for all nodes: the route's next hop is the tunnel's remote end.
  void upsert_remote(const brindle::EncapNode&) override {}
  void remove_remote(std::string_view) override {}

  brindle::RouteForm route_form(const brindle::EncapNode& remote,
                                const brindle::IpPrefix& block) override {
    if (!block.valid() || block.family() != 4) {
      route_forms_.add(1, "result=\"invalid\"");
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           "ipip carries IPv4 only: cannot route block " +
                               (block.valid() ? block.to_string() : std::string("(invalid)")) +
                               " of node " + quoted(remote.name) +
                               " (use vxlan or no encapsulation for IPv6 pools)");
    }
    if (!remote.address4.valid()) {
      route_forms_.add(1, "result=\"unavailable\"");
      throw brindle::Error(BRINDLE_ERR_UNAVAILABLE, "ipip cannot route block " + block.to_string() +
                                                        ": node " + quoted(remote.name) +
                                                        " has no IPv4 underlay address (yet)");
    }
    route_forms_.add(1, "result=\"ok\"");
    brindle_ip_prefix_t gateway = remote.address4.raw();
    gateway.prefix_len = 32;
    brindle::RouteForm form;
    form.device = kDevice;
    form.gateway = brindle::IpPrefix(gateway);
    form.flags = BRINDLE_ROUTE_ONLINK;
    return form;
  }

  // Re-creates tunl0 if it went (module unloaded and reloaded) and repairs MTU, address and state.
  void refresh() override {
    if (have_local_) {
      ensure_local(last_config_);
    }
  }

 private:
  static uint32_t read_mtu(const brindle::Host& host) {
    const brindle::Config config = host.config();
    config.allow_only("", {"mtu"});
    return static_cast<uint32_t>(config.int_or("mtu", 0, kMinMtu, kMaxMtu));
  }

  uint32_t pod_mtu(const brindle::EncapLocalConfig& config) const {
    if (configured_mtu_ != 0) {
      return configured_mtu_;
    }
    if (config.mtu_override != 0) {
      return config.mtu_override;
    }
    uint32_t underlay = config.underlay_mtu;
    if (underlay == 0) {
      if (config.underlay_device.empty()) {
        throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                             "ipip: the underlay MTU is unknown (neither an MTU nor an underlay "
                             "device was given) and no mtu is configured");
      }
      try {
        underlay = nl::Netlink().link(config.underlay_device).mtu;
      } catch (const nl::NetlinkError& e) {
        throw to_error(
            e, "ipip: cannot detect the MTU of underlay device " + quoted(config.underlay_device));
      }
    }
    if (underlay < kMinMtu + kOverhead4) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           "ipip: underlay MTU " + std::to_string(underlay) +
                               " is too small for IPIP (needs at least " +
                               std::to_string(kMinMtu + kOverhead4) + ")");
    }
    return underlay - kOverhead4;
  }

  void set_up_device(uint32_t mtu, const nl::IpPrefix& tunnel) {
    try {
      nl::Netlink netlink;
      std::optional<nl::LinkInfo> link = netlink.find_link(kDevice);
      if (!link) {
        const brindle_ipip::CreateResult created = brindle_ipip::create_ipip_link(kDevice);
        using Outcome = brindle_ipip::CreateResult::Outcome;
        if (created.outcome == Outcome::unsupported) {
          throw brindle::Error(BRINDLE_ERR_UNSUPPORTED,
                               "ipip: the kernel has no IPIP tunnel support (CONFIG_NET_IPIP, "
                               "module ipip): cannot get device tunl0 (" +
                                   created.message + ")");
        }
        if (created.outcome == Outcome::failed) {
          throw brindle::Error(BRINDLE_ERR_UNAVAILABLE,
                               "ipip: cannot get device tunl0: " + created.message);
        }
        link = netlink.find_link(kDevice);
        if (!link) {
          throw brindle::Error(BRINDLE_ERR_UNAVAILABLE,
                               "ipip: device tunl0 is missing although the kernel created it");
        }
        host().info("IPIP device tunl0 present", created.outcome == Outcome::created
                                                     ? "how=\"created\""
                                                     : "how=\"ipip module loaded\"");
      }
      if (link->kind != "ipip") {
        throw brindle::Error(BRINDLE_ERR_ALREADY_EXISTS,
                             "ipip: device tunl0 exists but is of kind " +
                                 quoted(link->kind.empty() ? "none" : link->kind) + ", not ipip");
      }
      if (link->mtu != mtu) {
        host().info("setting tunl0 MTU",
                    "mtu=" + std::to_string(mtu) + " old_mtu=" + std::to_string(link->mtu));
        netlink.set_link_mtu(link->index, mtu);
      }
      if (!tunnel.empty()) {
        set_tunnel_address(netlink, link->index, tunnel);
      }
      if (!link->up) {
        netlink.set_link_up(link->index, true);
      }
    } catch (const nl::NetlinkError& e) {
      throw to_error(e, "ipip: setting up device tunl0");
    }
  }

  // The tunnel address as a /32, and no other IPv4 address: the device is ours. The new address
  // goes on first: a device left without any IPv4 address loses every route through it.
  void set_tunnel_address(nl::Netlink& netlink, int ifindex, const nl::IpPrefix& wanted) {
    const std::vector<nl::IpPrefix> present = netlink.addresses(ifindex, 4);
    if (std::find(present.begin(), present.end(), wanted) == present.end()) {
      netlink.add_address(ifindex, wanted);
      host().info("tunnel address set on tunl0", "address=" + wanted.to_string());
    }
    for (const nl::IpPrefix& address : present) {
      if (address != wanted) {
        host().info("removing old tunnel address from tunl0",
                    "address=" + address.to_string() + " new=" + wanted.to_string());
        netlink.delete_address(ifindex, address);
      }
    }
  }

  uint32_t configured_mtu_;
  brindle::Metric route_forms_;
  brindle::Metric pod_mtu_gauge_;
  brindle::EncapLocalConfig last_config_;
  bool have_local_ = false;
  uint32_t reported_mtu_ = 0;
};

}  // namespace

BRINDLE_PLUGIN(IpipEncap, "ipip", "0.1.0",
               "IPv4-in-IPv4 between nodes through the kernel's fallback device tunl0")
