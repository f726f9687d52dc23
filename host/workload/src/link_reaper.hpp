// Deleting a network device costs the caller an RCU barrier (~25 ms here) however small the
// device. DEL therefore only marks the pod's veth (a device group) and this reaper deletes every
// marked device of a namespace with one RTM_DELLINK per round, in the background.
//
// Also the two rtnetlink requests the netlink adapter has no call for (set a link's group,
// delete a device group), on a minimal blocking socket.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace brindle::workload::detail {

// A NETLINK_ROUTE socket in the calling thread's network namespace (at creation).
class RtnlSocket {
 public:
  RtnlSocket();
  RtnlSocket(RtnlSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RtnlSocket& operator=(RtnlSocket&&) = delete;
  RtnlSocket(const RtnlSocket&) = delete;
  RtnlSocket& operator=(const RtnlSocket&) = delete;
  ~RtnlSocket();

  // Both return 0 or a negative errno.
  int set_link_group(int ifindex, uint32_t group);
  int delete_group(uint32_t group);  // -ENODEV when no device is in the group

 private:
  int request(void* message, size_t length);
  int fd_ = -1;
  uint32_t seq_ = 0;
};

class LinkReaper {
 public:
  static constexpr std::chrono::milliseconds kCollectWindow{100};

  static LinkReaper& instance();  // never destroyed: its thread may run until the process exits

  // Schedules deletion of every device in `group` of the calling thread's network namespace.
  void schedule(uint32_t group);
  // Returns when every round scheduled before the call has finished.
  void flush();

 private:
  LinkReaper() = default;
  void run();

  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable done_;
  // (namespace inode, group) -> a socket in that namespace
  std::map<std::pair<uint64_t, uint32_t>, RtnlSocket> pending_;
  uint64_t scheduled_rounds_ = 0;
  uint64_t finished_rounds_ = 0;
  int flushing_ = 0;  // callers waiting in flush(): start the round at once
  bool started_ = false;
};

}  // namespace brindle::workload::detail
