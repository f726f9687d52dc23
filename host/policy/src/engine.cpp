#include "brindle/policy/engine.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cstring>
#include <functional>
#include <set>
#include <tuple>
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

// Endpoints are numbered (State::endpoint_slots): membership lists hold these 4-byte numbers
// rather than pointers in hash sets.
using EndpointIndex = uint32_t;

// A set kept as a sorted vector: a selection holds up to every endpoint and an endpoint is in a
// few dozen selections; a node-based hash set spends a node (32 bytes) and a bucket per member on
// that. It grows by a quarter rather than doubling, so that bulk builds leave little slack.
template <typename T>
class FlatSet {
 public:
  bool insert(T value) {
    const auto it = std::lower_bound(items_.begin(), items_.end(), value, std::less<T>());
    if (it != items_.end() && *it == value) {
      return false;
    }
    if (items_.size() == items_.capacity()) {
      const size_t at = static_cast<size_t>(it - items_.begin());
      items_.reserve(items_.size() + items_.size() / 4 + 2);
      items_.insert(items_.begin() + static_cast<std::ptrdiff_t>(at), value);
      return true;
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
    if (items_.empty()) {
      clear();
    }
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

// Members of one address family with the number of contributors (endpoints, network sets) of
// each: an open-addressing table (linear probing, backward-shift deletion) of 12-byte (IPv4) or
// 24-byte (IPv6) slots, instead of a node-based hash map (~72 bytes a member).
template <size_t kAddressBytes>
class MemberTable {
 public:
  // Returns the member's count after the change.
  uint32_t add(const IpSetMember& member) {
    if ((size_ + 1) * 8 > slots_.size() * 7) {
      rehash(slots_.empty() ? 4 : slots_.size() * 2);
    }
    const Slot key = pack(member);
    size_t i = home(key);
    while (slots_[i].count != 0) {
      if (same(slots_[i], key)) {
        return ++slots_[i].count;
      }
      i = (i + 1) & (slots_.size() - 1);
    }
    slots_[i] = key;
    slots_[i].count = 1;
    ++size_;
    return 1;
  }

  // Returns the member's count after the change; 0 also for a member that was not there.
  uint32_t remove(const IpSetMember& member) {
    if (slots_.empty()) {
      return 0;
    }
    const Slot key = pack(member);
    const size_t mask = slots_.size() - 1;
    size_t i = home(key);
    while (true) {
      if (slots_[i].count == 0) {
        return 0;
      }
      if (same(slots_[i], key)) {
        break;
      }
      i = (i + 1) & mask;
    }
    if (--slots_[i].count != 0) {
      return slots_[i].count;
    }
    // Backward shift: move later entries of the probe run into the hole when their home allows.
    size_t j = i;
    while (true) {
      j = (j + 1) & mask;
      if (slots_[j].count == 0) {
        break;
      }
      const size_t k = home(slots_[j]);
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].count = 0;
    --size_;
    if (size_ == 0) {
      std::vector<Slot>().swap(slots_);
    } else if (slots_.size() > 8 && size_ * 8 < slots_.size()) {
      rehash(slots_.size() / 2);
    }
    return 0;
  }

  size_t size() const { return size_; }

  // Unordered.
  template <typename F>
  void for_each(F f) const {
    for (const Slot& s : slots_) {
      if (s.count != 0) {
        f(unpack(s));
      }
    }
  }

 private:
  static constexpr model::IpFamily kFamily =
      kAddressBytes == 4 ? model::IpFamily::kV4 : model::IpFamily::kV6;
  struct Slot {
    std::array<uint8_t, kAddressBytes> address;
    uint8_t prefix_length;
    uint8_t protocol;
    uint16_t port;
    uint32_t count;  // 0: free
  };
  static_assert(sizeof(Slot) == kAddressBytes + 8);

  static Slot pack(const IpSetMember& m) {
    Slot s{};
    std::memcpy(s.address.data(), m.net.address().bytes().data(), kAddressBytes);
    s.prefix_length = static_cast<uint8_t>(m.net.prefix_length());
    s.protocol = m.protocol;
    s.port = m.port;
    return s;
  }
  static IpSetMember unpack(const Slot& s) {
    return IpSetMember{
        IpPrefix(model::IpAddress::from_bytes(kFamily, s.address.data()), s.prefix_length),
        s.protocol, s.port};
  }
  static bool same(const Slot& a, const Slot& b) {
    return a.address == b.address && a.prefix_length == b.prefix_length &&
           a.protocol == b.protocol && a.port == b.port;
  }
  size_t home(const Slot& s) const {
    uint64_t h = (static_cast<uint64_t>(s.prefix_length) << 24) |
                 (static_cast<uint64_t>(s.protocol) << 16) | s.port;
    for (size_t at = 0; at < kAddressBytes; at += 4) {
      uint32_t word = 0;
      std::memcpy(&word, s.address.data() + at, 4);
      h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 32;
    }
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
    return static_cast<size_t>(h) & (slots_.size() - 1);
  }
  void rehash(size_t capacity) {
    std::vector<Slot> old(capacity, Slot{});
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.count != 0) {
        size_t i = home(s);
        while (slots_[i].count != 0) {
          i = (i + 1) & (slots_.size() - 1);
        }
        slots_[i] = s;
      }
    }
  }

  std::vector<Slot> slots_;  // capacity a power of two
  size_t size_ = 0;
};

// An IP set's members with their contributor counts. A set holds one family; both tables are
// here so that a member's own family picks its table.
class MemberCounts {
 public:
  uint32_t add(const IpSetMember& m) { return m.net.is_v4() ? v4_.add(m) : v6_.add(m); }
  uint32_t remove(const IpSetMember& m) { return m.net.is_v4() ? v4_.remove(m) : v6_.remove(m); }
  size_t size() const { return v4_.size() + v6_.size(); }
  template <typename F>
  void for_each(F f) const {
    v4_.for_each(f);
    v6_.for_each(f);
  }

 private:
  MemberTable<4> v4_;
  MemberTable<16> v6_;
};

// A 64-bit FNV-1a over length-prefixed fields: the engine remembers what it sent per endpoint and
// per policy by this, not by a second copy of the record.
class Fingerprint {
 public:
  void bytes(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < size; ++i) {
      hash_ = (hash_ ^ p[i]) * 0x100000001b3ULL;
    }
  }
  void number(uint64_t value) { bytes(&value, sizeof(value)); }
  void text(std::string_view value) {
    number(value.size());
    bytes(value.data(), value.size());
  }
  void prefix(const IpPrefix& p) {
    number(static_cast<uint64_t>(p.family()));
    bytes(p.address().bytes().data(), p.address().bytes().size());
    number(static_cast<uint64_t>(p.prefix_length()));
  }
  void prefixes(const std::vector<IpPrefix>& list) {
    number(list.size());
    for (const IpPrefix& p : list) {
      prefix(p);
    }
  }
  void texts(const std::vector<std::string>& list) {
    number(list.size());
    for (const std::string& s : list) {
      text(s);
    }
  }
  void ranges(const std::vector<PortRange>& list) {
    number(list.size());
    for (const PortRange& r : list) {
      number((static_cast<uint64_t>(r.first) << 16) | r.last);
    }
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

uint64_t fingerprint(const Endpoint& e) {
  Fingerprint f;
  f.text(e.id);
  f.text(e.interface_name);
  f.prefixes(e.addresses);
  f.text(e.mac ? e.mac->to_string() : std::string("-"));
  f.texts(e.ingress_policies);
  f.texts(e.egress_policies);
  f.texts(e.profiles);
  return f.value();
}

void fingerprint_match(Fingerprint& f, const std::optional<RuleMatch>& match) {
  f.number(match ? 1 : 0);
  if (!match) {
    return;
  }
  f.prefixes(match->nets);
  f.prefixes(match->not_nets);
  f.texts(match->ipsets);
  f.texts(match->not_ipsets);
  f.ranges(match->ports);
  f.ranges(match->not_ports);
  f.texts(match->named_port_ipsets);
}

uint64_t fingerprint(const Policy& p) {
  Fingerprint f;
  f.text(p.id);
  f.number(static_cast<uint64_t>(p.kind));
  for (const std::vector<Rule>* rules : {&p.ingress, &p.egress}) {
    f.number(rules->size());
    for (const Rule& r : *rules) {
      f.text(r.id);
      f.number(static_cast<uint64_t>(r.action));
      f.number(r.ip_version);
      f.number(r.protocol);
      f.number(r.not_protocol);
      f.number(static_cast<uint64_t>(static_cast<uint16_t>(r.icmp_type)));
      f.number(static_cast<uint64_t>(static_cast<uint16_t>(r.icmp_code)));
      fingerprint_match(f, r.source);
      fingerprint_match(f, r.destination);
      f.text(r.log_prefix);
    }
  }
  return f.value();
}

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
  FlatSet<EndpointIndex> endpoints;
  FlatSet<NetsetState*> netsets;
  std::vector<IpSetState*> ipsets;
  std::vector<PolicyState*> targets_of;  // policies applying to the selected endpoints
  uint64_t visit = 0;
};

struct IpSetState {
  // The SetSpec without its selection (that is `selection->spec`).
  IpSetType type = IpSetType::kNet;
  model::IpFamily family = model::IpFamily::kV4;
  uint8_t protocol = 0;   // kNetPort
  std::string port_name;  // kNetPort
  std::string id;
  SelectionState* selection = nullptr;
  int refs = 0;                         // rendered policies using it
  int active_refs = 0;                  // policies in the model using it: the set is in the model
  MemberCounts counts;                  // member -> contributors
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
  FlatSet<EndpointIndex> users;  // local endpoints listing it (as of the last flush)
};

using NamedPorts = std::vector<model::NamedPort>;
using ProfileNames = std::vector<std::string>;

struct EndpointState {
  std::string id;
  const std::string* namespace_ = nullptr;  // the key of State::namespaces
  EndpointIndex index = 0;
  bool local = false;
  bool emitted = false;        // the plugin has its record, with fingerprint `emitted_fingerprint`
  uint32_t ingress_count = 0;  // of `policies`
  uint32_t egress_count = 0;
  uint64_t emitted_fingerprint = 0;
  // The pod's labels, named ports and profiles. Never null; shared with every endpoint that has
  // equal ones (State's pools). Selectors of Brindle policies see the labels plus the profiles'
  // (EffectiveLabels), read through without a merged copy.
  const Labels* own = nullptr;
  const NamedPorts* ports = nullptr;
  const ProfileNames* profile_names = nullptr;
  std::vector<IpPrefix> ips;
  std::string interface_name;
  std::optional<model::MacAddress> mac;
  FlatSet<SelectionState*> selections;
  // As of the last flush (what the model's endpoint record says): ingress policies, then egress
  // policies (ingress_count, egress_count), then profiles.
  std::vector<PolicyState*> policies;
};

struct NetsetState {
  std::string key;
  std::string namespace_;  // empty for a GlobalNetworkSet
  bool global = false;
  Labels labels;
  std::vector<IpPrefix> nets;
  FlatSet<SelectionState*> selections;
};

struct ProfileState {
  std::optional<model::ProfileSpec> spec;
  Labels labels;                     // spec->labels_to_apply, searchable by string_view
  FlatSet<EndpointIndex> endpoints;  // every endpoint listing it
};

struct NamespaceState {
  Labels labels;
  FlatSet<EndpointIndex> endpoints;
  FlatSet<NetsetState*> netsets;
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

// Values stored once per distinct content and shared (labels, named port lists, profile lists),
// with a count of users: every intern() is matched by one release().
template <typename T, typename Less = std::less<T>>
class Pool {
 public:
  const T* intern(T value) {
    auto it = counts_.try_emplace(std::move(value), 0).first;
    ++it->second;
    return &it->first;
  }
  // Drops one user's reference (the pool forgets the value with its last user); nulls `value`.
  void release(const T*& value) {
    if (value != nullptr) {
      auto it = counts_.find(*value);
      assert(it != counts_.end() && &it->first == value);
      if (--it->second == 0) {
        counts_.erase(it);
      }
      value = nullptr;
    }
  }

 private:
  std::map<T, size_t, Less> counts_;
};

struct NamedPortsLess {
  bool operator()(const NamedPorts& a, const NamedPorts& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](const model::NamedPort& x, const model::NamedPort& y) {
                                          return std::tie(x.name, x.protocol, x.port) <
                                                 std::tie(y.name, y.protocol, y.port);
                                        });
  }
};

}  // namespace

struct PolicyEngine::State {
  EngineConfig config;
  Globals globals;
  bool globals_set = false;
  bool globals_dirty = false;

  // Endpoints by number (null: a free number, reused) and by id (views of EndpointState::id).
  std::vector<std::unique_ptr<EndpointState>> endpoint_slots;
  std::vector<EndpointIndex> free_endpoint_slots;
  std::unordered_map<std::string_view, EndpointIndex> endpoint_ids;
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
  FlatSet<SelectionState*> netset_selections;  // Flavor::kEndpointsAndSets
  uint64_t visit_counter = 0;

  Pool<Labels> label_pool;
  Pool<NamedPorts, NamedPortsLess> port_pool;
  Pool<ProfileNames> profile_list_pool;

  // Work for the next flush / take_changes.
  std::unordered_set<EndpointState*> needs_lists;
  std::set<std::string> dirty_endpoints;
  std::set<PolicyKey> dirty_policies;
  std::set<std::string> dirty_sets;
  // What the plugin has: endpoints (EndpointState::emitted, and here those removed since the
  // last take_changes, by id -> fingerprint), policies and profiles (fingerprint()), sets.
  std::unordered_map<std::string, uint64_t> removed_emitted_endpoints;
  std::map<PolicyKey, uint64_t> emitted_policies;
  std::unordered_set<std::string> emitted_sets;

  EndpointState& endpoint_at(EndpointIndex index) const { return *endpoint_slots[index]; }

  EndpointState* find_endpoint(std::string_view id) const {
    auto it = endpoint_ids.find(id);
    return it == endpoint_ids.end() ? nullptr : endpoint_slots[it->second].get();
  }

  template <typename F>
  void for_each_endpoint(F f) const {
    for (const auto& ep : endpoint_slots) {
      if (ep) {
        f(*ep);
      }
    }
  }

  // ---- Labels ------------------------------------------------------------------------------

  const Labels* profile_labels(const std::string& name) const {
    auto it = profiles.find(name);
    return it == profiles.end() || !it->second.spec ? nullptr : &it->second.labels;
  }

  // An endpoint's labels plus those of its profiles (the endpoint's own win, then earlier
  // profiles), as Brindle selectors see them.
  class EffectiveLabels : public model::LabelSource {
   public:
    EffectiveLabels(const State& state, const EndpointState& ep) : state_(state), ep_(ep) {}
    std::optional<std::string_view> get(std::string_view key) const override {
      if (auto it = ep_.own->find(key); it != ep_.own->end()) {
        return std::string_view(it->second);
      }
      for (const std::string& name : *ep_.profile_names) {
        if (const Labels* labels = state_.profile_labels(name)) {
          if (auto it = labels->find(key); it != labels->end()) {
            return std::string_view(it->second);
          }
        }
      }
      return std::nullopt;
    }

   private:
    const State& state_;
    const EndpointState& ep_;
  };

  // The label keys of an endpoint's profiles (may repeat).
  void append_profile_keys(const ProfileNames& names, std::vector<std::string>& keys) const {
    for (const std::string& name : names) {
      if (const Labels* labels = profile_labels(name)) {
        for (const auto& [k, v] : *labels) {
          keys.push_back(k);
        }
      }
    }
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
    if (!scope_matches(s, *ep.namespace_)) {
      return false;
    }
    if (s.spec.flavor == Flavor::kPods) {
      return s.spec.selector.matches(*ep.own);
    }
    return s.spec.selector.matches(EffectiveLabels(*this, ep));
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
    if (st.counts.add(m) == 1) {
      note(st, m, true);
    }
  }

  void remove_member(IpSetState& st, const IpSetMember& m) {
    const size_t size_before = st.counts.size();
    if (st.counts.remove(m) == 0) {
      assert(st.counts.size() + 1 == size_before);
      if (st.counts.size() != size_before) {
        note(st, m, false);
      }
    }
  }

  template <typename F>
  static void endpoint_members(const IpSetState& st, const std::vector<IpPrefix>& ips,
                               const NamedPorts& ports, F f) {
    for (const IpPrefix& ip : ips) {
      if (ip.family() != st.family) {
        continue;
      }
      if (st.type == IpSetType::kNet) {
        f(IpSetMember{ip, 0, 0});
        continue;
      }
      for (const model::NamedPort& p : ports) {
        if (p.name == st.port_name && model::ip_protocol_number(p.protocol) == st.protocol) {
          f(IpSetMember{ip, st.protocol, p.port});
        }
      }
    }
  }

  template <typename F>
  static void netset_members(const IpSetState& st, const std::vector<IpPrefix>& nets, F f) {
    if (st.type != IpSetType::kNet) {
      return;
    }
    for (const IpPrefix& n : nets) {
      if (n.family() == st.family) {
        f(IpSetMember{n, 0, 0});
      }
    }
  }

  void add_endpoint_to_set(IpSetState& st, const std::vector<IpPrefix>& ips,
                           const NamedPorts& ports) {
    endpoint_members(st, ips, ports, [&](const IpSetMember& m) { add_member(st, m); });
  }
  void remove_endpoint_from_set(IpSetState& st, const std::vector<IpPrefix>& ips,
                                const NamedPorts& ports) {
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
      auto consider = [&](EndpointState& ep) {
        if (matches(s, ep)) {
          s.endpoints.insert(ep.index);
          ep.selections.insert(&s);
        }
      };
      if (spec.scope == ScopeKind::kNamespace) {
        auto it = namespaces.find(spec.namespace_);
        if (it != namespaces.end()) {
          for (EndpointIndex i : it->second.endpoints) {
            consider(endpoint_at(i));
          }
        }
      } else {
        for_each_endpoint(consider);
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
    for (EndpointIndex i : s->endpoints) {
      endpoint_at(i).selections.erase(s);
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
      st.type = spec.type;
      st.family = spec.family;
      st.protocol = spec.protocol;
      st.port_name = spec.port_name;
      st.id = id;
      st.selection = acquire_selection(spec.selection);
      st.selection->ipsets.push_back(&st);
      for (EndpointIndex i : st.selection->endpoints) {
        const EndpointState& ep = endpoint_at(i);
        add_endpoint_to_set(st, ep.ips, *ep.ports);
      }
      for (NetsetState* n : st.selection->netsets) {
        netset_members(st, n->nets, [&](const IpSetMember& m) { add_member(st, m); });
      }
    }
    // Ids are 64-bit hashes of the definition; a collision would merge two sets.
    assert(
        (SetSpec{slot->selection->spec, slot->type, slot->family, slot->port_name, slot->protocol}
             .descriptor() == spec.descriptor()));
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
    for (EndpointIndex i : s->endpoints) {
      EndpointState& ep = endpoint_at(i);
      if (ep.local) {
        needs_lists.insert(&ep);
      }
    }
  }

  void acquire_user(PolicyState* p, EndpointState* ep) {
    if (p->users.insert(ep->index) && p->users.size() == 1) {
      for (IpSetState* st : p->sets) {
        activate_set(st);
      }
      dirty_policies.insert(p->key);
    }
  }

  void release_user(PolicyState* p, EndpointState* ep) {
    if (p->users.erase(ep->index) != 0 && p->users.empty()) {
      for (IpSetState* st : p->sets) {
        deactivate_set(st);
      }
      dirty_policies.insert(p->key);
    }
  }

  void upsert_policy(const PolicyKey& key, PolicyPlan plan) {
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
    p.rendered = std::move(plan.policy);
    p.rendered.ingress.shrink_to_fit();  // kept as long as the policy: no growth slack
    p.rendered.egress.shrink_to_fit();
    p.warnings = std::move(plan.warnings);
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
    for (EndpointIndex i : p->users) {
      needs_lists.insert(&endpoint_at(i));
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
      for (EndpointIndex i : ps->endpoints) {
        EndpointState& ep = endpoint_at(i);
        if (ep.local) {
          needs_lists.insert(&ep);
        }
      }
    }
    if (ps != nullptr && !ps->spec && ps->endpoints.empty()) {
      profiles.erase(it);
    }
  }

  // ---- Endpoints ---------------------------------------------------------------------------

  // Re-evaluates the selections an endpoint may have entered or left: those it is in, those whose
  // selector reads one of `keys` (a superset of the label keys whose value changed), `extra`, and
  // (for a new endpoint) those matching no labels. `old_ips`/`old_ports` are set when its
  // addresses or named ports changed.
  void reconcile(EndpointState& ep, const std::vector<std::string>& keys, bool is_new,
                 const std::vector<IpPrefix>* old_ips, const NamedPorts* old_ports,
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
    auto ns_bucket = namespace_buckets.find(*ep.namespace_);
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
    const auto& prev_ports = old_ports ? *old_ports : *ep.ports;
    for (SelectionState* s : candidates) {
      const bool was = ep.selections.count(s) != 0;
      const bool now = matches(*s, ep);
      if (was && now) {
        if (old_ips) {
          for (IpSetState* st : s->ipsets) {
            remove_endpoint_from_set(*st, prev_ips, prev_ports);
            add_endpoint_to_set(*st, ep.ips, *ep.ports);
          }
        }
      } else if (was) {
        for (IpSetState* st : s->ipsets) {
          remove_endpoint_from_set(*st, prev_ips, prev_ports);
        }
        s->endpoints.erase(ep.index);
        ep.selections.erase(s);
        if (!s->targets_of.empty() && ep.local) {
          needs_lists.insert(&ep);
        }
      } else if (now) {
        for (IpSetState* st : s->ipsets) {
          add_endpoint_to_set(*st, ep.ips, *ep.ports);
        }
        s->endpoints.insert(ep.index);
        ep.selections.insert(s);
        if (!s->targets_of.empty() && ep.local) {
          needs_lists.insert(&ep);
        }
      }
    }
  }

  EndpointState& new_endpoint(const std::string& id, const std::string& ns) {
    EndpointIndex index = 0;
    if (!free_endpoint_slots.empty()) {
      index = free_endpoint_slots.back();
      free_endpoint_slots.pop_back();
    } else {
      index = static_cast<EndpointIndex>(endpoint_slots.size());
      endpoint_slots.emplace_back();
    }
    auto ep = std::make_unique<EndpointState>();
    ep->id = id;
    ep->index = index;
    if (auto gone = removed_emitted_endpoints.find(id); gone != removed_emitted_endpoints.end()) {
      // Removed and back before the plugin heard of it: the plugin still has that record.
      ep->emitted = true;
      ep->emitted_fingerprint = gone->second;
      removed_emitted_endpoints.erase(gone);
    }
    EndpointState& ref = *ep;
    endpoint_slots[index] = std::move(ep);
    endpoint_ids.emplace(std::string_view(ref.id), index);
    auto ns_it = namespaces.try_emplace(ns).first;  // nodes are stable: the key outlives `ref`
    ns_it->second.endpoints.insert(index);
    ref.namespace_ = &ns_it->first;
    return ref;
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
    ips.shrink_to_fit();
    ProfileNames profile_names;
    const std::string ns_profile = "kns." + ns;
    if (std::find(spec.profiles.begin(), spec.profiles.end(), ns_profile) == spec.profiles.end()) {
      profile_names.push_back(ns_profile);
    }
    for (const std::string& p : spec.profiles) {
      if (std::find(profile_names.begin(), profile_names.end(), p) == profile_names.end()) {
        profile_names.push_back(p);
      }
    }

    EndpointState* existing = find_endpoint(id);
    const bool is_new = existing == nullptr;
    EndpointState& ep = is_new ? new_endpoint(id, ns) : *existing;
    const bool was_local = ep.local;
    const Labels* old_own = ep.own;
    const NamedPorts* old_ports = ep.ports;
    const ProfileNames* old_profiles = ep.profile_names;
    std::vector<IpPrefix> old_ips = std::move(ep.ips);
    const bool profiles_changed = is_new || *old_profiles != profile_names;
    const bool record_changed = is_new || ep.interface_name != spec.interface_name ||
                                ep.mac != spec.mac || old_ips != ips || profiles_changed;

    ep.local = config.all_endpoints_local || spec.node == config.node_name;
    ep.own = label_pool.intern(wep.metadata.labels);
    ep.ports = port_pool.intern(spec.ports);
    ep.profile_names =
        profiles_changed ? profile_list_pool.intern(std::move(profile_names)) : old_profiles;
    ep.ips = std::move(ips);
    ep.interface_name = spec.interface_name;
    ep.mac = spec.mac;

    static const ProfileNames kNoProfiles;
    const ProfileNames& before = old_profiles ? *old_profiles : kNoProfiles;
    const ProfileNames& after = *ep.profile_names;
    if (profiles_changed) {
      for (const std::string& name : before) {
        if (std::find(after.begin(), after.end(), name) == after.end()) {
          profiles[name].endpoints.erase(ep.index);
          sync_profile_policy(name, false);
        }
      }
      for (const std::string& name : after) {
        if (std::find(before.begin(), before.end(), name) == before.end()) {
          profiles[name].endpoints.insert(ep.index);
          sync_profile_policy(name, false);
        }
      }
    }

    // The label keys whose effective value may have changed.
    std::vector<std::string> keys;
    if (is_new) {
      for (const auto& [k, v] : *ep.own) {
        keys.push_back(k);
      }
      append_profile_keys(after, keys);
    } else {
      keys = changed_keys(*old_own, *ep.own);
      if (profiles_changed) {
        append_profile_keys(before, keys);
        append_profile_keys(after, keys);
      }
    }
    const bool addresses_changed = !is_new && (old_ips != ep.ips || *old_ports != *ep.ports);
    reconcile(ep, keys, is_new, addresses_changed ? &old_ips : nullptr,
              addresses_changed ? old_ports : nullptr, {});
    label_pool.release(old_own);
    port_pool.release(old_ports);
    if (old_profiles != ep.profile_names) {
      profile_list_pool.release(old_profiles);
    }
    if (ep.local || was_local) {
      if (record_changed || ep.local != was_local) {
        needs_lists.insert(&ep);
        dirty_endpoints.insert(id);
      }
    }
  }

  void remove_endpoint(const std::string& id) {
    EndpointState* ep = find_endpoint(id);
    if (ep == nullptr) {
      return;
    }
    for (SelectionState* s : ep->selections) {
      for (IpSetState* st : s->ipsets) {
        remove_endpoint_from_set(*st, ep->ips, *ep->ports);
      }
      s->endpoints.erase(ep->index);
    }
    ep->selections.clear();
    for (PolicyState* p : ep->policies) {
      release_user(p, ep);
    }
    ep->policies.clear();
    for (const std::string& name : *ep->profile_names) {
      profiles[name].endpoints.erase(ep->index);
      sync_profile_policy(name, false);
    }
    auto ns = namespaces.find(*ep->namespace_);
    ns->second.endpoints.erase(ep->index);
    if (ns->second.endpoints.empty() && ns->second.netsets.empty() && ns->second.labels.empty()) {
      namespaces.erase(ns);
    }
    needs_lists.erase(ep);
    dirty_endpoints.insert(id);
    if (ep->emitted) {
      removed_emitted_endpoints[id] = ep->emitted_fingerprint;
    }
    label_pool.release(ep->own);
    port_pool.release(ep->ports);
    profile_list_pool.release(ep->profile_names);
    const EndpointIndex index = ep->index;
    endpoint_ids.erase(std::string_view(ep->id));
    endpoint_slots[index].reset();
    free_endpoint_slots.push_back(index);
  }

  // ---- Profiles and namespaces -------------------------------------------------------------

  void profile_labels_changed(const std::string& name, const Labels& old_labels,
                              const Labels& new_labels) {
    if (old_labels == new_labels) {
      return;
    }
    std::vector<SelectionState*> scope_changed;
    std::string ns;
    std::vector<EndpointIndex> affected;
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
      affected.assign(state.endpoints.begin(), state.endpoints.end());
      if (!scope_changed.empty()) {
        std::vector<NetsetState*> sets(state.netsets.begin(), state.netsets.end());
        for (NetsetState* n : sets) {
          refresh_netset(*n, n->nets);
        }
      }
    }
    auto ps = profiles.find(name);
    if (ps != profiles.end()) {
      affected.insert(affected.end(), ps->second.endpoints.begin(), ps->second.endpoints.end());
      std::sort(affected.begin(), affected.end());
      affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    }
    // The profile's labels are already the new ones: the endpoints' effective labels changed at
    // most in these keys.
    const std::vector<std::string> keys = changed_keys(old_labels, new_labels);
    static const std::vector<SelectionState*> kNone;
    for (EndpointIndex i : affected) {
      EndpointState& ep = endpoint_at(i);
      reconcile(ep, keys, false, nullptr, nullptr, *ep.namespace_ == ns ? scope_changed : kNone);
    }
  }

  void upsert_profile(const model::Profile& profile) {
    const std::string& name = profile.metadata.name;
    PolicyPlan plan = detail::plan_profile(name, &profile.spec);  // may throw: nothing changed yet
    ProfileState& ps = profiles[name];
    Labels old_labels = ps.spec ? std::move(ps.labels) : Labels{};
    const bool existed = policies.count(profile_key(name)) != 0;
    ps.spec = profile.spec;
    ps.labels = Labels(profile.spec.labels_to_apply.begin(), profile.spec.labels_to_apply.end());
    upsert_policy(profile_key(name), std::move(plan));
    if (!existed) {
      for (EndpointIndex i : ps.endpoints) {
        EndpointState& ep = endpoint_at(i);
        if (ep.local) {
          needs_lists.insert(&ep);
        }
      }
    }
    profile_labels_changed(name, old_labels, ps.labels);
  }

  void remove_profile(const std::string& name) {
    auto it = profiles.find(name);
    if (it == profiles.end() || !it->second.spec) {
      return;
    }
    Labels old_labels = std::move(it->second.labels);
    it->second.labels.clear();
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

  // The endpoint's policy lists: ingress policies, egress policies, profiles (one vector).
  void compute_lists(EndpointState& ep, std::vector<PolicyState*>& lists, uint32_t& ingress_count,
                     uint32_t& egress_count) {
    ingress_count = 0;
    egress_count = 0;
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
        lists.push_back(p);
        ++ingress_count;
      }
    }
    for (PolicyState* p : applying) {
      if (p->egress) {
        lists.push_back(p);
        ++egress_count;
      }
    }
    for (const std::string& name : *ep.profile_names) {
      auto it = policies.find(profile_key(name));
      if (it != policies.end()) {
        lists.push_back(it->second.get());
      }
    }
  }

  void flush() {
    std::vector<EndpointState*> work(needs_lists.begin(), needs_lists.end());
    if (needs_lists.bucket_count() > 64) {
      std::unordered_set<EndpointState*>().swap(needs_lists);  // a bulk build's buckets
    } else {
      needs_lists.clear();
    }
    std::vector<PolicyState*> lists;
    std::vector<PolicyState*> before;
    std::vector<PolicyState*> after;
    std::vector<std::pair<PolicyState*, EndpointState*>> releases;
    for (EndpointState* ep : work) {
      lists.clear();
      uint32_t ingress_count = 0;
      uint32_t egress_count = 0;
      compute_lists(*ep, lists, ingress_count, egress_count);
      if (lists == ep->policies && ingress_count == ep->ingress_count &&
          egress_count == ep->egress_count) {
        continue;
      }
      before.assign(ep->policies.begin(), ep->policies.end());
      std::sort(before.begin(), before.end());
      before.erase(std::unique(before.begin(), before.end()), before.end());
      after.assign(lists.begin(), lists.end());
      std::sort(after.begin(), after.end());
      after.erase(std::unique(after.begin(), after.end()), after.end());
      for (PolicyState* p : after) {
        if (!std::binary_search(before.begin(), before.end(), p)) {
          acquire_user(p, ep);
        }
      }
      for (PolicyState* p : before) {
        if (!std::binary_search(after.begin(), after.end(), p)) {
          releases.emplace_back(p, ep);
        }
      }
      ep->policies = std::vector<PolicyState*>(lists.begin(), lists.end());  // exact size
      ep->ingress_count = ingress_count;
      ep->egress_count = egress_count;
      dirty_endpoints.insert(ep->id);
    }
    // Releases after every acquisition: a set or policy that stays in use never drops out of the
    // model in between (which would re-send it whole), whatever the order of `work`.
    for (const auto& [p, ep] : releases) {
      release_user(p, ep);
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
    s.type = st.type;
    s.family = st.family;
    s.members.reserve(st.counts.size());
    st.counts.for_each([&](const IpSetMember& m) { s.members.push_back(m); });
    std::sort(s.members.begin(), s.members.end());
    return s;
  }

  static Endpoint render_endpoint(const EndpointState& ep) {
    Endpoint e;
    e.id = ep.id;
    e.interface_name = ep.interface_name;
    e.addresses = ep.ips;
    e.mac = ep.mac;
    const auto ingress_end = ep.policies.begin() + ep.ingress_count;
    const auto egress_end = ingress_end + ep.egress_count;
    for (auto it = ep.policies.begin(); it != ep.policies.end(); ++it) {
      auto& list = it < ingress_end  ? e.ingress_policies
                   : it < egress_end ? e.egress_policies
                                     : e.profiles;
      list.push_back((*it)->key.id);
    }
    return e;
  }

  // NOLINTBEGIN(modernize-use-emplace): Change is a variant; each push names its alternative.
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
      const uint64_t sent = fingerprint(it->second->rendered);
      auto [e, inserted] = emitted_policies.try_emplace(key, sent);
      if (inserted || e->second != sent) {
        e->second = sent;
        out.push_back(UpsertPolicy{it->second->rendered});
      }
    }
    for (const std::string& id : dirty_endpoints) {
      EndpointState* ep = find_endpoint(id);
      if (ep == nullptr || !ep->local) {
        continue;
      }
      Endpoint rendered = render_endpoint(*ep);
      const uint64_t sent = fingerprint(rendered);
      if (!ep->emitted || ep->emitted_fingerprint != sent) {
        ep->emitted = true;
        ep->emitted_fingerprint = sent;
        out.push_back(UpsertEndpoint{std::move(rendered)});
      }
    }
    for (const std::string& id : dirty_endpoints) {
      EndpointState* ep = find_endpoint(id);
      if (ep == nullptr) {
        if (removed_emitted_endpoints.erase(id) != 0) {
          out.push_back(RemoveEndpoint{id});
        }
      } else if (!ep->local && ep->emitted) {
        ep->emitted = false;
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
  // NOLINTEND(modernize-use-emplace)

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
    for_each_endpoint([&](const EndpointState& ep) {
      if (ep.local) {
        m.endpoints.emplace(ep.id, render_endpoint(ep));
      }
    });
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
  const PolicyKey key = plan.policy.key();
  state_->upsert_policy(key, std::move(plan));
}
void PolicyEngine::remove_kubernetes_network_policy(std::string_view namespace_,
                                                    std::string_view name) {
  state_->remove_policy({PolicyKind::kPolicy, detail::kubernetes_policy_id(namespace_, name)});
}

void PolicyEngine::upsert_network_policy(const model::NetworkPolicy& policy) {
  PolicyPlan plan = detail::plan_network_policy(policy);
  const PolicyKey key = plan.policy.key();
  state_->upsert_policy(key, std::move(plan));
}
void PolicyEngine::remove_network_policy(std::string_view namespace_, std::string_view name) {
  state_->remove_policy({PolicyKind::kPolicy, detail::network_policy_id(namespace_, name)});
}

void PolicyEngine::upsert_global_network_policy(const model::GlobalNetworkPolicy& policy) {
  PolicyPlan plan = detail::plan_global_network_policy(policy);
  const PolicyKey key = plan.policy.key();
  state_->upsert_policy(key, std::move(plan));
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
    r.endpoint = state_->find_endpoint(id);
    if (r.endpoint == nullptr) {
      throw PolicyError(std::string(which) + ": unknown workload endpoint " + id);
    }
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
  s.endpoints = state_->endpoint_ids.size();
  state_->for_each_endpoint(
      [&](const EndpointState& ep) { s.local_endpoints += ep.local ? 1 : 0; });
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
