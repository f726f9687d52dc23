// The one adapter over libiptc (libip4tc / libip6tc): a family-neutral description of a rule
// (xt::Rule) turned into hand-built ipt_entry / ip6t_entry structures with their matches and
// targets, and an RAII handle on one table of one family whose edits reach the kernel in one
// atomic commit. Nothing else in the plugin includes a libiptc or x_tables header.
//
// libiptc (and the kernel's legacy x_tables) act in the network namespace of the calling thread.
#pragma once

#include <brindle/sdk.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace brindle::policy_iptables::xt {

enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

// The longest user chain name x_tables accepts (XT_EXTENSION_MAXNAMELEN - 1).
inline constexpr size_t kMaxChainName = 28;

enum class CtState : uint8_t { kEstablishedRelated, kInvalid };

struct MarkMatch {
  uint32_t value = 0;
  uint32_t mask = 0;
};

// `-m set [!] --match-set <name> src|dst[,src|dst]`: every dimension in the same direction.
struct SetMatch {
  std::string name;
  uint8_t dimensions = 1;  // 1 for hash:net, 2 for hash:net,port
  bool source = false;
  bool invert = false;
};

// `-m multiport [!] --sports|--dports a,b:c`: at most kMaxPortSlots slots (a range takes two).
struct PortMatch {
  struct Range {
    uint16_t first = 0;
    uint16_t last = 0;
  };
  bool source = false;
  bool invert = false;
  std::vector<Range> ranges;
};
inline constexpr size_t kMaxPortSlots = 15;

struct IcmpMatch {
  uint8_t type = 0;
  int code = -1;  // -1: any
};

enum class Verdict : uint8_t { kAccept, kDrop, kReturn };
struct Jump {
  std::string chain;
  bool go_to = false;  // -g: a RETURN from `chain` returns to our caller's caller
};
// `-j MARK --set-xmark value/mask`: mark = (mark & ~mask) ^ value.
struct SetMark {
  uint32_t value = 0;
  uint32_t mask = 0;
};
struct Masquerade {};
struct Log {
  std::string prefix;  // at most 29 characters
};
using Target = std::variant<Verdict, Jump, SetMark, Masquerade, Log>;

// One rule; absent criteria match everything.
struct Rule {
  std::string in_interface;  // "brn+" matches every name starting with "brn"
  std::string out_interface;
  std::optional<IpPrefix> source;
  bool source_invert = false;
  std::optional<IpPrefix> destination;
  bool destination_invert = false;
  uint8_t protocol = 0;
  bool protocol_invert = false;
  std::optional<CtState> ct_state;
  std::optional<MarkMatch> mark;
  std::vector<SetMatch> sets;
  std::vector<PortMatch> ports;  // requires a (non-inverted) protocol with ports
  std::optional<IcmpMatch> icmp;
  std::string comment;
  Target target = Verdict::kAccept;
};

// iptables-save style text of a rule (for logs and messages).
std::string describe(const Rule& rule);

// Resolves an IP set name to the kernel's set index (x_tables set matches refer to sets by index).
using SetIndexResolver = std::function<uint16_t(const std::string& name)>;

// One table ("filter", "nat") of one family, read from the kernel on construction. Edits are
// made in memory; commit() replaces the whole table in the kernel atomically. Throws Error naming
// the table and libiptc's reason on failure.
class Table {
 public:
  Table(Family family, std::string name, SetIndexResolver resolve_set);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  Family family() const { return family_; }
  const std::string& name() const { return name_; }

  std::vector<std::string> chains() const;  // built-in and user chains
  bool has_chain(const std::string& chain) const;
  bool is_builtin(const std::string& chain) const;
  void create_chain(const std::string& chain);
  void flush_chain(const std::string& chain);
  void delete_chain(const std::string& chain);  // must be empty and unreferenced

  size_t rule_count(const std::string& chain) const;
  // The target names of a chain's rules, in order ("ACCEPT", "brindle-FORWARD", "MARK", ...).
  std::vector<std::string> targets(const std::string& chain) const;
  // True when the chain holds exactly these rules in this order (counters are ignored).
  bool same_rules(const std::string& chain, const std::vector<Rule>& rules) const;
  // True when the chain's rule at `position` (0-based) is this rule.
  bool rule_is(const std::string& chain, size_t position, const Rule& rule) const;
  // How many rules jump to the chain.
  unsigned references(const std::string& chain) const;

  void append(const std::string& chain, const Rule& rule);
  void insert(const std::string& chain, const Rule& rule, unsigned position);
  void delete_rule(const std::string& chain, unsigned position);

  // Replaces the table in the kernel with the edited copy. Only once per Table.
  void commit();
  bool changed() const { return changed_; }

  struct Impl;  // per-family libiptc calls, defined in xtables.cpp

 private:
  Family family_;
  std::string name_;
  std::unique_ptr<Impl> impl_;
  bool changed_ = false;
};

}  // namespace brindle::policy_iptables::xt
