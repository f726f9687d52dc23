// The plugin's state: the policy model as received, and its reconciliation with the kernel's IP
// sets and iptables tables (IPv4 and, unless disabled, IPv6) at apply() and refresh().
//
// Ownership: only chains and sets named "brindle-*" and the jump rules to them at the top of the
// built-in chains are ever changed; every other rule, chain and set is left alone.
#pragma once

#include <brindle/sdk.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "render.hpp"

namespace brindle::policy_iptables {

class Dataplane {
 public:
  Dataplane(Host host, Options options);

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
  // then one atomic commit per table and family for every chain that differs from the model,
  // then stale sets destroyed.
  void apply();
  // Reads every set's members and every chain back from the kernel and repairs differences.
  void refresh();

 private:
  struct ModelSet {
    SetInfo info;
    std::set<std::string> members;  // canonical text
  };

  void reconcile(bool verify);
  // Returns how many chains (and built-in jump positions) had to be rewritten.
  size_t program_table(xt::Family family, const std::string& table, const TableRules& rules);
  std::set<std::string> member_texts(const ModelSet& set,
                                     const std::vector<IpSetMember>& members) const;

  Host host_;
  Options options_;
  PolicyGlobals globals_;
  std::map<std::string, ModelSet> sets_;  // by model id
  std::map<std::string, Policy> policies_;
  std::map<std::string, Policy> profiles_;
  std::map<std::string, Endpoint> endpoints_;
  bool in_sync_ = false;
  // Members known to be in the kernel, by kernel set name (absent: unknown, e.g. a set a previous
  // run left, or one replaced by upsert_ipset since).
  std::map<std::string, std::set<std::string>> programmed_;
  Metric applies_;
  Metric commits_;
  Metric repairs_;
};

}  // namespace brindle::policy_iptables
