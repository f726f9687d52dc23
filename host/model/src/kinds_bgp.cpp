// BGPConfiguration, BGPPeer and AgentConfiguration.
#include <algorithm>

#include "kind_impl.hpp"
#include "spec_codec.hpp"

namespace brindle::model {

BRINDLE_FIELDS(ServiceCidr) {
  v("cidr", s.cidr, kRequired);
}

BRINDLE_FIELDS(BGPConfigurationSpec) {
  v("asNumber", s.as_number);
  v("nodeToNodeMeshEnabled", s.node_to_node_mesh_enabled);
  v("listenPort", s.listen_port);
  v("serviceClusterIPs", s.service_cluster_ips);
  v("serviceExternalIPs", s.service_external_ips);
}

BRINDLE_FIELDS(SecretKeySelector) {
  v("name", s.name, kRequired);
  v("key", s.key, kRequired);
}

BRINDLE_FIELDS(BGPPassword) {
  v("secretKeyRef", s.secret_key_ref, kRequired);
}

BRINDLE_FIELDS(BGPPeerSpec) {
  v("node", s.node);
  v("nodeSelector", s.node_selector);
  v("peerIP", s.peer_ip);
  v("peerSelector", s.peer_selector);
  v("asNumber", s.as_number);
  v("password", s.password);
  v("keepOriginalNextHop", s.keep_original_next_hop);
  v("maxRestartTime", s.max_restart_time);
}

BRINDLE_FIELDS(ProtoPort) {
  v("protocol", s.protocol);
  v("port", s.port, kRequired);
}

BRINDLE_FIELDS(AgentConfigurationSpec) {
  v("logLevel", s.log_level);
  v("mtu", s.mtu);
  v("failsafeInboundHostPorts", s.failsafe_inbound_host_ports);
  v("failsafeOutboundHostPorts", s.failsafe_outbound_host_ports);
  v("routeRefreshInterval", s.route_refresh_interval);
  v("dataplaneRefreshInterval", s.dataplane_refresh_interval);
  v("ipsetsRefreshInterval", s.ipsets_refresh_interval);
  v("reportingInterval", s.reporting_interval);
}

BRINDLE_INSTANTIATE_SPEC_CODEC(BGPConfigurationSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(BGPPeerSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(AgentConfigurationSpec);

std::optional<std::string> config_scope(const ObjectMeta& metadata) {
  constexpr std::string_view kNodePrefix = "node.";
  if (metadata.name == "default") {
    return std::nullopt;
  }
  if (metadata.name.rfind(kNodePrefix, 0) == 0) {
    std::string node = metadata.name.substr(kNodePrefix.size());
    if (std::string why = check_dns_subdomain(node); !why.empty()) {
      throw ValidationError("metadata.name", "invalid node name \"" + node + "\": " + why);
    }
    return node;
  }
  throw ValidationError("metadata.name",
                        "must be \"default\" (cluster-wide) or "
                        "\"node.<node name>\" (one node), got \"" +
                            metadata.name + "\"");
}

namespace {

constexpr uint32_t kDefaultAsNumber = 64512;
constexpr uint16_t kDefaultBgpPort = 179;

void check_as_number(const std::optional<uint32_t>& as_number, const std::string& path) {
  if (as_number && *as_number == 0) {
    throw ValidationError(path, "must be from 1 to 4294967295");
  }
}

void check_service_cidrs(const std::vector<ServiceCidr>& cidrs, const std::string& path) {
  for (size_t i = 0; i < cidrs.size(); ++i) {
    require_network(cidrs[i].cidr, path_join(path_index(path, i), "cidr"));
  }
}

void check_proto_ports(const std::optional<std::vector<ProtoPort>>& ports,
                       const std::string& path) {
  if (!ports) {
    return;
  }
  for (size_t i = 0; i < ports->size(); ++i) {
    if ((*ports)[i].port == 0) {
      throw ValidationError(path_join(path_index(path, i), "port"), "must be from 1 to 65535");
    }
  }
}

}  // namespace

// ---- BGPConfiguration ----------------------------------------------------------------------

void default_spec(const ObjectMeta& meta, BGPConfigurationSpec& s) {
  if (meta.name != "default") {
    return;  // per-node documents inherit
  }
  if (!s.as_number) {
    s.as_number = kDefaultAsNumber;
  }
  if (!s.node_to_node_mesh_enabled) {
    s.node_to_node_mesh_enabled = true;
  }
  if (!s.listen_port) {
    s.listen_port = kDefaultBgpPort;
  }
}

void validate_spec(const ObjectMeta& meta, const BGPConfigurationSpec& s) {
  auto node = config_scope(meta);
  if (node) {
    auto global_only = [](const std::string& field) {
      return ValidationError(spec_path(field),
                             "can only be set in the BGPConfiguration named \"default\"");
    };
    if (s.as_number) {
      throw global_only("asNumber");
    }
    if (s.node_to_node_mesh_enabled) {
      throw global_only("nodeToNodeMeshEnabled");
    }
    if (!s.service_cluster_ips.empty()) {
      throw global_only("serviceClusterIPs");
    }
    if (!s.service_external_ips.empty()) {
      throw global_only("serviceExternalIPs");
    }
  }
  check_as_number(s.as_number, spec_path("asNumber"));
  if (s.listen_port && *s.listen_port == 0) {
    throw ValidationError(spec_path("listenPort"), "must be from 1 to 65535");
  }
  check_service_cidrs(s.service_cluster_ips, spec_path("serviceClusterIPs"));
  check_service_cidrs(s.service_external_ips, spec_path("serviceExternalIPs"));
}

// ---- BGPPeer -------------------------------------------------------------------------------

void default_spec(const ObjectMeta&, BGPPeerSpec&) {}

void validate_spec(const ObjectMeta&, const BGPPeerSpec& s) {
  if (!s.node.empty()) {
    if (std::string why = check_dns_subdomain(s.node); !why.empty()) {
      throw ValidationError(spec_path("node"), "invalid node name \"" + s.node + "\": " + why);
    }
    if (!s.node_selector.empty()) {
      throw ValidationError(spec_path("nodeSelector"), "cannot be combined with spec.node");
    }
  }
  validate_selector(s.node_selector, spec_path("nodeSelector"));
  validate_selector(s.peer_selector, spec_path("peerSelector"));
  if (s.peer_ip && !s.peer_selector.empty()) {
    throw ValidationError(spec_path("peerSelector"), "cannot be combined with spec.peerIP");
  }
  if (!s.peer_ip && s.peer_selector.empty()) {
    throw ValidationError("spec", "set peerIP (with asNumber) or peerSelector");
  }
  if (s.peer_ip && !s.as_number) {
    throw ValidationError(spec_path("asNumber"), "is required with peerIP");
  }
  if (!s.peer_selector.empty() && s.as_number) {
    throw ValidationError(spec_path("asNumber"),
                          "must not be set with peerSelector (the selected nodes' AS numbers are "
                          "used)");
  }
  check_as_number(s.as_number, spec_path("asNumber"));
  if (s.password) {
    const auto& ref = *s.password->secret_key_ref;
    const std::string path = path_join(spec_path("password"), "secretKeyRef");
    if (std::string why = check_dns_subdomain(ref.name); !why.empty()) {
      throw ValidationError(path_join(path, "name"), "invalid Secret name: " + why);
    }
    bool key_ok = !ref.key.empty() && ref.key.size() <= 253 &&
                  std::all_of(ref.key.begin(), ref.key.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                  });
    if (!key_ok) {
      throw ValidationError(path_join(path, "key"),
                            "must be 1 to 253 letters, digits, '-', '_' or '.'");
    }
  }
}

// ---- AgentConfiguration --------------------------------------------------------------------

AgentConfigurationSpec default_agent_configuration() {
  using std::chrono::seconds;
  auto tcp = [](uint16_t port) { return ProtoPort{PortProtocol::kTCP, port}; };
  auto udp = [](uint16_t port) { return ProtoPort{PortProtocol::kUDP, port}; };
  AgentConfigurationSpec s;
  s.log_level = LogLevel::kInfo;
  s.mtu = 0;
  // Never blocked by host policy: SSH, DHCP, BGP, etcd, Typha-style agents, the API server.
  s.failsafe_inbound_host_ports = std::vector<ProtoPort>{
      tcp(22), udp(68), tcp(179), tcp(2379), tcp(2380), tcp(5473), tcp(6443), tcp(6666), tcp(6667)};
  s.failsafe_outbound_host_ports = std::vector<ProtoPort>{
      udp(53), udp(67), tcp(179), tcp(2379), tcp(2380), tcp(5473), tcp(6443), tcp(6666), tcp(6667)};
  s.route_refresh_interval = Duration{seconds(90)};
  s.dataplane_refresh_interval = Duration{seconds(90)};
  s.ipsets_refresh_interval = Duration{seconds(90)};
  s.reporting_interval = Duration{seconds(30)};
  return s;
}

namespace {
template <class T>
void fill_unset(std::optional<T>& field, const std::optional<T>& value) {
  if (!field) {
    field = value;
  }
}
template <class T>
void overlay(T& out, const std::optional<T>& value) {
  if (value) {
    out = *value;
  }
}
}  // namespace

void default_spec(const ObjectMeta& meta, AgentConfigurationSpec& s) {
  if (meta.name != "default") {
    return;  // per-node documents inherit
  }
  AgentConfigurationSpec d = default_agent_configuration();
  fill_unset(s.log_level, d.log_level);
  fill_unset(s.mtu, d.mtu);
  fill_unset(s.failsafe_inbound_host_ports, d.failsafe_inbound_host_ports);
  fill_unset(s.failsafe_outbound_host_ports, d.failsafe_outbound_host_ports);
  fill_unset(s.route_refresh_interval, d.route_refresh_interval);
  fill_unset(s.dataplane_refresh_interval, d.dataplane_refresh_interval);
  fill_unset(s.ipsets_refresh_interval, d.ipsets_refresh_interval);
  fill_unset(s.reporting_interval, d.reporting_interval);
}

void validate_spec(const ObjectMeta& meta, const AgentConfigurationSpec& s) {
  config_scope(meta);
  if (s.mtu && *s.mtu != 0 && (*s.mtu < 576 || *s.mtu > 65535)) {
    throw ValidationError(spec_path("mtu"), "must be 0 (detect) or from 576 to 65535");
  }
  check_proto_ports(s.failsafe_inbound_host_ports, spec_path("failsafeInboundHostPorts"));
  check_proto_ports(s.failsafe_outbound_host_ports, spec_path("failsafeOutboundHostPorts"));
}

AgentSettings resolve_agent_settings(const AgentConfigurationSpec* global,
                                     const AgentConfigurationSpec* node) {
  AgentSettings out;
  const AgentConfigurationSpec builtin = default_agent_configuration();
  for (const AgentConfigurationSpec* layer : {&builtin, global, node}) {
    if (!layer) {
      continue;
    }
    overlay(out.log_level, layer->log_level);
    overlay(out.mtu, layer->mtu);
    overlay(out.failsafe_inbound_host_ports, layer->failsafe_inbound_host_ports);
    overlay(out.failsafe_outbound_host_ports, layer->failsafe_outbound_host_ports);
    overlay(out.route_refresh_interval, layer->route_refresh_interval);
    overlay(out.dataplane_refresh_interval, layer->dataplane_refresh_interval);
    overlay(out.ipsets_refresh_interval, layer->ipsets_refresh_interval);
    overlay(out.reporting_interval, layer->reporting_interval);
  }
  return out;
}

}  // namespace brindle::model
