// A small thread-safe metrics registry (counters and gauges with label sets) rendered in the
// Prometheus text exposition format 0.0.4. The host registers its own metrics here, and plugins
// register theirs through the host services table (with a per-plugin name prefix).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace brindle::metrics {

enum class Type { counter, gauge };

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name);

// Validates a label list without braces (`device="vxlan.brindle",dir="in"`) and returns it in
// canonical form: sorted by label name, no spaces. Empty input gives "". nullopt when malformed,
// a name is repeated or reserved (starts with "__").
std::optional<std::string> canonical_labels(std::string_view labels);

// Prometheus sample value: integers without a fraction, "NaN", "+Inf", "-Inf".
std::string format_value(double value);

class Registry {
 public:
  static constexpr uint32_t kInvalid = 0;

  // Returns an id >= 1. Registering the same name with the same type again returns the same id
  // (so a plugin that is re-created keeps its series); kInvalid when the name is invalid or
  // already registered with another type.
  uint32_t register_metric(Type type, std::string_view name, std::string_view help);

  // Both return false (and change nothing) for an unknown id, malformed labels, a negative or
  // non-finite counter delta, or set() on a counter.
  bool add(uint32_t id, std::string_view labels, double delta);
  bool set(uint32_t id, std::string_view labels, double value);

  // The value of one series (tests, status); nullopt when it has never been written.
  std::optional<double> value(std::string_view name, std::string_view labels = {}) const;

  std::string render() const;

 private:
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::map<std::string, double> series;  // canonical labels -> value
  };

  Family* family_locked(uint32_t id);

  mutable std::mutex mutex_;
  std::vector<Family> families_;  // id = index + 1
  std::map<std::string, uint32_t> by_name_;
};

// Convenience handles for host code.
class Counter {
 public:
  Counter(Registry& registry, std::string_view name, std::string_view help)
      : registry_(&registry), id_(registry.register_metric(Type::counter, name, help)) {}
  void inc(std::string_view labels = {}, double delta = 1) { registry_->add(id_, labels, delta); }

 private:
  Registry* registry_;
  uint32_t id_;
};

class Gauge {
 public:
  Gauge(Registry& registry, std::string_view name, std::string_view help)
      : registry_(&registry), id_(registry.register_metric(Type::gauge, name, help)) {}
  void set(double value, std::string_view labels = {}) { registry_->set(id_, labels, value); }
  void add(double delta, std::string_view labels = {}) { registry_->add(id_, labels, delta); }

 private:
  Registry* registry_;
  uint32_t id_;
};

}  // namespace brindle::metrics
