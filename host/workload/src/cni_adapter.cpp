#include "brindle/workload/cni_adapter.hpp"

namespace brindle::workload {

PodIdentity pod_identity(const cni::Params& params) {
  PodIdentity pod;
  pod.container_id = params.container_id;
  auto pod_namespace = params.pod_namespace();
  auto pod_name = params.pod_name();
  if (pod_namespace && pod_name && !pod_namespace->empty() && !pod_name->empty()) {
    pod.pod_namespace = *pod_namespace;
    pod.pod_name = *pod_name;
  }
  pod.ifname = params.ifname;
  pod.netns_path = params.netns;
  return pod;
}

cni::Result to_cni_result(const PodPlumbing& plumbing) {
  cni::Result result;
  result.interfaces.push_back(
      cni::Interface{plumbing.host_ifname, plumbing.host_mac.to_string(), "", std::nullopt});
  result.interfaces.push_back(cni::Interface{plumbing.container_ifname,
                                             plumbing.container_mac.to_string(),
                                             plumbing.netns_path, plumbing.mtu});
  for (const netlink::IpPrefix& address : plumbing.addresses) {
    result.ips.push_back(cni::IpConfig{address.to_string(), std::nullopt, 1});
  }
  for (const PodRoute& route : plumbing.routes) {
    result.routes.push_back(
        cni::Route{route.destination.to_string(), route.gateway.to_string(true)});
  }
  return result;
}

int cni_error_code(const PlumbingError& error) {
  switch (error.kind()) {
    case PlumbingError::Kind::invalid_request:
      return cni::errors::kInvalidNetworkConfig;
    case PlumbingError::Kind::address_conflict:
      return cni::errors::kAddressUnavailable;
    case PlumbingError::Kind::netns_unavailable:
    case PlumbingError::Kind::interface_exists:
    case PlumbingError::Kind::kernel:
      break;
  }
  return cni::errors::kPlumbingFailed;
}

}  // namespace brindle::workload
