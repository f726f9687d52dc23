// The "static" routing plugin: installs every remote block route exactly in the form the
// encapsulation plugin dictated (gateway, device, onlink) and a blackhole route for each of this
// node's own blocks, all with its own route protocol number, through batched netlink requests.
//
// Configuration ([routing.static] in brindle.toml):
//   protocol = 202   # route protocol number of the routes it owns, 5..255 except 201
//                    # (0..4 are the kernel's and the administrator's, 201 is brindle's pod routes)
//   table = 254      # routing table, 1..4294967295 except 255 (local); default main (254)
//
// The netlink socket is opened in the network namespace of the thread that creates the instance;
// every later call acts there, whatever thread it comes from.
#include <brindle/sdk.hpp>

#include <cstdint>
#include <exception>
#include <string>

#include "brindle/netlink/netlink.hpp"
#include "static_routes.hpp"

namespace brindle::routing_static {
namespace {

Options read_options(const Host& host) {
  const Config config = host.config();
  config.allow_only("", {"protocol", "table"});
  Options options;
  const int64_t protocol = config.int_or("protocol", kDefaultProtocol, kMinProtocol, 255);
  if (protocol == kPodRouteProtocol) {
    config.fail("protocol",
                "201 is the protocol of brindle's pod host routes, which this plugin "
                "must never own; choose another (default 202)");
  }
  options.protocol = static_cast<uint8_t>(protocol);
  const int64_t table = config.int_or("table", netlink::kMainTable, 1, UINT32_MAX);
  if (table == kLocalTable) {
    config.fail("table", "255 is the kernel's local table; choose another (default 254, main)");
  }
  options.table = static_cast<uint32_t>(table);
  return options;
}

netlink::Netlink open_netlink() {
  try {
    return netlink::Netlink();
  } catch (const std::exception& e) {
    throw Error(BRINDLE_ERR_UNAVAILABLE,
                std::string("routing static: cannot open a netlink socket: ") + e.what());
  }
}

class StaticRouting final : public RoutingPlugin {
 public:
  explicit StaticRouting(Host host)
      : RoutingPlugin(host), routes_(host, read_options(host), open_netlink()) {
    host.info("static routing ready", "protocol=" + std::to_string(routes_.options().protocol) +
                                          " table=" + std::to_string(routes_.options().table));
  }

  // Side-effect free: checks the [routing.static] section.
  static void validate_config(const Host& host) { read_options(host); }

  void update(const RoutingUpdate& update) override { routes_.update(update); }
  void in_sync() override { routes_.in_sync(); }
  void apply() override { routes_.apply(); }
  void refresh() override { routes_.refresh(); }

 private:
  StaticRoutes routes_;
};

}  // namespace
}  // namespace brindle::routing_static

BRINDLE_PLUGIN(brindle::routing_static::StaticRouting, "static", "0.1.0",
               "Static routes to other nodes' blocks and blackholes for local blocks (netlink)")
