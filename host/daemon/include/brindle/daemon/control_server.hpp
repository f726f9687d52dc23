// The local control API: a unix stream socket speaking newline-delimited JSON
// (docs/control-api.md). Requests are {"version":1,"method":"<name>","params":{...},"id":<any>};
// replies are {"ok":true,"id":...,"result":{...}} or
// {"ok":false,"id":...,"error":{"code":"...","message":"..."}}, one line each, in request order.
// Methods live in a MethodTable so later features (CNI ADD/DEL, ...) only register more.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace boost::asio {
class io_context;
}

namespace brindle::daemon {

inline constexpr int kControlApiVersion = 1;
// Longest request line accepted (bytes, without the newline).
inline constexpr std::size_t kMaxControlRequestBytes = 1 << 20;

// Thrown by a method handler to reply with an error; `code` is a short snake_case word.
class ControlError : public std::runtime_error {
 public:
  ControlError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Completes one request. Copyable; the first ok()/fail() wins, later calls are ignored. A handler
// may keep it and answer later (e.g. after the dataplane applied something), but must answer on
// the event loop thread.
class ControlReply {
 public:
  using Sink = std::function<void(const nlohmann::json& reply)>;
  ControlReply(nlohmann::json id, Sink sink);
  void ok(nlohmann::json result = nlohmann::json::object()) const;
  void fail(const std::string& code, const std::string& message) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

class MethodTable {
 public:
  using AsyncHandler = std::function<void(const nlohmann::json& params, ControlReply reply)>;
  using Handler = std::function<nlohmann::json(const nlohmann::json& params)>;

  // Replaces an existing method of the same name.
  void add_async(std::string name, std::string summary, AsyncHandler handler);
  // A handler that answers at once: its return value is the result, a ControlError the error.
  void add(std::string name, std::string summary, Handler handler);

  // Parses and validates one request line and runs its method; `sink` receives the reply
  // object (possibly later, for async methods). Never throws.
  void dispatch(std::string_view line, const ControlReply::Sink& sink) const;

  // name -> summary, for the "methods" method.
  std::map<std::string, std::string> summaries() const;

 private:
  struct Method {
    std::string summary;
    AsyncHandler handler;
  };
  std::map<std::string, Method> methods_;
};

class ControlServer {
 public:
  // Creates the socket's directory (mode 0700) if missing, and refuses a directory that others
  // can enter unless it is ours, in which case it is tightened to 0700. A stale socket file is
  // replaced; a socket another process still answers on is an error. The socket is 0600.
  // Only peers running as root or as this process's user are served. Throws std::runtime_error.
  ControlServer(boost::asio::io_context& io, const std::filesystem::path& socket_path,
                const MethodTable& methods);
  ~ControlServer();  // closes and removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::filesystem::path& path() const;
  void close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace brindle::daemon
