#include "brindle/policy/engine.hpp"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "render.hpp"

namespace brindle::policy {

using detail::Flavor;
using detail::PolicyPlan;
using detail::ScopeKind;
using detail::SelectionSpec;
using detail::SetSpec;
using model::IpPrefix;
using model::Labels;

namespace {

struct EndpointState;
struct NetsetState;
struct SelectionState;
struct IpSetState;
struct PolicyState;

// A small set of pointers kept as a sorted vector: an endpoint is in a few dozen selections, and
// a hash set spends a node (32 bytes) and a bucket per member on that.
template <typename T>
class FlatSet {
 public:
  bool insert(T value) {
    const auto it = std::lower_bound(items_.begin(), items_.end(), value, std::less<T>());
    if (it != items_.end() && *it == value) {
      return false;
    }
    items_.insert(it, value);
    return true;
  }
  size_t erase(T value) {
    const auto it = std::lower_bound(items_.begin(), items_.end(), value, std::less<T>());
    if (it == items_.end() || *it != value) {
      return 0;
    }
    items_.erase(it);
    return 1;
  }
  size_t count(T value) const {
    return std::binary_search(items_.begin(), items_.end(), value, std::less<T>()) ? 1 : 0;
  }
  void clear() { std::vector<T>().swap(items_); }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  typename std::vector<T>::const_iterator begin() const { return items_.begin(); }
  typename std::vector<T>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<T> items_;
};

struct MemberHash {
  size_t operator()(const IpSetMember& m) const {
    const auto& b = m.net.address().bytes();
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint8_t byte : b) {
      h = (h ^ byte) * 0x100000001b3ULL;
    }
    h ^= (static_cast<uint64_t>(m.net.prefix_length()) << 32) |
         (static_cast<uint64_t>(m.protocol) << 16) | m.port;
    return static_cast<size_t>(h * 0xff51afd7ed558ccdULL);
  }
};

// A namespace selector's verdict per namespace, cached; updated when namespace labels change.
struct NamespaceSelectorState {
  model::Selector selector;
  std::unordered_map<std::string, bool> matches;
  int refs = 0;
  std::vector<SelectionState*> selections;
};

struct SelectionState {
  SelectionSpec spec;
  std::string descriptor;
  NamespaceSelectorState* namespace_selector = nullptr;
  std::vector<std::string> keys;  // label keys the selector reads
  bool matches_empty = false;     // the selector matches an endpoint without labels
  int refs = 0;                   // IP sets and policy targets using it
  std::unordered_set<EndpointState*> endpoints;
  std::unordered_set<NetsetState*> netsets;
  std::vector<IpSetState*> ipsets;
  std::vector<PolicyState*> targets_of;  // policies applying to the selected endpoints
  uint64_t visit = 0;
};

struct IpSetState {
  SetSpec spec;
  std::string id;
  SelectionState* selection = nullptr;
  int refs = 0;         // rendered policies using it
  int active_refs = 0;  // policies in the model using it: the set is in the model
  std::unordered_map<IpSetMember, int, MemberHash> counts;  // member -> contributors
  std::map<IpSetMember, bool> pending;  // since the last emission: true added, false removed
  bool needs_full = true;               // emit whole (new to the plugin)
};

struct PolicyState {
  PolicyKey key;
  double order = 0;
  bool ingress = false;
  bool egress = false;
  Policy rendered;
  std::vector<std::string> warnings;
  SelectionState* target = nullptr;
  std::vector<IpSetState*> sets;
  std::unordered_set<EndpointState*> users;  // local endpoints listing it (as of the last flush)
};

struct EndpointState {
  std::string id;
  std::string namespace_;
  bool local = false;
  // The pod's labels, and those plus the inherited profile labels. Never null; shared with every
  // endpoint that has equal labels (State::intern).
  std::shared_ptr<const Labels> own;
  std::shared_ptr<const Labels> effective;
  std::vector<IpPrefix> ips;
  std::vector<model::NamedPort> ports;
  std::vector<std::string> profile_names;
  std::string interface_name;
  std::optional<model::MacAddress> mac;
  FlatSet<SelectionState*> selections;
  // As of the last flush (what the model's endpoint record says).
  std::vector<PolicyState*> ingress;
  std::vector<PolicyState*> egress;
  std::vector<PolicyState*> profiles;
};

struct NetsetState {
  std::string key;
  std::string namespace_;  // empty for a GlobalNetworkSet
  bool global = false;
  Labels labels;
  std::vector<IpPrefix> nets;
  std::unordered_set<SelectionState*> selections;
};

struct ProfileState {
  std::optional<model::ProfileSpec> spec;
  std::unordered_set<EndpointState*> endpoints;  // every endpoint listing it
};

struct NamespaceState {
  Labels labels;
  std::unordered_set<EndpointState*> endpoints;
  std::unordered_set<NetsetState*> netsets;
};

// The label index: selections by the label keys their selector reads.
struct Bucket {
  std::unordered_map<std::string, std::vector<SelectionState*>> by_key;
  std::vector<SelectionState*> empty_matchers;
};

void erase_one(std::vector<SelectionState*>& v, SelectionState* s) {
  auto it = std::find(v.begin(), v.end(), s);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

std::vector<std::string> changed_keys(const Labels& a, const Labels& b) {
  std::vector<std::string> out;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      out.push_back(ia->first);
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      out.push_back(ib->first);
      ++ib;
    } else {
      if (ia->second != ib->second) {
        out.push_back(ia->first);
      }
      ++ia;
      ++ib;
    }
  }
  return out;
}

bool policy_before(const PolicyState* a, const PolicyState* b) {
  if (a->order != b->order) {
    return a->order < b->order;
  }
  return a->key.id < b->key.id;
}

const Labels kNoLabels;

// A 64-bit fingerprint of everything in an endpoint record (length-prefixed fields, FNV-1a): the
// engine remembers what it sent per endpoint by this, not by a second copy of the record.
uint64_t fingerprint(const Endpoint& e) {
  std::string text;
  const auto field = [&text](std::string_view value) {
    text += std::to_string(value.size());
    text += ':';
    text += value;
  };
  field(e.id);
  field(e.interface_name);
  for (const IpPrefix& a : e.addresses) {
    field(a.to_string());
  }
  field(e.mac ? e.mac->to_string() : std::string("-"));
  for (const auto* list : {&e.ingress_policies, &e.egress_policies, &e.profiles}) {
    field(std::to_string(list->size()));
    for (const std::string& id : *list) {
      field(id);
    }
  }
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

struct PolicyEngine::State {
  EngineConfig config;
  Globals globals;
  bool globals_set = false;
  bool globals_dirty = false;

  std::unordered_map<std::string, std::unique_ptr<EndpointState>> endpoints;
  std::unordered_map<std::string, std::unique_ptr<NetsetState>> netsets;
  std::unordered_map<std::string, ProfileState> profiles;
  std::unordered_map<std::string, NamespaceState> namespaces;
  std::unordered_map<std::string, std::unique_ptr<SelectionState>> selections;
  std::unordered_map<std::string, std::unique_ptr<NamespaceSelectorState>> namespace_selectors;
  std::unordered_map<std::string, std::unique_ptr<IpSetState>> ipsets;
  std::map<PolicyKey, std::unique_ptr<PolicyState>> policies;
  std::vector<std::unique_ptr<PolicyState>> removed_policies;  // freed at the next flush
  std::unordered_map<std::string, Bucket> namespace_buckets;
  Bucket global_bucket;
  std::unordered_set<SelectionState*> netset_selections;  // Flavor::kEndpointsAndSets
  uint64_t visit_counter = 0;

  // Work for the next flush / take_changes.
  std::unordered_set<EndpointState*> needs_lists;
  std::set<std::string> dirty_endpoints;
  std::set<PolicyKey> dirty_policies;
  std::set<std::string> dirty_sets;
  // What the plugin has.
  std::unordered_map<std::string, uint64_t> emitted_endpoints;  // id -> fingerprint()
  std::map<PolicyKey, Policy> emitted_policies;
  std::unordered_set<std::string> emitted_sets;

  // ---- Label maps, stored once per distinct content ------------------------------------------

  struct LabelsLess {
    bool operator()(const std::shared_ptr<const Labels>& a,
                    const std::shared_ptr<const Labels>& b) const {
      return *a < *b;
    }
  };
  std::set<std::shared_ptr<const Labels>, LabelsLess> label_pool;

  std::shared_ptr<const Labels> intern(Labels labels) {
    return *label_pool.insert(std::make_shared<const Labels>(std::move(labels))).first;
  }
  // Drops one endpoint's use of an interned map (the pool forgets it with its last user).
  void release(std::shared_ptr<const Labels>& labels) {
    if (labels && labels.use_count() == 2) {
      label_pool.erase(labels);
    }
    labels.reset();
  }

  // ---- Namespaces and namespace selectors --------------------------------------------------

  const Labels& namespace_labels(const std::string& ns) const {
    auto it = namespaces.find(ns);
    return it == namespaces.end() ? kNoLabels : it->second.labels;
  }

  bool namespace_matches(NamespaceSelectorState& s, const std::string& ns) {
    auto it = s.matches.find(ns);
    if (it != s.matches.end()) {
      return it->second;
    }
    bool result = s.selector.matches(namespace_labels(ns));
    s.matches.emplace(ns, result);
    return result;
  }

  bool scope_matches(SelectionState& s, const std::string& ns) {
    switch (s.spec.scope) {
      case ScopeKind::kNamespace:
        return ns == s.spec.namespace_;
      case ScopeKind::kNamespaceSelector:
        return namespace_matches(*s.namespace_selector, ns);
      case ScopeKind::kAll:
        return true;
    }
    return false;
  }

  bool matches(SelectionState& s, const EndpointState& ep) {
    return scope_matches(s, ep.namespace_) &&
           s.spec.selector.matches(s.spec.flavor == Flavor::kPods ? *ep.own : *ep.effective);
  }

  bool matches(SelectionState& s, const NetsetState& n) {
    if (s.spec.flavor != Flavor::kEndpointsAndSets) {
      return false;
    }
    if (n.global ? s.spec.scope != ScopeKind::kAll : !scope_matches(s, n.namespace_)) {
      return false;
    }
    return s.spec.selector.matches(n.labels);
  }

  Bucket& bucket_of(const SelectionState& s) {
    return s.spec.scope == ScopeKind::kNamespace ? namespace_buckets[s.spec.namespace_]
                                                 : global_bucket;
  }

  // ---- IP set membership -------------------------------------------------------------------

  void note(IpSetState& st, const IpSetMember& m, bool added) {
    if (st.active_refs == 0 || st.needs_full) {
      return;
    }
    auto [it, inserted] = st.pending.try_emplace(m, added);
    if (!inserted && it->second != added) {
      st.pending.erase(it);  // undone before the plugin saw it
    }
    dirty_sets.insert(st.id);
  }

  void add_member(IpSetState& st, const IpSetMember& m) {
    if (++st.counts[m] == 1) {
      note(st, m, true);
    }
  }

  void remove_member(IpSetState& st, const IpSetMember& m) {
    auto it = st.counts.find(m);
    assert(it != st.counts.end());
    if (it == st.counts.end()) {
      return;
    }
    if (--it->second == 0) {
      st.counts.erase(it);
      note(st, m, false);
    }
  }

  template <typename F>
  static void endpoint_members(const IpSetState& st, const std::vector<IpPrefix>& ips,
                               const std::vector<model::NamedPort>& ports, F f) {
    for (const IpPrefix& ip : ips) {
      if (ip.family() != st.spec.family) {
        continue;
      }
      if (st.spec.type == IpSetType::kNet) {
        f(IpSetMember{ip, 0, 0});
        continue;
      }
      for (const model::NamedPort& p : ports) {
        if (p.name == st.spec.port_name &&
            model::ip_protocol_number(p.protocol) == st.spec.protocol) {
          f(IpSetMember{ip, st.spec.protocol, p.port});
        }
      }
    }
  }

  template <typename F>
  static void netset_members(const IpSetState& st, const std::vector<IpPrefix>& nets, F f) {
    if (st.spec.type != IpSetType::kNet) {
      return;
    }
    for (const IpPrefix& n : nets) {
      if (n.family() == st.spec.family) {
        f(IpSetMember{n, 0, 0});
      }
    }
  }

  void add_endpoint_to_set(IpSetState& st, const std::vector<IpPrefix>& ips,
                           const std::vector<model::NamedPort>& ports) {
    endpoint_members(st, ips, ports, [&](const IpSetMember& m) { add_member(st, m); });
  }
  void remove_endpoint_from_set(IpSetState& st, const std::vector<IpPrefix>& ips,
                                const std::vector<model::NamedPort>& ports) {
    endpoint_members(st, ips, ports, [&](const IpSetMember& m) { remove_member(st, m); });
  }

  // ---- Selections --------------------------------------------------------------------------

  SelectionState* acquire_selection(const SelectionSpec& spec) {
    std::string descriptor = spec.descriptor();
    auto& slot = selections[descriptor];
    if (!slot) {
      slot = std::make_unique<SelectionState>();
      SelectionState& s = *slot;
      s.spec = spec;
      s.descriptor = std::move(descriptor);
      s.keys = spec.selector.label_keys();
      s.matches_empty = spec.selector.matches(kNoLabels);
      if (spec.scope == ScopeKind::kNamespaceSelector) {
        auto& ns_slot = namespace_selectors[spec.namespace_selector.to_string()];
        if (!ns_slot) {
          ns_slot = std::make_unique<NamespaceSelectorState>();
          ns_slot->selector = spec.namespace_selector;
        }
        ns_slot->refs++;
        ns_slot->selections.push_back(&s);
        s.namespace_selector = ns_slot.get();
      }
      Bucket& b = bucket_of(s);
      for (const std::string& k : s.keys) {
        b.by_key[k].push_back(&s);
      }
      if (s.matches_empty) {
        b.empty_matchers.push_back(&s);
      }
      auto consider = [&](EndpointState* ep) {
        if (matches(s, *ep)) {
          s.endpoints.insert(ep);
          ep->selections.insert(&s);
        }
      };
      if (spec.scope == ScopeKind::kNamespace) {
        auto it = namespaces.find(spec.namespace_);
        if (it != namespaces.end()) {
          for (EndpointState* ep : it->second.endpoints) {
            consider(ep);
          }
        }
      } else {
        for (auto& [id, ep] : endpoints) {
          consider(ep.get());
        }
      }
      if (spec.flavor == Flavor::kEndpointsAndSets) {
        netset_selections.insert(&s);
        for (auto& [key, n] : netsets) {
          if (matches(s, *n)) {
            s.netsets.insert(n.get());
            n->selections.insert(&s);
          }
        }
      }
    }
    slot->refs++;
    return slot.get();
  }

  void release_selection(SelectionState* s) {
    if (--s->refs > 0) {
      return;
    }
    assert(s->ipsets.empty() && s->targets_of.empty());
    for (EndpointState* ep : s->endpoints) {
      ep->selections.erase(s);
    }
    for (NetsetState* n : s->netsets) {
      n->selections.erase(s);
    }
    Bucket& b = bucket_of(*s);
    for (const std::string& k : s->keys) {
      auto it = b.by_key.find(k);
      erase_one(it->second, s);
      if (it->second.empty()) {
        b.by_key.erase(it);
      }
    }
    if (s->matches_empty) {
      erase_one(b.empty_matchers, s);
    }
    if (NamespaceSelectorState* n = s->namespace_selector) {
      erase_one(n->selections, s);
      if (--n->refs == 0) {
        namespace_selectors.erase(n->selector.to_string());
      }
    }
    netset_selections.erase(s);
    std::string descriptor = s->descriptor;
    selections.erase(descriptor);
  }

  // ---- IP sets -----------------------------------------------------------------------------

  IpSetState* acquire_set(const SetSpec& spec) {
    std::string id = spec.id();
    auto& slot = ipsets[id];
    if (!slot) {
      slot = std::make_unique<IpSetState>();
      IpSetState& st = *slot;
      st.spec = spec;
      st.id = id;
      st.selection = acquire_selection(spec.selection);
      st.selection->ipsets.push_back(&st);
      for (EndpointState* ep : st.selection->endpoints) {
        add_endpoint_to_set(st, ep->ips, ep->ports);
      }
      for (NetsetState* n : st.selection->netsets) {
        netset_members(st, n->nets, [&](const IpSetMember& m) { add_member(st, m); });
      }
    }
    // Ids are 64-bit hashes of the definition; a collision would merge two sets.
    assert(slot->spec.descriptor() == spec.descriptor());
    slot->refs++;
    return slot.get();
  }

  void release_set(IpSetState* st) {
    if (--st->refs > 0) {
      return;
    }
    assert(st->active_refs == 0);
    auto& list = st->selection->ipsets;
    list.erase(std::find(list.begin(), list.end(), st));
    release_selection(st->selection);
    dirty_sets.insert(st->id);  // a removal if the plugin has it
    std::string id = st->id;
    ipsets.erase(id);
  }

  void activate_set(IpSetState* st) {
    if (st->active_refs++ == 0) {
      st->needs_full = true;
      st->pending.clear();
      dirty_sets.insert(st->id);
    }
  }

  void deactivate_set(IpSetState* st) {
    if (--st->active_refs == 0) {
      st->pending.clear();
      dirty_sets.insert(st->id);
    }
  }

  // ---- Policies ----------------------------------------------------------------------------

  void mark_local_members(SelectionState* s) {
    for (EndpointState* ep : s->endpoints) {
      if (ep->local) {
        needs_lists.insert(ep);
      }
    }
  }

  void acquire_user(PolicyState* p, EndpointState* ep) {
    if (p->users.insert(ep).second && p->users.size() == 1) {
      for (IpSetState* st : p->sets) {
        activate_set(st);
      }
      dirty_policies.insert(p->key);
    }
  }

  void release_user(PolicyState* p, EndpointState* ep) {
    if (p->users.erase(ep) != 0 && p->users.empty()) {
      for (IpSetState* st : p->sets) {
        deactivate_set(st);
      }
      dirty_policies.insert(p->key);
    }
  }

  void upsert_policy(const PolicyKey& key, const PolicyPlan& plan) {
    auto& slot = policies[key];
    const bool is_new = !slot;
    if (is_new) {
      slot = std::make_unique<PolicyState>();
      slot->key = key;
    }
    PolicyState& p = *slot;
    // Acquire the new sets and target before releasing the old: what both use stays put.
    std::vector<IpSetState*> sets;
    sets.reserve(plan.sets.size());
    for (const SetSpec& spec : plan.sets) {
      sets.push_back(acquire_set(spec));
    }
    SelectionState* target = plan.target ? acquire_selection(*plan.target) : nullptr;
    if (!p.users.empty()) {
      for (IpSetState* st : sets) {
        activate_set(st);
      }
      for (IpSetState* st : p.sets) {
        deactivate_set(st);
      }
    }
    for (IpSetState* st : p.sets) {
      release_set(st);
    }
    p.sets = std::move(sets);
    if (target != p.target) {
      if (p.target) {
        auto& list = p.target->targets_of;
        list.erase(std::find(list.begin(), list.end(), &p));
        mark_local_members(p.target);
      }
      if (target) {
        target->targets_of.push_back(&p);
        mark_local_members(target);
      }
    } else if (target &&
               (plan.order != p.order || plan.ingress != p.ingress || plan.egress != p.egress)) {
      mark_local_members(target);
    }
    if (p.target) {
      release_selection(p.target);
    }
    p.target = target;
    p.order = plan.order;
    p.ingress = plan.ingress;
    p.egress = plan.egress;
    p.rendered = plan.policy;
    p.warnings = plan.warnings;
    dirty_policies.insert(key);
  }

  // The state lives on (detached) until the endpoints listing it have been recomputed.
  void remove_policy(const PolicyKey& key) {
    auto it = policies.find(key);
    if (it == policies.end()) {
      return;
    }
    std::unique_ptr<PolicyState> p = std::move(it->second);
    policies.erase(it);
    if (p->target) {
      auto& list = p->target->targets_of;
      list.erase(std::find(list.begin(), list.end(), p.get()));
    }
    for (EndpointState* ep : p->users) {
      needs_lists.insert(ep);
    }
    dirty_policies.insert(key);
    removed_policies.push_back(std::move(p));
  }

  // ---- Profiles ----------------------------------------------------------------------------

  static PolicyKey profile_key(const std::string& name) { return {PolicyKind::kProfile, name}; }

  // A profile is in force when its resource exists, or for a namespace profile that endpoints
  // use (the namespace default).
  void sync_profile_policy(const std::string& name, bool rerender) {
    auto it = profiles.find(name);
    const ProfileState* ps = it == profiles.end() ? nullptr : &it->second;
    const bool wanted =
        ps != nullptr &&
        (ps->spec || (detail::is_namespace_profile(name) && !ps->endpoints.empty()));
    const PolicyKey key = profile_key(name);
    const bool exists = policies.count(key) != 0;
    if (wanted && (!exists || rerender)) {
      upsert_policy(key, detail::plan_profile(name, ps->spec ? &*ps->spec : nullptr));
    } else if (!wanted && exists) {
      remove_policy(key);
    }
    if (wanted != exists && ps != nullptr) {
      for (EndpointState* ep : ps->endpoints) {
        if (ep->local) {
          needs_lists.insert(ep);
        }
      }
    }
    if (ps != nullptr && !ps->spec && ps->endpoints.empty()) {
      profiles.erase(it);
    }
  }

  Labels effective_labels(const EndpointState& ep) const {
    Labels out = *ep.own;
    for (const std::string& name : ep.profile_names) {
      auto it = profiles.find(name);
      if (it == profiles.end() || !it->second.spec) {
        continue;
      }
      for (const auto& [k, v] : it->second.spec->labels_to_apply) {
        out.emplace(k, v);  // the endpoint's own labels, then earlier profiles, win
      }
    }
    return out;
  }

  // ---- Endpoints ---------------------------------------------------------------------------

  // Re-evaluates the selections an endpoint may have entered or left: those it is in, those whose
  // selector reads a changed label key, `extra`, and (for a new endpoint) those matching no
  // labels. `old_ips`/`old_ports` are set when its addresses or named ports changed.
  void reconcile(EndpointState& ep, const std::vector<std::string>& keys, bool is_new,
                 const std::vector<IpPrefix>* old_ips,
                 const std::vector<model::NamedPort>* old_ports,
                 const std::vector<SelectionState*>& extra) {
    const uint64_t mark = ++visit_counter;
    std::vector<SelectionState*> candidates;
    auto consider = [&](SelectionState* s) {
      if (s->visit != mark) {
        s->visit = mark;
        candidates.push_back(s);
      }
    };
    for (SelectionState* s : ep.selections) {
      consider(s);
    }
    auto ns_bucket = namespace_buckets.find(ep.namespace_);
    Bucket* buckets[2] = {&global_bucket,
                          ns_bucket == namespace_buckets.end() ? nullptr : &ns_bucket->second};
    for (Bucket* b : buckets) {
      if (b == nullptr) {
        continue;
      }
      for (const std::string& k : keys) {
        auto it = b->by_key.find(k);
        if (it != b->by_key.end()) {
          for (SelectionState* s : it->second) {
            consider(s);
          }
        }
      }
      if (is_new) {
        for (SelectionState* s : b->empty_matchers) {
          consider(s);
        }
      }
    }
    for (SelectionState* s : extra) {
      consider(s);
    }
    const auto& prev_ips = old_ips ? *old_ips : ep.ips;
    const auto& prev_ports = old_ports ? *old_ports : ep.ports;
    for (SelectionState* s : candidates) {
      const bool was = ep.selections.count(s) != 0;
      const bool now = matches(*s, ep);
      if (was && now) {
        if (old_ips) {
          for (IpSetState* st : s->ipsets) {
            remove_endpoint_from_set(*st, prev_ips, prev_ports);
            add_endpoint_to_set(*st, ep.ips, ep.ports);
          }
        }
      } else if (was) {
        for (IpSetState* st : s->ipsets) {
          remove_endpoint_from_set(*st, prev_ips, prev_ports);
        }
        s->endpoints.erase(&ep);
        ep.selections.erase(s);
        if (!s->targets_of.empty() && ep.local) {
          needs_lists.insert(&ep);
        }
      } else if (now) {
        for (IpSetState* st : s->ipsets) {
          add_endpoint_to_set(*st, ep.ips, ep.ports);
        }
        s->endpoints.insert(&ep);
        ep.selections.insert(s);
        if (!s->targets_of.empty() && ep.local) {
          needs_lists.insert(&ep);
        }
      }
    }
  }

  void upsert_endpoint(const model::WorkloadEndpoint& wep) {
    const std::string& ns = wep.metadata.namespace_;
    const std::string id = endpoint_id(ns, wep.metadata.name);
    const auto& spec = wep.spec;

    std::vector<IpPrefix> ips;
    for (const IpPrefix& p : spec.ip_networks) {
      IpPrefix host = IpPrefix::host(p.address());
      if (std::find(ips.begin(), ips.end(), host) == ips.end()) {
        ips.push_back(host);
      }
    }
    std::vector<std::string> profile_names;
    const std::string ns_profile = "kns." + ns;
    if (std::find(spec.profiles.begin(), spec.profiles.end(), ns_profile) == spec.profiles.end()) {
      profile_names.push_back(ns_profile);
    }
    for (const std::string& p : spec.profiles) {
      if (std::find(profile_names.begin(), profile_names.end(), p) == profile_names.end()) {
        profile_names.push_back(p);
      }
    }

    auto& slot = endpoints[id];
    const bool is_new = !slot;
    if (is_new) {
      slot = std::make_unique<EndpointState>();
      slot->id = id;
      slot->namespace_ = ns;
      namespaces[ns].endpoints.insert(slot.get());
    }
    EndpointState& ep = *slot;
    const bool was_local = ep.local;
    std::shared_ptr<const Labels> old_own = std::move(ep.own);
    std::shared_ptr<const Labels> old_effective = std::move(ep.effective);
    std::vector<IpPrefix> old_ips = std::move(ep.ips);
    std::vector<model::NamedPort> old_ports = std::move(ep.ports);
    std::vector<std::string> old_profiles = std::move(ep.profile_names);
    const bool record_changed = is_new || ep.interface_name != spec.interface_name ||
                                ep.mac != spec.mac || old_ips != ips ||
                                old_profiles != profile_names;

    ep.local = config.all_endpoints_local || spec.node == config.node_name;
    ep.own = intern(wep.metadata.labels);
    ep.ips = std::move(ips);
    ep.ports = spec.ports;
    ep.profile_names = std::move(profile_names);
    ep.interface_name = spec.interface_name;
    ep.mac = spec.mac;

    for (const std::string& name : old_profiles) {
      if (std::find(ep.profile_names.begin(), ep.profile_names.end(), name) ==
          ep.profile_names.end()) {
        profiles[name].endpoints.erase(&ep);
        sync_profile_policy(name, false);
      }
    }
    for (const std::string& name : ep.profile_names) {
      if (std::find(old_profiles.begin(), old_profiles.end(), name) == old_profiles.end()) {
        profiles[name].endpoints.insert(&ep);
        sync_profile_policy(name, false);
      }
    }
    ep.effective = intern(effective_labels(ep));

    std::vector<std::string> keys;
    if (is_new) {
      for (const auto& [k, v] : *ep.effective) {
        keys.push_back(k);  // effective includes own
      }
    } else {
      keys = changed_keys(*old_own, *ep.own);
      for (std::string& k : changed_keys(*old_effective, *ep.effective)) {
        keys.push_back(std::move(k));
      }
    }
    release(old_own);
    release(old_effective);
    const bool addresses_changed = !is_new && (old_ips != ep.ips || old_ports != ep.ports);
    reconcile(ep, keys, is_new, addresses_changed ? &old_ips : nullptr,
              addresses_changed ? &old_ports : nullptr, {});
    if (ep.local || was_local) {
      if (record_changed || ep.local != was_local) {
        needs_lists.insert(&ep);
        dirty_endpoints.insert(id);
      }
    }
  }

  void remove_endpoint(const std::string& id) {
    auto it = endpoints.find(id);
    if (it == endpoints.end()) {
      return;
    }
    EndpointState* ep = it->second.get();
    for (SelectionState* s : ep->selections) {
      for (IpSetState* st : s->ipsets) {
        remove_endpoint_from_set(*st, ep->ips, ep->ports);
      }
      s->endpoints.erase(ep);
    }
    ep->selections.clear();
    for (auto* list : {&ep->ingress, &ep->egress, &ep->profiles}) {
      for (PolicyState* p : *list) {
        release_user(p, ep);
      }
      list->clear();
    }
    for (const std::string& name : ep->profile_names) {
      profiles[name].endpoints.erase(ep);
      sync_profile_policy(name, false);
    }
    auto ns = namespaces.find(ep->namespace_);
    ns->second.endpoints.erase(ep);
    if (ns->second.endpoints.empty() && ns->second.netsets.empty() && ns->second.labels.empty()) {
      namespaces.erase(ns);
    }
    needs_lists.erase(ep);
    dirty_endpoints.insert(id);
    release(ep->own);
    release(ep->effective);
    endpoints.erase(it);
  }

  // ---- Profiles and namespaces -------------------------------------------------------------

  void profile_labels_changed(const std::string& name, const Labels& old_labels,
                              const Labels& new_labels) {
    if (old_labels == new_labels) {
      return;
    }
    std::vector<SelectionState*> scope_changed;
    std::string ns;
    std::unordered_set<EndpointState*> affected;
    if (detail::is_namespace_profile(name)) {
      ns = name.substr(4);
      NamespaceState& state = namespaces[ns];
      state.labels = new_labels;
      for (auto& [text, sel] : namespace_selectors) {
        auto it = sel->matches.find(ns);
        if (it == sel->matches.end()) {
          continue;  // never evaluated for this namespace: nothing depends on it
        }
        const bool now = sel->selector.matches(new_labels);
        if (now != it->second) {
          it->second = now;
          scope_changed.insert(scope_changed.end(), sel->selections.begin(), sel->selections.end());
        }
      }
      affected = state.endpoints;
      if (!scope_changed.empty()) {
        std::vector<NetsetState*> sets(state.netsets.begin(), state.netsets.end());
        for (NetsetState* n : sets) {
          refresh_netset(*n, n->nets);
        }
      }
    }
    auto ps = profiles.find(name);
    if (ps != profiles.end()) {
      affected.insert(ps->second.endpoints.begin(), ps->second.endpoints.end());
    }
    static const std::vector<SelectionState*> kNone;
    for (EndpointState* ep : affected) {
      std::shared_ptr<const Labels> before = std::move(ep->effective);
      ep->effective = intern(effective_labels(*ep));
      reconcile(*ep, changed_keys(*before, *ep->effective), false, nullptr, nullptr,
                ep->namespace_ == ns ? scope_changed : kNone);
      release(before);
    }
  }

  void upsert_profile(const model::Profile& profile) {
    const std::string& name = profile.metadata.name;
    PolicyPlan plan = detail::plan_profile(name, &profile.spec);  // may throw: nothing changed yet
    ProfileState& ps = profiles[name];
    Labels old_labels;
    if (ps.spec) {
      old_labels.insert(ps.spec->labels_to_apply.begin(), ps.spec->labels_to_apply.end());
    }
    const bool existed = policies.count(profile_key(name)) != 0;
    ps.spec = profile.spec;
    upsert_policy(profile_key(name), plan);
    if (!existed) {
      for (EndpointState* ep : ps.endpoints) {
        if (ep->local) {
          needs_lists.insert(ep);
        }
      }
    }
    Labels new_labels(profile.spec.labels_to_apply.begin(), profile.spec.labels_to_apply.end());
    profile_labels_changed(name, old_labels, new_labels);
  }

  void remove_profile(const std::string& name) {
    auto it = profiles.find(name);
    if (it == profiles.end() || !it->second.spec) {
      return;
    }
    Labels old_labels(it->second.spec->labels_to_apply.begin(),
                      it->second.spec->labels_to_apply.end());
    it->second.spec.reset();
    profile_labels_changed(name, old_labels, {});
    sync_profile_policy(name, true);
  }

  // ---- Network sets ------------------------------------------------------------------------

  // Removes the set's old contributions (`old_nets`) and re-evaluates it everywhere.
  void refresh_netset(NetsetState& n, const std::vector<IpPrefix>& old_nets) {
    for (SelectionState* s : n.selections) {
      for (IpSetState* st : s->ipsets) {
        netset_members(*st, old_nets, [&](const IpSetMember& m) { remove_member(*st, m); });
      }
      s->netsets.erase(&n);
    }
    n.selections.clear();
    for (SelectionState* s : netset_selections) {
      if (matches(*s, n)) {
        s->netsets.insert(&n);
        n.selections.insert(s);
        for (IpSetState* st : s->ipsets) {
          netset_members(*st, n.nets, [&](const IpSetMember& m) { add_member(*st, m); });
        }
      }
    }
  }

  void upsert_netset(const std::string& key, const std::string& ns, bool global,
                     const Labels& labels, const std::vector<IpPrefix>& nets) {
    auto& slot = netsets[key];
    if (!slot) {
      slot = std::make_unique<NetsetState>();
      slot->key = key;
      slot->namespace_ = ns;
      slot->global = global;
      if (!global) {
        namespaces[ns].netsets.insert(slot.get());
      }
    }
    std::vector<IpPrefix> old_nets = std::move(slot->nets);
    slot->labels = labels;
    slot->nets.clear();
    for (const IpPrefix& n : nets) {
      IpPrefix masked = n.masked();
      if (std::find(slot->nets.begin(), slot->nets.end(), masked) == slot->nets.end()) {
        slot->nets.push_back(masked);
      }
    }
    refresh_netset(*slot, old_nets);
  }

  void remove_netset(const std::string& key) {
    auto it = netsets.find(key);
    if (it == netsets.end()) {
      return;
    }
    NetsetState& n = *it->second;
    std::vector<IpPrefix> old_nets = std::move(n.nets);
    n.nets.clear();
    for (SelectionState* s : n.selections) {
      for (IpSetState* st : s->ipsets) {
        netset_members(*st, old_nets, [&](const IpSetMember& m) { remove_member(*st, m); });
      }
      s->netsets.erase(&n);
    }
    if (!n.global) {
      auto ns = namespaces.find(n.namespace_);
      ns->second.netsets.erase(&n);
      if (ns->second.endpoints.empty() && ns->second.netsets.empty() && ns->second.labels.empty()) {
        namespaces.erase(ns);
      }
    }
    netsets.erase(it);
  }

  // ---- Flush and output --------------------------------------------------------------------

  void compute_lists(EndpointState& ep, std::vector<PolicyState*>& ingress,
                     std::vector<PolicyState*>& egress, std::vector<PolicyState*>& profile_list) {
    if (!ep.local) {
      return;
    }
    std::vector<PolicyState*> applying;
    for (SelectionState* s : ep.selections) {
      for (PolicyState* p : s->targets_of) {
        applying.push_back(p);
      }
    }
    std::sort(applying.begin(), applying.end(), policy_before);
    applying.erase(std::unique(applying.begin(), applying.end()), applying.end());
    for (PolicyState* p : applying) {
      if (p->ingress) {
        ingress.push_back(p);
      }
      if (p->egress) {
        egress.push_back(p);
      }
    }
    for (const std::string& name : ep.profile_names) {
      auto it = policies.find(profile_key(name));
      if (it != policies.end()) {
        profile_list.push_back(it->second.get());
      }
    }
  }

  void flush() {
    std::vector<EndpointState*> work(needs_lists.begin(), needs_lists.end());
    needs_lists.clear();
    for (EndpointState* ep : work) {
      std::vector<PolicyState*> ingress, egress, profile_list;
      compute_lists(*ep, ingress, egress, profile_list);
      if (ingress == ep->ingress && egress == ep->egress && profile_list == ep->profiles) {
        continue;
      }
      std::unordered_set<PolicyState*> before, after;
      for (auto* list : {&ep->ingress, &ep->egress, &ep->profiles}) {
        before.insert(list->begin(), list->end());
      }
      for (auto* list : {&ingress, &egress, &profile_list}) {
        after.insert(list->begin(), list->end());
      }
      for (PolicyState* p : after) {
        if (before.count(p) == 0) {
          acquire_user(p, ep);
        }
      }
      for (PolicyState* p : before) {
        if (after.count(p) == 0) {
          release_user(p, ep);
        }
      }
      ep->ingress = std::move(ingress);
      ep->egress = std::move(egress);
      ep->profiles = std::move(profile_list);
      dirty_endpoints.insert(ep->id);
    }
    for (auto& p : removed_policies) {
      assert(p->users.empty());
      for (IpSetState* st : p->sets) {
        release_set(st);
      }
      if (p->target) {
        release_selection(p->target);
      }
    }
    removed_policies.clear();
  }

  static IpSet render_set(const IpSetState& st) {
    IpSet s;
    s.id = st.id;
    s.type = st.spec.type;
    s.family = st.spec.family;
    s.members.reserve(st.counts.size());
    for (const auto& [m, count] : st.counts) {
      s.members.push_back(m);
    }
    std::sort(s.members.begin(), s.members.end());
    return s;
  }

  static Endpoint render_endpoint(const EndpointState& ep) {
    Endpoint e;
    e.id = ep.id;
    e.interface_name = ep.interface_name;
    e.addresses = ep.ips;
    e.mac = ep.mac;
    for (const PolicyState* p : ep.ingress) {
      e.ingress_policies.push_back(p->key.id);
    }
    for (const PolicyState* p : ep.egress) {
      e.egress_policies.push_back(p->key.id);
    }
    for (const PolicyState* p : ep.profiles) {
      e.profiles.push_back(p->key.id);
    }
    return e;
  }

  std::vector<Change> take_changes() {
    flush();
    std::vector<Change> out;
    if (globals_dirty) {
      out.push_back(SetGlobals{globals});
      globals_dirty = false;
    }
    for (const std::string& id : dirty_sets) {
      auto it = ipsets.find(id);
      if (it == ipsets.end() || it->second->active_refs == 0) {
        continue;
      }
      IpSetState& st = *it->second;
      if (st.needs_full || emitted_sets.count(id) == 0) {
        out.push_back(UpsertIpSet{render_set(st)});
        emitted_sets.insert(id);
      } else if (!st.pending.empty()) {
        UpdateIpSetMembers u;
        u.id = id;
        for (const auto& [m, added] : st.pending) {
          (added ? u.added : u.removed).push_back(m);
        }
        out.push_back(std::move(u));
      }
      st.needs_full = false;
      st.pending.clear();
    }
    for (const PolicyKey& key : dirty_policies) {
      auto it = policies.find(key);
      if (it == policies.end() || it->second->users.empty()) {
        continue;
      }
      auto [e, inserted] = emitted_policies.try_emplace(key);
      if (inserted || e->second != it->second->rendered) {
        e->second = it->second->rendered;
        out.push_back(UpsertPolicy{it->second->rendered});
      }
    }
    for (const std::string& id : dirty_endpoints) {
      auto it = endpoints.find(id);
      if (it == endpoints.end() || !it->second->local) {
        continue;
      }
      Endpoint rendered = render_endpoint(*it->second);
      const uint64_t sent = fingerprint(rendered);
      auto [e, inserted] = emitted_endpoints.try_emplace(id, sent);
      if (inserted || e->second != sent) {
        e->second = sent;
        out.push_back(UpsertEndpoint{std::move(rendered)});
      }
    }
    for (const std::string& id : dirty_endpoints) {
      auto it = endpoints.find(id);
      if ((it == endpoints.end() || !it->second->local) && emitted_endpoints.erase(id) != 0) {
        out.push_back(RemoveEndpoint{id});
      }
    }
    for (const PolicyKey& key : dirty_policies) {
      auto it = policies.find(key);
      if ((it == policies.end() || it->second->users.empty()) && emitted_policies.erase(key) != 0) {
        out.push_back(RemovePolicy{key.kind, key.id});
      }
    }
    for (const std::string& id : dirty_sets) {
      auto it = ipsets.find(id);
      if ((it == ipsets.end() || it->second->active_refs == 0) && emitted_sets.erase(id) != 0) {
        out.push_back(RemoveIpSet{id});
      }
    }
    dirty_sets.clear();
    dirty_policies.clear();
    dirty_endpoints.clear();
    return out;
  }

  Model snapshot() {
    flush();
    Model m;
    m.globals = globals;
    for (const auto& [id, st] : ipsets) {
      if (st->active_refs > 0) {
        m.ipsets.emplace(id, render_set(*st));
      }
    }
    for (const auto& [key, p] : policies) {
      if (!p->users.empty()) {
        m.policies.emplace(key, p->rendered);
      }
    }
    for (const auto& [id, ep] : endpoints) {
      if (ep->local) {
        m.endpoints.emplace(id, render_endpoint(*ep));
      }
    }
    return m;
  }
};

// ---- Public interface ----------------------------------------------------------------------

PolicyEngine::PolicyEngine(EngineConfig config) : state_(std::make_unique<State>()) {
  state_->config = std::move(config);
}
PolicyEngine::~PolicyEngine() = default;
PolicyEngine::PolicyEngine(PolicyEngine&&) noexcept = default;
PolicyEngine& PolicyEngine::operator=(PolicyEngine&&) noexcept = default;

std::string PolicyEngine::endpoint_id(std::string_view namespace_, std::string_view name) {
  return std::string(namespace_) + "/" + std::string(name);
}

void PolicyEngine::set_globals(const Globals& globals) {
  if (!state_->globals_set || !(globals == state_->globals)) {
    state_->globals = globals;
    state_->globals_set = true;
    state_->globals_dirty = true;
  }
}

void PolicyEngine::upsert_workload_endpoint(const model::WorkloadEndpoint& endpoint) {
  state_->upsert_endpoint(endpoint);
}
void PolicyEngine::remove_workload_endpoint(std::string_view namespace_, std::string_view name) {
  state_->remove_endpoint(endpoint_id(namespace_, name));
}

void PolicyEngine::upsert_profile(const model::Profile& profile) {
  state_->upsert_profile(profile);
}
void PolicyEngine::remove_profile(std::string_view name) {
  state_->remove_profile(std::string(name));
}

void PolicyEngine::upsert_kubernetes_network_policy(const model::KubernetesNetworkPolicy& policy) {
  PolicyPlan plan = detail::plan_kubernetes(policy);
  state_->upsert_policy(plan.policy.key(), plan);
}
void PolicyEngine::remove_kubernetes_network_policy(std::string_view namespace_,
                                                    std::string_view name) {
  state_->remove_policy({PolicyKind::kPolicy, detail::kubernetes_policy_id(namespace_, name)});
}

void PolicyEngine::upsert_network_policy(const model::NetworkPolicy& policy) {
  PolicyPlan plan = detail::plan_network_policy(policy);
  state_->upsert_policy(plan.policy.key(), plan);
}
void PolicyEngine::remove_network_policy(std::string_view namespace_, std::string_view name) {
  state_->remove_policy({PolicyKind::kPolicy, detail::network_policy_id(namespace_, name)});
}

void PolicyEngine::upsert_global_network_policy(const model::GlobalNetworkPolicy& policy) {
  PolicyPlan plan = detail::plan_global_network_policy(policy);
  state_->upsert_policy(plan.policy.key(), plan);
}
void PolicyEngine::remove_global_network_policy(std::string_view name) {
  state_->remove_policy({PolicyKind::kPolicy, detail::global_network_policy_id(name)});
}

void PolicyEngine::upsert_network_set(const model::NetworkSet& set) {
  const auto& m = set.metadata;
  state_->upsert_netset(m.namespace_ + "/" + m.name, m.namespace_, false, m.labels, set.spec.nets);
}
void PolicyEngine::remove_network_set(std::string_view namespace_, std::string_view name) {
  state_->remove_netset(std::string(namespace_) + "/" + std::string(name));
}
void PolicyEngine::upsert_global_network_set(const model::GlobalNetworkSet& set) {
  const auto& m = set.metadata;
  state_->upsert_netset("/" + m.name, "", true, m.labels, set.spec.nets);
}
void PolicyEngine::remove_global_network_set(std::string_view name) {
  state_->remove_netset("/" + std::string(name));
}

std::vector<Change> PolicyEngine::take_changes() {
  return state_->take_changes();
}

Model PolicyEngine::snapshot() {
  return state_->snapshot();
}

TraceResult PolicyEngine::trace(const TraceRequest& request) {
  struct Resolved {
    const EndpointState* endpoint = nullptr;
    std::optional<model::IpAddress> address;
    std::string description;
  };
  auto resolve = [&](const TracePeer& peer, const char* which) {
    Resolved r;
    if (peer.address) {
      r.address = peer.address;
      r.description = peer.address->to_string();
      return r;
    }
    const std::string id = endpoint_id(peer.namespace_, peer.name);
    auto it = state_->endpoints.find(id);
    if (it == state_->endpoints.end()) {
      throw PolicyError(std::string(which) + ": unknown workload endpoint " + id);
    }
    r.endpoint = it->second.get();
    r.description = id;
    return r;
  };
  Resolved from = resolve(request.from, "from");
  Resolved to = resolve(request.to, "to");
  auto has_family = [](const Resolved& r, model::IpFamily f) {
    if (r.address) {
      return r.address->family() == f;
    }
    return std::any_of(r.endpoint->ips.begin(), r.endpoint->ips.end(),
                       [&](const IpPrefix& p) { return p.family() == f; });
  };
  model::IpFamily family = request.family.value_or(has_family(from, model::IpFamily::kV4) &&
                                                           has_family(to, model::IpFamily::kV4)
                                                       ? model::IpFamily::kV4
                                                       : model::IpFamily::kV6);
  auto address = [&](const Resolved& r, const char* which) {
    if (r.address) {
      if (r.address->family() != family) {
        throw PolicyError(std::string(which) + ": " + r.description + " is not an " +
                          std::string(model::family_name(family)) + " address");
      }
      return *r.address;
    }
    for (const IpPrefix& p : r.endpoint->ips) {
      if (p.family() == family) {
        return p.address();
      }
    }
    throw PolicyError(std::string(which) + ": " + r.description + " has no " +
                      std::string(model::family_name(family)) + " address");
  };
  Packet packet;
  packet.source = address(from, "from");
  packet.destination = address(to, "to");
  packet.protocol = request.protocol;
  packet.destination_port = request.port;
  packet.icmp_type = request.icmp_type;
  packet.icmp_code = request.icmp_code;
  TraceEnd from_end{from.endpoint ? from.endpoint->id : "",
                    from.description + " (" + packet.source.to_string() + ")"};
  TraceEnd to_end{to.endpoint ? to.endpoint->id : "",
                  to.description + " (" + packet.destination.to_string() + ")"};
  return policy::trace(snapshot(), from_end, to_end, packet);
}

std::map<PolicyKey, std::vector<std::string>> PolicyEngine::warnings() const {
  std::map<PolicyKey, std::vector<std::string>> out;
  for (const auto& [key, p] : state_->policies) {
    if (!p->warnings.empty()) {
      out.emplace(key, p->warnings);
    }
  }
  return out;
}

EngineStats PolicyEngine::stats() const {
  EngineStats s;
  s.endpoints = state_->endpoints.size();
  for (const auto& [id, ep] : state_->endpoints) {
    s.local_endpoints += ep->local ? 1 : 0;
  }
  s.policies = state_->policies.size();
  for (const auto& [key, p] : state_->policies) {
    s.active_policies += p->users.empty() ? 0 : 1;
  }
  s.selections = state_->selections.size();
  s.ipsets = state_->ipsets.size();
  for (const auto& [id, st] : state_->ipsets) {
    s.active_ipsets += st->active_refs > 0 ? 1 : 0;
  }
  return s;
}

// ---- brindlectl policy trace arguments ----------------------------------------------------

namespace {

std::optional<int> parse_number(std::string_view text, int max) {
  if (text.empty() || text.size() > 5) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value <= max ? std::optional<int>(value) : std::nullopt;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (end == std::string_view::npos) {
      return out;
    }
    start = end + 1;
  }
}

}  // namespace

TracePeer parse_trace_peer(std::string_view text) {
  if (auto address = model::IpAddress::try_parse(text)) {
    return TracePeer::ip(*address);
  }
  const auto parts = split(text, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    throw PolicyError("\"" + std::string(text) +
                      "\": expected <namespace>/<endpoint name> or an IP address");
  }
  return TracePeer::endpoint(std::string(parts[0]), std::string(parts[1]));
}

void parse_trace_port(std::string_view text, TraceRequest& request) {
  const auto parts = split(text, '/');
  auto fail = [&](const std::string& why) -> void {
    throw PolicyError("port \"" + std::string(text) + "\": " + why);
  };
  std::string proto(parts[0]);
  for (char& c : proto) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (proto == "icmp" || proto == "icmpv6") {
    request.protocol = proto == "icmp" ? kProtoICMP : kProtoICMPv6;
    request.port = 0;
    if (parts.size() > 3) {
      fail("expected icmp[/<type>[/<code>]]");
    }
    if (parts.size() > 1) {
      auto type = parse_number(parts[1], 254);
      if (!type) {
        fail("ICMP type must be 0-254");
      }
      request.icmp_type = static_cast<int16_t>(*type);
    }
    if (parts.size() > 2) {
      auto code = parse_number(parts[2], 255);
      if (!code) {
        fail("ICMP code must be 0-255");
      }
      request.icmp_code = static_cast<int16_t>(*code);
    }
    return;
  }
  if (parts.size() > 2) {
    fail("expected <port>[/tcp|udp|sctp]");
  }
  auto port = parse_number(parts[0], 65535);
  if (!port || *port == 0) {
    fail("the port must be 1-65535");
  }
  request.port = static_cast<uint16_t>(*port);
  request.protocol = kProtoTCP;
  if (parts.size() == 2) {
    std::string name(parts[1]);
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (name == "tcp") {
      request.protocol = kProtoTCP;
    } else if (name == "udp") {
      request.protocol = kProtoUDP;
    } else if (name == "sctp") {
      request.protocol = kProtoSCTP;
    } else {
      fail("unknown protocol \"" + std::string(parts[1]) + "\" (expected tcp, udp or sctp)");
    }
  }
}

}  // namespace brindle::policy
