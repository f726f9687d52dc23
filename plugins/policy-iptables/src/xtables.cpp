// libiptc adapter: see xtables.hpp. Entries are built by hand the way iptables' own extensions
// build them (same match/target revisions, XT_ALIGN'ed sizes, zeroed padding), so that
// iptables-legacy-save prints them and so that a rule read back from the kernel compares equal
// byte for byte with the rule we would write.
#include "xtables.hpp"

#include <libiptc/libiptc.h>
// libip6tc.h (iptables 1.8.9) lacks the extern "C" block libiptc.h has.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_set.h>

#include <spawn.h>
#include <sys/wait.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

namespace brindle::policy_iptables::xt {
namespace {

// A byte buffer aligned for ipt_entry (which holds 64-bit counters).
class Blob {
 public:
  explicit Blob(size_t size) : words_((size + 7) / 8, 0), size_(size) {}
  uint8_t* data() { return reinterpret_cast<uint8_t*>(words_.data()); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words_.data()); }
  size_t size() const { return size_; }

 private:
  std::vector<uint64_t> words_;
  size_t size_;
};

// One match or target before layout: extension name, revision and payload.
struct Extension {
  std::string name;
  uint8_t revision = 0;
  std::vector<uint8_t> payload;
};

// An extension whose payload is a T filled in place in zeroed bytes: padding inside T stays zero
// (as in iptables' calloc'ed entries), which a `T info{}` copy would not guarantee.
template <typename T, typename Fill>
Extension extension(const char* name, uint8_t revision, Fill&& fill) {
  Extension out{name, revision, std::vector<uint8_t>(sizeof(T), 0)};
  fill(*reinterpret_cast<T*>(out.payload.data()));
  return out;
}

void copy_name(char* dest, size_t capacity, const std::string& text) {
  std::memset(dest, 0, capacity);
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): dest was zeroed, its last byte stays 0
  std::memcpy(dest, text.data(), std::min(text.size(), capacity - 1));
}

// The matches of a rule in the order iptables-legacy-save prints them back.
std::vector<Extension> build_matches(const Rule& rule, Family family,
                                     const SetIndexResolver& resolve_set) {
  std::vector<Extension> out;
  if (rule.ct_state) {
    out.push_back(extension<xt_conntrack_mtinfo3>("conntrack", 3, [&](auto& info) {
      info.match_flags = XT_CONNTRACK_STATE;
      info.state_mask = rule.ct_state == CtState::kInvalid
                            ? XT_CONNTRACK_STATE_INVALID
                            : static_cast<uint16_t>(XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED) |
                                                    XT_CONNTRACK_STATE_BIT(IP_CT_RELATED));
    }));
  }
  if (rule.mark) {
    out.push_back(extension<xt_mark_mtinfo1>("mark", 1, [&](auto& info) {
      info.mark = rule.mark->value;
      info.mask = rule.mark->mask;
    }));
  }
  for (const SetMatch& set : rule.sets) {
    // Revision 4, the one iptables-legacy itself picks on current kernels (counters unused).
    const uint16_t index = resolve_set(set.name);
    out.push_back(extension<xt_set_info_match_v4>("set", 4, [&](auto& info) {
      info.match_set.index = index;
      info.match_set.dim = set.dimensions;
      uint8_t flags = set.invert ? IPSET_INV_MATCH : 0;
      if (set.source) {
        for (uint8_t d = 1; d <= set.dimensions; ++d) {
          flags = static_cast<uint8_t>(flags | (1u << d));
        }
      }
      info.match_set.flags = flags;
    }));
  }
  for (const PortMatch& ports : rule.ports) {
    out.push_back(extension<xt_multiport_v1>("multiport", 1, [&](auto& info) {
      info.flags = ports.source ? XT_MULTIPORT_SOURCE : XT_MULTIPORT_DESTINATION;
      info.invert = ports.invert ? 1 : 0;
      size_t slot = 0;
      for (const PortMatch::Range& range : ports.ranges) {
        const bool is_range = range.first != range.last;
        if (slot + (is_range ? 2 : 1) > XT_MULTI_PORTS) {
          throw Error(BRINDLE_ERR_INTERNAL, "multiport match with more than 15 port slots");
        }
        info.ports[slot] = range.first;
        if (is_range) {
          info.pflags[slot] = 1;
          info.ports[++slot] = range.last;
        }
        ++slot;
      }
      info.count = static_cast<uint8_t>(slot);
    }));
  }
  if (rule.icmp) {
    // ipt_icmp and ip6t_icmp share one layout: type, code range, inversion.
    out.push_back(extension<ipt_icmp>(family == Family::kV4 ? "icmp" : "icmp6", 0, [&](auto& info) {
      info.type = rule.icmp->type;
      info.code[0] = rule.icmp->code < 0 ? 0 : static_cast<uint8_t>(rule.icmp->code);
      info.code[1] = rule.icmp->code < 0 ? 0xff : static_cast<uint8_t>(rule.icmp->code);
    }));
  }
  if (!rule.comment.empty()) {
    out.push_back(extension<xt_comment_info>("comment", 0, [&](auto& info) {
      copy_name(info.comment, sizeof(info.comment), rule.comment);
    }));
  }
  return out;
}

bool is_standard(const Target& target) {
  return std::holds_alternative<Verdict>(target) || std::holds_alternative<Jump>(target);
}

std::string verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kAccept:
      return "ACCEPT";
    case Verdict::kDrop:
      return "DROP";
    case Verdict::kReturn:
      return "RETURN";
  }
  return "DROP";
}

// The target as libiptc expects it: standard verdicts and jumps by name (libiptc resolves them).
Extension build_target(const Target& target, Family family) {
  if (const auto* v = std::get_if<Verdict>(&target)) {
    return {verdict_name(*v), 0, std::vector<uint8_t>(sizeof(int), 0)};
  }
  if (const auto* jump = std::get_if<Jump>(&target)) {
    return {jump->chain, 0, std::vector<uint8_t>(sizeof(int), 0)};
  }
  if (const auto* mark = std::get_if<SetMark>(&target)) {
    return extension<xt_mark_tginfo2>("MARK", 2, [&](auto& info) {
      info.mark = mark->value;
      info.mask = mark->mask;
    });
  }
  if (std::holds_alternative<Masquerade>(target)) {
    if (family == Family::kV4) {
      return extension<nf_nat_ipv4_multi_range_compat>("MASQUERADE", 0,
                                                       [](auto& info) { info.rangesize = 1; });
    }
    return extension<nf_nat_range>("MASQUERADE", 0, [](auto&) {});
  }
  const Log& log = std::get<Log>(target);
  return extension<xt_log_info>("LOG", 0, [&](auto& info) {
    info.level = 4;  // warning, iptables' default
    copy_name(info.prefix, sizeof(info.prefix), log.prefix);
  });
}

void set_interface(const std::string& name, char* field, unsigned char* mask) {
  if (name.empty()) {
    return;
  }
  if (name.size() >= IFNAMSIZ) {
    throw Error(BRINDLE_ERR_INVALID_ARGUMENT, "interface name too long: \"" + name + "\"");
  }
  // As iptables does: "brn+" keeps the '+' in the name and masks only the prefix; an exact name
  // also matches the terminating NUL.
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): the entry is zeroed; size < IFNAMSIZ
  std::memcpy(field, name.data(), name.size());
  const bool wildcard = name.back() == '+';
  std::memset(mask, 0xff, wildcard ? name.size() - 1 : name.size() + 1);
}

void set_address(const IpPrefix& prefix, uint8_t* address, uint8_t* mask) {
  const IpPrefix network = prefix.network();
  std::memcpy(address, network.bytes(), prefix.byte_len());
  for (int bit = 0; bit < prefix.prefix_len(); ++bit) {
    mask[bit / 8] = static_cast<uint8_t>(mask[bit / 8] | (0x80u >> (bit % 8)));
  }
}

// ---- per-family libiptc entry points --------------------------------------------------------

struct V4 {
  using Entry = ipt_entry;
  static constexpr Family kFamily = Family::kV4;
  static constexpr int kAddressBytes = 4;
  static xtc_handle* init(const char* table) { return iptc_init(table); }
  static void free(xtc_handle* h) { iptc_free(h); }
  static const char* first_chain(xtc_handle* h) { return iptc_first_chain(h); }
  static const char* next_chain(xtc_handle* h) { return iptc_next_chain(h); }
  static bool is_chain(const char* c, xtc_handle* h) { return iptc_is_chain(c, h) != 0; }
  static bool builtin(const char* c, xtc_handle* h) { return iptc_builtin(c, h) != 0; }
  static const Entry* first_rule(const char* c, xtc_handle* h) { return iptc_first_rule(c, h); }
  static const Entry* next_rule(const Entry* e, xtc_handle* h) { return iptc_next_rule(e, h); }
  static const char* get_target(const Entry* e, xtc_handle* h) { return iptc_get_target(e, h); }
  static int create_chain(const char* c, xtc_handle* h) { return iptc_create_chain(c, h); }
  static int flush(const char* c, xtc_handle* h) { return iptc_flush_entries(c, h); }
  static int delete_chain(const char* c, xtc_handle* h) { return iptc_delete_chain(c, h); }
  static int append(const char* c, const Entry* e, xtc_handle* h) {
    return iptc_append_entry(c, e, h);
  }
  static int insert(const char* c, const Entry* e, unsigned n, xtc_handle* h) {
    return iptc_insert_entry(c, e, n, h);
  }
  static int delete_num(const char* c, unsigned n, xtc_handle* h) {
    return iptc_delete_num_entry(c, n, h);
  }
  static int get_references(unsigned* n, const char* c, xtc_handle* h) {
    return iptc_get_references(n, c, h);
  }
  static int commit(xtc_handle* h) { return iptc_commit(h); }
  static const char* strerror(int e) { return iptc_strerror(e); }

  static void fill_header(Entry& e, const Rule& rule) {
    ipt_ip& ip = e.ip;
    set_interface(rule.in_interface, ip.iniface, ip.iniface_mask);
    set_interface(rule.out_interface, ip.outiface, ip.outiface_mask);
    if (rule.source) {
      set_address(*rule.source, reinterpret_cast<uint8_t*>(&ip.src),
                  reinterpret_cast<uint8_t*>(&ip.smsk));
      ip.invflags = static_cast<uint8_t>(ip.invflags | (rule.source_invert ? IPT_INV_SRCIP : 0));
    }
    if (rule.destination) {
      set_address(*rule.destination, reinterpret_cast<uint8_t*>(&ip.dst),
                  reinterpret_cast<uint8_t*>(&ip.dmsk));
      ip.invflags =
          static_cast<uint8_t>(ip.invflags | (rule.destination_invert ? IPT_INV_DSTIP : 0));
    }
    ip.proto = rule.protocol;
    if (rule.protocol_invert) {
      ip.invflags = static_cast<uint8_t>(ip.invflags | IPT_INV_PROTO);
    }
    if (const auto* jump = std::get_if<Jump>(&rule.target); jump != nullptr && jump->go_to) {
      ip.flags = static_cast<uint8_t>(ip.flags | IPT_F_GOTO);
    }
  }
  static bool same_header(const Entry& a, const Entry& b) {
    return std::memcmp(&a.ip, &b.ip, sizeof(a.ip)) == 0;
  }
};

struct V6 {
  using Entry = ip6t_entry;
  static constexpr Family kFamily = Family::kV6;
  static constexpr int kAddressBytes = 16;
  static xtc_handle* init(const char* table) { return ip6tc_init(table); }
  static void free(xtc_handle* h) { ip6tc_free(h); }
  static const char* first_chain(xtc_handle* h) { return ip6tc_first_chain(h); }
  static const char* next_chain(xtc_handle* h) { return ip6tc_next_chain(h); }
  static bool is_chain(const char* c, xtc_handle* h) { return ip6tc_is_chain(c, h) != 0; }
  static bool builtin(const char* c, xtc_handle* h) { return ip6tc_builtin(c, h) != 0; }
  static const Entry* first_rule(const char* c, xtc_handle* h) { return ip6tc_first_rule(c, h); }
  static const Entry* next_rule(const Entry* e, xtc_handle* h) { return ip6tc_next_rule(e, h); }
  static const char* get_target(const Entry* e, xtc_handle* h) { return ip6tc_get_target(e, h); }
  static int create_chain(const char* c, xtc_handle* h) { return ip6tc_create_chain(c, h); }
  static int flush(const char* c, xtc_handle* h) { return ip6tc_flush_entries(c, h); }
  static int delete_chain(const char* c, xtc_handle* h) { return ip6tc_delete_chain(c, h); }
  static int append(const char* c, const Entry* e, xtc_handle* h) {
    return ip6tc_append_entry(c, e, h);
  }
  static int insert(const char* c, const Entry* e, unsigned n, xtc_handle* h) {
    return ip6tc_insert_entry(c, e, n, h);
  }
  static int delete_num(const char* c, unsigned n, xtc_handle* h) {
    return ip6tc_delete_num_entry(c, n, h);
  }
  static int get_references(unsigned* n, const char* c, xtc_handle* h) {
    return ip6tc_get_references(n, c, h);
  }
  static int commit(xtc_handle* h) { return ip6tc_commit(h); }
  static const char* strerror(int e) { return ip6tc_strerror(e); }

  static void fill_header(Entry& e, const Rule& rule) {
    ip6t_ip6& ip = e.ipv6;
    set_interface(rule.in_interface, ip.iniface, ip.iniface_mask);
    set_interface(rule.out_interface, ip.outiface, ip.outiface_mask);
    if (rule.source) {
      set_address(*rule.source, reinterpret_cast<uint8_t*>(&ip.src),
                  reinterpret_cast<uint8_t*>(&ip.smsk));
      ip.invflags = static_cast<uint8_t>(ip.invflags | (rule.source_invert ? IP6T_INV_SRCIP : 0));
    }
    if (rule.destination) {
      set_address(*rule.destination, reinterpret_cast<uint8_t*>(&ip.dst),
                  reinterpret_cast<uint8_t*>(&ip.dmsk));
      ip.invflags =
          static_cast<uint8_t>(ip.invflags | (rule.destination_invert ? IP6T_INV_DSTIP : 0));
    }
    ip.proto = rule.protocol;
    if (rule.protocol != 0) {
      ip.flags = static_cast<uint8_t>(ip.flags | IP6T_F_PROTO);  // as ip6tables sets it
    }
    if (rule.protocol_invert) {
      ip.invflags = static_cast<uint8_t>(ip.invflags | IP6T_INV_PROTO);
    }
    if (const auto* jump = std::get_if<Jump>(&rule.target); jump != nullptr && jump->go_to) {
      ip.flags = static_cast<uint8_t>(ip.flags | IP6T_F_GOTO);
    }
  }
  static bool same_header(const Entry& a, const Entry& b) {
    // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison): entries are zeroed, padding too
    return std::memcmp(&a.ipv6, &b.ipv6, sizeof(a.ipv6)) == 0;
  }
};

template <typename F>
Blob build_entry(const Rule& rule, const SetIndexResolver& resolve_set) {
  using Entry = typename F::Entry;
  for (const auto* prefix : {&rule.source, &rule.destination}) {
    if (*prefix && prefix->value().family() != static_cast<int>(F::kFamily)) {
      throw Error(BRINDLE_ERR_INTERNAL, "address family mismatch in rule: " + describe(rule));
    }
  }
  const std::vector<Extension> matches = build_matches(rule, F::kFamily, resolve_set);
  const Extension target = build_target(rule.target, F::kFamily);
  size_t matches_size = 0;
  for (const Extension& m : matches) {
    matches_size += XT_ALIGN(sizeof(xt_entry_match)) + XT_ALIGN(m.payload.size());
  }
  const size_t target_size = XT_ALIGN(sizeof(xt_entry_target)) + XT_ALIGN(target.payload.size());
  const size_t target_offset = XT_ALIGN(sizeof(Entry)) + matches_size;
  Blob blob(target_offset + target_size);
  auto* entry = reinterpret_cast<Entry*>(blob.data());
  F::fill_header(*entry, rule);
  entry->target_offset = static_cast<uint16_t>(target_offset);
  entry->next_offset = static_cast<uint16_t>(target_offset + target_size);
  size_t offset = XT_ALIGN(sizeof(Entry));
  for (const Extension& m : matches) {
    auto* match = reinterpret_cast<xt_entry_match*>(blob.data() + offset);
    const size_t size = XT_ALIGN(sizeof(xt_entry_match)) + XT_ALIGN(m.payload.size());
    match->u.user.match_size = static_cast<uint16_t>(size);
    copy_name(match->u.user.name, sizeof(match->u.user.name), m.name);
    match->u.user.revision = m.revision;
    std::memcpy(match->data, m.payload.data(), m.payload.size());
    offset += size;
  }
  auto* t = reinterpret_cast<xt_entry_target*>(blob.data() + offset);
  t->u.user.target_size = static_cast<uint16_t>(target_size);
  copy_name(t->u.user.name, sizeof(t->u.user.name), target.name);
  t->u.user.revision = target.revision;
  std::memcpy(t->data, target.payload.data(), target.payload.size());
  return blob;
}

std::string expected_target_name(const Target& target) {
  if (const auto* v = std::get_if<Verdict>(&target)) {
    return verdict_name(*v);
  }
  if (const auto* jump = std::get_if<Jump>(&target)) {
    return jump->chain;
  }
  return {};
}

}  // namespace

// ---- Table ------------------------------------------------------------------------------------

struct Table::Impl {
  virtual ~Impl() = default;
  virtual std::vector<std::string> chains() = 0;
  virtual bool has_chain(const std::string& chain) = 0;
  virtual bool is_builtin(const std::string& chain) = 0;
  virtual void create_chain(const std::string& chain) = 0;
  virtual void flush_chain(const std::string& chain) = 0;
  virtual void delete_chain(const std::string& chain) = 0;
  virtual std::vector<std::string> targets(const std::string& chain) = 0;
  virtual bool same_rules(const std::string& chain, const std::vector<Rule>& rules) = 0;
  virtual bool rule_is(const std::string& chain, size_t position, const Rule& rule) = 0;
  virtual unsigned references(const std::string& chain) = 0;
  virtual void append(const std::string& chain, const Rule& rule) = 0;
  virtual void insert(const std::string& chain, const Rule& rule, unsigned position) = 0;
  virtual void delete_rule(const std::string& chain, unsigned position) = 0;
  virtual void commit() = 0;
};

namespace {

// libiptc, unlike the iptables command, never loads ip_tables / ip6_tables: on a kernel where
// they are modules the first table access fails with "iptables who? (do you need to insmod?)".
// Do what iptables does (xtables_insmod): run the kernel's modprobe once per family and retry.
void load_table_module(Family family) {
  static std::once_flag once[2];
  std::call_once(once[family == Family::kV4 ? 0 : 1], [family] {
    std::string modprobe = "/sbin/modprobe";
    if (std::ifstream in("/proc/sys/kernel/modprobe"); in) {
      std::getline(in, modprobe);
    }
    const char* module = family == Family::kV4 ? "ip_tables" : "ip6_tables";
    std::vector<char*> argv = {modprobe.data(), const_cast<char*>("-q"), const_cast<char*>(module),
                               nullptr};
    pid_t pid = -1;
    if (posix_spawn(&pid, modprobe.c_str(), nullptr, nullptr, argv.data(), environ) == 0) {
      int status = 0;
      waitpid(pid, &status, 0);
    }
  });
}

template <typename F>
class TableImpl final : public Table::Impl {
 public:
  TableImpl(std::string name, SetIndexResolver resolve_set)
      : name_(std::move(name)), resolve_set_(std::move(resolve_set)) {
    handle_ = F::init(name_.c_str());
    if (handle_ == nullptr && (errno == ENOPROTOOPT || errno == ENOENT || errno == EINVAL)) {
      load_table_module(F::kFamily);
      handle_ = F::init(name_.c_str());
    }
    if (handle_ == nullptr) {
      fail("cannot read the table");
    }
  }
  ~TableImpl() override {
    if (handle_ != nullptr) {
      F::free(handle_);
    }
  }

  std::vector<std::string> chains() override {
    std::vector<std::string> out;
    for (const char* c = F::first_chain(handle_); c != nullptr; c = F::next_chain(handle_)) {
      out.emplace_back(c);
    }
    return out;
  }
  bool has_chain(const std::string& chain) override { return F::is_chain(chain.c_str(), handle_); }
  bool is_builtin(const std::string& chain) override { return F::builtin(chain.c_str(), handle_); }
  void create_chain(const std::string& chain) override {
    if (chain.size() > kMaxChainName) {
      throw Error(BRINDLE_ERR_INTERNAL, "chain name longer than 28 characters: " + chain);
    }
    check(F::create_chain(chain.c_str(), handle_), "create chain " + chain);
  }
  void flush_chain(const std::string& chain) override {
    check(F::flush(chain.c_str(), handle_), "flush chain " + chain);
  }
  void delete_chain(const std::string& chain) override {
    check(F::delete_chain(chain.c_str(), handle_), "delete chain " + chain);
  }
  std::vector<std::string> targets(const std::string& chain) override {
    std::vector<std::string> out;
    for (const auto* e = F::first_rule(chain.c_str(), handle_); e != nullptr;
         e = F::next_rule(e, handle_)) {
      out.emplace_back(F::get_target(e, handle_));
    }
    return out;
  }
  bool same_rules(const std::string& chain, const std::vector<Rule>& rules) override {
    const auto* e = F::first_rule(chain.c_str(), handle_);
    for (const Rule& rule : rules) {
      if (e == nullptr || !same_rule(*e, rule)) {
        return false;
      }
      e = F::next_rule(e, handle_);
    }
    return e == nullptr;
  }
  bool rule_is(const std::string& chain, size_t position, const Rule& rule) override {
    const auto* e = F::first_rule(chain.c_str(), handle_);
    for (size_t i = 0; e != nullptr && i < position; ++i) {
      e = F::next_rule(e, handle_);
    }
    return e != nullptr && same_rule(*e, rule);
  }
  unsigned references(const std::string& chain) override {
    unsigned count = 0;
    check(F::get_references(&count, chain.c_str(), handle_), "references of " + chain);
    return count;
  }
  void append(const std::string& chain, const Rule& rule) override {
    const Blob blob = build_entry<F>(rule, resolve_set_);
    check(
        F::append(chain.c_str(), reinterpret_cast<const typename F::Entry*>(blob.data()), handle_),
        "append to " + chain + ": " + describe(rule));
  }
  void insert(const std::string& chain, const Rule& rule, unsigned position) override {
    const Blob blob = build_entry<F>(rule, resolve_set_);
    check(F::insert(chain.c_str(), reinterpret_cast<const typename F::Entry*>(blob.data()),
                    position, handle_),
          "insert into " + chain + ": " + describe(rule));
  }
  void delete_rule(const std::string& chain, unsigned position) override {
    check(F::delete_num(chain.c_str(), position, handle_),
          "delete rule " + std::to_string(position + 1) + " of " + chain);
  }
  void commit() override { check(F::commit(handle_), "commit"); }

 private:
  bool same_rule(const typename F::Entry& kernel, const Rule& rule) {
    using Entry = typename F::Entry;
    const Blob blob = build_entry<F>(rule, resolve_set_);
    const auto& wanted = *reinterpret_cast<const Entry*>(blob.data());
    if (!F::same_header(kernel, wanted) || kernel.target_offset != wanted.target_offset) {
      return false;
    }
    const auto* kernel_bytes = reinterpret_cast<const uint8_t*>(&kernel);
    // Match by match: the kernel writes a name back only up to its NUL (the rest of the field
    // is whatever libiptc's buffer held), so names compare as strings, payloads as bytes.
    for (size_t offset = XT_ALIGN(sizeof(Entry)); offset < wanted.target_offset;) {
      const auto* km = reinterpret_cast<const xt_entry_match*>(kernel_bytes + offset);
      const auto* wm = reinterpret_cast<const xt_entry_match*>(blob.data() + offset);
      const size_t size = wm->u.user.match_size;
      if (km->u.user.match_size != size || offset + size > wanted.target_offset ||
          std::strncmp(km->u.user.name, wm->u.user.name, sizeof(wm->u.user.name)) != 0 ||
          km->u.user.revision != wm->u.user.revision ||
          std::memcmp(km->data, wm->data, size - XT_ALIGN(sizeof(xt_entry_match))) != 0) {
        return false;
      }
      offset += size;
    }
    if (is_standard(rule.target)) {
      return expected_target_name(rule.target) == F::get_target(&kernel, handle_);
    }
    if (kernel.next_offset != wanted.next_offset) {
      return false;
    }
    const auto* kt = reinterpret_cast<const xt_entry_target*>(kernel_bytes + kernel.target_offset);
    const auto* wt = reinterpret_cast<const xt_entry_target*>(blob.data() + wanted.target_offset);
    return std::strncmp(kt->u.user.name, wt->u.user.name, sizeof(kt->u.user.name)) == 0 &&
           kt->u.user.revision == wt->u.user.revision &&
           std::memcmp(
               kt->data, wt->data,
               wanted.next_offset - wanted.target_offset - XT_ALIGN(sizeof(xt_entry_target))) == 0;
  }

  void check(int ok, const std::string& what) {
    if (ok == 0) {
      fail(what);
    }
  }
  [[noreturn]] void fail(const std::string& what) {
    const int error = errno;
    throw Error(
        error == EPERM || error == EACCES ? BRINDLE_ERR_PERMISSION : BRINDLE_ERR_UNAVAILABLE,
        std::string(F::kFamily == Family::kV4 ? "iptables" : "ip6tables") + " table " + name_ +
            ": " + what + ": " + F::strerror(error));
  }

  std::string name_;
  SetIndexResolver resolve_set_;
  xtc_handle* handle_ = nullptr;
};

}  // namespace

Table::Table(Family family, std::string name, SetIndexResolver resolve_set)
    : family_(family), name_(std::move(name)) {
  if (family == Family::kV4) {
    impl_ = std::make_unique<TableImpl<V4>>(name_, std::move(resolve_set));
  } else {
    impl_ = std::make_unique<TableImpl<V6>>(name_, std::move(resolve_set));
  }
}
Table::~Table() = default;

std::vector<std::string> Table::chains() const {
  return impl_->chains();
}
bool Table::has_chain(const std::string& chain) const {
  return impl_->has_chain(chain);
}
bool Table::is_builtin(const std::string& chain) const {
  return impl_->is_builtin(chain);
}
void Table::create_chain(const std::string& chain) {
  impl_->create_chain(chain);
  changed_ = true;
}
void Table::flush_chain(const std::string& chain) {
  impl_->flush_chain(chain);
  changed_ = true;
}
void Table::delete_chain(const std::string& chain) {
  impl_->delete_chain(chain);
  changed_ = true;
}
size_t Table::rule_count(const std::string& chain) const {
  return targets(chain).size();
}
std::vector<std::string> Table::targets(const std::string& chain) const {
  return impl_->targets(chain);
}
bool Table::same_rules(const std::string& chain, const std::vector<Rule>& rules) const {
  return impl_->same_rules(chain, rules);
}
bool Table::rule_is(const std::string& chain, size_t position, const Rule& rule) const {
  return impl_->rule_is(chain, position, rule);
}
unsigned Table::references(const std::string& chain) const {
  return impl_->references(chain);
}
void Table::append(const std::string& chain, const Rule& rule) {
  impl_->append(chain, rule);
  changed_ = true;
}
void Table::insert(const std::string& chain, const Rule& rule, unsigned position) {
  impl_->insert(chain, rule, position);
  changed_ = true;
}
void Table::delete_rule(const std::string& chain, unsigned position) {
  impl_->delete_rule(chain, position);
  changed_ = true;
}
void Table::commit() {
  impl_->commit();
}

// ---- describe ----------------------------------------------------------------------------------

std::string describe(const Rule& rule) {
  std::string out;
  auto add = [&out](const std::string& part) {
    out += out.empty() ? "" : " ";
    out += part;
  };
  if (!rule.in_interface.empty()) {
    add("-i " + rule.in_interface);
  }
  if (!rule.out_interface.empty()) {
    add("-o " + rule.out_interface);
  }
  if (rule.source) {
    add(std::string(rule.source_invert ? "! " : "") + "-s " + rule.source->to_string());
  }
  if (rule.destination) {
    add(std::string(rule.destination_invert ? "! " : "") + "-d " + rule.destination->to_string());
  }
  if (rule.protocol != 0) {
    add(std::string(rule.protocol_invert ? "! " : "") + "-p " + std::to_string(rule.protocol));
  }
  if (rule.ct_state) {
    add(std::string("-m conntrack --ctstate ") +
        (rule.ct_state == CtState::kInvalid ? "INVALID" : "RELATED,ESTABLISHED"));
  }
  if (rule.mark) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "-m mark --mark 0x%x/0x%x", rule.mark->value, rule.mark->mask);
    add(buf);
  }
  for (const SetMatch& s : rule.sets) {
    std::string dirs;
    for (uint8_t d = 0; d < s.dimensions; ++d) {
      dirs += (d == 0 ? "" : ",") + std::string(s.source ? "src" : "dst");
    }
    add(std::string("-m set ") + (s.invert ? "! " : "") + "--match-set " + s.name + " " + dirs);
  }
  for (const PortMatch& p : rule.ports) {
    std::string list;
    for (const PortMatch::Range& r : p.ranges) {
      list += (list.empty() ? "" : ",") + std::to_string(r.first) +
              (r.first != r.last ? ":" + std::to_string(r.last) : "");
    }
    add(std::string("-m multiport ") + (p.invert ? "! " : "") +
        (p.source ? "--sports " : "--dports ") + list);
  }
  if (rule.icmp) {
    add("--icmp-type " + std::to_string(rule.icmp->type) +
        (rule.icmp->code >= 0 ? "/" + std::to_string(rule.icmp->code) : ""));
  }
  if (!rule.comment.empty()) {
    add("-m comment --comment \"" + rule.comment + "\"");
  }
  if (const auto* v = std::get_if<Verdict>(&rule.target)) {
    add("-j " + verdict_name(*v));
  } else if (const auto* jump = std::get_if<Jump>(&rule.target)) {
    add((jump->go_to ? "-g " : "-j ") + jump->chain);
  } else if (const auto* mark = std::get_if<SetMark>(&rule.target)) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "-j MARK --set-xmark 0x%x/0x%x", mark->value, mark->mask);
    add(buf);
  } else if (std::holds_alternative<Masquerade>(rule.target)) {
    add("-j MASQUERADE");
  } else {
    add("-j LOG --log-prefix \"" + std::get<Log>(rule.target).prefix + "\"");
  }
  return out;
}

}  // namespace brindle::policy_iptables::xt
