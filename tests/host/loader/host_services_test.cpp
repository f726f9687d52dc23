// The host services table, called the way a plugin calls it: through the C function pointers.
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "brindle/common/log.hpp"
#include "brindle/common/metrics.hpp"
#include "brindle/config/config.hpp"
#include "brindle/loader/loaded_plugin.hpp"

namespace brindle::loader {
namespace {

brindle_str_t str(std::string_view text) {
  return {text.data(), text.size()};
}

void append_to_vector(void* user, brindle_str_t value) {
  static_cast<std::vector<std::string>*>(user)->emplace_back(value.data, value.size);
}

PluginInfo vxlan_info() {
  PluginInfo info;
  info.kind = PluginKind::encapsulation;
  info.name = "vx-lan";  // a '-' must not end up in metric names
  info.version = "0.1.0";
  return info;
}

class HostServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const config::Config cfg = config::parse_config(R"(
[encapsulation]
plugin = "vx-lan"
[encapsulation.vx-lan]
vni = 4096
port = 4789.5
learning = false
device = "vxlan.brindle"
peers = ["198.19.0.2", "198.19.0.3"]
[encapsulation.vx-lan.tls]
ca_file = "/etc/ca.pem"
)",
                                                    "brindle.toml");
    HostEnvironment env;
    env.metrics = &registry_;
    env.node.name = "node-a";
    env.node.ipv4 = strings::parse_ip_prefix("198.19.0.1/24");
    env.request_refresh = [this](PluginKind kind) { refreshes_.push_back(kind); };
    context_ = std::make_unique<HostContext>(vxlan_info(), cfg.encapsulation.section, env);
    host_ = context_->services();
    ctx_ = host_->context;
  }

  metrics::Registry registry_;
  std::vector<PluginKind> refreshes_;
  std::unique_ptr<HostContext> context_;
  const brindle_host_services_t* host_ = nullptr;
  brindle_host_context_t* ctx_ = nullptr;
};

TEST_F(HostServicesTest, TableHeaderAndNodeIdentity) {
  EXPECT_EQ(host_->struct_size, sizeof(brindle_host_services_t));
  EXPECT_EQ(host_->abi_major, BRINDLE_ABI_VERSION_MAJOR);
  EXPECT_EQ(host_->abi_minor, BRINDLE_ABI_VERSION_MINOR);
  EXPECT_EQ(std::string(host_->node_name.data, host_->node_name.size), "node-a");
  EXPECT_EQ(host_->node_ipv4.family, 4);
  EXPECT_EQ(host_->node_ipv4.prefix_len, 24);
  const uint8_t expected[4] = {198, 19, 0, 1};
  EXPECT_EQ(std::memcmp(host_->node_ipv4.addr, expected, 4), 0);
  EXPECT_EQ(host_->node_ipv6.family, 0);
}

TEST_F(HostServicesTest, ConfigGettersReadThePluginsSection) {
  int64_t vni = 0;
  EXPECT_EQ(host_->config_get_int(ctx_, str("vni"), &vni), BRINDLE_OK);
  EXPECT_EQ(vni, 4096);
  double port = 0;
  EXPECT_EQ(host_->config_get_double(ctx_, str("port"), &port), BRINDLE_OK);
  EXPECT_DOUBLE_EQ(port, 4789.5);
  int learning = 1;
  EXPECT_EQ(host_->config_get_bool(ctx_, str("learning"), &learning), BRINDLE_OK);
  EXPECT_EQ(learning, 0);
  brindle_str_t device{};
  EXPECT_EQ(host_->config_get_string(ctx_, str("device"), &device), BRINDLE_OK);
  EXPECT_EQ(std::string(device.data, device.size), "vxlan.brindle");
  brindle_str_t ca{};
  EXPECT_EQ(host_->config_get_string(ctx_, str("tls.ca_file"), &ca), BRINDLE_OK);
  EXPECT_EQ(std::string(ca.data, ca.size), "/etc/ca.pem");
  brindle_str_t peer{};
  EXPECT_EQ(host_->config_get_string(ctx_, str("peers[1]"), &peer), BRINDLE_OK);
  EXPECT_EQ(std::string(peer.data, peer.size), "198.19.0.3");

  EXPECT_EQ(host_->config_type(ctx_, str("peers")), BRINDLE_CONFIG_ARRAY);
  EXPECT_EQ(host_->config_type(ctx_, str("tls")), BRINDLE_CONFIG_TABLE);
  EXPECT_EQ(host_->config_type(ctx_, str("missing")), BRINDLE_CONFIG_ABSENT);
  EXPECT_EQ(host_->config_size(ctx_, str("peers")), 2u);
  EXPECT_EQ(host_->config_get_int(ctx_, str("missing"), &vni), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(host_->config_get_int(ctx_, str("device"), &vni), BRINDLE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(host_->config_get_int(ctx_, str("vni"), nullptr), BRINDLE_ERR_INVALID_ARGUMENT);
  // A NULL path with size 0 is the empty path: the section itself.
  EXPECT_EQ(host_->config_type(ctx_, brindle_str_t{nullptr, 0}), BRINDLE_CONFIG_TABLE);

  std::vector<std::string> keys;
  EXPECT_EQ(host_->config_keys(ctx_, str(""), append_to_vector, &keys), BRINDLE_OK);
  EXPECT_EQ(keys, (std::vector<std::string>{"vni", "port", "learning", "device", "peers", "tls"}));
  std::vector<std::string> location;
  host_->config_location(ctx_, str("device"), append_to_vector, &location);
  ASSERT_EQ(location.size(), 1u);
  EXPECT_EQ(location[0], "brindle.toml:8:10");
}

TEST_F(HostServicesTest, WithoutASectionEverythingIsAbsent) {
  HostContext empty(vxlan_info(), nullptr, HostEnvironment{});
  const brindle_host_services_t* host = empty.services();
  int64_t value = 0;
  EXPECT_EQ(host->config_get_int(host->context, str("vni"), &value), BRINDLE_ERR_NOT_FOUND);
  EXPECT_EQ(host->config_type(host->context, str("vni")), BRINDLE_CONFIG_ABSENT);
  EXPECT_EQ(host->config_size(host->context, str("")), 0u);
  std::vector<std::string> keys;
  EXPECT_EQ(host->config_keys(host->context, str(""), append_to_vector, &keys), BRINDLE_OK);
  EXPECT_TRUE(keys.empty());
  std::vector<std::string> location;
  host->config_location(host->context, str("vni"), append_to_vector, &location);
  EXPECT_EQ(location, std::vector<std::string>{"[encapsulation.vx-lan]"});
  // No registry: metrics are refused, not crashed on.
  EXPECT_EQ(host->metric_register(host->context, BRINDLE_METRIC_COUNTER, str("x_total"), str("")),
            0u);
  host->metric_add(host->context, 1, str(""), 1);
  host->request_refresh(host->context);  // no callback: ignored
  EXPECT_EQ(host->node_name.size, 0u);
}

TEST_F(HostServicesTest, MetricsArePrefixedAndConfinedToTheirPlugin) {
  const uint32_t packets = host_->metric_register(ctx_, BRINDLE_METRIC_COUNTER,
                                                  str("packets_total"), str("Packets seen."));
  ASSERT_NE(packets, 0u);
  host_->metric_add(ctx_, packets, str("device=\"vxlan.brindle\""), 2);
  host_->metric_add(ctx_, packets, str("device=\"vxlan.brindle\""), 3);
  host_->metric_add(ctx_, packets, str("device=\"vxlan.brindle\""), -1);  // counters only grow
  host_->metric_set(ctx_, packets, str(""), 100);                         // not a gauge
  EXPECT_EQ(registry_.value("brindle_encap_vx_lan_packets_total", "device=\"vxlan.brindle\""), 5.0);
  EXPECT_EQ(registry_.value("brindle_encap_vx_lan_packets_total"), std::nullopt);

  const uint32_t mtu = host_->metric_register(ctx_, BRINDLE_METRIC_GAUGE, str("mtu"), str("MTU."));
  host_->metric_set(ctx_, mtu, str(""), 1450);
  host_->metric_set(ctx_, mtu, str("broken"), 1);  // malformed labels are ignored
  EXPECT_EQ(registry_.value("brindle_encap_vx_lan_mtu"), 1450.0);
  EXPECT_NE(registry_.render().find("# TYPE brindle_encap_vx_lan_mtu gauge\n"
                                    "brindle_encap_vx_lan_mtu 1450\n"),
            std::string::npos);

  // Same name again: same id. Same name as another type, bad names: refused.
  EXPECT_EQ(host_->metric_register(ctx_, BRINDLE_METRIC_COUNTER, str("packets_total"), str("")),
            packets);
  EXPECT_EQ(host_->metric_register(ctx_, BRINDLE_METRIC_GAUGE, str("packets_total"), str("")), 0u);
  EXPECT_EQ(host_->metric_register(ctx_, BRINDLE_METRIC_GAUGE, str("bad name"), str("")), 0u);
  EXPECT_EQ(host_->metric_register(ctx_, BRINDLE_METRIC_GAUGE, str("a:b"), str("")), 0u);
  EXPECT_EQ(host_->metric_register(ctx_, BRINDLE_METRIC_GAUGE, str(""), str("")), 0u);
  volatile int unknown_type = 9;  // a value a broken plugin might pass
  EXPECT_EQ(host_->metric_register(ctx_, static_cast<brindle_metric_type_t>(unknown_type), str("x"),
                                   str("")),
            0u);

  // A metric of the host (or of another plugin) cannot be written through this table.
  const uint32_t host_metric = registry_.register_metric(metrics::Type::gauge, "brindle_up", "");
  host_->metric_set(ctx_, host_metric, str(""), 7);
  EXPECT_EQ(registry_.value("brindle_up"), std::nullopt);
}

TEST_F(HostServicesTest, LogRecordsNameThePluginAndKeepOneLine) {
  std::vector<std::string> lines;
  log::logger().set_level(log::Level::info);
  log::logger().set_sink([&](std::string_view line) { lines.emplace_back(line); });
  host_->log(ctx_, BRINDLE_LOG_WARN, str("tunnel device recreated"),
             str("device=vxlan.brindle mtu=1450"));
  host_->log(ctx_, BRINDLE_LOG_DEBUG, str("not shown at info"), str(""));
  host_->log(ctx_, BRINDLE_LOG_ERROR, str("two\nlines"), str("x=1\ninjected=yes"));
  volatile int unknown_level = 42;
  host_->log(ctx_, static_cast<brindle_log_level_t>(unknown_level), str("odd level"), str(""));
  EXPECT_EQ(host_->log_enabled(ctx_, BRINDLE_LOG_DEBUG), 0);
  EXPECT_EQ(host_->log_enabled(ctx_, BRINDLE_LOG_INFO), 1);
  log::logger().set_sink({});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0].ends_with(
      "level=warn msg=\"tunnel device recreated\" plugin=encap/vx-lan device=vxlan.brindle "
      "mtu=1450"))
      << lines[0];
  EXPECT_TRUE(
      lines[1].ends_with("level=error msg=\"two\\nlines\" plugin=encap/vx-lan x=1\\ninjected=yes"))
      << lines[1];
  EXPECT_NE(lines[2].find("level=error msg=\"odd level\""), std::string::npos);
}

TEST_F(HostServicesTest, ClocksAndRefreshRequests) {
  const uint64_t a = host_->clock_monotonic_ns(ctx_);
  const uint64_t b = host_->clock_monotonic_ns(ctx_);
  EXPECT_LE(a, b);
  // Realtime is after 2020-01-01.
  EXPECT_GT(host_->clock_realtime_ns(ctx_), 1577836800ull * 1000000000ull);
  host_->request_refresh(ctx_);
  EXPECT_EQ(refreshes_, std::vector<PluginKind>{PluginKind::encapsulation});
}

}  // namespace
}  // namespace brindle::loader
