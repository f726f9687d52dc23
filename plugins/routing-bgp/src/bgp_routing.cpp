#include "bgp_routing.hpp"

#include <pthread.h>
#include <sys/un.h>

#include <algorithm>
#include <chrono>

namespace brindle::bgp {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ULL;
constexpr uint64_t kMaxBackoff = 30 * kSecond;
constexpr uint64_t kStableRun = 60 * kSecond;  // a BIRD up this long resets the backoff

std::string first_word(const std::string& s, std::string* rest) {
  const size_t end = s.find(' ');
  if (end == std::string::npos) {
    rest->clear();
    return s;
  }
  const size_t next = s.find_first_not_of(' ', end);
  *rest = next == std::string::npos ? std::string{} : s.substr(next);
  return s.substr(0, end);
}

const char* type_name(brindle_bgp_peer_type_t type) {
  switch (type) {
    case BRINDLE_BGP_PEER_MESH:
      return "mesh";
    case BRINDLE_BGP_PEER_GLOBAL:
      return "global";
    case BRINDLE_BGP_PEER_NODE:
      return "node";
    case BRINDLE_BGP_PEER_RR_CLIENT:
      return "rr-client";
  }
  return "unknown";
}

}  // namespace

Options read_options(const Config& config) {
  config.allow_only("",
                    {"state_dir", "bird_binary", "require_established_session", "stop_on_destroy"});
  Options o;
  o.state_dir = config.string_or("state_dir", o.state_dir);
  if (o.state_dir.empty() || o.state_dir[0] != '/') {
    config.fail("state_dir", "must be an absolute path, got \"" + o.state_dir + "\"");
  }
  while (o.state_dir.size() > 1 && o.state_dir.back() == '/') {
    o.state_dir.pop_back();
  }
  if (BirdPaths{o.state_dir}.socket().size() >= sizeof(sockaddr_un{}.sun_path)) {
    config.fail("state_dir",
                "is too long for a unix socket path (" + BirdPaths{o.state_dir}.socket() + ")");
  }
  o.bird_binary = config.string_or("bird_binary", o.bird_binary);
  if (o.bird_binary.empty() || o.bird_binary[0] != '/') {
    config.fail("bird_binary", "must be an absolute path, got \"" + o.bird_binary + "\"");
  }
  o.require_established_session =
      config.bool_or("require_established_session", o.require_established_session);
  o.stop_on_destroy = config.bool_or("stop_on_destroy", o.stop_on_destroy);
  return o;
}

PeerStatus peer_status(const BgpPeer& peer, const BirdProtocol& row) {
  PeerStatus s;
  s.name = peer.name;
  s.address = peer.address;
  s.type = type_name(peer.type);
  s.since = row.since;
  std::string rest;
  const std::string word = first_word(row.info, &rest);
  if (!word.empty()) {
    s.state = word;  // BGP state: Idle, Connect, Active, OpenSent, OpenConfirm, Established
    s.info = rest;
  } else {
    s.state = row.state.empty() ? "Unknown" : row.state;
    s.state[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s.state[0])));
  }
  s.established = s.state == "Established";
  return s;
}

BgpRouting::BgpRouting(Host host, Options options)
    : host_(host),
      options_(std::move(options)),
      bird_(options_.bird_binary, BirdPaths{options_.state_dir}) {
  adopted_ = bird_.adopt();
  ever_started_ = adopted_;
  if (adopted_) {
    host_.info("routing bgp: adopted the running BIRD", "pid=" + std::to_string(bird_.pid()));
    watched_pid_ = bird_.pid();
  }
  watcher_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "bird-watch");
    watch();
  });
}

BgpRouting::~BgpRouting() {
  {
    std::lock_guard<std::mutex> lock(watch_mutex_);
    watch_stop_ = true;
  }
  watch_wakeup_.notify_all();
  watcher_.join();
  if (options_.stop_on_destroy) {
    try {
      bird_.stop();
    } catch (...) {  // nothing may leave a destructor
    }
  }
}

void BgpRouting::watch() {
  std::unique_lock<std::mutex> lock(watch_mutex_);
  while (!watch_wakeup_.wait_for(lock, std::chrono::seconds(1), [this] { return watch_stop_; })) {
    const pid_t pid = watched_pid_.load();
    if (pid > 0 && !BirdProcess::alive(pid)) {
      host_.request_refresh();
    }
  }
}

void BgpRouting::update(const RoutingUpdate& update) {
  for (const IpPrefix& removed : update.removals) {
    local_blocks_.erase(removed);
    remote_blocks_.erase(removed);
  }
  for (const Route& r : update.upserts) {
    if (r.type == BRINDLE_ROUTE_LOCAL_BLOCK) {
      local_blocks_[r.destination] = r;
      remote_blocks_.erase(r.destination);
    } else {
      // Learned over BGP, except VXLAN pools' (the renderer installs those as given).
      local_blocks_.erase(r.destination);
      remote_blocks_[r.destination] = r;
    }
  }
  if (update.pools) {
    pools_ = *update.pools;
  }
  if (update.bgp) {
    settings_ = update.bgp->settings;
    peers_ = update.bgp->peers;
  }
}

// BIRD is first configured once the host has delivered everything: a BIRD left running by the
// previous agent keeps its routes and sessions until then.
void BgpRouting::in_sync() {
  synced_ = true;
}

void BgpRouting::start_bird() {
  // Recovery mode (-R) when a BIRD ran before: peers and the kernel keep its routes until the
  // sessions are back.
  const bool recovery = ever_started_;
  ever_started_ = true;
  started_at_ns_ = host_.monotonic_ns();
  bird_.start(recovery);
  watched_pid_ = bird_.pid();
  host_.info("routing bgp: BIRD started",
             "pid=" + std::to_string(bird_.pid()) + " recovery=" + (recovery ? "true" : "false"));
}

void BgpRouting::apply() {
  if (!synced_) {
    return;
  }
  BirdInputs inputs;
  inputs.settings = settings_;
  inputs.peers = peers_;
  inputs.pools = pools_;
  for (const auto& [prefix, route] : local_blocks_) {
    inputs.local_blocks.push_back(route);
  }
  for (const auto& [prefix, route] : remote_blocks_) {
    inputs.remote_blocks.push_back(route);
  }
  inputs.node_address = host_.node_ipv4();
  inputs.node_address6 = host_.node_ipv6();
  RenderedConfig rendered = render_bird_config(inputs);
  const bool running = bird_.running();
  if (running && applied_config_ == rendered.text) {
    peers_by_protocol_ = std::move(rendered.peers_by_protocol);
    return;
  }
  bird_.validate(rendered.text);
  bird_.write_config(rendered.text);
  if (running) {
    bird_.configure();
    host_.debug("routing bgp: BIRD reconfigured");
  } else if (host_.monotonic_ns() >= next_start_ns_) {
    start_bird();
  }
  applied_config_ = std::move(rendered.text);
  peers_by_protocol_ = std::move(rendered.peers_by_protocol);
}

void BgpRouting::refresh() {
  if (!synced_ || !applied_config_) {
    return;
  }
  if (bird_.running()) {
    if (host_.monotonic_ns() - started_at_ns_ > kStableRun) {
      backoff_ns_ = 0;
    }
    return;
  }
  const uint64_t now = host_.monotonic_ns();
  if (next_start_ns_ == 0 || next_start_ns_ < started_at_ns_) {
    // Just noticed the death: schedule the restart after the current backoff.
    host_.warn("routing bgp: BIRD is not running; restarting",
               "backoff_ms=" + std::to_string(backoff_ns_ / 1'000'000));
    next_start_ns_ = now + backoff_ns_;
    backoff_ns_ = std::clamp<uint64_t>(backoff_ns_ * 2, kSecond, kMaxBackoff);
  }
  if (now < next_start_ns_) {
    return;  // the watcher keeps asking for refreshes while BIRD is down
  }
  next_start_ns_ = 0;
  start_bird();
}

std::vector<PeerStatus> BgpRouting::status(bool& ready) {
  std::map<std::string, BirdProtocol> rows;
  const bool running = bird_.running();
  if (running) {
    for (BirdProtocol& row : parse_show_protocols(bird_.command("show protocols"))) {
      rows[row.name] = std::move(row);
    }
  }
  std::vector<PeerStatus> out;
  bool any_established = false;
  for (const auto& [protocol, peer] : peers_by_protocol_) {
    const auto it = rows.find(protocol);
    PeerStatus s;
    if (it != rows.end()) {
      s = peer_status(peer, it->second);
    } else {
      s = peer_status(
          peer, BirdProtocol{protocol, "BGP", "", "down", "", running ? "" : "BIRD not running"});
      s.state = running ? "Unknown" : "Down";
    }
    any_established = any_established || s.established;
    out.push_back(std::move(s));
  }
  // With no peers at all (a single node) there is nothing to wait for.
  ready = running && applied_config_.has_value() &&
          (!options_.require_established_session || out.empty() || any_established);
  return out;
}

}  // namespace brindle::bgp
