#include "brindle/ipam/check.hpp"

#include <set>
#include <stdexcept>

namespace brindle::ipam {

namespace {

nlohmann::json record_json(const AddressRecord& r) {
  return {{"ip", r.address.to_string()}, {"handle", r.handle_id}, {"attributes", r.attributes}};
}

AddressRecord record_from(const nlohmann::json& j) {
  AddressRecord r;
  r.address = model::IpAddress::parse(j.at("ip").get<std::string>());
  r.handle_id = j.value("handle", "");
  if (j.contains("attributes")) {
    r.attributes = j.at("attributes").get<std::map<std::string, std::string>>();
  }
  return r;
}

}  // namespace

bool is_tunnel_handle(const std::string& handle_id, std::string* node) {
  for (const char* prefix : {"ipip-tunnel-addr-", "vxlan-tunnel-addr-", "vxlan-v6-tunnel-addr-"}) {
    const std::string p(prefix);
    if (handle_id.rfind(p, 0) == 0) {
      if (node != nullptr) {
        *node = handle_id.substr(p.size());
      }
      return true;
    }
  }
  return false;
}

nlohmann::json CheckReport::to_json() const {
  nlohmann::json j;
  j["allocated"] = allocated;
  j["handles"] = handles;
  j["leakedAddresses"] = nlohmann::json::array();
  for (const auto& r : leaked) {
    j["leakedAddresses"].push_back(record_json(r));
  }
  j["handlesWithoutAddresses"] = handles_without_addresses;
  j["addressesWithoutHandles"] = nlohmann::json::array();
  for (const auto& r : addresses_without_handles) {
    j["addressesWithoutHandles"].push_back(record_json(r));
  }
  return j;
}

CheckReport CheckReport::from_json(const nlohmann::json& j) {
  try {
    CheckReport r;
    r.allocated = j.value("allocated", uint64_t{0});
    r.handles = j.value("handles", uint64_t{0});
    for (const auto& x : j.at("leakedAddresses")) {
      r.leaked.push_back(record_from(x));
    }
    r.handles_without_addresses = j.at("handlesWithoutAddresses").get<std::vector<std::string>>();
    for (const auto& x : j.at("addressesWithoutHandles")) {
      r.addresses_without_handles.push_back(record_from(x));
    }
    return r;
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("not an ipam check report: ") + e.what());
  }
}

CheckReport check(const Store& store) {
  CheckReport report;
  std::set<model::IpAddress> endpoint_addresses;
  for (const auto& wep : store.list<model::WorkloadEndpointSpec>()) {
    for (const auto& net : wep.doc.spec.ip_networks) {
      endpoint_addresses.insert(net.address());
    }
  }
  std::set<std::string> nodes;
  for (const auto& n : store.list<model::NodeSpec>()) {
    nodes.insert(n.doc.metadata.name);
  }
  std::set<std::string> handle_ids;
  const auto handles = store.list<model::IPAMHandleSpec>();
  for (const auto& h : handles) {
    handle_ids.insert(h.doc.spec.handle_id);
  }
  report.handles = handles.size();

  std::set<std::string> handles_in_use;
  for (const auto& b : store.list<model::IPAMBlockSpec>()) {
    const auto& spec = b.doc.spec;
    const model::IpPrefix block = spec.cidr.masked();
    for (size_t o = 0; o < spec.allocations.size(); ++o) {
      if (!spec.allocations[o]) {
        continue;
      }
      ++report.allocated;
      const auto& attribute = spec.attributes.at(static_cast<size_t>(*spec.allocations[o]));
      AddressRecord record{*block.address_at(o), attribute.handle_id, attribute.secondary};
      handles_in_use.insert(attribute.handle_id);
      if (handle_ids.count(attribute.handle_id) == 0) {
        report.addresses_without_handles.push_back(record);
      }
      std::string tunnel_node;
      const bool owned = is_tunnel_handle(attribute.handle_id, &tunnel_node)
                             ? nodes.count(tunnel_node) != 0
                             : endpoint_addresses.count(record.address) != 0;
      if (!owned) {
        report.leaked.push_back(std::move(record));
      }
    }
  }
  for (const auto& id : handle_ids) {
    if (handles_in_use.count(id) == 0) {
      report.handles_without_addresses.push_back(id);
    }
  }
  return report;
}

}  // namespace brindle::ipam
