// An example out-of-tree Brindle plugin: an encapsulation backend named "hello" that, like
// `none`, routes directly to the remote node's address, and counts the routes it was asked for.
// It shows the whole shape of a plugin: a class per kind, configuration read and validated through
// the host, errors as exceptions inside the plugin, and the BRINDLE_PLUGIN registration macro.
#include <brindle/sdk.hpp>

namespace {

class HelloEncap : public brindle::EncapPlugin {
 public:
  explicit HelloEncap(brindle::Host host) : EncapPlugin(host) {
    validate_config(host);
    greeting_ = host.config().string_or("greeting", "hello");
    routes_ = host.counter("routes_total", "Route forms computed");
    host.info("example plugin ready", "greeting=" + greeting_);
  }

  // Side-effect free check used by `brindled --check-config`.
  static void validate_config(const brindle::Host& host) {
    const brindle::Config config = host.config();
    config.allow_only("", {"greeting", "mtu"});
    config.int_or("mtu", 0, 576, 65535);
  }

  brindle::EncapLocalState ensure_local(const brindle::EncapLocalConfig& config) override {
    brindle::EncapLocalState state;
    state.pod_mtu = config.mtu_override != 0 ? config.mtu_override : config.underlay_mtu;
    return state;
  }

  void upsert_remote(const brindle::EncapNode&) override {}
  void remove_remote(std::string_view) override {}

  brindle::RouteForm route_form(const brindle::EncapNode& remote,
                                const brindle::IpPrefix&) override {
    if (!remote.address4.valid()) {
      throw brindle::Error(BRINDLE_ERR_UNAVAILABLE, "node " + remote.name + " has no IPv4 address");
    }
    routes_.add(1);
    brindle::RouteForm form;
    form.gateway = brindle::IpPrefix::parse(remote.address4.address_string());
    return form;
  }

 private:
  std::string greeting_;
  brindle::Metric routes_;
};

}  // namespace

BRINDLE_PLUGIN(HelloEncap, "hello", "1.0.0", "Example out-of-tree encapsulation plugin")
