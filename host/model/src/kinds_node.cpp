// Node and WorkloadEndpoint.
#include <algorithm>
#include <set>

#include "kind_impl.hpp"
#include "spec_codec.hpp"

namespace brindle::model {

BRINDLE_FIELDS(NodeBGPSpec) {
  v("asNumber", s.as_number);
  v("routeReflectorClusterID", s.route_reflector_cluster_id);
}

BRINDLE_FIELDS(NodeSpec) {
  v("ipv4Address", s.ipv4_address, kBareAddress);
  v("ipv6Address", s.ipv6_address, kBareAddress);
  v("bgp", s.bgp);
  v("ipipTunnelAddress", s.ipip_tunnel_address);
  v("vxlanTunnelAddress", s.vxlan_tunnel_address);
  v("vxlanTunnelAddressV6", s.vxlan_tunnel_address_v6);
  v("vxlanTunnelMAC", s.vxlan_tunnel_mac);
  v("vxlanTunnelMACV6", s.vxlan_tunnel_mac_v6);
}

BRINDLE_FIELDS(NamedPort) {
  v("name", s.name, kRequired);
  v("protocol", s.protocol);
  v("port", s.port, kRequired);
}

BRINDLE_FIELDS(WorkloadEndpointSpec) {
  v("node", s.node, kRequired);
  v("orchestrator", s.orchestrator);
  v("pod", s.pod, kRequired);
  v("containerID", s.container_id);
  v("endpoint", s.endpoint);
  v("interfaceName", s.interface_name, kRequired);
  v("mac", s.mac);
  v("ipNetworks", s.ip_networks, kBareAddress);
  v("profiles", s.profiles);
  v("ports", s.ports);
  v("serviceAccountName", s.service_account_name);
}

BRINDLE_INSTANTIATE_SPEC_CODEC(NodeSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(WorkloadEndpointSpec);

namespace {

void check_unicast(const std::optional<MacAddress>& mac, const std::string& path) {
  if (mac && (mac->is_multicast() || mac->is_zero())) {
    throw ValidationError(path, "\"" + mac->to_string() + "\" must be a unicast MAC address");
  }
}

void check_interface_name(const std::string& name, const std::string& path) {
  bool ok = !name.empty() && name.size() <= 15 && name != "." && name != ".." &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.';
            });
  if (!ok) {
    throw ValidationError(path, "\"" + name +
                                    "\" is not a valid interface name (1 to 15 letters, digits, "
                                    "'-', '_' or '.')");
  }
}

void check_subdomain(const std::string& name, const std::string& path, const char* what) {
  if (std::string why = check_dns_subdomain(name); !why.empty()) {
    throw ValidationError(path, std::string("invalid ") + what + " \"" + name + "\": " + why);
  }
}

}  // namespace

// ---- Node ----------------------------------------------------------------------------------

void default_spec(const ObjectMeta&, NodeSpec&) {}

void validate_spec(const ObjectMeta&, const NodeSpec& s) {
  if (s.ipv4_address) {
    require_family(*s.ipv4_address, IpFamily::kV4, spec_path("ipv4Address"));
  }
  if (s.ipv6_address) {
    require_family(*s.ipv6_address, IpFamily::kV6, spec_path("ipv6Address"));
  }
  if (s.bgp) {
    const std::string bgp = spec_path("bgp");
    if (s.bgp->as_number && *s.bgp->as_number == 0) {
      throw ValidationError(path_join(bgp, "asNumber"), "must be from 1 to 4294967295");
    }
    if (s.bgp->route_reflector_cluster_id) {
      require_family(*s.bgp->route_reflector_cluster_id, IpFamily::kV4,
                     path_join(bgp, "routeReflectorClusterID"));
    }
  }
  if (s.ipip_tunnel_address) {
    require_family(*s.ipip_tunnel_address, IpFamily::kV4, spec_path("ipipTunnelAddress"));
  }
  if (s.vxlan_tunnel_address) {
    require_family(*s.vxlan_tunnel_address, IpFamily::kV4, spec_path("vxlanTunnelAddress"));
  }
  if (s.vxlan_tunnel_address_v6) {
    require_family(*s.vxlan_tunnel_address_v6, IpFamily::kV6, spec_path("vxlanTunnelAddressV6"));
  }
  check_unicast(s.vxlan_tunnel_mac, spec_path("vxlanTunnelMAC"));
  check_unicast(s.vxlan_tunnel_mac_v6, spec_path("vxlanTunnelMACV6"));
}

// ---- WorkloadEndpoint ----------------------------------------------------------------------

void default_spec(const ObjectMeta&, WorkloadEndpointSpec& s) {
  if (s.endpoint.empty()) {
    s.endpoint = "eth0";
  }
}

void validate_spec(const ObjectMeta&, const WorkloadEndpointSpec& s) {
  check_subdomain(s.node, spec_path("node"), "node name");
  check_subdomain(s.pod, spec_path("pod"), "pod name");
  check_interface_name(s.interface_name, spec_path("interfaceName"));
  check_interface_name(s.endpoint, spec_path("endpoint"));
  check_unicast(s.mac, spec_path("mac"));
  std::set<IpPrefix> seen_networks;
  for (size_t i = 0; i < s.ip_networks.size(); ++i) {
    const std::string path = path_index(spec_path("ipNetworks"), i);
    const IpPrefix& net = s.ip_networks[i];
    if (!net.is_host()) {
      throw ValidationError(path, "\"" + net.to_string() + "\" must be a single address (/" +
                                      std::to_string(net.address().bit_length()) + ")");
    }
    if (!seen_networks.insert(net).second) {
      throw ValidationError(path, "\"" + net.to_string() + "\" is listed twice");
    }
  }
  for (size_t i = 0; i < s.profiles.size(); ++i) {
    check_subdomain(s.profiles[i], path_index(spec_path("profiles"), i), "profile name");
  }
  std::set<std::string> seen_ports;
  for (size_t i = 0; i < s.ports.size(); ++i) {
    const std::string path = path_index(spec_path("ports"), i);
    const NamedPort& port = s.ports[i];
    if (std::string why = check_port_name(port.name); !why.empty()) {
      throw ValidationError(path_join(path, "name"),
                            "\"" + port.name + "\" is not a valid port name: " + why);
    }
    if (port.port == 0) {
      throw ValidationError(path_join(path, "port"), "must be from 1 to 65535");
    }
    if (!seen_ports.insert(port.name).second) {
      throw ValidationError(path_join(path, "name"), "\"" + port.name + "\" is listed twice");
    }
  }
  if (!s.service_account_name.empty()) {
    check_subdomain(s.service_account_name, spec_path("serviceAccountName"),
                    "service account name");
  }
}

}  // namespace brindle::model
