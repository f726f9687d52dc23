#include "bird_process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <brindle/sdk.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

namespace brindle::bgp {
namespace {

using namespace std::chrono_literals;

[[noreturn]] void unavailable(const std::string& message) {
  throw Error(BRINDLE_ERR_UNAVAILABLE, "routing bgp: " + message);
}

std::string errno_text(int e) {
  return std::strerror(e);
}

void make_dirs(const std::string& path) {
  std::string partial;
  std::stringstream parts(path);
  std::string part;
  if (!path.empty() && path[0] == '/') {
    partial = "";
  }
  while (std::getline(parts, part, '/')) {
    if (part.empty()) {
      continue;
    }
    partial += "/" + part;
    if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      unavailable("cannot create state directory " + partial + ": " + errno_text(errno));
    }
  }
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      unavailable("cannot write " + tmp);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    unavailable("cannot rename " + tmp + " to " + path + ": " + errno_text(errno));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// Runs argv to completion and returns (exit status, stdout+stderr).
std::pair<int, std::string> run_capture(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    unavailable("pipe: " + errno_text(errno));
  }
  std::vector<char*> argv;
  for (const std::string& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    unavailable("fork: " + errno_text(errno));
  }
  if (child == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) {
      output.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return {status, output};
}

}  // namespace

BirdProcess::BirdProcess(std::string binary, BirdPaths paths)
    : binary_(std::move(binary)), paths_(std::move(paths)) {
  if (::access(binary_.c_str(), X_OK) != 0) {
    throw Error(BRINDLE_ERR_UNAVAILABLE, "routing bgp: BIRD binary " + binary_ +
                                             " is not executable (" + errno_text(errno) +
                                             "); install Debian's bird2 or set bird_binary");
  }
  make_dirs(paths_.state_dir);
  netns_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (netns_fd_ < 0) {
    unavailable("cannot open /proc/thread-self/ns/net: " + errno_text(errno));
  }
}

BirdProcess::~BirdProcess() {
  if (netns_fd_ >= 0) {
    ::close(netns_fd_);
  }
}

void BirdProcess::validate(const std::string& text) const {
  const std::string check = paths_.state_dir + "/bird.conf.check";
  write_file(check, text);
  const auto [status, output] = run_capture({binary_, "-p", "-c", check});
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error(BRINDLE_ERR_CONFIG, "routing bgp: BIRD rejects the rendered configuration (" +
                                        check + " kept for inspection): " + trimmed(output));
  }
  ::unlink(check.c_str());
}

void BirdProcess::write_config(const std::string& text) const {
  write_file(paths_.config(), text);
}

bool BirdProcess::running() {
  if (pid_ <= 0) {
    return false;
  }
  if (child_) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  // Not our child: gone, or a zombie its real parent has not reaped yet.
  if (!alive(pid_)) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool BirdProcess::alive(pid_t pid) {
  if (pid <= 0) {
    return false;
  }
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return !stat.empty() && paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] != 'Z';
}

bool BirdProcess::adopt() {
  const std::string pid_text = trimmed(read_file(paths_.pid_file()));
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos ||
      pid_text.size() > 9) {
    return false;
  }
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  if (trimmed(read_file("/proc/" + pid_text + "/comm")) != "bird") {
    return false;
  }
  try {
    BirdClient probe(paths_.socket(), 2s);
  } catch (const std::exception&) {
    return false;
  }
  pid_ = pid;
  child_ = false;
  return true;
}

void BirdProcess::start(bool recovery) {
  std::vector<std::string> args = {
      binary_, "-f", "-c", paths_.config(), "-s", paths_.socket(), "-P", paths_.pid_file()};
  if (recovery) {
    args.emplace_back("-R");
  }
  std::vector<char*> argv;
  for (const std::string& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  const int log_fd = ::open(paths_.log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    unavailable("cannot open " + paths_.log() + ": " + errno_text(errno));
  }
  ::unlink(paths_.socket().c_str());
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(log_fd);
    unavailable("fork: " + errno_text(errno));
  }
  if (child == 0) {
    // Only async-signal-safe calls until exec. Own session: the agent's signals and terminal do
    // not reach BIRD, so it can outlive an agent restart.
    if (::setns(netns_fd_, CLONE_NEWNET) != 0) {
      ::_exit(126);
    }
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) {
      ::dup2(null_fd, 0);
    }
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // Nothing of the agent's (datastore connections, netlink sockets) leaks into BIRD.
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = child;
  child_ = true;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) {
      unavailable("BIRD exited right after start; see " + paths_.log());
    }
    try {
      BirdClient probe(paths_.socket(), 1s);
      return;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(50ms);
    }
  }
  stop();
  unavailable("BIRD's control socket " + paths_.socket() + " did not answer within 10 s");
}

BirdReply BirdProcess::command(std::string_view command) const {
  try {
    BirdClient client(paths_.socket());
    return client.command(command);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    unavailable(std::string(command) + ": " + e.what());
  }
}

void BirdProcess::configure() {
  const BirdReply reply = command("configure");
  if (reply.is_error()) {
    throw Error(BRINDLE_ERR_CONFIG,
                "routing bgp: BIRD refused the new configuration: " + reply.error_message());
  }
}

void BirdProcess::stop() {
  if (!running()) {
    return;
  }
  try {
    command("down");
  } catch (const std::exception&) {  // fall through to signals
  }
  const auto wait_gone = [this](std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!running()) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  if (wait_gone(5s)) {
    return;
  }
  ::kill(pid_, SIGTERM);
  if (wait_gone(5s)) {
    return;
  }
  ::kill(pid_, SIGKILL);
  wait_gone(5s);
}

}  // namespace brindle::bgp
