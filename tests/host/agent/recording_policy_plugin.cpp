// A policy plugin for tests only ("recording", brindle-policy-recording.so), built against the SDK
// like a third-party plugin. It programs nothing: every apply() that has endpoints to program
// sleeps `apply_delay_ms` (a slow dataplane) and then appends one line per endpoint to
// `record_file`:
//
//   applied <monotonic ns when apply started> <monotonic ns when it finished> <endpoint id>
//           <interface> <1 if the host had an IPv4 route through the interface when apply
//           finished, else 0>
//
// (one line; CLOCK_MONOTONIC is what std::chrono::steady_clock reads, so tests compare directly).
// While the file `fail_file` exists, such an apply() fails with UNAVAILABLE after the delay and
// records "failed ..." lines instead; the endpoints stay pending and the next apply retries them.
//
// [policy.recording] keys: record_file (required), apply_delay_ms (0..10000, default 0),
// fail_file (optional).
#include <sys/stat.h>
#include <time.h>

#include <brindle/sdk.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace {

uint64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

// Whether this network namespace has an IPv4 route through `interface` (the pod's host veth: the
// routes to the pod are what make it reachable; the tests' pods are IPv4 only, and IPv6 would
// show the kernel's own link-local routes). /proc/net resolves in the reader's namespace.
bool routed_through(const std::string& interface) {
  std::ifstream routes("/proc/net/route");  // the interface is the first column
  for (std::string line; std::getline(routes, line);) {
    std::istringstream fields(line);
    std::string first;
    if (fields >> first && first == interface) {
      return true;
    }
  }
  return false;
}

class RecordingPolicy : public brindle::PolicyPlugin {
 public:
  explicit RecordingPolicy(brindle::Host host) : PolicyPlugin(host) {
    validate_config(host);
    const brindle::Config config = host.config();
    record_file_ = config.require_string("record_file");
    delay_ = std::chrono::milliseconds(config.int_or("apply_delay_ms", 0, 0, 10000));
    fail_file_ = config.string_or("fail_file", "");
  }

  static void validate_config(const brindle::Host& host) {
    const brindle::Config config = host.config();
    config.allow_only("", {"record_file", "apply_delay_ms", "fail_file"});
    config.require_string("record_file");
    config.int_or("apply_delay_ms", 0, 0, 10000);
  }

  void set_globals(const brindle::PolicyGlobals&) override {}
  void upsert_ipset(const brindle::IpSet&) override {}
  void update_ipset_members(std::string_view, const std::vector<brindle::IpSetMember>&,
                            const std::vector<brindle::IpSetMember>&) override {}
  void remove_ipset(std::string_view) override {}
  void upsert_policy(const brindle::Policy&) override {}
  void remove_policy(brindle_policy_kind_t, std::string_view) override {}
  void upsert_endpoint(const brindle::Endpoint& endpoint) override {
    pending_[endpoint.id] = endpoint.interface;
  }
  void remove_endpoint(std::string_view id) override { pending_.erase(std::string(id)); }
  void in_sync() override {}

  void apply() override {
    if (pending_.empty()) {
      return;
    }
    const uint64_t started = monotonic_ns();
    std::this_thread::sleep_for(delay_);
    struct stat ignored {};
    const bool fail = !fail_file_.empty() && stat(fail_file_.c_str(), &ignored) == 0;
    const uint64_t finished = monotonic_ns();
    FILE* out = std::fopen(record_file_.c_str(), "a");
    if (out == nullptr) {
      throw brindle::Error(BRINDLE_ERR_INTERNAL, "cannot open " + record_file_);
    }
    for (const auto& [id, interface] : pending_) {
      const bool routed = routed_through(interface);
      std::fprintf(out, "%s %llu %llu %s %s %d\n", fail ? "failed" : "applied",
                   static_cast<unsigned long long>(started),
                   static_cast<unsigned long long>(finished), id.c_str(), interface.c_str(),
                   routed ? 1 : 0);
    }
    std::fclose(out);
    if (fail) {
      throw brindle::Error(BRINDLE_ERR_UNAVAILABLE,
                           "recording policy plugin: " + fail_file_ + " exists, apply fails");
    }
    pending_.clear();
  }

 private:
  std::string record_file_;
  std::chrono::milliseconds delay_{0};
  std::string fail_file_;
  std::map<std::string, std::string> pending_;  // endpoint id -> interface, since the last apply
};

}  // namespace

BRINDLE_PLUGIN(RecordingPolicy, "recording", "0.1.0",
               "Test-only policy plugin: records and delays every endpoint apply")
