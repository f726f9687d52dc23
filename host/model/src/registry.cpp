#include "brindle/model/registry.hpp"

#include <algorithm>
#include <numeric>

#include "brindle/model/kinds.hpp"
#include "codec.hpp"

namespace brindle::model {

namespace {

template <class Spec>
void normalize(Resource& resource) {
  resource = encode(decode<Spec>(resource));
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += sep;
    }
    out += items[i];
  }
  return out;
}

std::string or_dash(const std::string& text) {
  return text.empty() ? "-" : text;
}

std::string prefixes(const std::vector<IpPrefix>& nets, size_t max_shown = 3) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < nets.size() && i < max_shown; ++i) {
    shown.push_back(nets[i].to_string());
  }
  std::string out = join(shown, ",");
  if (nets.size() > max_shown) {
    out += ",+" + std::to_string(nets.size() - max_shown) + " more";
  }
  return or_dash(out);
}

std::string types_text(const std::vector<PolicyType>& types) {
  std::vector<std::string> names;
  for (auto t : types) {
    names.emplace_back(to_string(t));
  }
  return or_dash(join(names, ","));
}

std::string order_text(const std::optional<double>& order) {
  if (!order) {
    return "-";
  }
  return encode_value(*order).dump();
}

std::string bool_text(bool b) {
  return b ? "true" : "false";
}

// kubectl's rendering of a LabelSelector: "app=web,tier in (a,b)", "<none>" when empty.
std::string label_selector_text(const LabelSelector& s) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : s.match_labels) {
    parts.push_back(k + "=" + v);
  }
  for (const auto& e : s.match_expressions) {
    if (e.op == "In") {
      parts.push_back(e.key + " in (" + join(e.values, ",") + ")");
    } else if (e.op == "NotIn") {
      parts.push_back(e.key + " notin (" + join(e.values, ",") + ")");
    } else if (e.op == "Exists") {
      parts.push_back(e.key);
    } else {
      parts.push_back("!" + e.key);
    }
  }
  return parts.empty() ? "<none>" : join(parts, ",");
}

// Builds a row function that decodes the spec (without validation) and formats its cells.
template <class Spec, class Format>
std::function<std::vector<std::string>(const Resource&)> rows(size_t columns, Format format) {
  return [columns, format](const Resource& r) {
    std::vector<std::string> cells;
    try {
      cells = format(r, spec_from_json<Spec>(r.spec, "spec"));
    } catch (const std::exception&) {
      cells.assign(columns, "<invalid>");
      cells[0] = r.metadata.name;
    }
    cells.resize(columns);
    return cells;
  };
}

template <class Spec>
KindInfo make_kind(std::vector<std::string_view> aliases, std::vector<Column> columns,
                   std::function<std::vector<std::string>(const Resource&)> row) {
  KindInfo k;
  k.kind = Spec::kKind;
  k.namespaced = Spec::kNamespaced;
  k.aliases = std::move(aliases);
  k.validate_and_default = &normalize<Spec>;
  k.columns = std::move(columns);
  k.row = std::move(row);
  return k;
}

std::vector<KindInfo> build_kinds() {
  std::vector<KindInfo> kinds;

  kinds.push_back(make_kind<IPPoolSpec>(
      {"ippool", "ippools", "pool", "pools"},
      {{"NAME"},
       {"CIDR"},
       {"NAT", true},
       {"IPIPMODE", true},
       {"VXLANMODE", true},
       {"DISABLED", true},
       {"BLOCKSIZE", true},
       {"SELECTOR"}},
      rows<IPPoolSpec>(8, [](const Resource& r, const IPPoolSpec& s) {
        int block = s.block_size != 0 ? s.block_size : (s.cidr.is_v4() ? 26 : 122);
        return std::vector<std::string>{r.metadata.name,
                                        s.cidr.to_string(),
                                        bool_text(s.nat_outgoing),
                                        std::string(to_string(s.ipip_mode)),
                                        std::string(to_string(s.vxlan_mode)),
                                        bool_text(s.disabled),
                                        std::to_string(block),
                                        s.node_selector.empty() ? "all()" : s.node_selector};
      })));

  kinds.push_back(make_kind<IPAMConfigSpec>(
      {"ipamconfig", "ipamconfigs", "ipamconfiguration", "ipamconfigurations"},
      {{"NAME"}, {"STRICTAFFINITY"}, {"AUTOALLOCATEBLOCKS"}, {"MAXBLOCKSPERHOST"}},
      rows<IPAMConfigSpec>(4, [](const Resource& r, const IPAMConfigSpec& s) {
        return std::vector<std::string>{r.metadata.name, bool_text(s.strict_affinity),
                                        bool_text(s.auto_allocate_blocks),
                                        std::to_string(s.max_blocks_per_host)};
      })));

  kinds.push_back(make_kind<IPAMBlockSpec>(
      {"ipamblock", "ipamblocks", "block", "blocks"},
      {{"NAME"}, {"CIDR"}, {"AFFINITY"}, {"IPS IN USE", true}, {"IPS FREE", true}},
      rows<IPAMBlockSpec>(5, [](const Resource& r, const IPAMBlockSpec& s) {
        auto used = std::count_if(s.allocations.begin(), s.allocations.end(),
                                  [](const auto& a) { return a.has_value(); });
        return std::vector<std::string>{r.metadata.name, s.cidr.to_string(), or_dash(s.affinity),
                                        std::to_string(used), std::to_string(s.unallocated.size())};
      })));

  kinds.push_back(make_kind<BlockAffinitySpec>(
      {"blockaffinity", "blockaffinities", "affinity", "affinities"},
      {{"NAME"}, {"NODE"}, {"CIDR"}, {"STATE"}},
      rows<BlockAffinitySpec>(4, [](const Resource& r, const BlockAffinitySpec& s) {
        return std::vector<std::string>{r.metadata.name, s.node, s.cidr.to_string(),
                                        std::string(to_string(s.state))};
      })));

  kinds.push_back(make_kind<IPAMHandleSpec>(
      {"ipamhandle", "ipamhandles", "handle", "handles"},
      {{"NAME"}, {"HANDLEID"}, {"ADDRESSES"}, {"BLOCKS", true}},
      rows<IPAMHandleSpec>(4, [](const Resource& r, const IPAMHandleSpec& s) {
        int64_t total = 0;
        std::vector<std::string> blocks;
        for (const auto& [cidr, count] : s.block) {
          total += count;
          blocks.push_back(cidr);
        }
        return std::vector<std::string>{r.metadata.name, s.handle_id, std::to_string(total),
                                        or_dash(join(blocks, ","))};
      })));

  kinds.push_back(make_kind<NodeSpec>(
      {"node", "nodes", "no"}, {{"NAME"}, {"ASN", true}, {"IPV4", true}, {"IPV6", true}},
      rows<NodeSpec>(4, [](const Resource& r, const NodeSpec& s) {
        std::string asn = s.bgp && s.bgp->as_number ? std::to_string(*s.bgp->as_number) : "-";
        return std::vector<std::string>{r.metadata.name, asn,
                                        s.ipv4_address ? s.ipv4_address->to_string() : "-",
                                        s.ipv6_address ? s.ipv6_address->to_string() : "-"};
      })));

  kinds.push_back(make_kind<WorkloadEndpointSpec>(
      {"workloadendpoint", "workloadendpoints", "wep", "weps"},
      {{"NAME"}, {"WORKLOAD"}, {"NODE"}, {"NETWORKS"}, {"INTERFACE"}, {"PROFILES", true}},
      rows<WorkloadEndpointSpec>(6, [](const Resource& r, const WorkloadEndpointSpec& s) {
        return std::vector<std::string>{r.metadata.name,
                                        s.pod,
                                        s.node,
                                        prefixes(s.ip_networks),
                                        or_dash(s.interface_name),
                                        or_dash(join(s.profiles, ","))};
      })));

  kinds.push_back(make_kind<NetworkPolicySpec>(
      {"networkpolicy", "networkpolicies", "policy", "policies", "np"},
      {{"NAME"}, {"ORDER"}, {"SELECTOR"}, {"TYPES", true}},
      rows<NetworkPolicySpec>(4, [](const Resource& r, const NetworkPolicySpec& s) {
        return std::vector<std::string>{r.metadata.name, order_text(s.order),
                                        s.selector.empty() ? "all()" : s.selector,
                                        types_text(s.types)};
      })));

  kinds.push_back(make_kind<GlobalNetworkPolicySpec>(
      {"globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"},
      {{"NAME"}, {"ORDER"}, {"SELECTOR"}, {"TYPES", true}, {"NAMESPACESELECTOR", true}},
      rows<GlobalNetworkPolicySpec>(5, [](const Resource& r, const GlobalNetworkPolicySpec& s) {
        return std::vector<std::string>{r.metadata.name, order_text(s.order),
                                        s.selector.empty() ? "all()" : s.selector,
                                        types_text(s.types), or_dash(s.namespace_selector)};
      })));

  kinds.push_back(make_kind<NetworkSetSpec>(
      {"networkset", "networksets", "netset", "netsets"}, {{"NAME"}, {"NETS"}},
      rows<NetworkSetSpec>(2, [](const Resource& r, const NetworkSetSpec& s) {
        return std::vector<std::string>{r.metadata.name, prefixes(s.nets)};
      })));

  kinds.push_back(make_kind<GlobalNetworkSetSpec>(
      {"globalnetworkset", "globalnetworksets", "gns"}, {{"NAME"}, {"NETS"}},
      rows<GlobalNetworkSetSpec>(2, [](const Resource& r, const GlobalNetworkSetSpec& s) {
        return std::vector<std::string>{r.metadata.name, prefixes(s.nets)};
      })));

  kinds.push_back(make_kind<ProfileSpec>(
      {"profile", "profiles", "pro"}, {{"NAME"}, {"INGRESS RULES", true}, {"EGRESS RULES", true}},
      rows<ProfileSpec>(3, [](const Resource& r, const ProfileSpec& s) {
        return std::vector<std::string>{r.metadata.name, std::to_string(s.ingress.size()),
                                        std::to_string(s.egress.size())};
      })));

  kinds.push_back(make_kind<KubernetesNetworkPolicySpec>(
      {"kubernetesnetworkpolicy", "kubernetesnetworkpolicies", "knp", "k8snetworkpolicy",
       "k8snetworkpolicies"},
      {{"NAME"}, {"POD-SELECTOR"}, {"POLICY-TYPES", true}},
      rows<KubernetesNetworkPolicySpec>(
          3, [](const Resource& r, const KubernetesNetworkPolicySpec& s) {
            return std::vector<std::string>{r.metadata.name, label_selector_text(s.pod_selector),
                                            types_text(s.policy_types)};
          })));

  kinds.push_back(make_kind<BGPConfigurationSpec>(
      {"bgpconfiguration", "bgpconfigurations", "bgpconfig", "bgpconfigs"},
      {{"NAME"}, {"MESHENABLED"}, {"ASNUMBER"}, {"LISTENPORT", true}},
      rows<BGPConfigurationSpec>(4, [](const Resource& r, const BGPConfigurationSpec& s) {
        return std::vector<std::string>{
            r.metadata.name,
            s.node_to_node_mesh_enabled ? bool_text(*s.node_to_node_mesh_enabled) : "-",
            s.as_number ? std::to_string(*s.as_number) : "-",
            s.listen_port ? std::to_string(*s.listen_port) : "-"};
      })));

  kinds.push_back(make_kind<BGPPeerSpec>(
      {"bgppeer", "bgppeers", "peer", "peers"}, {{"NAME"}, {"PEERIP"}, {"NODE"}, {"ASN"}},
      rows<BGPPeerSpec>(4, [](const Resource& r, const BGPPeerSpec& s) {
        std::string peer = s.peer_ip ? s.peer_ip->to_string() : "(" + s.peer_selector + ")";
        std::string node = !s.node.empty()            ? s.node
                           : !s.node_selector.empty() ? "(" + s.node_selector + ")"
                                                      : "(global)";
        return std::vector<std::string>{r.metadata.name, peer, node,
                                        s.as_number ? std::to_string(*s.as_number) : "-"};
      })));

  kinds.push_back(make_kind<AgentConfigurationSpec>(
      {"agentconfiguration", "agentconfigurations", "agentconfig", "agentconfigs"},
      {{"NAME"}, {"LOGLEVEL"}, {"MTU", true}},
      rows<AgentConfigurationSpec>(3, [](const Resource& r, const AgentConfigurationSpec& s) {
        return std::vector<std::string>{r.metadata.name,
                                        s.log_level ? std::string(to_string(*s.log_level)) : "-",
                                        s.mtu ? std::to_string(*s.mtu) : "-"};
      })));

  return kinds;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

const std::vector<KindInfo>& all_kinds() {
  static const std::vector<KindInfo> kKinds = build_kinds();
  return kKinds;
}

const KindInfo* find_kind(std::string_view name) {
  for (const auto& k : all_kinds()) {
    if (iequals(k.kind, name)) {
      return &k;
    }
  }
  for (const auto& k : all_kinds()) {
    for (auto alias : k.aliases) {
      if (iequals(alias, name)) {
        return &k;
      }
    }
  }
  return nullptr;
}

std::string render_table(const KindInfo& kind, const std::vector<Resource>& resources, bool wide,
                         bool with_namespace) {
  with_namespace = with_namespace && kind.namespaced;
  std::vector<size_t> shown;
  for (size_t i = 0; i < kind.columns.size(); ++i) {
    if (wide || !kind.columns[i].wide_only) {
      shown.push_back(i);
    }
  }
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> header;
  if (with_namespace) {
    header.emplace_back("NAMESPACE");
  }
  for (size_t i : shown) {
    header.emplace_back(kind.columns[i].header);
  }
  table.push_back(std::move(header));
  for (const auto& r : resources) {
    std::vector<std::string> cells = kind.row(r);
    std::vector<std::string> line;
    if (with_namespace) {
      line.push_back(r.metadata.namespace_);
    }
    for (size_t i : shown) {
      line.push_back(i < cells.size() ? cells[i] : "");
    }
    table.push_back(std::move(line));
  }
  std::vector<size_t> widths(table[0].size(), 0);
  for (const auto& line : table) {
    for (size_t c = 0; c < line.size(); ++c) {
      widths[c] = std::max(widths[c], line[c].size());
    }
  }
  std::string out;
  for (const auto& line : table) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) {
        text += std::string(widths[c] - line[c].size() + 3, ' ');
      }
    }
    out += text + "\n";
  }
  return out;
}

}  // namespace brindle::model
