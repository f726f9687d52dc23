// The plugin's state: the policy model as received, and its reconciliation with the kernel.
//
// The whole model is rendered as one table (`table inet brindle`) and every apply() that changes
// it replaces the table in ONE nft transaction ("add table; delete table; table { ... }"): the
// kernel swaps the old table for the new one atomically, so a packet sees either the old rules
// or the new ones, never a table half-built. An apply() whose rendering equals what was last
// written sends nothing. refresh() lists the table back and rewrites it when it differs from
// what the kernel listed right after the last write.
//
// Ownership: only `table inet brindle` is ever changed; no other table is read or written.
#pragma once

#include <brindle/sdk.hpp>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "render.hpp"

namespace brindle::policy_nftables {

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
  // From the next apply() on, the table is replaced by the model's.
  void in_sync();
  // Before in_sync(): the kernel is left as it is (the previous table keeps enforcing). After:
  // the table is replaced in one transaction when its rendering changed.
  void apply();
  // Lists the table back and rewrites it when it is not what was written.
  void refresh();

 private:
  // What the rendering needs of an endpoint (its addresses and MAC are not used).
  struct StoredEndpoint {
    std::string interface;
    std::vector<std::string> ingress_policies;
    std::vector<std::string> egress_policies;
    std::vector<std::string> profiles;
  };

  // A model set: the members as given (a member inside another stays, so that removing the outer
  // one keeps it) and what is rendered from them.
  using MemberKey = std::tuple<IpPrefix, uint8_t, uint16_t>;  // network, protocol, port
  struct StoredSet {
    ModelSet rendered;
    std::set<MemberKey> given;
  };

  std::map<std::string, Policy>& policies_of(brindle_policy_kind_t kind);
  // Validates both lists, then applies them to `set`.
  static void change_members(StoredSet& set, const std::vector<IpSetMember>& added,
                             const std::vector<IpSetMember>& removed);
  // The objects of the table, derived from the model.
  TableModel table_model() const;
  // Replaces the table with `script` in one transaction and records what the kernel then holds.
  void write(const std::string& script);

  Host host_;
  Options options_;
  ModelView view_;  // of the members below
  TableRenderer renderer_{view_, options_};

  // ---- the model
  PolicyGlobals globals_;
  std::map<std::string, StoredSet> sets_;  // by model id
  std::map<std::string, Policy> policies_;
  std::map<std::string, Policy> profiles_;
  std::map<std::string, StoredEndpoint> endpoints_;
  bool in_sync_ = false;

  // ---- the kernel
  std::string written_script_;   // last script the kernel took ("": unknown, rewrite)
  std::string written_listing_;  // `list table` right after it

  Metric applies_;
  Metric transactions_;
  Metric repairs_;
};

}  // namespace brindle::policy_nftables
