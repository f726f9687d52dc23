// The "bgp" routing plugin's engine: keeps the desired state, renders BIRD's configuration,
// supervises BIRD and reads session status from it.
#pragma once

#include <brindle/sdk.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bird_config.hpp"
#include "bird_process.hpp"

namespace brindle::bgp {

struct Options {
  std::string state_dir = "/run/brindle/bird";
  std::string bird_binary = "/usr/sbin/bird";
  bool require_established_session = true;
  // false (default): BIRD keeps running when the instance is destroyed (agent restart) and the
  // next instance adopts it, so sessions and kernel routes never flap.
  bool stop_on_destroy = false;
};

// Reads and validates the [routing.bgp] section. Throws Error(BRINDLE_ERR_CONFIG) naming the key.
Options read_options(const Config& config);

// BGP session state as the host reports it, from one `show protocols` row.
PeerStatus peer_status(const BgpPeer& peer, const BirdProtocol& row);

class BgpRouting {
 public:
  BgpRouting(Host host, Options options);
  ~BgpRouting();

  void update(const RoutingUpdate& update);
  void in_sync();
  void apply();
  void refresh();
  std::vector<PeerStatus> status(bool& ready);

  const BirdProcess& bird() const { return bird_; }

 private:
  void start_bird();
  // Watches BIRD's pid from its own thread and asks the host for a refresh() while BIRD is dead,
  // so a crash is handled without waiting for the host's next periodic refresh.
  void watch();

  Host host_;
  Options options_;
  BirdProcess bird_;
  bool synced_ = false;
  bool adopted_ = false;
  std::map<IpPrefix, Route> local_blocks_;
  std::map<IpPrefix, Route> remote_blocks_;  // as the host formed them (VXLAN pools' installed)
  std::vector<RoutingPool> pools_;
  BgpSettings settings_;
  std::vector<BgpPeer> peers_;
  std::optional<std::string> applied_config_;  // the text BIRD runs with
  std::map<std::string, BgpPeer> peers_by_protocol_;
  // Restart backoff: the delay before the next restart after BIRD died, doubling while it keeps
  // dying soon after start.
  uint64_t started_at_ns_ = 0;
  uint64_t next_start_ns_ = 0;
  uint64_t backoff_ns_ = 0;
  bool ever_started_ = false;

  std::atomic<pid_t> watched_pid_{-1};
  std::mutex watch_mutex_;
  std::condition_variable watch_wakeup_;
  bool watch_stop_ = false;
  std::thread watcher_;
};

}  // namespace brindle::bgp
