// Runs one BIRD daemon for the plugin: its own configuration, control socket, pid file and log
// under a state directory, in the network namespace the plugin instance was created in.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "bird_client.hpp"
#include "bird_reply.hpp"

namespace brindle::bgp {

struct BirdPaths {
  std::string state_dir;
  std::string config() const { return state_dir + "/bird.conf"; }
  std::string socket() const { return state_dir + "/bird.ctl"; }
  std::string pid_file() const { return state_dir + "/bird.pid"; }
  std::string log() const { return state_dir + "/bird.log"; }
};

class BirdProcess {
 public:
  // Remembers the calling thread's network namespace: BIRD always starts there.
  BirdProcess(std::string binary, BirdPaths paths);
  ~BirdProcess();
  BirdProcess(const BirdProcess&) = delete;
  BirdProcess& operator=(const BirdProcess&) = delete;

  const BirdPaths& paths() const { return paths_; }

  // `bird -p -c <file>` on `text` written to a scratch file; throws Error(BRINDLE_ERR_CONFIG)
  // with BIRD's message (file:line:column) when BIRD rejects it.
  void validate(const std::string& text) const;
  // Atomically replaces the configuration file BIRD reads.
  void write_config(const std::string& text) const;

  // True while the daemon runs (reaps it if it was our child and has exited).
  bool running();
  // Takes over a BIRD left running by a previous instance (pid file, process named bird, control
  // socket answers). Returns false when there is none.
  bool adopt();
  // Starts `bird -f -c <config> -s <socket> -P <pid file>` (with -R, graceful restart recovery,
  // when `recovery`), and waits until its control socket answers. Throws Error on failure.
  void start(bool recovery);
  // Reloads the configuration file over the control socket (`configure`).
  void configure();
  // Shuts BIRD down (`down`, then SIGTERM, then SIGKILL) and waits for it.
  void stop();

  pid_t pid() const { return pid_; }
  // Whether `pid` is a live (not zombie) process; reaps nothing, safe from any thread.
  static bool alive(pid_t pid);
  // One command over a fresh control connection.
  BirdReply command(std::string_view command) const;

 private:
  std::string binary_;
  BirdPaths paths_;
  int netns_fd_ = -1;
  pid_t pid_ = -1;
  bool child_ = false;  // started by us (waitpid) or adopted (kill(pid, 0))
};

}  // namespace brindle::bgp
