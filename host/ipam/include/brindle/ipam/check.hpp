// Consistency check of IPAM state against the endpoints and nodes that should own it
// (`brindlectl ipam check`, and the agent's garbage collection).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "brindle/ipam/store.hpp"
#include "brindle/model/ip.hpp"

namespace brindle::ipam {

struct AddressRecord {
  model::IpAddress address;
  std::string handle_id;
  std::map<std::string, std::string> attributes;
};

struct CheckReport {
  uint64_t allocated = 0;  // addresses allocated in blocks
  uint64_t handles = 0;    // IPAMHandle resources
  // Allocated, but no WorkloadEndpoint has the address (or, for tunnel addresses, no Node).
  std::vector<AddressRecord> leaked;
  // Handles that hold no address in any block.
  std::vector<std::string> handles_without_addresses;
  // Allocated under a handle that has no IPAMHandle resource.
  std::vector<AddressRecord> addresses_without_handles;

  bool clean() const {
    return leaked.empty() && handles_without_addresses.empty() && addresses_without_handles.empty();
  }
  nlohmann::json to_json() const;
  static CheckReport from_json(const nlohmann::json& json);  // throws std::invalid_argument
};

// Handle ids of tunnel addresses: "<kind>-tunnel-addr-<node>".
bool is_tunnel_handle(const std::string& handle_id, std::string* node = nullptr);

CheckReport check(const Store& store);

}  // namespace brindle::ipam
