// Network namespace helpers: scratch namespaces appear empty and disappear, guards move only the
// calling thread and move it back.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

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
