// The plugin's state: the policy model as received, what it is rendered into (which chains exist
// and what they are made of), what the kernel holds, and the reconciliation of the two at
// apply() and refresh().
//
// apply() is incremental: model changes mark the chains and sets they affect, and only those are
// re-rendered, compared (by fingerprint) with what was last written, and rewritten. The first
// apply() after in_sync(), every apply() after a failure or a globals change, and refresh() are
// full passes: everything is re-derived from the model and compared with the kernel itself.
//
// Ownership: only chains and sets named "brindle-*" and the jump rules to them at the top of the
// built-in chains are ever changed; every other rule, chain and set is left alone.
#pragma once

#include <brindle/sdk.hpp>

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipsets.hpp"
#include "render.hpp"
#include "worker.hpp"

namespace brindle::policy_iptables {

class Dataplane {
 public:
  Dataplane(Host host, Options options);
  Dataplane(const Dataplane&) = delete;  // view_ refers to this object
  Dataplane& operator=(const Dataplane&) = delete;

  const Options& options() const { return options_; }

  void set_globals(const PolicyGlobals& globals);
  void upsert_ipset(const IpSet& set);
  void update_ipset_members(std::string_view id, const std::vector<IpSetMember>& added,
                            const std::vector<IpSetMember>& removed);
  void remove_ipset(std::string_view id);
  void upsert_policy(const Policy& policy);
  void remove_policy(brindle_policy_kind_t kind, std::string_view id);
  void upsert_endpoint(const Endpoint& endpoint);
  void remove_endpoint(std::string_view id);
  // From the next apply() on, stale chains and sets are removed and unknown content replaced.
  void in_sync();
  // Before in_sync(): only creates sets and adds members (existing rules stay as they are).
  // After: sets first (new ones created, changed ones rebuilt aside and swapped, deltas applied),
  // then one atomic commit per table and family for the chains that changed (none: no commit),
  // then stale sets destroyed.
  void apply();
  // Reads every set's members and every chain back from the kernel and repairs differences.
  void refresh();

 private:
  using PolicyKey = std::pair<brindle_policy_kind_t, std::string>;

  struct ModelSet {
    SetInfo info;
    std::vector<ipset::Member> members;  // ascending, unique (binary: 50k+ of them at scale)
  };
  // Member changes since the last apply() of a set whose kernel content is known.
  struct SetDelta {
    std::set<ipset::Member> added;
    std::set<ipset::Member> removed;
  };
  // What the rendering needs of an endpoint (its addresses and MAC are not used by iptables): the
  // interface and its ordered lists. Endpoints with equal lists (most of them: the pods of one
  // workload) share one copy.
  struct EndpointLists {
    std::vector<std::string> ingress_policies;
    std::vector<std::string> egress_policies;
    std::vector<std::string> profiles;
    auto operator<=>(const EndpointLists&) const = default;
  };
  struct StoredEndpoint {
    std::string interface;
    std::shared_ptr<const EndpointLists> lists;
    const std::string* placed = nullptr;  // the interfaces_ key it claims
  };
  struct ByLists {
    using is_transparent = void;
    bool operator()(const std::shared_ptr<const EndpointLists>& a,
                    const std::shared_ptr<const EndpointLists>& b) const {
      return *a < *b;
    }
  };
  struct InternalRecord {
    InternalSet set;
    size_t refs = 0;  // policy chains (of either family) using it
  };

  enum class ChainKind : uint8_t { kFixed, kPolicy, kEndpoint, kDispatch };
  // What the kernel holds of a filter chain, per family (as last written or verified).
  struct Written {
    std::array<uint64_t, 2> fingerprint{};  // [0]: IPv4, [1]: IPv6
    uint8_t families = 0;                   // bit 1 << index: fingerprint[index] is known
  };
  // What a chain of the filter table is rendered from.
  struct ChainSpec {
    ChainKind kind = ChainKind::kFixed;
    bool ingress = true;
    PolicyKey policy;  // kPolicy
    std::string ref;   // kDispatch: the node's interface prefix
    Written written;   // kept when the chain is re-added
  };
  struct EndpointChain {
    EndpointChainKey key;
    size_t refs = 0;  // interfaces dispatched to it
  };
  // One workload interface (one compact record for each of 10k+): the endpoints naming it (the
  // lowest id wins it) and the shared endpoint chains it is dispatched to (keys of
  // endpoint_chains_; null while it is not dispatched).
  struct Interface {
    std::vector<const std::string*> claimants;  // keys of endpoints_, ascending
    const std::string* to_chain = nullptr;
    const std::string* from_chain = nullptr;
  };
  // A node of the dispatch tree: the interfaces whose names start with its prefix. Its entries
  // are derived from interfaces_ when rendered; only their digest is kept.
  struct DispatchNode {
    uint64_t digest = 0;
    std::vector<std::string> children;  // prefixes of the child nodes its entries jump to
  };
  // Per address family: what the kernel holds (as last written or verified).
  struct FamilyState {
    std::map<std::string, std::vector<std::string>> internal_sets;  // policy chain -> sets used
  };

  std::vector<xt::Family> families() const;
  const Policy* find_policy(const PolicyKey& key) const;
  // The model's members as the set holds them (validated), ascending and unique.
  static std::vector<ipset::Member> set_members(const ModelSet& set,
                                                const std::vector<IpSetMember>& members);
  // Their canonical text (made on the worker, when sent).
  static std::set<std::string> member_texts(const ModelSet& set);
  static std::set<std::string> referenced_sets(const Policy& policy);
  // The shared copy of `lists`; forget() drops one endpoint's use of a copy.
  std::shared_ptr<const EndpointLists> intern(EndpointLists lists);
  void forget(std::shared_ptr<const EndpointLists> lists);

  // ---- derived state
  void rebuild();
  void update_derived();
  void place_endpoint(const std::string& id, std::set<std::string>& interfaces);
  // Drops an endpoint's claim on the interface it was placed on (noted in `interfaces`).
  void unplace_endpoint(const std::string& id_key, StoredEndpoint& endpoint,
                        std::set<std::string>& interfaces);
  const std::string& acquire_endpoint_chain(const EndpointChainKey& key);
  void release_endpoint_chain(std::string chain);
  // The entries of the dispatch node of `prefix` and (if asked) its children's prefixes.
  std::vector<DispatchEntry> dispatch_entries(const std::string& prefix,
                                              std::vector<std::string>* children) const;
  // `user`: the key of an endpoint chain in endpoint_chains_.
  void use_policy(const PolicyKey& key, const std::string* user);
  void unuse_policy(const PolicyKey& key, const std::string* user);
  void add_chain(const std::string& chain, ChainSpec spec);
  void remove_chain(const std::string& chain);
  void render_dispatch_node(const std::string& prefix, const std::set<std::string>& dirty);
  void collect_dispatch_garbage();

  // ---- rendering
  // Policy chains rendered ahead of programming (on the worker), and the internal sets they use.
  struct Rendered {
    std::map<std::string, std::vector<xt::Rule>> chains;
    std::map<std::string, InternalSets> internal_sets;  // by policy chain
  };
  std::vector<xt::Rule> render_chain(xt::Family family, const std::string& chain) const;
  // Renders the policy chains among `chains` (pure: runs on the worker).
  Rendered render_policy_chains(xt::Family family, const std::vector<std::string>& chains) const;
  // Accounts for the internal sets of the rendered chains (copied: they are long-lived).
  void account_internal_sets(xt::Family family, const Rendered& rendered);
  void release_internal_sets(FamilyState& state, const std::string& chain);

  // ---- programming
  void reconcile_full(bool verify);
  void reconcile_incremental();
  // Full pass over the sets (kernel listed; verify: members read back). Returns repairs.
  size_t program_sets_full(bool verify);
  // The dirty sets only; `unused` receives those to destroy once no rule uses them.
  void program_sets_incremental(std::vector<std::string>& unused);
  // Queues the recorded member changes of a set whose kernel content is known.
  void queue_member_delta(ipset::Session& session, const std::string& name) const;
  void run_set_batch(ipset::Session& session);
  void destroy_sets(const std::vector<std::string>& names);
  // Every chain compared with the kernel; returns how many were rewritten. `prerendered` is
  // consumed (freed on the worker).
  size_t program_table_full(xt::Family family, Rendered& prerendered);
  size_t program_nat(xt::Family family);
  void program_table_incremental(xt::Family family, Rendered& prerendered);
  // Our jump first in each built-in chain and no other rule of a built-in chain jumping to us.
  static size_t fix_builtin_jumps(xt::Table& table,
                                  const std::vector<std::pair<std::string, std::string>>& jumps,
                                  std::string& rewritten_names);
  void commit(xt::Table& table, size_t rewritten, const std::string& names, size_t removed);

  Host host_;
  Options options_;
  ModelView view_;  // of the members below

  // ---- the model
  PolicyGlobals globals_;
  std::map<std::string, ModelSet> sets_;        // by model id
  std::map<std::string, std::string> set_ids_;  // kernel name -> model id
  std::map<std::string, Policy> policies_;
  std::map<std::string, Policy> profiles_;
  std::map<std::string, StoredEndpoint> endpoints_;
  std::set<std::shared_ptr<const EndpointLists>, ByLists> endpoint_lists_;  // the shared copies
  std::map<std::string, std::set<PolicyKey>> set_users_;  // model set id -> policies naming it
  bool in_sync_ = false;

  // ---- changes since the last apply()
  bool full_ = true;  // the next apply() is a full pass
  std::set<std::string> dirty_endpoints_;
  std::set<std::string> released_interfaces_;      // claims dropped by removed endpoints
  std::set<PolicyKey> dirty_policies_;             // content, existence or use changed
  std::set<PolicyKey> existence_changed_;          // added to or removed from the model
  std::set<std::string> dirty_chains_;             // to re-render and compare
  std::map<std::string, Written> removed_chains_;  // to delete
  std::set<std::string> dirty_sets_;               // kernel names: members or existence changed
  std::map<std::string, SetDelta> set_deltas_;     // kernel name -> member changes

  // ---- derived from the model
  std::map<std::string, ChainSpec> chains_;      // every filter chain of ours, by name
  std::map<std::string, Interface> interfaces_;  // workload interfaces, by name
  std::map<std::string, EndpointChain> endpoint_chains_;
  std::map<PolicyKey, size_t> policy_refs_;  // endpoint chains using it
  // The endpoint chains naming a policy (keys of endpoint_chains_).
  std::map<PolicyKey, std::set<const std::string*>> policy_users_;
  std::map<std::string, DispatchNode> tree_;        // by interface prefix
  std::map<std::string, InternalRecord> internal_;  // by kernel name

  // ---- the kernel
  std::map<xt::Family, FamilyState> family_state_;
  std::set<std::string> kernel_sets_;  // our sets the kernel has
  std::set<std::string> known_sets_;   // ... whose members are the model's (before set_deltas_)

  Metric applies_;
  Metric commits_;
  Metric repairs_;

  // Runs the table and set programming (and the rendering for it) apart from the state above.
  Worker worker_;
};

}  // namespace brindle::policy_iptables
