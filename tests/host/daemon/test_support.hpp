// Helpers for the brindled process tests: temporary directories, running brindled as a child
// process, a raw-socket HTTP client, a control socket client and a fake sd_notify socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace brindle::test {

// A temporary directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_port();

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs a command to completion (at most `timeout`), capturing stdout and stderr.
ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A long-running child process with stderr (and stdout) going to a file. Killed (SIGKILL) when
// destroyed while still running, so a failing test never leaves it behind.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
               const std::map<std::string, std::string>& extra_env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int signal_number);
  // The exit code, or nullopt when it did not exit in time (or died of a signal: -signal).
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct HttpResult {
  int status = 0;                              // 0: no answer
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};
HttpResult http_request(uint16_t port, const std::string& method, const std::string& path);

// One connection to a unix stream socket exchanging newline-delimited lines.
class LineClient {
 public:
  explicit LineClient(const std::filesystem::path& socket_path);
  ~LineClient();
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;
  bool connected() const { return fd_ >= 0; }
  void send(const std::string& text);
  // The next line without its newline; nullopt on EOF or after `timeout`.
  std::optional<std::string> read_line(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  int fd_ = -1;
  std::string buffer_;
};

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path);
  ~NotifySocket();
  const std::filesystem::path& path() const { return path_; }
  // Every message received so far (each a "KEY=VALUE\n..." block), waiting up to `timeout` for
  // one that contains `fragment`.
  bool wait_for(const std::string& fragment, std::chrono::milliseconds timeout);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace brindle::test
