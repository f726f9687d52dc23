#include "kube_pod_overlay.h"

namespace brindle::kube {

std::optional<std::pair<PodName, PodFacts>> pod_facts(const Json& pod, std::string* problem) {
  const auto metadata = pod.is_object() ? pod.find("metadata") : pod.end();
  if (!pod.is_object() || metadata == pod.end() || !metadata->is_object()) {
    *problem = "a Pod without metadata";
    return std::nullopt;
  }
  auto text = [](const Json& object, const char* field) -> std::string {
    const auto it = object.find(field);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  PodName name{text(*metadata, "namespace"), text(*metadata, "name")};
  if (name.first.empty() || name.second.empty()) {
    *problem = "a Pod without metadata.name or metadata.namespace";
    return std::nullopt;
  }
  PodFacts facts;
  if (const auto labels = metadata->find("labels");
      labels != metadata->end() && labels->is_object()) {
    for (auto label = labels->begin(); label != labels->end(); ++label) {
      if (label.value().is_string()) {
        facts.labels[label.key()] = label.value();
      }
    }
  }
  const auto spec = pod.find("spec");
  if (spec != pod.end() && spec->is_object()) {
    facts.service_account = text(*spec, "serviceAccountName");
    std::set<std::string> names;
    const auto containers = spec->find("containers");
    for (const Json& container :
         containers != spec->end() && containers->is_array() ? *containers : Json::array()) {
      const auto ports = container.is_object() ? container.find("ports") : container.end();
      if (!container.is_object() || ports == container.end() || !ports->is_array()) {
        continue;
      }
      for (const Json& port : *ports) {
        if (!port.is_object()) {
          continue;
        }
        const std::string port_name = text(port, "name");
        const auto number = port.find("containerPort");
        // Only named ports matter (policies name them); the first of a name wins.
        if (port_name.empty() || number == port.end() || !number->is_number_integer() ||
            !names.insert(port_name).second) {
          continue;
        }
        const std::string protocol = text(port, "protocol");
        facts.ports.push_back(Json{{"name", port_name},
                                   {"protocol", protocol.empty() ? "TCP" : protocol},
                                   {"port", *number}});
      }
    }
  }
  return std::make_pair(std::move(name), std::move(facts));
}

std::optional<PodName> endpoint_pod(const HostDocument& endpoint) {
  if (endpoint.key.kind != "WorkloadEndpoint") {
    return std::nullopt;
  }
  const Json doc = Json::parse(endpoint.json, nullptr, /*allow_exceptions=*/false);
  const auto spec = doc.is_object() ? doc.find("spec") : doc.end();
  if (spec == doc.end() || !spec->is_object()) {
    return std::nullopt;
  }
  const auto orchestrator = spec->find("orchestrator");
  const auto pod = spec->find("pod");
  if (orchestrator == spec->end() || *orchestrator != "k8s" || pod == spec->end() ||
      !pod->is_string() || pod->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  return PodName{endpoint.key.namespace_, pod->get<std::string>()};
}

void apply_pod_facts(HostDocument& endpoint, const PodFacts& facts) {
  Json doc = Json::parse(endpoint.json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc["metadata"].is_object() || !doc["spec"].is_object()) {
    return;
  }
  if (facts.labels.empty()) {
    doc["metadata"].erase("labels");
  } else {
    doc["metadata"]["labels"] = facts.labels;
  }
  if (facts.ports.empty()) {
    doc["spec"].erase("ports");
  } else {
    doc["spec"]["ports"] = facts.ports;
  }
  if (!facts.service_account.empty()) {
    doc["spec"]["serviceAccountName"] = facts.service_account;
  }
  endpoint.json = doc.dump();
}

std::vector<HostDocument> PodOverlay::pod_changed(const PodName& pod,
                                                  const std::optional<PodFacts>& facts) {
  const auto known = facts_.find(pod);
  if (facts ? known != facts_.end() && known->second == *facts : known == facts_.end()) {
    return {};  // a status change, say: nothing its endpoints show
  }
  if (facts) {
    facts_[pod] = *facts;
  } else {
    facts_.erase(known);
  }
  std::vector<HostDocument> changed;
  if (const auto names = endpoints_.find(pod); names != endpoints_.end()) {
    for (const std::string& name : names->second) {
      HostDocument endpoint = written_.at({pod.first, name}).second;
      if (facts) {
        apply_pod_facts(endpoint, *facts);
      }
      changed.push_back(std::move(endpoint));
    }
  }
  return changed;
}

void PodOverlay::endpoint_seen(HostDocument& endpoint, bool deleted) {
  const std::pair<std::string, std::string> id{endpoint.key.namespace_, endpoint.key.name};
  if (const auto previous = written_.find(id); previous != written_.end()) {
    auto& names = endpoints_[previous->second.first];
    names.erase(endpoint.key.name);
    if (names.empty()) {
      endpoints_.erase(previous->second.first);
    }
    written_.erase(previous);
  }
  const std::optional<PodName> pod = endpoint_pod(endpoint);
  if (!pod) {
    return;
  }
  if (!deleted) {
    endpoints_[*pod].insert(endpoint.key.name);
    written_.emplace(id, std::make_pair(*pod, endpoint));
  }
  if (const auto facts = facts_.find(*pod); facts != facts_.end()) {
    apply_pod_facts(endpoint, facts->second);
  }
}

void PodOverlay::apply(HostDocument& endpoint) const {
  if (const std::optional<PodName> pod = endpoint_pod(endpoint)) {
    if (const auto facts = facts_.find(*pod); facts != facts_.end()) {
      apply_pod_facts(endpoint, facts->second);
    }
  }
}

}  // namespace brindle::kube
