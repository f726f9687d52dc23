#include "etcd_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace brindle::test {
namespace {

std::vector<char*> c_argv(std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (std::string& a : argv) {
    out.push_back(a.data());
  }
  out.push_back(nullptr);
  return out;
}

// PR_SET_PDEATHSIG (setpriv --pdeathsig) fires when the *thread* that spawned the child exits,
// not the process. A member restarted from a short-lived test thread would be killed as soon as
// that thread ends, so every etcd is spawned from one thread that lives as long as the process.
void on_spawner_thread(const std::function<void()>& work) {
  struct Spawner {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::packaged_task<void()>> queue;
    Spawner() {
      std::thread([this] {
        for (;;) {
          std::unique_lock lock(mutex);
          wake.wait(lock, [this] { return !queue.empty(); });
          std::packaged_task<void()> task = std::move(queue.front());
          queue.pop_front();
          lock.unlock();
          task();
        }
      }).detach();
    }
  };
  static auto* spawner = new Spawner();  // never destroyed: its thread outlives every test
  std::packaged_task<void()> task(work);
  std::future<void> done = task.get_future();
  {
    std::lock_guard lock(spawner->mutex);
    spawner->queue.push_back(std::move(task));
  }
  spawner->wake.notify_one();
  done.get();  // rethrows what work threw
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : sep) + item;
  }
  return out;
}

}  // namespace

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/brindle-" + tag + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + " failed");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int free_port() {
  static std::mutex mutex;
  static std::set<int> handed_out;
  std::lock_guard<std::mutex> lock(mutex);
  for (int tries = 0; tries < 100; ++tries) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw std::runtime_error("socket() failed");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    if (port > 0 && handed_out.insert(port).second) {
      return port;
    }
  }
  throw std::runtime_error("no free port on 127.0.0.1");
}

int run_command(const std::vector<std::string>& argv_in, std::string* output) {
  std::vector<std::string> argv = argv_in;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  std::vector<char*> args = c_argv(argv);
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  std::string text;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0) {
      text.append(buf, static_cast<size_t>(n));
    }
  } else {
    text = "cannot run " + argv[0];
  }
  close(pipe_fds[0]);
  if (output != nullptr) {
    *output = text;
  }
  if (rc != 0) {
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TestPki make_test_pki(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  auto run = [](const std::vector<std::string>& argv) {
    std::string out;
    if (run_command(argv, &out) != 0) {
      throw std::runtime_error(join(argv, " ") + " failed: " + out);
    }
  };
  // P-256 keys: fast to generate, supported by etcd (Go) and gRPC (BoringSSL/OpenSSL).
  auto key = [&](const std::string& file) {
    run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
         file});
  };
  auto ca = [&](const std::string& name) {
    key(d + "/" + name + ".key");
    run({"openssl", "req", "-x509", "-new", "-key", d + "/" + name + ".key", "-out",
         d + "/" + name + ".pem", "-days", "2", "-subj", "/CN=" + name, "-addext",
         "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  };
  auto leaf = [&](const std::string& name, const std::string& ca_name, const std::string& ext) {
    key(d + "/" + name + ".key");
    run({"openssl", "req", "-new", "-key", d + "/" + name + ".key", "-out", d + "/" + name + ".csr",
         "-subj", "/CN=" + name});
    std::ofstream(d + "/" + name + ".ext") << ext;
    run({"openssl", "x509", "-req", "-in", d + "/" + name + ".csr", "-CA",
         d + "/" + ca_name + ".pem", "-CAkey", d + "/" + ca_name + ".key", "-CAcreateserial",
         "-out", d + "/" + name + ".pem", "-days", "2", "-extfile", d + "/" + name + ".ext"});
  };
  ca("test-ca");
  ca("rogue-ca");
  leaf("server", "test-ca",
       "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
  leaf("client", "test-ca", "extendedKeyUsage=clientAuth\n");
  leaf("rogue-client", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  TestPki pki;
  pki.ca_file = d + "/test-ca.pem";
  pki.server_cert = d + "/server.pem";
  pki.server_key = d + "/server.key";
  pki.client_cert = d + "/client.pem";
  pki.client_key = d + "/client.key";
  pki.rogue_ca_file = d + "/rogue-ca.pem";
  pki.rogue_client_cert = d + "/rogue-client.pem";
  pki.rogue_client_key = d + "/rogue-client.key";
  return pki;
}

// ---------------------------------------------------------------------------------------------

EtcdMember::EtcdMember(EtcdCluster& cluster, std::string name, int client_port, int peer_port)
    : cluster_(cluster),
      name_(std::move(name)),
      client_port_(client_port),
      peer_port_(peer_port),
      data_dir_(cluster.dir() / (name_ + ".data")),
      log_file_(cluster.dir() / (name_ + ".log")) {}

EtcdMember::~EtcdMember() {
  kill();
}

std::string EtcdMember::endpoint() const {
  return "127.0.0.1:" + std::to_string(client_port_);
}

std::string EtcdMember::client_url() const {
  return std::string(cluster_.options().tls ? "https" : "http") + "://" + endpoint();
}

std::string EtcdMember::peer_url() const {
  return "http://127.0.0.1:" + std::to_string(peer_port_);
}

void EtcdMember::start() {
  if (running()) {
    return;
  }
  std::vector<std::string> argv = {
      "setpriv", "--pdeathsig", "KILL", "--", "/usr/bin/etcd", "--name", name_, "--data-dir",
      data_dir_.string(), "--listen-client-urls", client_url(), "--advertise-client-urls",
      client_url(), "--listen-peer-urls", peer_url(), "--initial-advertise-peer-urls", peer_url(),
      "--initial-cluster", cluster_.initial_cluster(), "--initial-cluster-state", "new",
      "--initial-cluster-token", "brindle-test",
      // Quick elections on loopback; generous enough for a loaded 2-core machine.
      "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap", "--log-outputs",
      "stderr"};
  if (cluster_.options().progress_notify_ms > 0) {
    argv.push_back("--experimental-watch-progress-notify-interval");
    argv.push_back(std::to_string(cluster_.options().progress_notify_ms) + "ms");
  }
  if (cluster_.options().tls) {
    const TestPki& pki = cluster_.pki();
    argv.insert(argv.end(), {"--cert-file", pki.server_cert, "--key-file", pki.server_key,
                             "--trusted-ca-file", pki.ca_file, "--client-cert-auth"});
  }
  std::vector<char*> args = c_argv(argv);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = 0;
  on_spawner_thread(
      [&] { rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ); });
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot start etcd: " + std::string(strerror(rc)));
  }
  pid_ = pid;
}

void EtcdMember::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void EtcdMember::pause() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGSTOP);
  // SIGSTOP takes effect asynchronously: wait until the kernel reports the process stopped, so
  // that a request sent after pause() can never be answered.
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string pid_field, comm, state;
    stat >> pid_field >> comm >> state;
    if (state == "T" || state == "t") {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void EtcdMember::resume() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
  }
}

bool EtcdMember::wait_healthy(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pid_ > 0) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited on its own
        return false;
      }
    }
    std::vector<std::string> args = {"etcdctl", "--endpoints",       client_url(), "--dial-timeout",
                                     "1s",      "--command-timeout", "2s"};
    if (cluster_.options().tls) {
      const TestPki& pki = cluster_.pki();
      args.insert(args.end(),
                  {"--cacert", pki.ca_file, "--cert", pki.client_cert, "--key", pki.client_key});
    }
    if (!cluster_.user_.empty()) {
      args.insert(args.end(), {"--user", cluster_.user_});
    }
    args.insert(args.end(), {"endpoint", "health"});
    std::string out;
    if (run_command(args, &out) == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

long EtcdMember::kv_requests(const std::string& method) const {
  std::string metrics;
  if (cluster_.options().tls ||
      run_command({"curl", "-sf", client_url() + "/metrics"}, &metrics) != 0) {
    return -1;
  }
  const std::string wanted = "grpc_method=\"" + method + "\",grpc_service=\"etcdserverpb.KV\"";
  long total = 0;
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("grpc_server_handled_total{", 0) == 0 &&
        line.find(wanted) != std::string::npos) {
      total += std::stol(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

std::string EtcdMember::log_tail() const {
  std::ifstream in(log_file_);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string all = buf.str();
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

// ---------------------------------------------------------------------------------------------

EtcdCluster::EtcdCluster(EtcdOptions options) : options_(options), dir_("etcd") {
  if (options_.tls) {
    pki_ = make_test_pki(dir_.path());
  }
  for (int i = 0; i < options_.members; ++i) {
    members_.push_back(std::make_unique<EtcdMember>(*this, "member" + std::to_string(i),
                                                    free_port(), free_port()));
  }
  for (auto& member : members_) {
    member->start();
  }
  for (auto& member : members_) {
    if (!member->wait_healthy(std::chrono::seconds(30))) {
      throw std::runtime_error("etcd " + member->name() + " did not become healthy:\n" +
                               member->log_tail());
    }
  }
}

EtcdCluster::~EtcdCluster() {
  for (auto& member : members_) {
    member->kill();
  }
}

std::string EtcdCluster::initial_cluster() const {
  std::vector<std::string> parts;
  for (const auto& member : members_) {
    parts.push_back(member->name() + "=" + member->peer_url());
  }
  return join(parts, ",");
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (const auto& member : members_) {
    out.push_back(options_.tls ? member->client_url() : member->endpoint());
  }
  return out;
}

int EtcdCluster::etcdctl(const std::vector<std::string>& args, std::string* output) const {
  std::vector<std::string> urls;
  for (const auto& member : members_) {
    if (member->running()) {
      urls.push_back(member->client_url());
    }
  }
  std::vector<std::string> argv = {"env",         "ETCDCTL_API=3",     "etcdctl",
                                   "--endpoints", join(urls, ","),     "--dial-timeout",
                                   "2s",          "--command-timeout", "5s"};
  if (options_.tls) {
    argv.insert(argv.end(), {"--cacert", pki_->ca_file, "--cert", pki_->client_cert, "--key",
                             pki_->client_key});
  }
  if (!user_.empty()) {
    argv.insert(argv.end(), {"--user", user_});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, output);
}

std::string EtcdCluster::etcdctl_ok(const std::vector<std::string>& args) const {
  std::string out;
  if (etcdctl(args, &out) != 0) {
    throw std::runtime_error("etcdctl " + join(args, " ") + " failed: " + out);
  }
  return out;
}

int64_t EtcdCluster::revision() const {
  const std::string out = etcdctl_ok({"get", "/brindle-test-revision-probe", "-w", "json"});
  return nlohmann::json::parse(out).at("header").at("revision").get<int64_t>();
}

int EtcdCluster::leader_index() const {
  std::string out;
  if (etcdctl({"endpoint", "status", "-w", "json"}, &out) != 0) {
    return -1;
  }
  const nlohmann::json status = nlohmann::json::parse(out, nullptr, false);
  if (!status.is_array()) {
    return -1;
  }
  for (const auto& entry : status) {
    const uint64_t member_id = entry["Status"]["header"]["member_id"].get<uint64_t>();
    if (member_id != entry["Status"]["leader"].get<uint64_t>()) {
      continue;
    }
    const std::string endpoint = entry["Endpoint"].get<std::string>();
    for (size_t i = 0; i < members_.size(); ++i) {
      if (endpoint.find(members_[i]->endpoint()) != std::string::npos) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

}  // namespace brindle::test
