// Network namespace helpers: scratch namespaces appear empty and disappear, guards move only the
// calling thread and move it back.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"

namespace {

using brindle::netlink::Netlink;
using brindle::netlink::NetnsFd;
using brindle::netlink::NetnsGuard;
using brindle::netlink::ScratchNetns;

ino_t netns_inode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("stat " + path);
  }
  return st.st_ino;
}

ino_t thread_netns() {
  return netns_inode("/proc/thread-self/ns/net");
}

TEST(ScratchNetns, IsFreshAndOnlyHasLoopback) {
  const ino_t before = thread_netns();
  ScratchNetns ns = ScratchNetns::create();
  EXPECT_EQ(thread_netns(), before) << "creating a namespace must not move the caller";
  EXPECT_NE(netns_inode(ns.path()), before);
  auto links = Netlink::open_in_netns(ns.fd()).links();
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].name, "lo");
  EXPECT_FALSE(links[0].up);
}

TEST(ScratchNetns, NamedOneIsVisibleToIpAndRemovedAfterwards) {
  std::string path;
  {
    ScratchNetns ns = ScratchNetns::create_named("brt");
    ASSERT_EQ(ns.name().rfind("brt-", 0), 0u) << ns.name();
    path = "/run/netns/" + ns.name();
    EXPECT_EQ(netns_inode(path), netns_inode(ns.path()));
    EXPECT_EQ(std::system(("ip -n " + ns.name() + " link show lo >/dev/null").c_str()), 0);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0) << path << " left behind";
}

// A named namespace made before the first `ip netns add` must still be removable after it: ip
// bind-mounts /run/netns over itself when it is no mount point yet, which used to hide (leak) the
// namespaces mounted there before. Run in a child with its own mount namespace and an empty /run,
// so that /run/netns starts as on a fresh machine and nothing reaches the host's mounts.
TEST(ScratchNetns, NamedOneSurvivesAnIpNetnsAddThatFollowsIt) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
      _exit(2);
    }
    std::string mountpoint;
    {
      const ScratchNetns ns = ScratchNetns::create_named("brt");
      mountpoint = "/run/netns/" + ns.name();
      if (std::system("ip netns add brt-after-it") != 0) {
        _exit(3);
      }
    }
    std::ifstream mountinfo("/proc/self/mountinfo");
    const std::string mounts((std::istreambuf_iterator<char>(mountinfo)),
                             std::istreambuf_iterator<char>());
    const bool left = mounts.find(mountpoint + " ") != std::string::npos;
    std::system("ip netns delete brt-after-it");
    _exit(left ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the namespace stayed mounted under /run/netns; 2, 3: "
                                       "the child's setup failed";
}

TEST(NetnsGuard, MovesTheThreadAndBack) {
  ScratchNetns ns = ScratchNetns::create();
  const ino_t before = thread_netns();
  {
    NetnsGuard guard(ns.fd());
    EXPECT_EQ(thread_netns(), netns_inode(ns.path()));
  }
  EXPECT_EQ(thread_netns(), before);
}

TEST(RunInNetns, ReturnsResultsAndRethrows) {
  ScratchNetns ns = ScratchNetns::create();
  const ino_t inside = ns.run([] { return thread_netns(); });
  EXPECT_EQ(inside, netns_inode(ns.path()));
  EXPECT_NE(thread_netns(), inside);
  EXPECT_THROW(ns.run([] { throw std::logic_error("inside"); }), std::logic_error);
}

TEST(NetnsFd, OpeningAMissingNamespaceNamesIt) {
  try {
    NetnsFd::open("brt-does-not-exist");
    FAIL() << "opened a missing namespace";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/run/netns/brt-does-not-exist"), std::string::npos)
        << e.what();
  }
}

}  // namespace
