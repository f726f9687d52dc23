#include "cni_test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "brindle/netlink/netlink.hpp"
#include "brindle/workload/cni_adapter.hpp"

namespace brindle::cni::testing {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

int run_shell(const std::string& command_line) {
  int status = std::system(command_line.c_str());
  if (status == -1 || !WIFEXITED(status)) {
    return -1;
  }
  return WEXITSTATUS(status);
}

std::string shell_output(const std::string& command_line) {
  std::string output;
  FILE* pipe = popen(command_line.c_str(), "r");
  if (pipe == nullptr) {
    return output;
  }
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    output.append(buffer.data(), n);
  }
  pclose(pipe);
  return output;
}

std::string trimmed_lines(const std::string& output) {
  std::string result, line;
  std::istringstream lines(output);
  while (std::getline(lines, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    result += (result.empty() ? "" : "\n") + line;
  }
  return result;
}

// --- namespaces ---------------------------------------------------------------------------------

TestNode::TestNode() : netns_(netlink::ScratchNetns::create_named("brt-cni")) {
  netns_.run([] {
    netlink::Netlink nl;
    nl.set_link_up(nl.link("lo").index, true);
    nl.create_veth({"brt-up0", "brt-up1", -1, 0});
    int uplink = nl.link("brt-up0").index;
    nl.add_address(uplink, netlink::IpPrefix::parse(std::string(kAddressV4) + "/24"));
    nl.add_address(uplink, netlink::IpPrefix::parse(std::string(kAddressV6) + "/64"));
    nl.set_link_up(uplink, true);
    nl.set_link_up(nl.link("brt-up1").index, true);
    // Proxy ARP answers for 169.254.1.1 only when the node has a route to it elsewhere, as every
    // real node has through its default route.
    netlink::RouteSpec v4;
    v4.destination = netlink::IpPrefix::parse("0.0.0.0/0");
    v4.gateway = netlink::IpPrefix::parse("198.19.0.254");
    v4.ifindex = uplink;
    nl.add_route(v4);
    netlink::RouteSpec v6;
    v6.destination = netlink::IpPrefix::parse("::/0");
    v6.gateway = netlink::IpPrefix::parse("2001:db8:ff::fe");
    v6.ifindex = uplink;
    nl.add_route(v6);
  });
  workload::enable_node_forwarding(options());
}

workload::PlumbingOptions TestNode::options() const {
  workload::PlumbingOptions options;
  options.host_netns_fd = netns_.fd();
  return options;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "brt-cni-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw_errno("mkdtemp " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

// --- responder ----------------------------------------------------------------------------------

TestResponder::TestResponder(std::filesystem::path socket_path, workload::PlumbingOptions options)
    : socket_path_(std::move(socket_path)), options_(std::move(options)) {
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    throw_errno("socket");
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string path = socket_path_.string();
  if (path.size() >= sizeof(address.sun_path)) {
    throw std::invalid_argument("socket path too long");
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    throw_errno("bind " + path);
  }
  if (listen(listen_fd_, 128) != 0) {
    throw_errno("listen " + path);
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw_errno("pipe");
  }
  wake_fd_ = pipe_fds[1];
  int wake_read = pipe_fds[0];
  server_ = std::thread([this, wake_read] {
    for (;;) {
      std::array<pollfd, 2> fds{pollfd{listen_fd_, POLLIN, 0}, pollfd{wake_read, POLLIN, 0}};
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        break;
      }
      if (fds[1].revents != 0 || stopping_) {
        break;
      }
      int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) {
        continue;
      }
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, connection] { handle_connection(connection); });
    }
    close(wake_read);
  });
}

TestResponder::~TestResponder() {
  stopping_ = true;
  write_all(wake_fd_, "x");
  server_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  close(wake_fd_);
  close(listen_fd_);
  unlink(socket_path_.c_str());
}

void TestResponder::assign(const std::string& container_id, workload::PodNetworkSpec network) {
  std::lock_guard lock(mutex_);
  assignments_[container_id] = std::move(network);
}

std::vector<Request> TestResponder::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

size_t TestResponder::endpoint_count() const {
  std::lock_guard lock(mutex_);
  return endpoints_.size();
}

void TestResponder::handle_connection(int fd) {
  std::string line;
  char buffer[8192];
  while (line.find('\n') == std::string::npos) {
    pollfd entry{fd, POLLIN, 0};
    if (poll(&entry, 1, 10000) <= 0) {
      break;
    }
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) {
      break;
    }
    line.append(buffer, static_cast<size_t>(n));
  }
  Response response;
  try {
    Request request = decode_request(line.substr(0, line.find('\n')));
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    response = handle(request);
  } catch (const ProtocolError& e) {
    response = Response::failure(e.code(), e.what());
  } catch (const std::exception& e) {
    response = Response::failure(errors::kDaemonInternal, "test responder failed", e.what());
  }
  write_all(fd, encode_response(response));
  close(fd);
}

Response TestResponder::handle(const Request& request) {
  const Params& p = request.params;
  if (!ready_) {
    return Response::failure(
        request.method == Method::status ? errors::kNotAvailable : errors::kTryAgainLater,
        "not in sync yet");
  }
  switch (request.method) {
    case Method::status:
      return Response::success();
    case Method::add: {
      workload::PodNetworkSpec network;
      {
        std::lock_guard lock(mutex_);
        auto found = assignments_.find(p.container_id);
        if (found == assignments_.end()) {
          return Response::failure(errors::kAddressesExhausted,
                                   "no free address for container " + p.container_id,
                                   "the test assigned none");
        }
        network = found->second;
      }
      if (p.mtu) {
        network.mtu = *p.mtu;
      }
      workload::PodIdentity pod = workload::pod_identity(p);
      try {
        workload::PodPlumbing plumbing = workload::setup_pod(pod, network, options_);
        std::lock_guard lock(mutex_);
        endpoints_[p.container_id] = Endpoint{pod, network};
        return Response::success(workload::to_cni_result(plumbing));
      } catch (const workload::PlumbingError& e) {
        return Response::failure(workload::cni_error_code(e), "pod network setup failed", e.what());
      }
    }
    case Method::del: {
      try {
        workload::teardown_pod(workload::pod_identity(p), options_);
      } catch (const workload::PlumbingError& e) {
        return Response::failure(workload::cni_error_code(e), "pod network teardown failed",
                                 e.what());
      }
      std::lock_guard lock(mutex_);
      endpoints_.erase(p.container_id);
      return Response::success();
    }
    case Method::check: {
      Endpoint endpoint;
      {
        std::lock_guard lock(mutex_);
        auto found = endpoints_.find(p.container_id);
        if (found == endpoints_.end()) {
          return Response::failure(errors::kUnknownContainer,
                                   "no endpoint for container " + p.container_id);
        }
        endpoint = found->second;
      }
      std::vector<std::string> problems =
          workload::check_pod(workload::pod_identity(p), endpoint.network, options_);
      if (problems.empty()) {
        return Response::success();
      }
      std::string details;
      for (const std::string& problem : problems) {
        details += (details.empty() ? "" : "; ") + problem;
      }
      return Response::failure(errors::kCheckFailed, "pod network differs from its endpoint",
                               details);
    }
    case Method::gc: {
      std::vector<Endpoint> stale;
      {
        std::lock_guard lock(mutex_);
        for (auto it = endpoints_.begin(); it != endpoints_.end();) {
          bool valid = false;
          for (const Attachment& a : p.valid_attachments) {
            valid = valid || (a.container_id == it->first && a.ifname == it->second.pod.ifname);
          }
          if (valid) {
            ++it;
          } else {
            stale.push_back(it->second);
            it = endpoints_.erase(it);
          }
        }
      }
      for (const Endpoint& endpoint : stale) {
        workload::teardown_pod(endpoint.pod, options_);
      }
      return Response::success();
    }
  }
  return Response::failure(errors::kProtocolError, "unknown method");
}

// --- the binary ---------------------------------------------------------------------------------

PluginRun run_cni_binary(const std::map<std::string, std::string>& env,
                         const std::string& stdin_text) {
  return run_any_cni_binary(BRINDLE_CNI_BINARY, env, stdin_text);
}

PluginRun run_any_cni_binary(const std::string& binary_path,
                             const std::map<std::string, std::string>& env,
                             const std::string& stdin_text) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw_errno("pipe");
  }
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env) {
    env_strings.push_back(key + "=" + value);
  }
  std::vector<char*> envp;
  for (std::string& entry : env_strings) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  // posix_spawn (CLONE_VM|CLONE_VFORK in glibc), like containerd's Go runtime: a fork() of this
  // large multi-threaded process would copy its page tables and add ~0.5 ms to every call.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  char* argv[] = {const_cast<char*>(binary_path.c_str()), nullptr};
  pid_t pid = -1;
  const int spawn_error =
      posix_spawn(&pid, binary_path.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    errno = spawn_error;
    throw_errno("posix_spawn " + binary_path);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Write stdin and read both outputs without blocking on any of them.
  PluginRun run;
  size_t written = 0;
  int stdin_fd = in[1];
  if (stdin_text.empty()) {
    close(stdin_fd);
    stdin_fd = -1;
  }
  signal(SIGPIPE, SIG_IGN);
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    std::vector<pollfd> fds;
    if (out_open) {
      fds.push_back({out[0], POLLIN, 0});
    }
    if (err_open) {
      fds.push_back({err[0], POLLIN, 0});
    }
    if (stdin_fd >= 0) {
      fds.push_back({stdin_fd, POLLOUT, 0});
    }
    if (poll(fds.data(), fds.size(), 30000) <= 0) {
      break;
    }
    for (const pollfd& entry : fds) {
      if (entry.revents == 0) {
        continue;
      }
      if (entry.fd == stdin_fd) {
        ssize_t n = write(stdin_fd, stdin_text.data() + written, stdin_text.size() - written);
        if (n > 0) {
          written += static_cast<size_t>(n);
        }
        if (n < 0 || written == stdin_text.size()) {
          close(stdin_fd);
          stdin_fd = -1;
        }
        continue;
      }
      char buffer[8192];
      ssize_t n = read(entry.fd, buffer, sizeof(buffer));
      std::string& target = entry.fd == out[0] ? run.stdout_text : run.stderr_text;
      if (n > 0) {
        target.append(buffer, static_cast<size_t>(n));
      } else {
        (entry.fd == out[0] ? out_open : err_open) = false;
      }
    }
  }
  if (stdin_fd >= 0) {
    close(stdin_fd);
  }
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::map<std::string, std::string> cni_env(const std::string& command,
                                           const std::string& container_id,
                                           const std::string& netns, const std::string& ifname,
                                           const std::string& pod_namespace,
                                           const std::string& pod_name) {
  std::map<std::string, std::string> env{{"CNI_COMMAND", command},
                                         {"CNI_CONTAINERID", container_id},
                                         {"CNI_IFNAME", ifname},
                                         {"CNI_PATH", "/opt/cni/bin"}};
  if (!netns.empty()) {
    env["CNI_NETNS"] = netns;
  }
  if (!pod_namespace.empty()) {
    env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod_namespace +
                      ";K8S_POD_NAME=" + pod_name + ";K8S_POD_INFRA_CONTAINER_ID=" + container_id;
  }
  return env;
}

}  // namespace brindle::cni::testing
