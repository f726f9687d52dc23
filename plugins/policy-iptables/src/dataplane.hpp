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

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipsets.hpp"
#include "render.hpp"

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
    std::set<std::string> members;  // canonical text
  };
  // Member changes since the last apply() of a set whose kernel content is known.
  struct SetDelta {
    std::set<std::string> added;
    std::set<std::string> removed;
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
  // What a chain of the filter table is rendered from.
  struct ChainSpec {
    ChainKind kind = ChainKind::kFixed;
    bool ingress = true;
    PolicyKey policy;  // kPolicy
    std::string ref;   // kEndpoint: its chain name; kDispatch: the node's interface prefix
  };
  struct EndpointChain {
    EndpointChainKey key;
    size_t refs = 0;  // interfaces dispatched to it
  };
  struct DispatchTarget {
    std::string to_chain;
    std::string from_chain;
    bool operator==(const DispatchTarget&) const = default;
  };
  // A node of the dispatch tree: the interfaces whose names start with its prefix.
  struct DispatchNode {
    std::vector<DispatchEntry> entries;
    std::vector<std::string> children;  // prefixes of the child nodes its entries jump to
  };
  // Per address family: what the kernel holds (as last written or verified).
  struct FamilyState {
    std::map<std::string, uint64_t> written;                        // filter chain -> fingerprint
    std::map<std::string, std::vector<std::string>> internal_sets;  // policy chain -> sets used
  };

  std::vector<xt::Family> families() const;
  const Policy* find_policy(const PolicyKey& key) const;
  std::set<std::string> member_texts(const ModelSet& set,
                                     const std::vector<IpSetMember>& members) const;
  static std::set<std::string> referenced_sets(const Policy& policy);
  // The shared copy of `lists`; forget() drops one endpoint's use of a copy.
  std::shared_ptr<const EndpointLists> intern(EndpointLists lists);
  void forget(std::shared_ptr<const EndpointLists> lists);

  // ---- derived state
  void rebuild();
  void update_derived();
  void place_endpoint(const std::string& id, std::set<std::string>& interfaces);
  std::string acquire_endpoint_chain(const EndpointChainKey& key);
  void release_endpoint_chain(const std::string& chain);
  void use_policy(const PolicyKey& key, const std::string& user);
  void unuse_policy(const PolicyKey& key, const std::string& user);
  void add_chain(const std::string& chain, ChainSpec spec);
  void remove_chain(const std::string& chain);
  void render_dispatch_node(const std::string& prefix, const std::set<std::string>& dirty);
  void collect_dispatch_garbage();

  // ---- rendering
  std::vector<xt::Rule> render_chain(xt::Family family, const std::string& chain) const;
  // Renders the policy chains among `chains` (keeping the rules) and accounts for the internal
  // sets they use.
  std::map<std::string, std::vector<xt::Rule>> render_policy_chains(
      xt::Family family, const std::vector<std::string>& chains);
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
  // Every chain compared with the kernel; returns how many were rewritten.
  size_t program_table_full(xt::Family family,
                            std::map<std::string, std::vector<xt::Rule>>& prerendered);
  size_t program_nat(xt::Family family);
  void program_table_incremental(xt::Family family,
                                 std::map<std::string, std::vector<xt::Rule>>& prerendered);
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
  std::set<PolicyKey> dirty_policies_;          // content, existence or use changed
  std::set<PolicyKey> existence_changed_;       // added to or removed from the model
  std::set<std::string> dirty_chains_;          // to re-render and compare
  std::set<std::string> removed_chains_;        // to delete
  std::set<std::string> dirty_sets_;            // kernel names: members or existence changed
  std::map<std::string, SetDelta> set_deltas_;  // kernel name -> member changes

  // ---- derived from the model
  std::map<std::string, ChainSpec> chains_;              // every filter chain of ours, by name
  std::map<std::string, std::set<std::string>> claims_;  // interface -> endpoint ids using it
  std::map<std::string, std::string> claimed_;           // endpoint id -> interface
  std::map<std::string, DispatchTarget> dispatch_;       // interface -> its chains
  std::map<std::string, EndpointChain> endpoint_chains_;
  std::map<PolicyKey, size_t> policy_refs_;                  // endpoint chains using it
  std::map<PolicyKey, std::set<std::string>> policy_users_;  // endpoint chains naming it
  std::map<std::string, DispatchNode> tree_;                 // by interface prefix
  std::map<std::string, InternalRecord> internal_;           // by kernel name

  // ---- the kernel
  std::map<xt::Family, FamilyState> family_state_;
  std::set<std::string> kernel_sets_;  // our sets the kernel has
  std::set<std::string> known_sets_;   // ... whose members are the model's (before set_deltas_)

  Metric applies_;
  Metric commits_;
  Metric repairs_;
};

}  // namespace brindle::policy_iptables
