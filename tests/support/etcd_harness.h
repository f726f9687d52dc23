// Test harness: runs real etcd members (Debian etcd-server, /usr/bin/etcd) on 127.0.0.1 with free
// ports and temporary data directories, and stops them even when a test fails or crashes
// (destructors kill them; each member also gets SIGKILL from the kernel when the test process
// dies, through setpriv --pdeathsig).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace brindle::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (never the same one twice per process).
int free_port();

// Runs a program (argv[0] looked up in PATH) with stdout+stderr captured; returns the exit status
// (or -1 when it could not run / was killed).
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr);

// Certificates for TLS tests, generated with openssl: a throwaway CA, a server certificate for
// IP 127.0.0.1, a client certificate, and a client certificate from an unrelated CA.
struct TestPki {
  std::string ca_file;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string rogue_ca_file;  // another CA, trusted by nobody
  std::string rogue_client_cert, rogue_client_key;
};
TestPki make_test_pki(const std::filesystem::path& dir);

struct EtcdOptions {
  int members = 1;
  bool tls = false;  // https for clients with client-certificate authentication
  // --experimental-watch-progress-notify-interval; 0 = etcd's default (10 min).
  int progress_notify_ms = 0;
};

class EtcdCluster;

// One etcd member process.
class EtcdMember {
 public:
  EtcdMember(EtcdCluster& cluster, std::string name, int client_port, int peer_port);
  ~EtcdMember();
  EtcdMember(const EtcdMember&) = delete;
  EtcdMember& operator=(const EtcdMember&) = delete;

  void start();   // starts the process (keeps its data dir across restarts)
  void kill();    // SIGKILL, waits for the process
  void pause();   // SIGSTOP: connections stay open, nothing answers
  void resume();  // SIGCONT
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // the etcd process (-1 when not running)
  // Waits until the member answers `etcdctl endpoint health`; false on timeout.
  bool wait_healthy(std::chrono::milliseconds timeout);

  const std::string& name() const { return name_; }
  std::string endpoint() const;  // "127.0.0.1:<port>"
  std::string client_url() const;
  std::string peer_url() const;
  // Serve clients on another port from the next start() on (to make it unreachable for a
  // client configured with the old one while the data stays the same).
  void set_client_port(int port) { client_port_ = port; }
  std::string log_tail() const;
  // How many requests of a KV method ("Range", "Txn", "Put", ...) this member has answered, all
  // outcomes together, from its /metrics; -1 when they cannot be read (TLS members included).
  long kv_requests(const std::string& method) const;

 private:
  EtcdCluster& cluster_;
  std::string name_;
  int client_port_;
  int peer_port_;
  std::filesystem::path data_dir_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
};

class EtcdCluster {
 public:
  explicit EtcdCluster(EtcdOptions options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  EtcdMember& member(size_t i) { return *members_.at(i); }
  size_t size() const { return members_.size(); }
  const EtcdOptions& options() const { return options_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  const TestPki& pki() const { return *pki_; }
  std::string initial_cluster() const;

  // Client endpoints of every member ("127.0.0.1:port"; "https://..." with TLS).
  std::vector<std::string> endpoints() const;

  // Runs etcdctl (API v3, TLS flags when needed) against the running members; returns the exit
  // status and fills *output.
  int etcdctl(const std::vector<std::string>& args, std::string* output = nullptr) const;
  // etcdctl that must succeed; returns its output (throws std::runtime_error otherwise).
  std::string etcdctl_ok(const std::vector<std::string>& args) const;

  // The current store revision (through etcdctl).
  int64_t revision() const;

  // Index of the member that is the raft leader now (-1 when none is known).
  int leader_index() const;

  // "user:password" for the harness's etcdctl calls once authentication is enabled.
  void set_user(std::string user) { user_ = std::move(user); }

 private:
  friend class EtcdMember;
  EtcdOptions options_;
  TempDir dir_;
  std::optional<TestPki> pki_;
  std::vector<std::unique_ptr<EtcdMember>> members_;
  std::string user_;
};

}  // namespace brindle::test
