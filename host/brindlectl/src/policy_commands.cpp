// policy trace: which policies and rules apply to a packet between two pods (or addresses), in
// each direction, and the verdict, computed by the same engine and compiled model the agent uses.
#include "brindle/ipam/store.hpp"
#include "brindle/policy/engine.hpp"
#include "brindle/policy/trace.hpp"
#include "commands.hpp"

namespace brindle::ctl {
namespace {

// Loads every policy input of the cluster into an engine that treats all endpoints as local.
policy::PolicyEngine load_engine(const Session& session, std::ostream& err) {
  policy::PolicyEngine engine({"", true});
  const ipam::Store store(session.client());
  size_t skipped = 0;
  auto feed = [&](auto list, auto upsert) {
    for (const auto& item : list) {
      try {
        upsert(item.doc);
      } catch (const std::exception& e) {
        err << "warning: skipping " << item.doc.metadata.namespace_ << "/" << item.doc.metadata.name
            << ": " << e.what() << "\n";
      }
    }
  };
  feed(store.list<model::ProfileSpec>(&skipped), [&](const auto& d) { engine.upsert_profile(d); });
  feed(store.list<model::NetworkSetSpec>(&skipped),
       [&](const auto& d) { engine.upsert_network_set(d); });
  feed(store.list<model::GlobalNetworkSetSpec>(&skipped),
       [&](const auto& d) { engine.upsert_global_network_set(d); });
  feed(store.list<model::KubernetesNetworkPolicySpec>(&skipped),
       [&](const auto& d) { engine.upsert_kubernetes_network_policy(d); });
  feed(store.list<model::NetworkPolicySpec>(&skipped),
       [&](const auto& d) { engine.upsert_network_policy(d); });
  feed(store.list<model::GlobalNetworkPolicySpec>(&skipped),
       [&](const auto& d) { engine.upsert_global_network_policy(d); });
  feed(store.list<model::WorkloadEndpointSpec>(&skipped),
       [&](const auto& d) { engine.upsert_workload_endpoint(d); });
  if (skipped > 0) {
    err << "warning: " << skipped << " stored resource(s) could not be read and were skipped\n";
  }
  return engine;
}

// "ns/pod": the endpoint may be named by its WorkloadEndpoint name or by its pod's name.
policy::TracePeer resolve(const Session& session, const std::string& text) {
  policy::TracePeer peer = policy::parse_trace_peer(text);
  if (peer.address || peer.name.empty()) {
    return peer;
  }
  const ipam::Store store(session.client());
  if (store.get<model::WorkloadEndpointSpec>(peer.name, peer.namespace_)) {
    return peer;
  }
  for (const auto& wep : store.list<model::WorkloadEndpointSpec>()) {
    if (wep.doc.metadata.namespace_ == peer.namespace_ && wep.doc.spec.pod == peer.name) {
      return policy::TracePeer::endpoint(peer.namespace_, wep.doc.metadata.name);
    }
  }
  throw std::runtime_error("no workload endpoint or pod \"" + text + "\"");
}

}  // namespace

int policy_trace_command(const Session& session, const PolicyTraceArgs& args, std::ostream& out,
                         std::ostream& err) {
  policy::TraceRequest request;
  try {
    request.from = resolve(session, args.from);
    request.to = resolve(session, args.to);
    policy::parse_trace_port(args.port, request);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
  policy::PolicyEngine engine = load_engine(session, err);
  out << policy::format_trace(engine.trace(request));
  return 0;
}

}  // namespace brindle::ctl
