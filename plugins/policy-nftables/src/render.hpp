// The policy model rendered as the text of one nftables table (`table inet brindle`), both
// address families in one: the layout (see README.md), object names derived from model ids, and
// the whole table as one nft script that replaces the previous one in a single transaction.
// Pure computation: nothing here talks to the kernel.
#pragma once

#include <brindle/plugins/policy_model.hpp>
#include <brindle/sdk.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace brindle::policy_nftables {

inline constexpr std::string_view kTableFamily = "inet";
inline constexpr std::string_view kTableName = "brindle";

struct Options {
  uint32_t mark_mask = 0xff0000;
  uint32_t accept_mark = 0x10000;  // lowest set bit of mark_mask
  uint32_t pass_mark = 0x20000;    // next set bit
  bool ipv6 = true;
  // Base chains run at "filter + priority_offset" (and "srcnat + priority_offset"): before the
  // default-priority chains of other tables, like the iptables plugin's jumps at the top of the
  // built-in chains. A drop in any table is final, an accept only ends this table's say.
  int priority_offset = -10;
};

// A model IP set as rendering needs it.
struct ModelSet {
  std::string kernel_name;
  brindle_ipset_type_t type = BRINDLE_IPSET_NET;
  int family = 4;
  std::vector<IpSetMember> members;  // validated, canonical (see canonical_members)
};

// The parts of the model the rendering looks at.
struct ModelView {
  const PolicyGlobals& globals;
  std::function<const ModelSet*(const std::string& id)> find_set;  // nullptr: unknown
  std::function<bool(brindle_policy_kind_t kind, const std::string& id)> has_policy;
};

// The chain an endpoint's traffic in one direction goes to: its ordered policies, then its
// profiles. Endpoints with the same lists share one chain.
struct EndpointChainKey {
  bool ingress = true;
  std::vector<std::string> policies;
  std::vector<std::string> profiles;
  std::string chain_name() const;
  auto operator<=>(const EndpointChainKey&) const = default;
};

// One workload interface and the endpoint chains its traffic goes to.
struct DispatchEntry {
  std::string interface;
  std::string to_chain;    // ingress: traffic to the workload (oifname)
  std::string from_chain;  // egress: traffic from the workload (iifname)
};

// Everything the table is made of, in the order it is declared.
struct TableModel {
  std::vector<const ModelSet*> sets;
  std::vector<const Policy*> policies;  // policies and profiles (kind tells)
  std::vector<EndpointChainKey> endpoint_chains;
  std::vector<DispatchEntry> dispatch;  // ascending by interface
};

class TableRenderer {
 public:
  TableRenderer(const ModelView& model, const Options& options)
      : model_(model), options_(options) {}

  // The whole table as one nft script: "add table" + "delete table" (so that it exists to be
  // deleted), then the table block. Run in one transaction it replaces the previous table
  // without a moment where part of it is missing.
  std::string replace_script(const TableModel& table) const;
  // The table block alone ("table inet brindle { ... }").
  std::string table_block(const TableModel& table) const;

  // The rules (one nft rule a string) of the chains, for tests and for table_block.
  std::vector<std::string> policy_chain(const Policy& policy, bool ingress) const;
  std::vector<std::string> endpoint_chain(const EndpointChainKey& key) const;
  std::vector<std::string> forward_chain() const;
  std::vector<std::string> input_chain() const;
  std::vector<std::string> output_chain() const;

 private:
  std::string set_block(const ModelSet& set) const;
  std::string mark_test(uint32_t bit, bool set) const;

  const ModelView& model_;
  const Options& options_;
};

// A set's members as the kernel keeps them: networks (host bits cleared), sorted, without
// duplicates and without members inside another member (an interval set rejects overlaps).
std::vector<IpSetMember> canonical_members(std::vector<IpSetMember> members);
// Ranges sorted and merged where they overlap or touch (an anonymous interval set needs that).
std::vector<PortRange> canonical_ports(std::vector<PortRange> ranges);

// Names. A model set "<id>" is "s-<id>" (or "h-<hash>" when long); chains of policies are named
// by a hash of their ids (ids may hold '.', which nft names allow, but hashes keep names short).
std::string set_kernel_name(std::string_view id);
std::string policy_chain_name(brindle_policy_kind_t kind, std::string_view id, bool ingress);
// 16 hex digits of a stable hash; protocols whose transport header starts with ports.
using policy_model::protocol_has_ports;
using policy_model::short_hash;
// True when nft can take `text` inside a quoted string without escaping (interface names,
// comments, log prefixes).
bool quotable(std::string_view text);

}  // namespace brindle::policy_nftables
