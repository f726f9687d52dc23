// The "bgp" routing plugin: drives Debian's stock BIRD 2 (bird2). It renders a complete BIRD
// configuration (this node's blocks as blackholes and advertisements, filters per pool, one BGP
// session per peer), validates it with `bird -p`, runs `bird` with its own control socket and
// reloads it with `configure` whenever the rendered text changes (sessions survive filter-only
// changes). Session state comes from `show protocols` over the control socket.
//
// Configuration ([routing.bgp] in brindle.toml):
//   state_dir = "/run/brindle/bird"   # bird.conf, bird.ctl (control socket), bird.pid, bird.log
//   bird_binary = "/usr/sbin/bird"
//   require_established_session = true  # not ready while no session is Established
//   stop_on_destroy = false           # see below
//
// Lifetime: destroying the instance leaves BIRD running (and the kernel routes it installed) by
// default; the next instance adopts it through the pid file and control socket, so an agent
// restart never resets a session. If BIRD itself dies, refresh() restarts it with backoff, in
// graceful-restart recovery mode (-R), while peers keep its routes (graceful restart is on).
// BIRD runs in the network namespace of the thread that created the instance.
#include <brindle/sdk.hpp>

#include "bgp_routing.hpp"

namespace brindle::bgp {
namespace {

class BgpRoutingPlugin final : public RoutingPlugin {
 public:
  explicit BgpRoutingPlugin(Host host)
      : RoutingPlugin(host), routing_(host, read_options(host.config())) {}

  static void validate_config(const Host& host) { read_options(host.config()); }

  void update(const RoutingUpdate& update) override { routing_.update(update); }
  void in_sync() override { routing_.in_sync(); }
  void apply() override { routing_.apply(); }
  void refresh() override { routing_.refresh(); }
  std::vector<PeerStatus> status(bool& ready) override { return routing_.status(ready); }

 private:
  BgpRouting routing_;
};

}  // namespace
}  // namespace brindle::bgp

BRINDLE_PLUGIN(brindle::bgp::BgpRoutingPlugin, "bgp", "0.1.0",
               "BGP through BIRD 2: advertises this node's blocks, learns the others'")
