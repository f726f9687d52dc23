#include "brindle/common/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace brindle::metrics {
namespace {

TEST(MetricsTest, NamesFollowPrometheusRules) {
  EXPECT_TRUE(valid_metric_name("brindle_up"));
  EXPECT_TRUE(valid_metric_name("a:b_c9"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("has-dash"));
  EXPECT_FALSE(valid_metric_name("has space"));
}

TEST(MetricsTest, LabelsAreValidatedAndCanonicalised) {
  EXPECT_EQ(canonical_labels(""), "");
  EXPECT_EQ(canonical_labels("b=\"2\", a=\"1\""), "a=\"1\",b=\"2\"");
  EXPECT_EQ(canonical_labels("dev=\"vx\\\"lan\\\\\\n\""), "dev=\"vx\\\"lan\\\\\\n\"");
  EXPECT_EQ(canonical_labels("a=\"1\","), "a=\"1\"");
  EXPECT_EQ(canonical_labels("a=1"), std::nullopt);
  EXPECT_EQ(canonical_labels("a=\"1\",a=\"2\""), std::nullopt);
  EXPECT_EQ(canonical_labels("__name__=\"x\""), std::nullopt);
  EXPECT_EQ(canonical_labels("a=\"unterminated"), std::nullopt);
  EXPECT_EQ(canonical_labels("a=\"bad\\escape\""), std::nullopt);
  EXPECT_EQ(canonical_labels("a=\"new\nline\""), std::nullopt);
  EXPECT_EQ(canonical_labels("a=\"1\" b=\"2\""), std::nullopt);
  EXPECT_EQ(canonical_labels("9a=\"1\""), std::nullopt);
}

TEST(MetricsTest, ValuesFormatLikePrometheus) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(0.5), "0.5");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(MetricsTest, CountersOnlyGrowAndGaugesSet) {
  Registry registry;
  const uint32_t requests = registry.register_metric(Type::counter, "requests_total", "Requests.");
  const uint32_t temperature = registry.register_metric(Type::gauge, "temperature", "Degrees.");
  ASSERT_NE(requests, Registry::kInvalid);
  ASSERT_NE(temperature, Registry::kInvalid);
  EXPECT_NE(requests, temperature);
  EXPECT_EQ(registry.register_metric(Type::counter, "requests_total", "again"), requests);
  EXPECT_EQ(registry.register_metric(Type::gauge, "requests_total", ""), Registry::kInvalid);
  EXPECT_EQ(registry.register_metric(Type::gauge, "bad-name", ""), Registry::kInvalid);

  EXPECT_TRUE(registry.add(requests, "code=\"200\"", 2));
  EXPECT_TRUE(registry.add(requests, " code = \"200\" ", 1));  // same series
  EXPECT_FALSE(registry.add(requests, "", -1));
  EXPECT_FALSE(registry.add(requests, "", std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(registry.set(requests, "", 10));
  EXPECT_FALSE(registry.add(99, "", 1));
  EXPECT_FALSE(registry.add(Registry::kInvalid, "", 1));
  EXPECT_TRUE(registry.set(temperature, "", 21.5));
  EXPECT_TRUE(registry.add(temperature, "", -1.5));

  EXPECT_EQ(registry.value("requests_total", "code=\"200\""), 3.0);
  EXPECT_EQ(registry.value("temperature"), 20.0);
  EXPECT_EQ(registry.value("requests_total"), std::nullopt);
  EXPECT_EQ(registry.value("nope"), std::nullopt);
}

TEST(MetricsTest, RendersTheTextExpositionFormat) {
  Registry registry;
  Counter requests(registry, "b_requests_total", "Requests by code.\nSecond line \\ here.");
  Gauge up(registry, "a_up", "Whether it is up.");
  registry.register_metric(Type::gauge, "c_never_written", "No samples yet.");
  requests.inc("code=\"500\"");
  requests.inc("code=\"200\"", 4);
  up.set(1);
  EXPECT_EQ(registry.render(),
            "# HELP a_up Whether it is up.\n"
            "# TYPE a_up gauge\n"
            "a_up 1\n"
            "# HELP b_requests_total Requests by code.\\nSecond line \\\\ here.\n"
            "# TYPE b_requests_total counter\n"
            "b_requests_total{code=\"200\"} 4\n"
            "b_requests_total{code=\"500\"} 1\n"
            "# HELP c_never_written No samples yet.\n"
            "# TYPE c_never_written gauge\n");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry registry;
  Counter counter(registry, "hits_total", "");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        counter.inc();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(registry.value("hits_total"), 4000.0);
}

}  // namespace
}  // namespace brindle::metrics
