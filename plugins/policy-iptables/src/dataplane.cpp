// Reconciliation of the policy model with the kernel: see dataplane.hpp.
#include "dataplane.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <memory>

namespace brindle::policy_iptables {
namespace {

// A dispatch chain lists at most this many interfaces; beyond, it splits them by the next
// character of their names into child chains (so a packet passes O(log n) rules, not O(n)).
constexpr size_t kDispatchLeafSize = 64;

bool ours(const std::string& name) {
  return name.rfind(kPrefix, 0) == 0;
}

ipset::SetType set_type(brindle_ipset_type_t type) {
  return type == BRINDLE_IPSET_NET_PORT ? ipset::SetType::kNetPort : ipset::SetType::kNet;
}

using policy_model::normal_kind;

void validate_rules(const Policy& policy, const std::vector<Rule>& rules, const char* direction) {
  for (const Rule& r : rules) {
    policy_model::check_rule(r, "policy " + policy.id + " " + direction + " rule " + r.id);
  }
}

// The built-in chains of a table that may hold our jump.
const std::vector<std::string>& builtin_chains(const std::string& table) {
  static const std::vector<std::string> kFilter{"INPUT", "FORWARD", "OUTPUT"};
  static const std::vector<std::string> kNat{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"};
  return table == "nat" ? kNat : kFilter;
}

std::string family_text(xt::Family family) {
  return std::to_string(static_cast<int>(family));
}

size_t family_index(xt::Family family) {
  return family == xt::Family::kV4 ? 0 : 1;
}

// Resolves set names to kernel indexes once per table.
xt::SetIndexResolver caching_resolver() {
  auto indexes = std::make_shared<std::map<std::string, uint16_t>>();
  return [indexes](const std::string& set) {
    const auto it = indexes->find(set);
    return it != indexes->end() ? it->second : (*indexes)[set] = ipset::kernel_index(set);
  };
}

// Queues a set's new content built aside under a temporary name and swapped in atomically.
void queue_swap_in(ipset::Session& session, const std::string& name, const ipset::SetHeader& header,
                   const std::set<std::string>& members) {
  const std::string temporary = temporary_set_name(name);
  session.create(temporary, header);
  session.flush(temporary);  // in case an earlier failed batch left one
  for (const std::string& m : members) {
    session.add(temporary, m);
  }
  session.swap(temporary, name);
  session.destroy(temporary);
}

}  // namespace

Dataplane::Dataplane(Host host, Options options)
    : host_(host),
      options_(options),
      view_{globals_,
            [this](const std::string& id) -> const SetInfo* {
              const auto it = sets_.find(id);
              return it == sets_.end() ? nullptr : &it->second.info;
            },
            [this](brindle_policy_kind_t kind, const std::string& id) {
              return (kind == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_).contains(id);
            }},
      applies_(host.counter("applies_total", "apply() calls")),
      commits_(host.counter("table_commits_total", "iptables table commits (one per table)")),
      repairs_(host.counter("repairs_total", "chains or sets refresh() found tampered")) {}

std::vector<xt::Family> Dataplane::families() const {
  if (options_.ipv6) {
    return {xt::Family::kV4, xt::Family::kV6};
  }
  return {xt::Family::kV4};
}

const Policy* Dataplane::find_policy(const PolicyKey& key) const {
  const auto& map = key.first == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_;
  const auto it = map.find(key.second);
  return it == map.end() ? nullptr : &it->second;
}

std::set<std::string> Dataplane::referenced_sets(const Policy& policy) {
  std::set<std::string> out;
  for (const auto* rules : {&policy.ingress, &policy.egress}) {
    for (const Rule& r : *rules) {
      for (const RuleMatch* m : {&r.source, &r.destination}) {
        out.insert(m->ipsets.begin(), m->ipsets.end());
        out.insert(m->not_ipsets.begin(), m->not_ipsets.end());
        out.insert(m->named_port_ipsets.begin(), m->named_port_ipsets.end());
      }
    }
  }
  return out;
}

// ---- model changes ------------------------------------------------------------------------------

void Dataplane::set_globals(const PolicyGlobals& globals) {
  if (globals.interface_prefix.size() >= 15) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "interface_prefix \"" + globals.interface_prefix + "\" is too long");
  }
  globals_ = globals;
  full_ = true;  // every chain depends on the globals
}

std::vector<ipset::Member> Dataplane::set_members(const ModelSet& set,
                                                  const std::vector<IpSetMember>& members) {
  std::vector<ipset::Member> out;
  out.reserve(members.size());
  for (const IpSetMember& m : members) {
    if (m.net.family() != set.info.family) {
      throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "ipset member " + m.net.to_string() +
                                                    " is not of the set's family IPv" +
                                                    std::to_string(set.info.family));
    }
    for (const ipset::Member& member :
         ipset::members_of(m.net, set.info.type, m.protocol, m.port)) {
      out.push_back(member);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::set<std::string> Dataplane::member_texts(const ModelSet& set) {
  std::set<std::string> out;
  for (const ipset::Member& m : set.members) {
    out.insert(ipset::member_text(m, set.info.family, set.info.type));
  }
  return out;
}

namespace {

// Sorted-vector insert and erase; true when the vector changed. Growth is by an eighth: the
// vectors are long-lived and most changes are one member.
bool insert_sorted(std::vector<ipset::Member>& v, const ipset::Member& m) {
  const auto at = std::lower_bound(v.begin(), v.end(), m);
  if (at != v.end() && *at == m) {
    return false;
  }
  const size_t index = static_cast<size_t>(at - v.begin());
  if (v.size() == v.capacity()) {
    v.reserve(v.size() + v.size() / 8 + 4);
  }
  v.insert(v.begin() + static_cast<std::ptrdiff_t>(index), m);
  return true;
}

bool erase_sorted(std::vector<ipset::Member>& v, const ipset::Member& m) {
  const auto at = std::lower_bound(v.begin(), v.end(), m);
  if (at == v.end() || *at != m) {
    return false;
  }
  v.erase(at);
  return true;
}

}  // namespace

void Dataplane::upsert_ipset(const IpSet& set) {
  if (set.id.empty()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "ipset id is empty");
  }
  if (set.family != 4 && set.family != 6) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT,
                "ipset " + set.id + ": family must be 4 or 6, got " + std::to_string(set.family));
  }
  ModelSet next;
  next.info = {set_kernel_name(set.id), set_type(set.type), set.family};
  next.members = set_members(next, set.members);
  const std::string name = next.info.kernel_name;
  const auto it = sets_.find(set.id);
  if (it == sets_.end() || it->second.info != next.info) {
    // Rules naming it render differently once it exists (or has another family or type).
    if (const auto users = set_users_.find(set.id); users != set_users_.end()) {
      dirty_policies_.insert(users->second.begin(), users->second.end());
    }
  }
  if (it != sets_.end() && it->second.members != next.members) {
    known_sets_.erase(name);  // rebuilt aside and swapped in at apply()
    set_deltas_.erase(name);
  }
  set_ids_[name] = set.id;
  dirty_sets_.insert(name);
  sets_[set.id] = std::move(next);
}

void Dataplane::update_ipset_members(std::string_view id, const std::vector<IpSetMember>& added,
                                     const std::vector<IpSetMember>& removed) {
  const auto it = sets_.find(std::string(id));
  if (it == sets_.end()) {
    throw Error(BRINDLE_ERR_NOT_FOUND, "ipset " + std::string(id) + " is not known");
  }
  // Both are validated before either is applied.
  const std::vector<ipset::Member> to_add = set_members(it->second, added);
  const std::vector<ipset::Member> to_remove = set_members(it->second, removed);
  ModelSet& set = it->second;
  SetDelta& delta = set_deltas_[set.info.kernel_name];
  for (const ipset::Member& m : to_remove) {
    if (erase_sorted(set.members, m) && delta.added.erase(m) == 0) {
      delta.removed.insert(m);
    }
  }
  for (const ipset::Member& m : to_add) {
    if (insert_sorted(set.members, m) && delta.removed.erase(m) == 0) {
      delta.added.insert(m);
    }
  }
  dirty_sets_.insert(set.info.kernel_name);
}

void Dataplane::remove_ipset(std::string_view id) {
  const auto it = sets_.find(std::string(id));
  if (it == sets_.end()) {
    return;
  }
  const std::string name = it->second.info.kernel_name;
  if (const auto users = set_users_.find(it->first); users != set_users_.end()) {
    dirty_policies_.insert(users->second.begin(), users->second.end());
  }
  set_ids_.erase(name);
  dirty_sets_.insert(name);
  set_deltas_.erase(name);
  known_sets_.erase(name);
  sets_.erase(it);
}

void Dataplane::upsert_policy(const Policy& policy) {
  if (policy.id.empty()) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "policy id is empty");
  }
  validate_rules(policy, policy.ingress, "ingress");
  validate_rules(policy, policy.egress, "egress");
  const PolicyKey key{normal_kind(policy.kind), policy.id};
  auto& map = key.first == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_;
  const auto it = map.find(policy.id);
  if (it == map.end()) {
    existence_changed_.insert(key);
  } else {
    for (const std::string& set : referenced_sets(it->second)) {
      auto users = set_users_.find(set);
      users->second.erase(key);
      if (users->second.empty()) {
        set_users_.erase(users);
      }
    }
  }
  for (const std::string& set : referenced_sets(policy)) {
    set_users_[set].insert(key);
  }
  map[policy.id] = policy;
  dirty_policies_.insert(key);
}

void Dataplane::remove_policy(brindle_policy_kind_t kind, std::string_view id) {
  const PolicyKey key{normal_kind(kind), std::string(id)};
  auto& map = key.first == BRINDLE_POLICY_KIND_PROFILE ? profiles_ : policies_;
  const auto it = map.find(key.second);
  if (it == map.end()) {
    return;
  }
  for (const std::string& set : referenced_sets(it->second)) {
    auto users = set_users_.find(set);
    users->second.erase(key);
    if (users->second.empty()) {
      set_users_.erase(users);
    }
  }
  map.erase(it);
  existence_changed_.insert(key);
  dirty_policies_.insert(key);
}

void Dataplane::upsert_endpoint(const Endpoint& endpoint) {
  if (endpoint.interface.empty() || endpoint.interface.size() > 15) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "endpoint " + endpoint.id + ": interface \"" +
                                                  endpoint.interface +
                                                  "\" must be 1 to 15 characters");
  }
  StoredEndpoint& stored = endpoints_[endpoint.id];
  std::shared_ptr<const EndpointLists> old = std::move(stored.lists);
  stored.interface = endpoint.interface;
  stored.lists = intern({endpoint.ingress_policies, endpoint.egress_policies, endpoint.profiles});
  forget(std::move(old));
  dirty_endpoints_.insert(endpoint.id);
}

void Dataplane::remove_endpoint(std::string_view id) {
  const auto it = endpoints_.find(std::string(id));
  if (it != endpoints_.end()) {
    // Its claim refers to its key: dropped now, the interface re-dispatched at apply().
    unplace_endpoint(it->first, it->second, released_interfaces_);
    std::shared_ptr<const EndpointLists> lists = std::move(it->second.lists);
    endpoints_.erase(it);
    forget(std::move(lists));
    dirty_endpoints_.insert(std::string(id));
  }
}

std::shared_ptr<const Dataplane::EndpointLists> Dataplane::intern(EndpointLists lists) {
  auto shared = std::make_shared<const EndpointLists>(std::move(lists));
  return *endpoint_lists_.insert(std::move(shared)).first;
}

// By value on purpose: use_count() counts this parameter as one of the two references.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
void Dataplane::forget(std::shared_ptr<const EndpointLists> lists) {
  // The set's own reference and this one: no endpoint uses the copy any more.
  if (lists && lists.use_count() == 2) {
    endpoint_lists_.erase(lists);
  }
}

void Dataplane::in_sync() {
  in_sync_ = true;
}

void Dataplane::apply() {
  applies_.add(1);
  try {
    if (full_ || !in_sync_) {
      reconcile_full(false);
    } else {
      reconcile_incremental();
    }
  } catch (...) {
    full_ = true;  // the kernel's state is uncertain: compare everything next time
    throw;
  }
}

void Dataplane::refresh() {
  try {
    reconcile_full(true);
  } catch (...) {
    full_ = true;
    throw;
  }
}

// ---- derived state ------------------------------------------------------------------------------

void Dataplane::add_chain(const std::string& chain, ChainSpec spec) {
  if (const auto it = chains_.find(chain); it != chains_.end()) {
    spec.written = it->second.written;
  } else if (const auto removed = removed_chains_.find(chain); removed != removed_chains_.end()) {
    spec.written = removed->second;
  }
  chains_[chain] = std::move(spec);
  dirty_chains_.insert(chain);
  removed_chains_.erase(chain);
}

void Dataplane::remove_chain(const std::string& chain) {
  const auto it = chains_.find(chain);
  if (it == chains_.end()) {
    return;
  }
  if (it->second.kind == ChainKind::kPolicy) {
    for (auto& [family, state] : family_state_) {
      release_internal_sets(state, chain);
    }
  }
  removed_chains_[chain] = it->second.written;
  chains_.erase(it);
  dirty_chains_.erase(chain);
}

void Dataplane::rebuild() {
  chains_.clear();
  interfaces_.clear();
  released_interfaces_.clear();
  for (auto& [id, endpoint] : endpoints_) {
    endpoint.placed = nullptr;
  }
  endpoint_chains_.clear();
  policy_refs_.clear();
  policy_users_.clear();
  tree_.clear();
  internal_.clear();
  for (auto& [family, state] : family_state_) {
    state.internal_sets.clear();
  }
  dirty_chains_.clear();
  removed_chains_.clear();
  dirty_policies_.clear();
  existence_changed_.clear();
  dirty_endpoints_.clear();
  for (const auto& [id, endpoint] : endpoints_) {
    dirty_endpoints_.insert(id);
  }
  for (const std::string& chain : {kForwardChain, kInputChain, kOutputChain}) {
    add_chain(chain, ChainSpec{ChainKind::kFixed, true, {}, {}, {}});
  }
  update_derived();
}

void Dataplane::place_endpoint(const std::string& id, std::set<std::string>& interfaces) {
  const auto it = endpoints_.find(id);
  if (it == endpoints_.end()) {
    return;  // removed: its claim went with it
  }
  StoredEndpoint& endpoint = it->second;
  unplace_endpoint(it->first, endpoint, interfaces);
  const std::string& prefix = globals_.interface_prefix;
  const std::string& interface = endpoint.interface;
  if (prefix.empty() || interface.rfind(prefix, 0) != 0 || interface.size() >= 16) {
    return;  // not a workload interface: never dispatched
  }
  const auto slot = interfaces_.try_emplace(interface).first;
  std::vector<const std::string*>& claimants = slot->second.claimants;
  // The lowest endpoint id using an interface wins it.
  const auto at =
      std::lower_bound(claimants.begin(), claimants.end(), &it->first,
                       [](const std::string* a, const std::string* b) { return *a < *b; });
  claimants.insert(at, &it->first);
  endpoint.placed = &slot->first;
  interfaces.insert(interface);
}

void Dataplane::unplace_endpoint(const std::string& id_key, StoredEndpoint& endpoint,
                                 std::set<std::string>& interfaces) {
  if (endpoint.placed == nullptr) {
    return;
  }
  const std::string interface = *endpoint.placed;
  endpoint.placed = nullptr;
  Interface& record = interfaces_.at(interface);
  std::erase(record.claimants, &id_key);
  interfaces.insert(interface);  // the record goes once it is neither claimed nor dispatched
}

const std::string& Dataplane::acquire_endpoint_chain(const EndpointChainKey& key) {
  const auto slot = endpoint_chains_.try_emplace(key.chain_name()).first;
  EndpointChain& chain = slot->second;
  const std::string& name = slot->first;
  if (chain.refs++ == 0) {
    chain.key = key;
    add_chain(name, ChainSpec{ChainKind::kEndpoint, key.ingress, {}, {}, {}});
    for (const std::string& id : key.policies) {
      use_policy({BRINDLE_POLICY_KIND_POLICY, id}, &name);
    }
    for (const std::string& id : key.profiles) {
      use_policy({BRINDLE_POLICY_KIND_PROFILE, id}, &name);
    }
  }
  return name;
}

// By value on purpose: callers pass names held by the state this may erase.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
void Dataplane::release_endpoint_chain(std::string name) {
  const auto it = endpoint_chains_.find(name);
  if (it == endpoint_chains_.end() || --it->second.refs > 0) {
    return;
  }
  for (const std::string& id : it->second.key.policies) {
    unuse_policy({BRINDLE_POLICY_KIND_POLICY, id}, &it->first);
  }
  for (const std::string& id : it->second.key.profiles) {
    unuse_policy({BRINDLE_POLICY_KIND_PROFILE, id}, &it->first);
  }
  endpoint_chains_.erase(it);
  remove_chain(name);
}

void Dataplane::use_policy(const PolicyKey& key, const std::string* user) {
  policy_users_[key].insert(user);
  if (policy_refs_[key]++ == 0) {
    dirty_policies_.insert(key);  // its chains appear
  }
}

void Dataplane::unuse_policy(const PolicyKey& key, const std::string* user) {
  if (const auto users = policy_users_.find(key); users != policy_users_.end()) {
    users->second.erase(user);
    if (users->second.empty()) {
      policy_users_.erase(users);
    }
  }
  const auto refs = policy_refs_.find(key);
  if (refs != policy_refs_.end() && --refs->second == 0) {
    policy_refs_.erase(refs);
    dirty_policies_.insert(key);  // its chains go
  }
}

void Dataplane::update_derived() {
  // Endpoints -> the chains each workload interface is dispatched to.
  std::set<std::string> interfaces = std::move(released_interfaces_);
  released_interfaces_.clear();
  for (const std::string& id : dirty_endpoints_) {
    place_endpoint(id, interfaces);
  }
  dirty_endpoints_.clear();
  std::set<std::string> tree_dirty;
  for (const std::string& interface : interfaces) {
    const auto record = interfaces_.find(interface);
    if (record == interfaces_.end()) {
      continue;
    }
    Interface& r = record->second;
    const std::string* to_chain = nullptr;
    const std::string* from_chain = nullptr;
    if (!r.claimants.empty()) {
      const EndpointLists& e = *endpoints_.at(*r.claimants.front()).lists;
      // Acquired before the old ones are released: an unchanged chain is never dropped (and
      // keeps its key, so equal pointers are equal chains).
      to_chain = &acquire_endpoint_chain({true, e.ingress_policies, e.profiles});
      from_chain = &acquire_endpoint_chain({false, e.egress_policies, e.profiles});
    }
    const bool changed = to_chain != r.to_chain || from_chain != r.from_chain;
    if (r.to_chain != nullptr) {
      release_endpoint_chain(*r.to_chain);
      release_endpoint_chain(*r.from_chain);
    }
    r.to_chain = to_chain;
    r.from_chain = from_chain;
    if (r.claimants.empty()) {
      interfaces_.erase(record);
    }
    if (changed) {
      tree_dirty.insert(interface);
    }
  }

  // Policy and profile chains exist while an endpoint chain uses them and the model has them.
  for (const PolicyKey& key : dirty_policies_) {
    const bool present = policy_refs_.contains(key) && find_policy(key) != nullptr;
    for (const bool ingress : {true, false}) {
      const std::string name = policy_chain_name(key.first, key.second, ingress);
      if (present) {
        add_chain(name, ChainSpec{ChainKind::kPolicy, ingress, key, {}, {}});
      } else {
        remove_chain(name);
      }
    }
  }
  // Endpoint chains jump to a policy's chain, or drop while it is missing.
  for (const PolicyKey& key : existence_changed_) {
    if (const auto users = policy_users_.find(key); users != policy_users_.end()) {
      for (const std::string* chain : users->second) {
        dirty_chains_.insert(*chain);
      }
    }
  }
  dirty_policies_.clear();
  existence_changed_.clear();

  const std::string& root = globals_.interface_prefix;
  if (!tree_dirty.empty() || !tree_.contains(root)) {
    render_dispatch_node(root, tree_dirty);
    collect_dispatch_garbage();
  }
}

std::vector<DispatchEntry> Dataplane::dispatch_entries(const std::string& prefix,
                                                       std::vector<std::string>* children) const {
  const auto begin = interfaces_.lower_bound(prefix);
  auto end = begin;
  size_t count = 0;
  while (end != interfaces_.end() && end->first.rfind(prefix, 0) == 0) {
    ++end;
    ++count;
  }
  const auto entry_of = [](const auto& it) {
    return DispatchEntry{it->first, *it->second.to_chain, *it->second.from_chain};
  };
  std::vector<DispatchEntry> entries;
  if (count <= kDispatchLeafSize) {
    for (auto it = begin; it != end; ++it) {
      entries.push_back(entry_of(it));
    }
    return entries;
  }
  auto it = begin;
  if (it->first == prefix) {
    entries.push_back(entry_of(it));  // the name equal to the prefix sorts first
    ++it;
  }
  while (it != end) {
    std::string child = it->first.substr(0, prefix.size() + 1);
    auto group_end = it;
    size_t group = 0;
    while (group_end != end && group_end->first.rfind(child, 0) == 0) {
      ++group_end;
      ++group;
    }
    if (group == 1) {
      entries.push_back(entry_of(it));
    } else {
      entries.push_back({child + "+", dispatch_chain_name(child, false, true),
                         dispatch_chain_name(child, false, false)});
      if (children != nullptr) {
        children->push_back(std::move(child));
      }
    }
    it = group_end;
  }
  return entries;
}

// Re-renders the node of `prefix` and, below it, the nodes that are new or hold a changed
// interface.
void Dataplane::render_dispatch_node(const std::string& prefix,
                                     const std::set<std::string>& dirty) {
  DispatchNode node;
  uint64_t digest = 0xcbf29ce484222325ull;  // FNV-1a over the entries
  for (const DispatchEntry& e : dispatch_entries(prefix, &node.children)) {
    for (const std::string* part : {&e.match, &e.to_chain, &e.from_chain}) {
      for (const char c : *part) {
        digest = (digest ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
      }
      digest = (digest ^ 0xffu) * 0x100000001b3ull;  // separator
    }
  }
  node.digest = digest;
  for (const std::string& child : node.children) {
    const auto touched = dirty.lower_bound(child);
    if (!tree_.contains(child) || (touched != dirty.end() && touched->rfind(child, 0) == 0)) {
      render_dispatch_node(child, dirty);
    }
  }
  const bool root = prefix == globals_.interface_prefix;
  DispatchNode& slot = tree_[prefix];
  const std::string to_chain = dispatch_chain_name(prefix, root, true);
  if (slot.digest != node.digest || !chains_.contains(to_chain)) {
    slot = std::move(node);
    add_chain(to_chain, ChainSpec{ChainKind::kDispatch, true, {}, prefix, {}});
    add_chain(dispatch_chain_name(prefix, root, false),
              ChainSpec{ChainKind::kDispatch, false, {}, prefix, {}});
  } else {
    slot.children = std::move(node.children);
  }
}

void Dataplane::collect_dispatch_garbage() {
  std::set<std::string> reachable;
  std::vector<std::string> pending{globals_.interface_prefix};
  while (!pending.empty()) {
    const std::string prefix = std::move(pending.back());
    pending.pop_back();
    const auto node = tree_.find(prefix);
    if (node != tree_.end() && reachable.insert(prefix).second) {
      pending.insert(pending.end(), node->second.children.begin(), node->second.children.end());
    }
  }
  for (auto it = tree_.begin(); it != tree_.end();) {
    if (reachable.contains(it->first)) {
      ++it;
      continue;
    }
    remove_chain(dispatch_chain_name(it->first, false, true));
    remove_chain(dispatch_chain_name(it->first, false, false));
    it = tree_.erase(it);
  }
}

// ---- rendering ----------------------------------------------------------------------------------

std::vector<xt::Rule> Dataplane::render_chain(xt::Family family, const std::string& chain) const {
  const ChainSpec& spec = chains_.at(chain);
  const ChainRenderer renderer(view_, family, options_);
  switch (spec.kind) {
    case ChainKind::kFixed:
      return renderer.fixed_chain(chain);
    case ChainKind::kPolicy: {
      InternalSets unused;  // accounted for when the chain was first rendered in this apply()
      return renderer.policy_chain(*find_policy(spec.policy), spec.ingress, unused);
    }
    case ChainKind::kEndpoint:
      return renderer.endpoint_chain(endpoint_chains_.at(chain).key);
    case ChainKind::kDispatch:
      return renderer.dispatch_chain(dispatch_entries(spec.ref, nullptr), spec.ingress);
  }
  return {};
}

Dataplane::Rendered Dataplane::render_policy_chains(xt::Family family,
                                                    const std::vector<std::string>& chains) const {
  Rendered out;
  const ChainRenderer renderer(view_, family, options_);
  for (const std::string& chain : chains) {
    const auto spec = chains_.find(chain);
    if (spec == chains_.end() || spec->second.kind != ChainKind::kPolicy) {
      continue;
    }
    InternalSets& used = out.internal_sets[chain];
    out.chains[chain] =
        renderer.policy_chain(*find_policy(spec->second.policy), spec->second.ingress, used);
  }
  return out;
}

void Dataplane::account_internal_sets(xt::Family family, const Rendered& rendered) {
  FamilyState& state = family_state_[family];
  for (const auto& [chain, used] : rendered.internal_sets) {
    std::vector<std::string> names;
    for (const auto& [name, set] : used) {
      InternalRecord& record = internal_[name];
      if (record.refs++ == 0) {
        record.set = set;  // a copy made here, not on the worker
        dirty_sets_.insert(name);
      }
      names.push_back(name);
    }
    release_internal_sets(state, chain);
    if (!names.empty()) {  // most policy chains use none
      state.internal_sets[chain] = std::move(names);
    }
  }
}

void Dataplane::release_internal_sets(FamilyState& state, const std::string& chain) {
  const auto it = state.internal_sets.find(chain);
  if (it == state.internal_sets.end()) {
    return;
  }
  for (const std::string& name : it->second) {
    const auto record = internal_.find(name);
    if (record != internal_.end() && --record->second.refs == 0) {
      internal_.erase(record);
      dirty_sets_.insert(name);
    }
  }
  state.internal_sets.erase(it);
}

// ---- programming --------------------------------------------------------------------------------

void Dataplane::reconcile_full(bool verify) {
  rebuild();
  std::vector<std::string> policy_chains;
  for (const auto& [name, spec] : chains_) {
    if (spec.kind == ChainKind::kPolicy) {
      policy_chains.push_back(name);
    }
  }
  std::map<xt::Family, Rendered> prerendered;
  worker_.run([&] {
    for (const xt::Family family : families()) {
      prerendered[family] = render_policy_chains(family, policy_chains);
    }
  });
  for (const auto& [family, rendered] : prerendered) {
    account_internal_sets(family, rendered);
  }

  size_t repaired = program_sets_full(verify);
  if (!in_sync_) {
    worker_.run([&] { prerendered.clear(); });
    return;  // the previous run's rules stay until the model is complete
  }
  for (const xt::Family family : families()) {
    for (const bool nat : {false, true}) {
      const size_t rewritten =
          nat ? program_nat(family) : program_table_full(family, prerendered[family]);
      if (verify && rewritten > 0) {
        repaired += rewritten;
        host_.warn("iptables chains differed from the model; repaired",
                   "family=" + family_text(family) + " table=" + (nat ? "nat" : "filter") +
                       " chains=" + std::to_string(rewritten));
      }
    }
  }
  std::vector<std::string> stale;
  for (const std::string& name : kernel_sets_) {
    if (!set_ids_.contains(name) && !internal_.contains(name)) {
      stale.push_back(name);
    }
  }
  destroy_sets(stale);
  if (verify && repaired > 0) {
    repairs_.add(static_cast<double>(repaired));
  }
  dirty_chains_.clear();
  removed_chains_.clear();
  full_ = false;
}

void Dataplane::reconcile_incremental() {
  update_derived();
  std::map<xt::Family, Rendered> prerendered;
  if (!dirty_chains_.empty()) {
    worker_.run([&] {
      const std::vector<std::string> dirty(dirty_chains_.begin(), dirty_chains_.end());
      for (const xt::Family family : families()) {
        prerendered[family] = render_policy_chains(family, dirty);
      }
    });
  }
  for (const auto& [family, rendered] : prerendered) {
    account_internal_sets(family, rendered);
  }
  const std::vector<std::string> unused_sets = [&] {
    std::vector<std::string> out;
    program_sets_incremental(out);
    return out;
  }();
  for (const xt::Family family : families()) {
    program_table_incremental(family, prerendered[family]);
  }
  prerendered.clear();
  dirty_chains_.clear();
  removed_chains_.clear();
  destroy_sets(unused_sets);
}

size_t Dataplane::program_sets_full(bool verify) {
  // The listing and the batch are made on the worker; what is kept is copied here afterwards.
  std::set<std::string> present;  // our sets the kernel has
  std::set<std::string> known;
  size_t repaired = 0;
  std::exception_ptr failure;
  try {
    worker_.run([&] {
      ipset::Session session;
      for (std::string& name : session.list_names()) {
        if (ours(name)) {
          present.insert(std::move(name));
        }
      }
      struct Desired {
        ipset::SetHeader header;
        const std::set<std::string>* members;
        bool internal;
      };
      std::map<std::string, Desired> desired;
      std::map<std::string, std::set<std::string>> texts;  // of the model sets
      for (const auto& [id, set] : sets_) {
        const std::set<std::string>& members = texts[set.info.kernel_name] = member_texts(set);
        desired.emplace(
            set.info.kernel_name,
            Desired{
                {set.info.type, set.info.family, options_.ipset_max_elements}, &members, false});
      }
      for (const auto& [name, record] : internal_) {
        desired.emplace(
            name, Desired{{ipset::SetType::kNet, record.set.family, options_.ipset_max_elements},
                          &record.set.members,
                          true});
      }
      auto apply_diff = [&](const std::string& name, const std::set<std::string>& have,
                            const std::set<std::string>& want) {
        std::vector<std::string> extra;
        std::vector<std::string> missing;
        std::set_difference(have.begin(), have.end(), want.begin(), want.end(),
                            std::back_inserter(extra));
        std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                            std::back_inserter(missing));
        for (const std::string& m : extra) {
          session.remove(name, m);
        }
        for (const std::string& m : missing) {
          session.add(name, m);
        }
        return !extra.empty() || !missing.empty();
      };
      for (const auto& [name, d] : desired) {
        if (!present.contains(name)) {
          session.create(name, d.header);
          for (const std::string& m : *d.members) {
            session.add(name, m);
          }
          known.insert(name);
        } else if (!in_sync_) {
          // A previous run's set: add what we know, remove nothing yet.
          for (const std::string& m : *d.members) {
            session.add(name, m);
          }
        } else if (verify) {
          if (apply_diff(name, session.members(name), *d.members)) {
            ++repaired;
            host_.warn("ipset content differed from the model; repaired", "set=" + name);
          }
          known.insert(name);
        } else if (known_sets_.contains(name)) {
          queue_member_delta(session, name);
          known.insert(name);
        } else if (d.internal) {
          known.insert(name);  // named after its content
        } else {
          // Unknown or replaced content: built aside, then swapped in atomically. A leftover
          // temporary set (of another type, perhaps) goes first.
          if (present.contains(temporary_set_name(name))) {
            session.destroy(temporary_set_name(name));
            present.erase(temporary_set_name(name));
          }
          queue_swap_in(session, name, d.header, *d.members);
          known.insert(name);
        }
      }
      run_set_batch(session);
      for (const auto& [name, d] : desired) {
        present.insert(name);
      }
    });
  } catch (...) {
    failure = std::current_exception();
  }
  kernel_sets_ = std::set<std::string>(present.begin(), present.end());
  if (failure) {
    std::rethrow_exception(failure);
  }
  known_sets_ = std::set<std::string>(known.begin(), known.end());
  return repaired;
}

void Dataplane::queue_member_delta(ipset::Session& session, const std::string& name) const {
  const auto delta = set_deltas_.find(name);
  const auto id = set_ids_.find(name);
  if (delta == set_deltas_.end() || id == set_ids_.end()) {
    return;
  }
  const SetInfo& info = sets_.at(id->second).info;
  for (const ipset::Member& m : delta->second.removed) {
    session.remove(name, ipset::member_text(m, info.family, info.type));
  }
  for (const ipset::Member& m : delta->second.added) {
    session.add(name, ipset::member_text(m, info.family, info.type));
  }
}

// Runs the queued set commands; the recorded deltas are consumed either way, and after a failure
// no set's kernel content is assumed known (the next apply compares or rebuilds).
void Dataplane::run_set_batch(ipset::Session& session) {
  set_deltas_.clear();
  dirty_sets_.clear();
  try {
    session.run();
  } catch (...) {
    known_sets_.clear();
    throw;
  }
}

void Dataplane::program_sets_incremental(std::vector<std::string>& unused) {
  if (dirty_sets_.empty()) {
    return;
  }
  std::vector<std::string> present;
  worker_.run([&] {
    ipset::Session session;
    for (const std::string& name : dirty_sets_) {
      const auto id = set_ids_.find(name);
      const ModelSet* model = id != set_ids_.end() ? &sets_.at(id->second) : nullptr;
      const auto internal = internal_.find(name);
      if (model == nullptr && internal == internal_.end()) {
        if (kernel_sets_.contains(name)) {
          unused.push_back(name);  // destroyed once no rule uses it
        }
        continue;
      }
      const ipset::SetHeader header =
          model != nullptr
              ? ipset::SetHeader{model->info.type, model->info.family, options_.ipset_max_elements}
              : ipset::SetHeader{ipset::SetType::kNet, internal->second.set.family,
                                 options_.ipset_max_elements};
      const std::set<std::string> members =
          model != nullptr ? member_texts(*model) : internal->second.set.members;
      present.push_back(name);
      if (!kernel_sets_.contains(name)) {
        session.create(name, header);
        session.flush(name);  // in case an earlier failed batch left one
        for (const std::string& m : members) {
          session.add(name, m);
        }
      } else if (model == nullptr) {
        continue;  // an internal set is named after its content
      } else if (known_sets_.contains(name)) {
        queue_member_delta(session, name);
      } else {
        queue_swap_in(session, name, header, members);
      }
    }
    run_set_batch(session);
  });
  for (const std::string& name : present) {
    kernel_sets_.insert(name);  // copies made here, not on the worker
    known_sets_.insert(name);
  }
}

void Dataplane::destroy_sets(const std::vector<std::string>& names) {
  if (names.empty()) {
    return;
  }
  worker_.run([&] {
    ipset::Session session;
    for (const std::string& name : names) {
      session.destroy(name);
      try {
        session.run();
        kernel_sets_.erase(name);
        known_sets_.erase(name);
      } catch (const Error& e) {
        // Still referenced (e.g. by a rule that is not ours): kept, retried next time.
        host_.warn("cannot destroy a stale ipset", "set=" + name + " reason=\"" + e.what() + "\"");
      }
    }
  });
}

size_t Dataplane::fix_builtin_jumps(xt::Table& table,
                                    const std::vector<std::pair<std::string, std::string>>& jumps,
                                    std::string& rewritten_names) {
  size_t rewritten = 0;
  for (const std::string& chain : builtin_chains(table.name())) {
    if (!table.has_chain(chain)) {
      continue;
    }
    std::optional<xt::Rule> jump;
    for (const auto& [builtin, target] : jumps) {
      if (builtin == chain) {
        jump = xt::Rule{};
        jump->target = xt::Jump{target, false};
      }
    }
    const std::vector<std::string> targets = table.targets(chain);
    const size_t ours_count = std::count_if(targets.begin(), targets.end(), ours);
    const bool in_place =
        jump ? ours_count == 1 && table.rule_is(chain, 0, *jump) : ours_count == 0;
    if (in_place) {
      continue;
    }
    for (size_t i = targets.size(); i-- > 0;) {
      if (ours(targets[i])) {
        table.delete_rule(chain, static_cast<unsigned>(i));
      }
    }
    if (jump) {
      table.insert(chain, *jump, 0);
    }
    rewritten_names += (rewritten_names.empty() ? "" : ",") + chain;
    ++rewritten;
  }
  return rewritten;
}

void Dataplane::commit(xt::Table& table, size_t rewritten, const std::string& names,
                       size_t removed) {
  if (!table.changed()) {
    return;
  }
  table.commit();
  commits_.add(1);
  host_.debug("iptables table committed",
              "family=" + family_text(table.family()) + " table=" + table.name() +
                  " chains_rewritten=" + std::to_string(rewritten) + " first=" +
                  (names.empty() ? "-" : names) + " chains_removed=" + std::to_string(removed));
}

namespace {

// Our chains the table holds but the model no longer has: emptied first (dropping their jumps),
// then deleted. Returns how many.
size_t remove_stale_chains(xt::Table& table, const std::vector<std::string>& stale,
                           const Host& host) {
  for (const std::string& chain : stale) {
    table.flush_chain(chain);
  }
  for (const std::string& chain : stale) {
    if (table.references(chain) == 0) {
      table.delete_chain(chain);
    } else {
      host.warn("stale chain still referenced by a rule that is not ours; left empty",
                "chain=" + chain);
    }
  }
  return stale.size();
}

std::vector<std::string> stale_chains(const xt::Table& table,
                                      const std::function<bool(const std::string&)>& wanted) {
  std::vector<std::string> stale;
  for (const std::string& chain : table.chains()) {
    if (ours(chain) && !table.is_builtin(chain) && !wanted(chain)) {
      stale.push_back(chain);
    }
  }
  return stale;
}

}  // namespace

size_t Dataplane::program_table_full(xt::Family family, Rendered& prerendered) {
  const size_t index = family_index(family);
  for (auto& [chain, spec] : chains_) {
    spec.written.families &= static_cast<uint8_t>(~(1u << index));
  }
  std::vector<uint64_t> digests;  // of chains_, in order
  size_t rewritten = 0;
  worker_.run([&] {
    xt::Table table(family, "filter", caching_resolver());
    for (const auto& [chain, spec] : chains_) {
      if (!table.has_chain(chain)) {
        table.create_chain(chain);
      }
    }
    std::string names;
    digests.reserve(chains_.size());
    for (const auto& [chain, spec] : chains_) {
      const auto pre = prerendered.chains.find(chain);
      const std::vector<xt::Rule> rules =
          pre != prerendered.chains.end() ? std::move(pre->second) : render_chain(family, chain);
      digests.push_back(fingerprint(rules));
      if (table.same_rules(chain, rules)) {
        continue;
      }
      table.flush_chain(chain);
      for (const xt::Rule& rule : rules) {
        table.append(chain, rule);
      }
      if (++rewritten <= 8) {
        names += (names.empty() ? "" : ",") + chain;
      }
    }
    prerendered = {};
    rewritten += fix_builtin_jumps(table, ChainRenderer::filter_builtin_jumps(), names);
    const size_t removed = remove_stale_chains(
        table, stale_chains(table, [&](const std::string& c) { return chains_.contains(c); }),
        host_);
    commit(table, rewritten, names, removed);
  });
  auto digest = digests.begin();
  for (auto& [chain, spec] : chains_) {
    spec.written.fingerprint[index] = *digest++;
    spec.written.families |= static_cast<uint8_t>(1u << index);
  }
  return rewritten;
}

size_t Dataplane::program_nat(xt::Family family) {
  size_t rewritten = 0;
  worker_.run([&] {
    const std::map<std::string, std::vector<xt::Rule>> chains =
        ChainRenderer(view_, family, options_).nat_chains();
    xt::Table table(family, "nat", caching_resolver());
    for (const auto& [chain, rules] : chains) {
      if (!table.has_chain(chain)) {
        table.create_chain(chain);
      }
    }
    std::string names;
    for (const auto& [chain, rules] : chains) {
      if (table.same_rules(chain, rules)) {
        continue;
      }
      table.flush_chain(chain);
      for (const xt::Rule& rule : rules) {
        table.append(chain, rule);
      }
      ++rewritten;
      names += (names.empty() ? "" : ",") + chain;
    }
    rewritten += fix_builtin_jumps(table, ChainRenderer::nat_builtin_jumps(), names);
    const size_t removed = remove_stale_chains(
        table, stale_chains(table, [&](const std::string& c) { return chains.contains(c); }),
        host_);
    commit(table, rewritten, names, removed);
  });
  return rewritten;
}

void Dataplane::program_table_incremental(xt::Family family, Rendered& prerendered) {
  if (dirty_chains_.empty() && removed_chains_.empty()) {
    return;
  }
  const size_t index = family_index(family);
  const auto known = [index](const Written& w) { return (w.families & (1u << index)) != 0; };
  struct Write {
    const std::string* chain;
    uint64_t fingerprint = 0;
  };
  // Filled on the worker, kept here afterwards.
  std::vector<Write> writes;
  std::vector<const std::string*> removals;
  worker_.run([&] {
    std::vector<std::vector<xt::Rule>> rules_of;  // of writes
    for (const std::string& chain : dirty_chains_) {
      if (!chains_.contains(chain)) {
        continue;
      }
      const auto pre = prerendered.chains.find(chain);
      std::vector<xt::Rule> rules =
          pre != prerendered.chains.end() ? std::move(pre->second) : render_chain(family, chain);
      const uint64_t digest = fingerprint(rules);
      const Written& written = chains_.at(chain).written;
      if (known(written) && written.fingerprint[index] == digest) {
        continue;  // re-rendered, unchanged
      }
      writes.push_back({&chain, digest});
      rules_of.push_back(std::move(rules));
    }
    prerendered = {};
    for (const auto& [chain, written] : removed_chains_) {
      if (known(written)) {
        removals.push_back(&chain);
      }
    }
    if (writes.empty() && removals.empty()) {
      return;  // nothing to commit: the table is not even read
    }
    xt::Table table(family, "filter", caching_resolver());
    for (const Write& w : writes) {
      if (!table.has_chain(*w.chain)) {
        table.create_chain(*w.chain);
      }
    }
    std::string names;
    for (size_t i = 0; i < writes.size(); ++i) {
      const std::string& chain = *writes[i].chain;
      table.flush_chain(chain);
      for (const xt::Rule& rule : rules_of[i]) {
        table.append(chain, rule);
      }
      if (names.size() < 200) {
        names += (names.empty() ? "" : ",") + chain;
      }
    }
    fix_builtin_jumps(table, ChainRenderer::filter_builtin_jumps(), names);
    std::vector<std::string> present;
    for (const std::string* chain : removals) {
      if (table.has_chain(*chain)) {
        present.push_back(*chain);
      }
    }
    remove_stale_chains(table, present, host_);
    commit(table, writes.size(), names, present.size());
  });
  for (const Write& w : writes) {
    Written& written = chains_.at(*w.chain).written;
    written.fingerprint[index] = w.fingerprint;
    written.families |= static_cast<uint8_t>(1u << index);
  }
  for (const std::string* chain : removals) {
    removed_chains_.at(*chain).families &= static_cast<uint8_t>(~(1u << index));
  }
}

}  // namespace brindle::policy_iptables
