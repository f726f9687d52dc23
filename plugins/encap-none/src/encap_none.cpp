// The "none" encapsulation: pod traffic is routed unencapsulated, `<block> via <node address>`,
// which only works between L2-adjacent nodes (the remote node's address must lie inside this
// node's underlay subnet). No device, no per-node state, no MTU overhead.
//
// Configuration ([encapsulation.none] in brindle.toml):
//   mtu = 1500   # optional, 576..65535: the pod MTU; overrides the host's value and the uplink's
#include <brindle/sdk.hpp>

#include <cstdint>
#include <string>

#include "brindle/netlink/netlink.hpp"

namespace {

constexpr int64_t kMinMtu = 576;
constexpr int64_t kMaxMtu = 65535;

// The same address as a full-length prefix ("198.19.0.2/24" -> "198.19.0.2/32").
brindle::IpPrefix host_address(const brindle::IpPrefix& prefix) {
  brindle_ip_prefix_t raw = prefix.raw();
  raw.prefix_len = static_cast<uint8_t>(prefix.max_len());
  return brindle::IpPrefix(raw);
}

std::string quoted(std::string_view text) {
  std::string out(1, '"');
  out.append(text).push_back('"');
  return out;
}

class NoneEncap final : public brindle::EncapPlugin {
 public:
  explicit NoneEncap(brindle::Host host)
      : EncapPlugin(host),
        configured_mtu_(read_mtu(host)),
        route_forms_(host.counter(
            "route_forms_total", "Route forms computed, by result (ok, not_on_link, unavailable)")),
        pod_mtu_gauge_(host.gauge("pod_mtu", "MTU pods use under encapsulation none")) {}

  // Side-effect free: checks the [encapsulation.none] section.
  static void validate_config(const brindle::Host& host) { read_mtu(host); }

  brindle::EncapLocalState ensure_local(const brindle::EncapLocalConfig& config) override {
    local_ = config.node;
    have_local_ = true;
    brindle::EncapLocalState state;
    state.mtu_overhead4 = 0;
    state.mtu_overhead6 = 0;
    state.needs_tunnel_address = false;
    if (configured_mtu_ != 0) {
      state.pod_mtu = configured_mtu_;
    } else if (config.mtu_override != 0) {
      state.pod_mtu = config.mtu_override;
    } else {
      state.pod_mtu = underlay_mtu(config);
    }
    if (state.pod_mtu != pod_mtu_) {
      host().info("encapsulation none ready",
                  "pod_mtu=" + std::to_string(state.pod_mtu) +
                      " underlay_device=" + quoted(config.underlay_device) +
                      " underlay_mtu=" + std::to_string(config.underlay_mtu));
      pod_mtu_ = state.pod_mtu;
      pod_mtu_gauge_.set(pod_mtu_);
    }
    return state;
  }

  // Nothing to set up per remote node without a tunnel.
  void upsert_remote(const brindle::EncapNode&) override {}
  void remove_remote(std::string_view) override {}

  brindle::RouteForm route_form(const brindle::EncapNode& remote,
                                const brindle::IpPrefix& block) override {
    if (!block.valid()) {
      throw brindle::Error(
          BRINDLE_ERR_INVALID_ARGUMENT,
          "route_form: block of node " + quoted(remote.name) + " is not a valid IP prefix");
    }
    const bool v4 = block.family() == 4;
    const char* family = v4 ? "IPv4" : "IPv6";
    const brindle::IpPrefix local = local_address(v4);
    const brindle::IpPrefix& remote_address = v4 ? remote.address4 : remote.address6;
    const std::string local_name = quoted(host().node_name());
    if (!local.valid()) {
      route_forms_.add(1, "result=\"not_on_link\"");
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           std::string("encapsulation none cannot route ") + family + " block " +
                               block.to_string() + " of node " + quoted(remote.name) +
                               ": this node " + local_name + " has no " + family +
                               " underlay address");
    }
    if (!remote_address.valid()) {
      route_forms_.add(1, "result=\"unavailable\"");
      throw brindle::Error(BRINDLE_ERR_UNAVAILABLE,
                           std::string("encapsulation none cannot route ") + family + " block " +
                               block.to_string() + ": node " + quoted(remote.name) + " has no " +
                               family + " underlay address (yet)");
    }
    if (!local.contains(remote_address)) {
      route_forms_.add(1, "result=\"not_on_link\"");
      throw brindle::Error(
          BRINDLE_ERR_INVALID_ARGUMENT,
          "node " + quoted(remote.name) + " at " + remote_address.to_string() + " (subnet " +
              remote_address.network().to_string() +
              ") is not on-link: it is outside this node's underlay subnet " +
              local.network().to_string() + " (node " + local_name + " at " + local.to_string() +
              "); encapsulation none routes block " + block.to_string() +
              " directly via the node address, which needs L2-adjacent nodes: use vxlan or "
              "ipip (CrossSubnet) for nodes in other subnets");
    }
    route_forms_.add(1, "result=\"ok\"");
    brindle::RouteForm form;
    form.gateway = host_address(remote_address);
    form.flags = 0;  // a plain "via": the kernel resolves the next hop on the underlay
    return form;
  }

 private:
  static uint32_t read_mtu(const brindle::Host& host) {
    const brindle::Config config = host.config();
    config.allow_only("", {"mtu"});
    return static_cast<uint32_t>(config.int_or("mtu", 0, kMinMtu, kMaxMtu));
  }

  // This node's underlay address with its subnet: from the last ensure_local(), else the host's.
  brindle::IpPrefix local_address(bool v4) const {
    if (have_local_) {
      const brindle::IpPrefix& address = v4 ? local_.address4 : local_.address6;
      if (address.valid()) {
        return address;
      }
    }
    return v4 ? host().node_ipv4() : host().node_ipv6();
  }

  // The host normally detects it; when it did not, ask the kernel about the underlay device.
  static uint32_t underlay_mtu(const brindle::EncapLocalConfig& config) {
    if (config.underlay_mtu != 0) {
      return config.underlay_mtu;
    }
    if (config.underlay_device.empty()) {
      throw brindle::Error(BRINDLE_ERR_INVALID_ARGUMENT,
                           "encapsulation none: the underlay MTU is unknown (neither an MTU nor an "
                           "underlay device was given) and no mtu is configured");
    }
    try {
      brindle::netlink::Netlink netlink;
      const uint32_t mtu = netlink.link(config.underlay_device).mtu;
      if (mtu == 0) {
        throw brindle::Error(BRINDLE_ERR_UNAVAILABLE, "encapsulation none: underlay device " +
                                                          quoted(config.underlay_device) +
                                                          " reports MTU 0");
      }
      return mtu;
    } catch (const brindle::netlink::NetlinkError& e) {
      throw brindle::Error(e.is_not_found() ? BRINDLE_ERR_NOT_FOUND : BRINDLE_ERR_UNAVAILABLE,
                           "encapsulation none: cannot detect the MTU of underlay device " +
                               quoted(config.underlay_device) + ": " + e.what());
    }
  }

  uint32_t configured_mtu_;
  brindle::Metric route_forms_;
  brindle::Metric pod_mtu_gauge_;
  brindle::EncapNode local_;
  bool have_local_ = false;
  uint32_t pod_mtu_ = 0;
};

}  // namespace

BRINDLE_PLUGIN(NoneEncap, "none", "0.1.0",
               "No encapsulation: direct routes via the node address (L2-adjacent nodes)")
