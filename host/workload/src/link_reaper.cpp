#include "link_reaper.hpp"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "brindle/common/log.hpp"
#include "brindle/common/thread_name.hpp"

namespace brindle::workload::detail {

namespace {

// ifinfomsg plus one u32 attribute.
struct LinkU32Request {
  nlmsghdr header;
  ifinfomsg info;
  nlattr attribute;
  uint32_t value;
};

LinkU32Request link_u32_request(uint16_t type, uint16_t flags, int ifindex, uint16_t attribute,
                                uint32_t value) {
  LinkU32Request r{};
  r.header.nlmsg_len = sizeof(r);
  r.header.nlmsg_type = type;
  r.header.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  r.info.ifi_family = AF_UNSPEC;
  r.info.ifi_index = ifindex;
  r.attribute.nla_len = sizeof(nlattr) + sizeof(uint32_t);
  r.attribute.nla_type = attribute;
  r.value = value;
  return r;
}

}  // namespace

RtnlSocket::RtnlSocket() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "open NETLINK_ROUTE socket");
  }
  int on = 1;
  setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
}

RtnlSocket::~RtnlSocket() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

int RtnlSocket::request(void* message, size_t length) {
  auto* header = static_cast<nlmsghdr*>(message);
  header->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, message, length, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return -errno;
  }
  alignas(nlmsghdr) char buffer[8192];
  for (;;) {
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -errno;
    }
    for (auto* reply = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(reply, n);
         reply = NLMSG_NEXT(reply, n)) {
      if (reply->nlmsg_seq != seq_ || reply->nlmsg_type != NLMSG_ERROR) {
        continue;
      }
      return static_cast<nlmsgerr*>(NLMSG_DATA(reply))->error;  // 0: ack
    }
  }
}

int RtnlSocket::set_link_group(int ifindex, uint32_t group) {
  LinkU32Request r = link_u32_request(RTM_SETLINK, 0, ifindex, IFLA_GROUP, group);
  return request(&r, sizeof(r));
}

int RtnlSocket::delete_group(uint32_t group) {
  LinkU32Request r = link_u32_request(RTM_DELLINK, 0, 0, IFLA_GROUP, group);
  return request(&r, sizeof(r));
}

LinkReaper& LinkReaper::instance() {
  static LinkReaper* reaper = new LinkReaper();
  return *reaper;
}

void LinkReaper::schedule(uint32_t group) {
  struct stat netns {};
  if (stat("/proc/thread-self/ns/net", &netns) != 0) {
    throw std::system_error(errno, std::generic_category(), "stat /proc/thread-self/ns/net");
  }
  std::pair<uint64_t, uint32_t> key{static_cast<uint64_t>(netns.st_ino), group};
  std::lock_guard lock(mutex_);
  if (!pending_.contains(key)) {
    pending_.emplace(key, RtnlSocket());  // socket of this namespace
  }
  ++scheduled_rounds_;
  if (!started_) {
    started_ = true;
    std::thread([this] { run(); }).detach();
  }
  work_.notify_one();
}

void LinkReaper::flush() {
  std::unique_lock lock(mutex_);
  uint64_t ticket = scheduled_rounds_;
  ++flushing_;
  work_.notify_one();
  done_.wait(lock, [&] { return finished_rounds_ >= ticket; });
  --flushing_;
}

void LinkReaper::run() {
  // Background work: a round (milliseconds of the kernel's device removal) must not preempt the
  // CNI requests being served when its timer wakes it; it still gets its share of the CPU.
  name_this_thread("link-reaper");
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // a refusal keeps the default
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [&] { return !pending_.empty(); });
    work_.wait_for(lock, kCollectWindow, [&] { return flushing_ > 0; });
    std::map<std::pair<uint64_t, uint32_t>, RtnlSocket> batch;
    batch.swap(pending_);
    uint64_t covered = scheduled_rounds_;
    lock.unlock();
    for (auto& [key, socket] : batch) {
      int rc = socket.delete_group(key.second);
      if (rc != 0 && rc != -ENODEV) {
        log::error("cannot delete the veths of removed pods",
                   {{"group", key.second}, {"error", std::strerror(-rc)}});
      }
    }
    batch.clear();  // closes the sockets (and releases their namespaces)
    lock.lock();
    finished_rounds_ = covered;
    done_.notify_all();
  }
}

}  // namespace brindle::workload::detail
