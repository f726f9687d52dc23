// The one adapter over libipset: an RAII session (libipset's own command parser, as `ipset
// restore` uses it, so a batch of commands is one netlink exchange per buffer) and the kernel's
// set-name-to-index lookup that x_tables set matches need. Nothing else in the plugin includes a
// libipset header.
//
// A session acts in the network namespace of the thread that creates it.
#pragma once

#include <brindle/sdk.hpp>

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace brindle::policy_iptables::ipset {

// The longest set name the kernel accepts (IPSET_MAXNAMELEN - 1).
inline constexpr size_t kMaxSetName = 31;

enum class SetType : uint8_t { kNet, kNetPort };  // hash:net, hash:net,port

struct SetHeader {
  SetType type = SetType::kNet;
  int family = 4;
  uint32_t max_elements = 65536;
};

// A member in the canonical text of ipset's own syntax: "198.18.0.0/24", "198.18.1.1,tcp:80"
// (host prefixes without their length, as ipset prints them). hash:net cannot hold
// a /0, so 0.0.0.0/0 becomes its two halves. Throws Error(INVALID_ARGUMENT) for a protocol a
// hash:net,port set cannot hold (tcp, udp, sctp and udplite can).
std::vector<std::string> member_texts(const IpPrefix& net, SetType type, uint8_t protocol,
                                      uint16_t port);

// A member in binary, as the plugin keeps it (20 bytes; its text is made when it is sent): the
// network with its host bits cleared and, in a hash:net,port set, the protocol and port (zero in
// a hash:net set). Equal members have equal texts and unequal ones unequal texts.
struct Member {
  std::array<uint8_t, 16> address{};
  uint8_t prefix_len = 0;
  uint8_t protocol = 0;
  uint16_t port = 0;
  auto operator<=>(const Member&) const = default;
};
// The members that hold `net` (one, or a /0's two halves), validated like member_texts().
struct Members {
  std::array<Member, 2> items;
  size_t count = 0;
  const Member* begin() const { return items.data(); }
  const Member* end() const { return items.data() + count; }
};
Members members_of(const IpPrefix& net, SetType type, uint8_t protocol, uint16_t port);
// The canonical text of a member of a set of this family (4 or 6) and type.
std::string member_text(const Member& member, int family, SetType type);

class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Names of every set in the kernel (of this namespace).
  std::vector<std::string> list_names();
  // The header type of an existing set ("hash:net") and its family (4 or 6).
  std::pair<std::string, int> describe(const std::string& name);
  // Members of an existing set, canonical text.
  std::set<std::string> members(const std::string& name);

  // Commands are queued and sent by run() (in order, as one restore batch).
  void create(const std::string& name, const SetHeader& header);
  void add(const std::string& name, const std::string& member);
  void remove(const std::string& name, const std::string& member);
  void flush(const std::string& name);
  void swap(const std::string& a, const std::string& b);
  void destroy(const std::string& name);
  // Sends the queued commands; throws Error naming the failing command and libipset's reason.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The kernel's index of a set (what `-m set` rules store). Throws Error(NOT_FOUND) if absent.
uint16_t kernel_index(const std::string& name);

}  // namespace brindle::policy_iptables::ipset
