// Glue between the cni.* control-socket requests (brindle/cni/protocol.hpp) and the plumbing, so
// that brindled's handler stays short:
//   auto pod = workload::pod_identity(request.params);
//   auto plumbing = workload::setup_pod(pod, {addresses, mtu}, options);
//   return cni::Response::success(workload::to_cni_result(plumbing));
#pragma once

#include "brindle/cni/protocol.hpp"
#include "brindle/workload/plumbing.hpp"

namespace brindle::workload {

// Container ID, K8S_POD_NAMESPACE / K8S_POD_NAME from CNI_ARGS (both or neither), ifname, netns.
PodIdentity pod_identity(const cni::Params& params);

// interfaces = [host veth, container interface (with sandbox and MTU)], every address attached to
// the container interface (index 1), the default routes programmed in the pod.
cni::Result to_cni_result(const PodPlumbing& plumbing);

// The CNI error code for a plumbing failure: 7 invalid request, 101 address conflict, 102 others.
int cni_error_code(const PlumbingError& error);

}  // namespace brindle::workload
