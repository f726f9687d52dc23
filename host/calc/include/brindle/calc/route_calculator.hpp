// The routing part of the calculation: from nodes, pools and block affinities to this node's
// desired routes (remote blocks with how to reach them, own blocks to blackhole/advertise) and the
// remote nodes the encapsulation needs state for. Pure computation, no I/O: the agent feeds it
// datastore changes and hands the differences to the routing and encapsulation plugins.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "brindle/model/ip.hpp"
#include "brindle/model/kinds.hpp"

namespace brindle::calc {

enum class Encap { none, ipip, vxlan };
std::string_view to_string(Encap encap);

struct NodeInfo {
  std::string name;
  std::optional<model::IpPrefix> ipv4;  // underlay address with its subnet
  std::optional<model::IpPrefix> ipv6;
  std::optional<model::IpAddress> ipip_tunnel;
  std::optional<model::IpAddress> vxlan_tunnel;
  std::optional<model::IpAddress> vxlan_tunnel_v6;
  std::optional<model::MacAddress> vtep_mac;
  std::optional<model::MacAddress> vtep_mac_v6;
  bool operator==(const NodeInfo&) const = default;

  static NodeInfo from(const model::Node& node);
};

struct PoolInfo {
  std::string name;
  model::IpPrefix cidr;
  model::EncapsulationMode ipip = model::EncapsulationMode::kNever;
  model::EncapsulationMode vxlan = model::EncapsulationMode::kNever;
  bool disabled = false;
  bool nat_outgoing = false;
  bool no_export = false;  // disableBGPExport
  bool operator==(const PoolInfo&) const = default;

  static PoolInfo from(const model::IPPool& pool);
  Encap encap() const;  // the encapsulation the pool asks for (none when both modes are Never)
  model::EncapsulationMode mode() const;
};

struct DesiredRoute {
  model::IpPrefix block;
  std::string node;  // owner
  std::string pool;
  bool local = false;  // this node's own block
  // How packets to the block travel: `encap` is the pool's encapsulation after CrossSubnet was
  // applied (none = a direct route via node_address).
  Encap encap = Encap::none;
  bool cross_subnet = false;  // the pool is CrossSubnet (and this route is encapsulated)
  std::optional<model::IpPrefix> node_address;  // the owner's underlay address of the family
  bool no_export = false;
  bool operator==(const DesiredRoute&) const = default;
};

struct RouteChanges {
  std::vector<DesiredRoute> upserts;
  std::vector<model::IpPrefix> removals;
  bool empty() const { return upserts.empty() && removals.empty(); }
};

struct NodeChanges {
  std::vector<NodeInfo> upserts;  // remote nodes added or changed
  std::vector<std::string> removals;
  bool empty() const { return upserts.empty() && removals.empty(); }
};

class RouteCalculator {
 public:
  explicit RouteCalculator(std::string self_node);

  void upsert_node(const NodeInfo& node);
  void remove_node(const std::string& name);
  void upsert_pool(const PoolInfo& pool);
  void remove_pool(const std::string& name);
  // A confirmed block affinity (pending ones are not routed yet).
  void upsert_affinity(const model::IpPrefix& block, const std::string& node);
  void remove_affinity(const model::IpPrefix& block);

  // Differences since the previous call (the first call returns everything).
  RouteChanges take_route_changes();
  NodeChanges take_node_changes();

  const std::map<model::IpPrefix, DesiredRoute>& desired_routes() const { return emitted_routes_; }
  const std::string& self() const { return self_; }
  const NodeInfo* node(const std::string& name) const;
  std::vector<PoolInfo> pools() const;

 private:
  std::map<model::IpPrefix, DesiredRoute> compute_routes() const;
  std::optional<DesiredRoute> route_for(const model::IpPrefix& block,
                                        const std::string& owner) const;

  std::string self_;
  std::map<std::string, NodeInfo> nodes_;
  std::map<std::string, PoolInfo> pools_;
  std::map<model::IpPrefix, std::string> affinities_;  // block -> node
  std::map<model::IpPrefix, DesiredRoute> emitted_routes_;
  std::map<std::string, NodeInfo> emitted_nodes_;
};

}  // namespace brindle::calc
