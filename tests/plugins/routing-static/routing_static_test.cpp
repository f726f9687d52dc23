// brindle-routing-static.so, loaded and created through the host's loader (open_plugin +
// LoadedPlugin with a configuration section parsed from TOML) and driven through the routing C
// ABI against the real kernel, inside scratch network namespaces. Every call into the plugin runs
// on a thread that has entered the namespace, so nothing can reach the root namespace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brindle/common/metrics.hpp"
#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"
#include "brindle/loader/plugin_library.hpp"
#include "brindle/netlink/netlink.hpp"
#include "brindle/netlink/netns.hpp"
#include "brindle/routing.h"

namespace {

namespace nl = brindle::netlink;
using brindle::loader::LoadedPlugin;
using brindle::loader::LoadError;
using brindle::loader::PluginKind;

constexpr uint8_t kProtocol = 202;  // the plugin's default
constexpr uint8_t kStatic = 4;      // RTPROT_STATIC: the administrator's routes
constexpr uint8_t kPodProtocol = 201;
constexpr uint32_t kMain = 254;

// A route as the test writes it; owns the strings the ABI struct points to.
struct TestRoute {
  brindle_route_type_t type = BRINDLE_ROUTE_REMOTE_BLOCK;
  std::string destination;
  std::string gateway;  // "" for none
  std::string device;   // "" for none
  uint32_t flags = 0;
  std::string node = "node-b";
};

TestRoute remote(std::string destination, std::string gateway, std::string device = "",
                 uint32_t flags = 0) {
  return {BRINDLE_ROUTE_REMOTE_BLOCK, std::move(destination), std::move(gateway), std::move(device),
          flags};
}

TestRoute local(std::string destination) {
  return {BRINDLE_ROUTE_LOCAL_BLOCK, std::move(destination), "", "", 0, "node-a"};
}

brindle_ip_prefix_t abi(const std::string& text) {
  return text.empty() ? brindle_ip_prefix_t{} : nl::IpPrefix::parse(text).to_abi();
}

brindle_str_t str(const std::string& text) {
  return {text.data(), text.size()};
}

struct CallResult {
  brindle_status_t status = BRINDLE_OK;
  std::string message;
  bool ok() const { return status == BRINDLE_OK; }
};

std::shared_ptr<const brindle::config::PluginSection> section(const std::string& toml) {
  return brindle::config::PluginSection::from_toml(toml, "brindle.toml");
}

brindle::loader::HostEnvironment environment(brindle::metrics::Registry* registry) {
  brindle::loader::HostEnvironment env;
  env.metrics = registry;
  env.node.name = "node-a";
  return env;
}

// One plugin instance, created inside the namespace; every call is made from a thread inside it.
class StaticPlugin {
 public:
  StaticPlugin(const nl::ScratchNetns& ns, const std::string& toml = "",
               brindle::metrics::Registry* registry = nullptr)
      : ns_(ns) {
    plugin_ = ns.run([&] {
      return std::make_unique<LoadedPlugin>(
          brindle::loader::open_plugin(BRINDLE_ROUTING_STATIC_PLUGIN,
                                       {PluginKind::routing, "static"}),
          section(toml), environment(registry));
    });
    vtable_ = plugin_->library().routing();
  }

  CallResult update(const std::vector<TestRoute>& upserts,
                    const std::vector<std::string>& removals = {}) {
    std::vector<brindle_route_t> raw(upserts.size());
    std::vector<const brindle_route_t*> pointers;
    for (size_t i = 0; i < upserts.size(); ++i) {
      const TestRoute& r = upserts[i];
      raw[i] = brindle_route_t{};
      raw[i].struct_size = sizeof(brindle_route_t);
      raw[i].type = r.type;
      raw[i].destination = abi(r.destination);
      raw[i].gateway = abi(r.gateway);
      raw[i].device = str(r.device);
      raw[i].flags = r.flags;
      raw[i].node = str(r.node);
      pointers.push_back(&raw[i]);
    }
    std::vector<brindle_ip_prefix_t> removed;
    for (const std::string& r : removals) {
      removed.push_back(abi(r));
    }
    brindle_routing_update_t update{};
    update.struct_size = sizeof(update);
    update.upserts = pointers.data();
    update.n_upserts = pointers.size();
    update.removals = removed.data();
    update.n_removals = removed.size();
    return call(
        [&](brindle_error_t* err) { return vtable_->update(plugin_->instance(), &update, err); });
  }
  CallResult in_sync() {
    return call([&](brindle_error_t* err) { return vtable_->in_sync(plugin_->instance(), err); });
  }
  CallResult apply() {
    return call([&](brindle_error_t* err) { return vtable_->apply(plugin_->instance(), err); });
  }
  CallResult refresh() {
    return call([&](brindle_error_t* err) { return vtable_->refresh(plugin_->instance(), err); });
  }
  CallResult status(int& ready, int& peers) {
    peers = 0;
    ready = -1;
    return call([&](brindle_error_t* err) {
      return vtable_->status(
          plugin_->instance(),
          [](void* user, const brindle_routing_peer_status_t*) { ++*static_cast<int*>(user); },
          &peers, &ready, err);
    });
  }
  const LoadedPlugin& loaded() const { return *plugin_; }

 private:
  template <typename Fn>
  CallResult call(Fn&& fn) {
    return ns_.run([&] {
      brindle_error_t err{};
      CallResult result;
      result.status = fn(&err);
      result.message = err.message;
      return result;
    });
  }

  const nl::ScratchNetns& ns_;
  std::unique_ptr<LoadedPlugin> plugin_;
  const brindle_routing_vtable_t* vtable_ = nullptr;
};

class StaticRoutingTest : public ::testing::Test {
 protected:
  // veth0 (198.19.0.1/24, 2001:db8:19::1/64) and its peer veth1, both up: gateways in those
  // subnets are reachable, 198.19.200.0/24 and 2001:db8:99::/64 are not.
  void SetUp() override {
    nl::Netlink netlink = nl::Netlink::open_in_netns(ns_.fd());
    netlink.create_veth({.name = "veth0", .peer_name = "veth1"});
    veth0_ = netlink.link("veth0").index;
    netlink.add_address(veth0_, nl::IpPrefix::parse("198.19.0.1/24"));
    netlink.add_address(veth0_, nl::IpPrefix::parse("2001:db8:19::1/64"));
    netlink.set_link_up(veth0_, true);
    netlink.set_link_up(netlink.link("veth1").index, true);
  }

  nl::Netlink netlink() const { return nl::Netlink::open_in_netns(ns_.fd()); }

  std::vector<nl::RouteSpec> routes(std::optional<uint8_t> protocol,
                                    std::optional<uint32_t> table = kMain) const {
    return netlink().routes({.protocol = protocol, .table = table});
  }
  // The route to `destination` with that protocol in that table, if any.
  std::optional<nl::RouteSpec> route(const std::string& destination, uint8_t protocol = kProtocol,
                                     uint32_t table = kMain) const {
    std::optional<nl::RouteSpec> found;
    for (nl::RouteSpec& spec : routes(protocol, table)) {
      if (spec.destination == nl::IpPrefix::parse(destination)) {
        EXPECT_FALSE(found) << "two routes to " << destination;
        found = spec;
      }
    }
    return found;
  }
  // `ip -n <namespace> <args>`.
  void ip(const std::string& args) const {
    const std::string command = "ip -n " + ns_.name() + " " + args;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  void expect_via(const std::string& destination, const std::string& gateway,
                  uint8_t protocol = kProtocol, uint32_t table = kMain) const {
    const std::optional<nl::RouteSpec> spec = route(destination, protocol, table);
    ASSERT_TRUE(spec) << destination << " proto " << int{protocol} << " table " << table;
    EXPECT_EQ(spec->type, nl::RouteType::unicast) << spec->to_string();
    EXPECT_EQ(spec->gateway.address(), nl::IpPrefix::parse(gateway)) << spec->to_string();
  }

  nl::ScratchNetns ns_ = nl::ScratchNetns::create_named("brst");
  int veth0_ = 0;
};

TEST_F(StaticRoutingTest, LoadsThroughTheHostLoaderAsStaticRouting) {
  StaticPlugin plugin(ns_);
  EXPECT_EQ(plugin.loaded().info().name, "static");
  EXPECT_EQ(plugin.loaded().info().kind, PluginKind::routing);
  EXPECT_EQ(plugin.loaded().info().path.filename(), "brindle-routing-static.so");
  int ready = 0;
  int peers = 0;
  ASSERT_TRUE(plugin.status(ready, peers).ok());
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(peers, 0);
}

TEST_F(StaticRoutingTest, RemoteRoutesViaAGatewayWithAndWithoutDevice) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin
                  .update({remote("198.18.1.0/26", "198.19.0.2"),
                           remote("198.18.1.64/26", "198.19.0.3", "veth0")})
                  .ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;

  const std::optional<nl::RouteSpec> picked = route("198.18.1.0/26");
  ASSERT_TRUE(picked);
  EXPECT_EQ(picked->gateway.address(), nl::IpPrefix::parse("198.19.0.2"));
  EXPECT_EQ(picked->ifindex, veth0_);  // chosen by the kernel
  EXPECT_FALSE(picked->onlink);
  const std::optional<nl::RouteSpec> given = route("198.18.1.64/26");
  ASSERT_TRUE(given);
  EXPECT_EQ(given->gateway.address(), nl::IpPrefix::parse("198.19.0.3"));
  EXPECT_EQ(given->ifindex, veth0_);
  // Nothing else carries the protocol, in any table.
  EXPECT_EQ(routes(kProtocol, std::nullopt).size(), 2u);
}

TEST_F(StaticRoutingTest, OnlinkRoutesUseTheDeviceWithoutAConnectedRoute) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(
      plugin.update({remote("198.18.2.0/26", "198.19.200.1", "veth0", BRINDLE_ROUTE_ONLINK)}).ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  const std::optional<nl::RouteSpec> spec = route("198.18.2.0/26");
  ASSERT_TRUE(spec);
  EXPECT_TRUE(spec->onlink);
  EXPECT_EQ(spec->ifindex, veth0_);
  EXPECT_EQ(spec->gateway.address(), nl::IpPrefix::parse("198.19.200.1"));
}

TEST_F(StaticRoutingTest, LocalBlocksBecomeBlackholes) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin.update({local("198.18.0.0/26"), local("2001:db8:18::/122")}).ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  for (const char* block : {"198.18.0.0/26", "2001:db8:18::/122"}) {
    const std::optional<nl::RouteSpec> spec = route(block);
    ASSERT_TRUE(spec) << block;
    EXPECT_EQ(spec->type, nl::RouteType::blackhole) << spec->to_string();
    EXPECT_TRUE(spec->gateway.empty());
  }
}

TEST_F(StaticRoutingTest, ChangedRouteIsReplacedNotDuplicated) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin.update({remote("198.18.1.0/26", "198.19.0.2")}).ok());
  ASSERT_TRUE(plugin.apply().ok());
  ASSERT_TRUE(plugin.update({remote("198.18.1.0/26", "198.19.0.3", "veth0")}).ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  expect_via("198.18.1.0/26", "198.19.0.3");
  // A remote block that becomes a local one.
  ASSERT_TRUE(plugin.update({local("198.18.1.0/26")}).ok());
  ASSERT_TRUE(plugin.apply().ok());
  const std::optional<nl::RouteSpec> spec = route("198.18.1.0/26");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->type, nl::RouteType::blackhole);
  EXPECT_EQ(routes(kProtocol).size(), 1u);
}

TEST_F(StaticRoutingTest, RemovalsWaitForInSync) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin.update({remote("198.18.1.0/26", "198.19.0.2"), local("198.18.0.0/26")}).ok());
  ASSERT_TRUE(plugin.apply().ok());
  ASSERT_TRUE(plugin.update({}, {"198.18.1.0/26"}).ok());
  ASSERT_TRUE(plugin.apply().ok());
  EXPECT_TRUE(route("198.18.1.0/26")) << "removed before in_sync()";

  ASSERT_TRUE(plugin.in_sync().ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_FALSE(route("198.18.1.0/26"));
  EXPECT_TRUE(route("198.18.0.0/26"));

  // After in_sync(), a removal takes effect at the next apply().
  ASSERT_TRUE(plugin.update({}, {"198.18.0.0/26"}).ok());
  ASSERT_TRUE(plugin.apply().ok());
  EXPECT_TRUE(routes(kProtocol).empty());
}

TEST_F(StaticRoutingTest, ForeignRoutesAreLeftUntouched) {
  ip("route add 198.18.9.0/24 via 198.19.0.9 proto static");
  ip("route add 198.18.8.0/26 via 198.19.0.9 proto 201");
  ip("route add 198.18.1.0/26 via 198.19.0.9 table 100 proto static");  // same block, other table
  ip("route add 198.18.7.0/26 via 198.19.0.9 table 100 proto 202");     // our protocol, other table
  ip("route add 2001:db8:18:7::/64 via 2001:db8:19::9 proto static");

  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin.update({remote("198.18.1.0/26", "198.19.0.2")}).ok());
  ASSERT_TRUE(plugin.in_sync().ok());
  CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  expect_via("198.18.1.0/26", "198.19.0.2");

  // Removing our route to the block leaves the other table's route to the same block.
  ASSERT_TRUE(plugin.update({}, {"198.18.1.0/26"}).ok());
  ASSERT_TRUE(plugin.apply().ok());
  ASSERT_TRUE(plugin.refresh().ok());
  EXPECT_FALSE(route("198.18.1.0/26"));
  expect_via("198.18.9.0/24", "198.19.0.9", kStatic);
  expect_via("198.18.8.0/26", "198.19.0.9", kPodProtocol);
  expect_via("198.18.1.0/26", "198.19.0.9", kStatic, 100);
  expect_via("198.18.7.0/26", "198.19.0.9", kProtocol, 100);
  expect_via("2001:db8:18:7::/64", "2001:db8:19::9", kStatic);
}

TEST_F(StaticRoutingTest, ForeignRouteInTheWayIsReportedAndNotReplaced) {
  ip("route add 198.18.9.0/24 via 198.19.0.9 proto static");
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin
                  .update({remote("198.18.9.0/24", "198.19.0.2", "", 0),
                           remote("198.18.1.0/26", "198.19.0.2")})
                  .ok());
  ASSERT_TRUE(plugin.in_sync().ok());
  const CallResult applied = plugin.apply();
  EXPECT_EQ(applied.status, BRINDLE_ERR_CONFLICT) << applied.message;
  EXPECT_NE(applied.message.find("1 of 2 route changes failed"), std::string::npos)
      << applied.message;
  EXPECT_NE(applied.message.find("198.18.9.0/24 via 198.19.0.2 (node \"node-b\")"),
            std::string::npos)
      << applied.message;
  EXPECT_NE(applied.message.find("protocol 4"), std::string::npos) << applied.message;
  expect_via("198.18.9.0/24", "198.19.0.9", kStatic);
  expect_via("198.18.1.0/26", "198.19.0.2");

  // Once the administrator's route is gone, the retry at the next apply() installs ours.
  ip("route del 198.18.9.0/24 proto static");
  const CallResult retried = plugin.apply();
  ASSERT_TRUE(retried.ok()) << retried.message;
  expect_via("198.18.9.0/24", "198.19.0.2");
}

TEST_F(StaticRoutingTest, OwnedRouteAddedBehindItsBackIsTakenOver) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin.update({remote("198.18.1.0/26", "198.19.0.2")}).ok());
  ASSERT_TRUE(plugin.in_sync().ok());
  ASSERT_TRUE(plugin.apply().ok());
  // Someone adds a route with our protocol the plugin has not listed; the next upsert for that
  // block finds the slot taken by a route it owns and replaces it.
  ip("route add 198.18.4.0/26 via 198.19.0.9 proto 202");
  ASSERT_TRUE(plugin.update({remote("198.18.4.0/26", "198.19.0.4")}).ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  expect_via("198.18.4.0/26", "198.19.0.4");
  EXPECT_EQ(routes(kProtocol).size(), 2u);
}

TEST_F(StaticRoutingTest, RestartRemovesNothingBeforeInSyncThenDropsStaleRoutes) {
  brindle::metrics::Registry registry;
  {
    StaticPlugin first(ns_);
    ASSERT_TRUE(first
                    .update({remote("198.18.1.0/26", "198.19.0.2"),
                             remote("198.18.1.64/26", "198.19.0.3", "veth0"),
                             remote("198.18.1.128/26", "198.19.0.4"), local("198.18.0.0/26")})
                    .ok());
    ASSERT_TRUE(first.in_sync().ok());
    ASSERT_TRUE(first.apply().ok());
  }
  ASSERT_EQ(routes(kProtocol).size(), 4u) << "destroying the instance must remove nothing";

  StaticPlugin second(ns_, "", &registry);
  ASSERT_TRUE(second
                  .update({remote("198.18.1.0/26", "198.19.0.2"),
                           remote("198.18.1.64/26", "198.19.0.3", "veth0"), local("198.18.0.0/26")})
                  .ok());
  CallResult applied = second.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_EQ(routes(kProtocol).size(), 4u);
  EXPECT_TRUE(route("198.18.1.128/26")) << "removed before in_sync()";
  // Routes the previous run left exactly as wanted are not programmed again.
  EXPECT_FALSE(
      registry.value("brindle_routing_static_route_changes_total", "op=\"add\",result=\"ok\""));
  EXPECT_FALSE(
      registry.value("brindle_routing_static_route_changes_total", "op=\"replace\",result=\"ok\""));

  ASSERT_TRUE(second.in_sync().ok());
  applied = second.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_FALSE(route("198.18.1.128/26"));
  EXPECT_EQ(routes(kProtocol).size(), 3u);
  EXPECT_EQ(
      registry.value("brindle_routing_static_route_changes_total", "op=\"delete\",result=\"ok\""),
      1.0);
}

TEST_F(StaticRoutingTest, PerRouteFailuresDoNotStopTheRestAndAreRetried) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(plugin
                  .update({remote("198.18.3.0/26", "198.19.0.2"),
                           remote("198.18.3.64/26", "198.19.200.1"),  // no route to the gateway
                           remote("198.18.3.128/26", "198.19.0.3", "veth0"),
                           remote("198.18.3.192/26", "198.19.0.4", "brtest9",
                                  BRINDLE_ROUTE_ONLINK)})  // no such device
                  .ok());
  const CallResult applied = plugin.apply();
  EXPECT_EQ(applied.status, BRINDLE_ERR_INVALID_ARGUMENT) << applied.message;
  EXPECT_NE(applied.message.find("2 of 4 route changes failed"), std::string::npos)
      << applied.message;
  // Named with the kernel's reason, and first (failures are listed by destination).
  EXPECT_NE(applied.message.find("failed at apply (retried at the next apply; the others were "
                                 "programmed): route 198.18.3.64/26 via 198.19.200.1 (node "
                                 "\"node-b\"): Network is unreachable"),
            std::string::npos)
      << applied.message;
  EXPECT_NE(applied.message.find("device \"brtest9\" does not exist"), std::string::npos)
      << applied.message;
  EXPECT_TRUE(route("198.18.3.0/26"));
  EXPECT_TRUE(route("198.18.3.128/26"));
  EXPECT_FALSE(route("198.18.3.64/26"));
  EXPECT_FALSE(route("198.18.3.192/26"));

  // Still failing: reported again by the next apply(), with no new update.
  EXPECT_FALSE(plugin.apply().ok());

  // Fix the causes; the next apply() programs the failed routes without a new update.
  nl::Netlink netlink = this->netlink();
  netlink.add_address(veth0_, nl::IpPrefix::parse("198.19.200.254/24"));
  netlink.create_veth({.name = "brtest9", .peer_name = "brtest9p"});
  const int device = netlink.link("brtest9").index;
  netlink.set_link_up(device, true);
  netlink.set_link_up(netlink.link("brtest9p").index, true);
  const CallResult retried = plugin.apply();
  ASSERT_TRUE(retried.ok()) << retried.message;
  expect_via("198.18.3.64/26", "198.19.200.1");
  const std::optional<nl::RouteSpec> on_new_device = route("198.18.3.192/26");
  ASSERT_TRUE(on_new_device);
  EXPECT_EQ(on_new_device->ifindex, device);
}

TEST_F(StaticRoutingTest, RefreshRepairsDeletedAndChangedRoutesAndDropsStrayOwnedOnes) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(
      plugin
          .update({remote("198.18.1.0/26", "198.19.0.2"), remote("198.18.1.64/26", "198.19.0.3"),
                   local("198.18.0.0/26"), remote("2001:db8:18:1::/64", "2001:db8:19::2")})
          .ok());
  ASSERT_TRUE(plugin.apply().ok());

  // Before in_sync(), refresh repairs but removes nothing.
  ip("route add 198.18.5.0/26 via 198.19.0.5 proto 202");
  ip("route del 198.18.1.0/26 proto 202");
  CallResult refreshed = plugin.refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.message;
  expect_via("198.18.1.0/26", "198.19.0.2");
  EXPECT_TRUE(route("198.18.5.0/26"));

  ASSERT_TRUE(plugin.in_sync().ok());
  ASSERT_TRUE(plugin.apply().ok());
  EXPECT_FALSE(route("198.18.5.0/26"));

  ip("route del 198.18.1.0/26 proto 202");
  ip("route replace 198.18.1.64/26 via 198.19.0.99 proto 202");
  ip("route del blackhole 198.18.0.0/26 proto 202");
  ip("-6 route del 2001:db8:18:1::/64 proto 202");
  ip("route add 198.18.6.0/26 via 198.19.0.6 proto 202");
  refreshed = plugin.refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.message;
  expect_via("198.18.1.0/26", "198.19.0.2");
  expect_via("198.18.1.64/26", "198.19.0.3");
  expect_via("2001:db8:18:1::/64", "2001:db8:19::2");
  ASSERT_TRUE(route("198.18.0.0/26"));
  EXPECT_EQ(route("198.18.0.0/26")->type, nl::RouteType::blackhole);
  EXPECT_FALSE(route("198.18.6.0/26"));
  EXPECT_EQ(routes(kProtocol).size(), 4u);
}

TEST_F(StaticRoutingTest, Ipv6RemoteOnlinkBlackholeRemovalAndErrors) {
  StaticPlugin plugin(ns_);
  ASSERT_TRUE(
      plugin
          .update({remote("2001:db8:18:1::/64", "2001:db8:19::2"),
                   remote("2001:db8:18:2::/64", "2001:db8:99::1", "veth0", BRINDLE_ROUTE_ONLINK),
                   remote("2001:db8:18:3::/64", "2001:db8:99::1"),  // unreachable
                   local("2001:db8:18::/64"), remote("198.18.1.0/26", "198.19.0.2")})
          .ok());
  ASSERT_TRUE(plugin.in_sync().ok());
  const CallResult applied = plugin.apply();
  EXPECT_FALSE(applied.ok());
  EXPECT_NE(applied.message.find("1 of 5 route changes failed"), std::string::npos)
      << applied.message;
  EXPECT_NE(applied.message.find("2001:db8:18:3::/64 via 2001:db8:99::1"), std::string::npos)
      << applied.message;

  expect_via("2001:db8:18:1::/64", "2001:db8:19::2");
  const std::optional<nl::RouteSpec> onlink = route("2001:db8:18:2::/64");
  ASSERT_TRUE(onlink);
  EXPECT_TRUE(onlink->onlink);
  EXPECT_EQ(onlink->ifindex, veth0_);
  ASSERT_TRUE(route("2001:db8:18::/64"));
  EXPECT_EQ(route("2001:db8:18::/64")->type, nl::RouteType::blackhole);
  EXPECT_FALSE(route("2001:db8:18:3::/64"));
  expect_via("198.18.1.0/26", "198.19.0.2");

  // Removing the unreachable one withdraws its failure; removing the others withdraws routes.
  ASSERT_TRUE(
      plugin.update({}, {"2001:db8:18:3::/64", "2001:db8:18:1::/64", "2001:db8:18::/64"}).ok());
  const CallResult removed = plugin.apply();
  ASSERT_TRUE(removed.ok()) << removed.message;
  EXPECT_FALSE(route("2001:db8:18:1::/64"));
  EXPECT_FALSE(route("2001:db8:18::/64"));
  EXPECT_TRUE(route("2001:db8:18:2::/64"));
  EXPECT_EQ(routes(kProtocol).size(), 2u);
}

TEST_F(StaticRoutingTest, InvalidUpsertsAreRejectedByNameAndTheRestRecorded) {
  StaticPlugin plugin(ns_);
  const CallResult updated = plugin.update({
      remote("198.18.1.0/26", "198.19.0.2"),
      remote("198.18.1.65/26", "198.19.0.2"),       // host bits set
      remote("198.18.1.128/26", "2001:db8:19::2"),  // gateway of the other family
      remote("198.18.1.192/26", "198.19.0.2", "", BRINDLE_ROUTE_ONLINK),  // onlink, no device
      remote("198.18.2.0/26", ""),  // neither gateway nor device
  });
  EXPECT_EQ(updated.status, BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(updated.message.find("4 routes rejected"), std::string::npos) << updated.message;
  EXPECT_NE(updated.message.find("route 198.18.1.65/26 of node \"node-b\": the destination has "
                                 "host bits set"),
            std::string::npos)
      << updated.message;
  EXPECT_NE(updated.message.find("198.18.1.128/26"), std::string::npos) << updated.message;
  EXPECT_NE(updated.message.find("onlink route needs both a gateway and a device"),
            std::string::npos)
      << updated.message;
  EXPECT_NE(updated.message.find("and 1 more"), std::string::npos) << updated.message;
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  EXPECT_EQ(routes(kProtocol).size(), 1u);
  expect_via("198.18.1.0/26", "198.19.0.2");
}

TEST_F(StaticRoutingTest, ConfiguredProtocolAndTable) {
  ip("route add 198.18.7.0/26 via 198.19.0.9 table 100 proto 202");  // default protocol: not ours
  StaticPlugin plugin(ns_, "protocol = 250\ntable = 100\n");
  ASSERT_TRUE(plugin.update({remote("198.18.1.0/26", "198.19.0.2"), local("198.18.0.0/26")}).ok());
  ASSERT_TRUE(plugin.in_sync().ok());
  const CallResult applied = plugin.apply();
  ASSERT_TRUE(applied.ok()) << applied.message;
  expect_via("198.18.1.0/26", "198.19.0.2", 250, 100);
  ASSERT_TRUE(route("198.18.0.0/26", 250, 100));
  expect_via("198.18.7.0/26", "198.19.0.9", kProtocol, 100);
  EXPECT_TRUE(routes(250).empty()) << "nothing in the main table";
}

// Creation fails with the location of the offending value (brindle.toml:<line>:<column>).
std::string creation_error(const nl::ScratchNetns& ns, const std::string& toml) {
  try {
    StaticPlugin plugin(ns, toml);
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), brindle::loader::LoadErrorCode::create_failed);
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << toml;
  return {};
}

TEST_F(StaticRoutingTest, ConfigurationErrorsNameTheLocation) {
  struct Case {
    std::string toml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"table = 100\nprotcol = 202\n",
       "brindle.toml:2:11: protcol: unknown key; expected one of: protocol, table"},
      {"protocol = 3\n", "brindle.toml:1:12: protocol: must be between 5 and 255, got 3"},
      {"protocol = 256\n", "brindle.toml:1:12: protocol: must be between 5 and 255, got 256"},
      {"protocol = 201\n", "brindle.toml:1:12: protocol: 201 is the protocol of brindle's pod"},
      {"protocol = \"static\"\n", "brindle.toml:1:12: protocol: must be an integer"},
      {"table = 0\n", "brindle.toml:1:9: table: must be between 1 and 4294967295, got 0"},
      {"table = 255\n", "brindle.toml:1:9: table: 255 is the kernel's local table"},
  };
  for (const Case& c : cases) {
    const std::string message = creation_error(ns_, c.toml);
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
  // The same checks through validate_config(), without creating an instance.
  const brindle::loader::PluginLibrary library =
      brindle::loader::open_plugin(BRINDLE_ROUTING_STATIC_PLUGIN, {PluginKind::routing, "static"});
  EXPECT_NO_THROW(brindle::loader::validate_plugin_config(
      library, section("protocol = 250\ntable = 100\n"), environment(nullptr)));
  try {
    brindle::loader::validate_plugin_config(library, section("protocol = 1\n"),
                                            environment(nullptr));
    ADD_FAILURE() << "protocol 1 accepted";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.code(), brindle::loader::LoadErrorCode::validate_failed);
    EXPECT_NE(std::string(e.what()).find("brindle.toml:1:12"), std::string::npos) << e.what();
  }
}

}  // namespace
