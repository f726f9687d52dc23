// NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Profile and
// KubernetesNetworkPolicy.
#include <algorithm>
#include <set>

#include "kind_impl.hpp"
#include "spec_codec.hpp"

namespace brindle::model {

BRINDLE_FIELDS(IcmpMatch) {
  v("type", s.type);
  v("code", s.code);
}

BRINDLE_FIELDS(EntityRule) {
  v("nets", s.nets, kBareAddress);
  v("notNets", s.not_nets, kBareAddress);
  v("selector", s.selector);
  v("notSelector", s.not_selector);
  v("namespaceSelector", s.namespace_selector);
  v("ports", s.ports);
  v("notPorts", s.not_ports);
}

BRINDLE_FIELDS(Rule) {
  v("action", s.action, kRequired);
  v("ipVersion", s.ip_version);
  v("protocol", s.protocol);
  v("notProtocol", s.not_protocol);
  v("icmp", s.icmp);
  v("notICMP", s.not_icmp);
  v("source", s.source);
  v("destination", s.destination);
}

BRINDLE_FIELDS(NetworkPolicySpec) {
  v("order", s.order);
  v("selector", s.selector);
  v("types", s.types);
  v("ingress", s.ingress);
  v("egress", s.egress);
}

BRINDLE_FIELDS(GlobalNetworkPolicySpec) {
  v("order", s.order);
  v("selector", s.selector);
  v("namespaceSelector", s.namespace_selector);
  v("types", s.types);
  v("ingress", s.ingress);
  v("egress", s.egress);
}

BRINDLE_FIELDS(NetworkSetSpec) {
  v("nets", s.nets, kBareAddress);
}

BRINDLE_FIELDS(GlobalNetworkSetSpec) {
  v("nets", s.nets, kBareAddress);
}

BRINDLE_FIELDS(ProfileSpec) {
  v("ingress", s.ingress);
  v("egress", s.egress);
  v("labelsToApply", s.labels_to_apply);
}

BRINDLE_FIELDS(LabelSelectorRequirement) {
  v("key", s.key, kRequired);
  v("operator", s.op, kRequired);
  v("values", s.values);
}

BRINDLE_FIELDS(LabelSelector) {
  v("matchLabels", s.match_labels);
  v("matchExpressions", s.match_expressions);
}

BRINDLE_FIELDS(K8sNetworkPolicyPort) {
  v("protocol", s.protocol);
  v("port", s.port);
  v("endPort", s.end_port);
}

BRINDLE_FIELDS(K8sIPBlock) {
  v("cidr", s.cidr, kRequired);
  v("except", s.except);
}

BRINDLE_FIELDS(K8sNetworkPolicyPeer) {
  v("podSelector", s.pod_selector);
  v("namespaceSelector", s.namespace_selector);
  v("ipBlock", s.ip_block);
}

BRINDLE_FIELDS(K8sNetworkPolicyIngressRule) {
  v("from", s.from);
  v("ports", s.ports);
}

BRINDLE_FIELDS(K8sNetworkPolicyEgressRule) {
  v("to", s.to);
  v("ports", s.ports);
}

BRINDLE_FIELDS(KubernetesNetworkPolicySpec) {
  v("podSelector", s.pod_selector, kRequired | kKeep);
  v("policyTypes", s.policy_types);
  v("ingress", s.ingress);
  v("egress", s.egress);
}

BRINDLE_INSTANTIATE_SPEC_CODEC(NetworkPolicySpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(GlobalNetworkPolicySpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(NetworkSetSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(GlobalNetworkSetSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(ProfileSpec);
BRINDLE_INSTANTIATE_SPEC_CODEC(KubernetesNetworkPolicySpec);

namespace {

constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmpV6 = 58;

void validate_nets(const std::vector<IpPrefix>& nets, const std::optional<int32_t>& ip_version,
                   const std::string& path) {
  for (size_t i = 0; i < nets.size(); ++i) {
    const std::string item = path_index(path, i);
    require_network(nets[i], item);
    if (ip_version && (nets[i].is_v4() ? 4 : 6) != *ip_version) {
      throw ValidationError(item, "\"" + nets[i].to_string() + "\" is " +
                                      std::string(family_name(nets[i].family())) +
                                      " but the rule has ipVersion " + std::to_string(*ip_version));
    }
  }
}

void validate_entity(const EntityRule& e, const Rule& rule, const std::string& path) {
  validate_nets(e.nets, rule.ip_version, path_join(path, "nets"));
  validate_nets(e.not_nets, rule.ip_version, path_join(path, "notNets"));
  validate_selector(e.selector, path_join(path, "selector"));
  validate_selector(e.not_selector, path_join(path, "notSelector"));
  validate_selector(e.namespace_selector, path_join(path, "namespaceSelector"));
  bool ports_allowed = rule.protocol && rule.protocol->has_ports();
  if (!ports_allowed && !e.ports.empty()) {
    throw ValidationError(path_join(path, "ports"),
                          "ports need the rule's protocol to be TCP, UDP, SCTP or UDPLite");
  }
  if (!ports_allowed && !e.not_ports.empty()) {
    throw ValidationError(path_join(path, "notPorts"),
                          "ports need the rule's protocol to be TCP, UDP, SCTP or UDPLite");
  }
}

void validate_icmp(const std::optional<IcmpMatch>& icmp, const Rule& rule,
                   const std::string& path) {
  if (!icmp) {
    return;
  }
  if (!rule.protocol || (rule.protocol->number != kIcmp && rule.protocol->number != kIcmpV6)) {
    throw ValidationError(path, "needs the rule's protocol to be ICMP or ICMPv6");
  }
  if (icmp->type && (*icmp->type < 0 || *icmp->type > 254)) {
    throw ValidationError(path_join(path, "type"), "must be from 0 to 254");
  }
  if (icmp->code) {
    if (!icmp->type) {
      throw ValidationError(path_join(path, "code"), "needs a type as well");
    }
    if (*icmp->code < 0 || *icmp->code > 255) {
      throw ValidationError(path_join(path, "code"), "must be from 0 to 255");
    }
  }
}

void validate_rule(const Rule& rule, const std::string& path) {
  if (rule.ip_version && *rule.ip_version != 4 && *rule.ip_version != 6) {
    throw ValidationError(path_join(path, "ipVersion"), "must be 4 or 6");
  }
  if (rule.protocol && rule.ip_version) {
    if (rule.protocol->number == kIcmp && *rule.ip_version == 6) {
      throw ValidationError(path_join(path, "protocol"),
                            "ICMP cannot be used with ipVersion 6 (use ICMPv6)");
    }
    if (rule.protocol->number == kIcmpV6 && *rule.ip_version == 4) {
      throw ValidationError(path_join(path, "protocol"),
                            "ICMPv6 cannot be used with ipVersion 4 (use ICMP)");
    }
  }
  validate_icmp(rule.icmp, rule, path_join(path, "icmp"));
  validate_icmp(rule.not_icmp, rule, path_join(path, "notICMP"));
  validate_entity(rule.source, rule, path_join(path, "source"));
  validate_entity(rule.destination, rule, path_join(path, "destination"));
}

void validate_rules(const std::vector<Rule>& rules, const std::string& path) {
  for (size_t i = 0; i < rules.size(); ++i) {
    validate_rule(rules[i], path_index(path, i));
  }
}

// Calico's inference: [Egress] if only egress rules exist, both if both exist, else [Ingress].
std::vector<PolicyType> infer_types(const std::vector<Rule>& ingress,
                                    const std::vector<Rule>& egress) {
  if (egress.empty()) {
    return {PolicyType::kIngress};
  }
  if (ingress.empty()) {
    return {PolicyType::kEgress};
  }
  return {PolicyType::kIngress, PolicyType::kEgress};
}

void validate_types(const std::vector<PolicyType>& types, const std::string& path) {
  for (size_t i = 1; i < types.size(); ++i) {
    if (std::find(types.begin(), types.begin() + static_cast<ptrdiff_t>(i), types[i]) !=
        types.begin() + static_cast<ptrdiff_t>(i)) {
      throw ValidationError(path_index(path, i),
                            std::string(to_string(types[i])) + " is listed twice");
    }
  }
}

template <class PolicySpec>
void validate_policy(const PolicySpec& s) {
  validate_selector(s.selector, spec_path("selector"));
  validate_types(s.types, spec_path("types"));
  auto has = [&](PolicyType t) {
    return std::find(s.types.begin(), s.types.end(), t) != s.types.end();
  };
  if (!s.ingress.empty() && !has(PolicyType::kIngress)) {
    throw ValidationError(spec_path("ingress"),
                          "there are ingress rules but spec.types does not include Ingress");
  }
  if (!s.egress.empty() && !has(PolicyType::kEgress)) {
    throw ValidationError(spec_path("egress"),
                          "there are egress rules but spec.types does not include Egress");
  }
  validate_rules(s.ingress, spec_path("ingress"));
  validate_rules(s.egress, spec_path("egress"));
}

template <class PolicySpec>
void default_policy(PolicySpec& s) {
  if (s.selector.empty()) {
    s.selector = "all()";
  }
  if (s.types.empty()) {
    s.types = infer_types(s.ingress, s.egress);
  }
}

void validate_set_nets(const std::vector<IpPrefix>& nets) {
  for (size_t i = 0; i < nets.size(); ++i) {
    require_network(nets[i], path_index(spec_path("nets"), i));
  }
}

}  // namespace

// ---- NetworkPolicy / GlobalNetworkPolicy ---------------------------------------------------

void default_spec(const ObjectMeta&, NetworkPolicySpec& s) {
  default_policy(s);
}
void validate_spec(const ObjectMeta&, const NetworkPolicySpec& s) {
  validate_policy(s);
}

void default_spec(const ObjectMeta&, GlobalNetworkPolicySpec& s) {
  default_policy(s);
}
void validate_spec(const ObjectMeta&, const GlobalNetworkPolicySpec& s) {
  validate_selector(s.namespace_selector, spec_path("namespaceSelector"));
  validate_policy(s);
}

// ---- NetworkSet / GlobalNetworkSet ---------------------------------------------------------

void default_spec(const ObjectMeta&, NetworkSetSpec&) {}
void validate_spec(const ObjectMeta&, const NetworkSetSpec& s) {
  validate_set_nets(s.nets);
}

void default_spec(const ObjectMeta&, GlobalNetworkSetSpec&) {}
void validate_spec(const ObjectMeta&, const GlobalNetworkSetSpec& s) {
  validate_set_nets(s.nets);
}

// ---- Profile -------------------------------------------------------------------------------

void default_spec(const ObjectMeta&, ProfileSpec&) {}
void validate_spec(const ObjectMeta&, const ProfileSpec& s) {
  validate_rules(s.ingress, spec_path("ingress"));
  validate_rules(s.egress, spec_path("egress"));
  validate_labels(s.labels_to_apply, spec_path("labelsToApply"));
}

// ---- KubernetesNetworkPolicy ---------------------------------------------------------------

namespace {

void validate_label_selector(const LabelSelector& selector, const std::string& path) {
  validate_labels(selector.match_labels, path_join(path, "matchLabels"));
  for (size_t i = 0; i < selector.match_expressions.size(); ++i) {
    const auto& req = selector.match_expressions[i];
    const std::string item = path_index(path_join(path, "matchExpressions"), i);
    if (std::string why = check_label_key(req.key); !why.empty()) {
      throw ValidationError(path_join(item, "key"), "invalid label key: " + why);
    }
    if (req.op == "In" || req.op == "NotIn") {
      if (req.values.empty()) {
        throw ValidationError(path_join(item, "values"),
                              "must not be empty when the operator is " + req.op);
      }
    } else if (req.op == "Exists" || req.op == "DoesNotExist") {
      if (!req.values.empty()) {
        throw ValidationError(path_join(item, "values"),
                              "must be empty when the operator is " + req.op);
      }
    } else {
      throw ValidationError(
          path_join(item, "operator"),
          "must be one of In, NotIn, Exists or DoesNotExist, got \"" + req.op + "\"");
    }
    for (size_t j = 0; j < req.values.size(); ++j) {
      if (std::string why = check_label_value(req.values[j]); !why.empty()) {
        throw ValidationError(path_index(path_join(item, "values"), j),
                              "invalid label value: " + why);
      }
    }
  }
}

void validate_ports(const std::vector<K8sNetworkPolicyPort>& ports, const std::string& path) {
  for (size_t i = 0; i < ports.size(); ++i) {
    const auto& p = ports[i];
    const std::string item = path_index(path, i);
    const int32_t* number = p.port ? std::get_if<int32_t>(&*p.port) : nullptr;
    if (number && (*number < 1 || *number > 65535)) {
      throw ValidationError(path_join(item, "port"), "must be from 1 to 65535");
    }
    if (p.port && !number) {
      const auto& name = std::get<std::string>(*p.port);
      if (std::string why = check_port_name(name); !why.empty()) {
        throw ValidationError(path_join(item, "port"),
                              "\"" + name + "\" is not a valid port name: " + why);
      }
    }
    if (p.end_port) {
      if (!number) {
        throw ValidationError(path_join(item, "endPort"),
                              "needs a numeric port (endPort cannot follow a named port)");
      }
      if (*p.end_port < *number || *p.end_port > 65535) {
        throw ValidationError(path_join(item, "endPort"),
                              "must be from port (" + std::to_string(*number) + ") to 65535");
      }
    }
  }
}

void validate_peers(const std::vector<K8sNetworkPolicyPeer>& peers, const std::string& path) {
  for (size_t i = 0; i < peers.size(); ++i) {
    const auto& peer = peers[i];
    const std::string item = path_index(path, i);
    bool selectors = peer.pod_selector || peer.namespace_selector;
    if (!selectors && !peer.ip_block) {
      throw ValidationError(item, "must set podSelector, namespaceSelector or ipBlock");
    }
    if (selectors && peer.ip_block) {
      throw ValidationError(path_join(item, "ipBlock"),
                            "cannot be combined with podSelector or namespaceSelector");
    }
    if (peer.pod_selector) {
      validate_label_selector(*peer.pod_selector, path_join(item, "podSelector"));
    }
    if (peer.namespace_selector) {
      validate_label_selector(*peer.namespace_selector, path_join(item, "namespaceSelector"));
    }
    if (peer.ip_block) {
      const auto& block = *peer.ip_block;
      const std::string block_path = path_join(item, "ipBlock");
      for (size_t j = 0; j < block.except.size(); ++j) {
        const IpPrefix& except = block.except[j];
        if (!block.cidr.contains(except) || except.prefix_length() == block.cidr.prefix_length()) {
          throw ValidationError(path_index(path_join(block_path, "except"), j),
                                "\"" + except.to_string() + "\" must lie strictly inside cidr " +
                                    block.cidr.to_string());
        }
      }
    }
  }
}

void mask_peers(std::vector<K8sNetworkPolicyPeer>& peers) {
  for (auto& peer : peers) {
    if (!peer.ip_block) {
      continue;
    }
    peer.ip_block->cidr = peer.ip_block->cidr.masked();
    for (auto& except : peer.ip_block->except) {
      except = except.masked();
    }
  }
}

}  // namespace

void default_spec(const ObjectMeta&, KubernetesNetworkPolicySpec& s) {
  // As the API server does: Ingress always, Egress when there are egress rules.
  if (s.policy_types.empty()) {
    s.policy_types.push_back(PolicyType::kIngress);
    if (!s.egress.empty()) {
      s.policy_types.push_back(PolicyType::kEgress);
    }
  }
  // Host bits in ipBlock CIDRs are accepted and masked (upstream behaviour).
  for (auto& rule : s.ingress) {
    mask_peers(rule.from);
  }
  for (auto& rule : s.egress) {
    mask_peers(rule.to);
  }
}

void validate_spec(const ObjectMeta&, const KubernetesNetworkPolicySpec& s) {
  validate_label_selector(s.pod_selector, spec_path("podSelector"));
  validate_types(s.policy_types, spec_path("policyTypes"));
  for (size_t i = 0; i < s.ingress.size(); ++i) {
    const std::string item = path_index(spec_path("ingress"), i);
    validate_peers(s.ingress[i].from, path_join(item, "from"));
    validate_ports(s.ingress[i].ports, path_join(item, "ports"));
  }
  for (size_t i = 0; i < s.egress.size(); ++i) {
    const std::string item = path_index(spec_path("egress"), i);
    validate_peers(s.egress[i].to, path_join(item, "to"));
    validate_ports(s.egress[i].ports, path_join(item, "ports"));
  }
}

}  // namespace brindle::model
