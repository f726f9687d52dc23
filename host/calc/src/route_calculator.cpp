#include "brindle/calc/route_calculator.hpp"

#include <utility>

namespace brindle::calc {

using model::EncapsulationMode;
using model::IpPrefix;

std::string_view to_string(Encap encap) {
  switch (encap) {
    case Encap::none:
      return "none";
    case Encap::ipip:
      return "ipip";
    case Encap::vxlan:
      return "vxlan";
  }
  return "none";
}

NodeInfo NodeInfo::from(const model::Node& node) {
  const model::NodeSpec& s = node.spec;
  return {node.metadata.name,    s.ipv4_address,         s.ipv6_address,
          s.ipip_tunnel_address, s.vxlan_tunnel_address, s.vxlan_tunnel_address_v6,
          s.vxlan_tunnel_mac,    s.vxlan_tunnel_mac_v6};
}

PoolInfo PoolInfo::from(const model::IPPool& pool) {
  const model::IPPoolSpec& s = pool.spec;
  // disableBGPExport is not part of the pool spec yet; blocks are exported.
  return {pool.metadata.name, s.cidr.masked(), s.ipip_mode, s.vxlan_mode,
          s.disabled,         s.nat_outgoing,  false};
}

Encap PoolInfo::encap() const {
  if (vxlan != EncapsulationMode::kNever) {
    return Encap::vxlan;
  }
  if (ipip != EncapsulationMode::kNever) {
    return Encap::ipip;
  }
  return Encap::none;
}

EncapsulationMode PoolInfo::mode() const {
  return vxlan != EncapsulationMode::kNever ? vxlan : ipip;
}

RouteCalculator::RouteCalculator(std::string self_node) : self_(std::move(self_node)) {}

void RouteCalculator::upsert_node(const NodeInfo& node) {
  nodes_[node.name] = node;
}
void RouteCalculator::remove_node(const std::string& name) {
  nodes_.erase(name);
}
void RouteCalculator::upsert_pool(const PoolInfo& pool) {
  pools_[pool.name] = pool;
}
void RouteCalculator::remove_pool(const std::string& name) {
  pools_.erase(name);
}
void RouteCalculator::upsert_affinity(const IpPrefix& block, const std::string& node) {
  affinities_[block.masked()] = node;
}
void RouteCalculator::remove_affinity(const IpPrefix& block) {
  affinities_.erase(block.masked());
}

const NodeInfo* RouteCalculator::node(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<PoolInfo> RouteCalculator::pools() const {
  std::vector<PoolInfo> out;
  for (const auto& [name, p] : pools_) {
    out.push_back(p);
  }
  return out;
}

std::optional<DesiredRoute> RouteCalculator::route_for(const IpPrefix& block,
                                                       const std::string& owner) const {
  // The pool the block lies in (the most specific one if pools nest).
  const PoolInfo* pool = nullptr;
  for (const auto& [name, p] : pools_) {
    if (p.cidr.contains(block) &&
        (pool == nullptr || p.cidr.prefix_length() > pool->cidr.prefix_length())) {
      pool = &p;
    }
  }
  if (pool == nullptr) {
    return std::nullopt;  // blocks outside every pool (pool deleted) are not routed
  }
  DesiredRoute route;
  route.block = block;
  route.node = owner;
  route.pool = pool->name;
  route.no_export = pool->no_export;
  if (owner == self_) {
    route.local = true;
    return route;
  }
  const NodeInfo* remote = node(owner);
  if (remote == nullptr) {
    return std::nullopt;  // the owner is gone: its routes are withdrawn
  }
  route.node_address = block.is_v4() ? remote->ipv4 : remote->ipv6;
  if (!route.node_address) {
    return std::nullopt;  // nothing to route through
  }
  route.encap = pool->encap();
  if (route.encap != Encap::none && pool->mode() == EncapsulationMode::kCrossSubnet) {
    const NodeInfo* me = node(self_);
    const std::optional<IpPrefix>& mine = me == nullptr   ? std::nullopt
                                          : block.is_v4() ? me->ipv4
                                                          : me->ipv6;
    const bool same_subnet = mine && mine->masked().contains(route.node_address->address());
    if (same_subnet) {
      route.encap = Encap::none;
    } else {
      route.cross_subnet = true;
    }
  }
  return route;
}

std::map<IpPrefix, DesiredRoute> RouteCalculator::compute_routes() const {
  std::map<IpPrefix, DesiredRoute> out;
  for (const auto& [block, owner] : affinities_) {
    if (auto r = route_for(block, owner)) {
      out.emplace(block, std::move(*r));
    }
  }
  return out;
}

RouteChanges RouteCalculator::take_route_changes() {
  std::map<IpPrefix, DesiredRoute> now = compute_routes();
  RouteChanges changes;
  for (const auto& [block, route] : now) {
    auto it = emitted_routes_.find(block);
    if (it == emitted_routes_.end() || !(it->second == route)) {
      changes.upserts.push_back(route);
    }
  }
  for (const auto& [block, route] : emitted_routes_) {
    if (now.find(block) == now.end()) {
      changes.removals.push_back(block);
    }
  }
  emitted_routes_ = std::move(now);
  return changes;
}

NodeChanges RouteCalculator::take_node_changes() {
  NodeChanges changes;
  for (const auto& [name, n] : nodes_) {
    if (name == self_) {
      continue;
    }
    auto it = emitted_nodes_.find(name);
    if (it == emitted_nodes_.end() || !(it->second == n)) {
      changes.upserts.push_back(n);
    }
  }
  for (const auto& [name, n] : emitted_nodes_) {
    if (nodes_.find(name) == nodes_.end() || name == self_) {
      changes.removals.push_back(name);
    }
  }
  emitted_nodes_ = nodes_;
  emitted_nodes_.erase(self_);
  return changes;
}

}  // namespace brindle::calc
