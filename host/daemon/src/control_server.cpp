#include "brindle/daemon/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

// Boost 1.74 Asio uses std::exchange without including <utility> (C++20 coroutine support).
#include <utility>

#include <boost/asio.hpp>

#include "brindle/common/log.hpp"

namespace brindle::daemon {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using json = nlohmann::json;
using asio::local::stream_protocol;

// ---------------------------------------------------------------------------------------------
// Replies and the method table.

struct ControlReply::State {
  json id;
  Sink sink;
  bool done = false;
};

ControlReply::ControlReply(json id, Sink sink)
    : state_(std::make_shared<State>(State{std::move(id), std::move(sink), false})) {}

void ControlReply::ok(json result) const {
  if (state_->done) {
    return;
  }
  state_->done = true;
  json reply = {{"ok", true}};
  if (!state_->id.is_null()) {
    reply["id"] = state_->id;
  }
  reply["result"] = std::move(result);
  state_->sink(reply);
}

void ControlReply::fail(const std::string& code, const std::string& message) const {
  if (state_->done) {
    return;
  }
  state_->done = true;
  json reply = {{"ok", false}};
  if (!state_->id.is_null()) {
    reply["id"] = state_->id;
  }
  reply["error"] = {{"code", code}, {"message", message}};
  state_->sink(reply);
}

void MethodTable::add_async(std::string name, std::string summary, AsyncHandler handler) {
  methods_[std::move(name)] = Method{std::move(summary), std::move(handler)};
}

void MethodTable::add(std::string name, std::string summary, Handler handler) {
  add_async(std::move(name), std::move(summary),
            [handler = std::move(handler)](const json& params, const ControlReply& reply) {
              // Exceptions are handled by dispatch().
              reply.ok(handler(params));
            });
}

std::map<std::string, std::string> MethodTable::summaries() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, method] : methods_) {
    out[name] = method.summary;
  }
  return out;
}

void MethodTable::dispatch(std::string_view line, const ControlReply::Sink& sink) const {
  json request;
  try {
    request = json::parse(line);
  } catch (const json::exception& e) {
    ControlReply(nullptr, sink)
        .fail("parse_error", std::string("request is not JSON: ") + e.what());
    return;
  }
  if (!request.is_object()) {
    ControlReply(nullptr, sink).fail("invalid_request", "request must be a JSON object");
    return;
  }
  const json id = request.contains("id") ? request["id"] : json(nullptr);
  ControlReply reply(id, sink);
  const auto version = request.find("version");
  if (version == request.end() || !version->is_number_integer()) {
    reply.fail("invalid_request", "\"version\" (an integer, currently 1) is required");
    return;
  }
  if (version->get<int64_t>() != kControlApiVersion) {
    reply.fail("unsupported_version", "control API version " + version->dump() +
                                          " is not supported; this brindled speaks version " +
                                          std::to_string(kControlApiVersion));
    return;
  }
  const auto method_name = request.find("method");
  if (method_name == request.end() || !method_name->is_string()) {
    reply.fail("invalid_request", "\"method\" (a string) is required");
    return;
  }
  json params = json::object();
  if (const auto p = request.find("params"); p != request.end()) {
    if (!p->is_object()) {
      reply.fail("invalid_params", "\"params\" must be an object");
      return;
    }
    params = *p;
  }
  const auto method = methods_.find(method_name->get<std::string>());
  if (method == methods_.end()) {
    reply.fail("unknown_method", "no method \"" + method_name->get<std::string>() +
                                     "\"; the \"methods\" method lists them");
    return;
  }
  try {
    method->second.handler(params, reply);
  } catch (const ControlError& e) {
    reply.fail(e.code(), e.what());
  } catch (const json::exception& e) {
    reply.fail("invalid_params", e.what());
  } catch (const std::exception& e) {
    log::error("control method failed", {{"method", method->first}, {"error", e.what()}});
    reply.fail("internal", e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// The socket.

namespace {

// One client connection: reads a line, dispatches it, writes the reply, reads the next.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(stream_protocol::socket socket, const MethodTable& methods)
      : socket_(std::move(socket)), buffer_(kMaxControlRequestBytes + 1), methods_(methods) {}

  void start() { read(); }

 private:
  void read() {
    asio::async_read_until(
        socket_, buffer_, '\n',
        [self = shared_from_this()](boost::system::error_code ec, std::size_t length) {
          if (ec == asio::error::not_found) {
            self->write_and_close(
                json{{"ok", false},
                     {"error",
                      {{"code", "request_too_large"},
                       {"message", "request lines are limited to " +
                                       std::to_string(kMaxControlRequestBytes) + " bytes"}}}});
            return;
          }
          if (ec) {
            return;  // EOF or closed
          }
          std::string line(
              asio::buffers_begin(self->buffer_.data()),
              asio::buffers_begin(self->buffer_.data()) + static_cast<std::ptrdiff_t>(length - 1));
          self->buffer_.consume(length);
          if (!line.empty() && line.back() == '\r') {
            line.pop_back();
          }
          if (line.find_first_not_of(" \t") == std::string::npos) {
            self->read();  // blank lines are ignored
            return;
          }
          self->methods_.dispatch(line, [self](const json& reply) { self->write(reply); });
        });
  }

  // On the loop's thread, or on the thread of a method that answers from a thread of its own (a
  // CNI request's worker): the reply goes out from there at once, without waiting for the loop,
  // which may be busy with the very datastore events the request caused. Safe: the connection has
  // no operation in progress while its request is being answered (the next line is read only
  // after the reply), and only the descriptor is used here. What the socket does not take at
  // once, the loop writes.
  void write(const json& reply) {
    auto out = std::make_shared<std::string>(
        reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    const ssize_t sent =
        ::send(socket_.native_handle(), out->data(), out->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    const size_t done = sent > 0 ? static_cast<size_t>(sent) : 0;
    const bool failed = sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    asio::post(socket_.get_executor(), [self = shared_from_this(), out, done, failed] {
      if (failed) {
        boost::system::error_code ignored;
        self->socket_.close(ignored);
        return;
      }
      if (done == out->size()) {
        self->read();
        return;
      }
      asio::async_write(self->socket_, asio::buffer(*out) + done,
                        [self, out](boost::system::error_code ec, std::size_t) {
                          if (!ec) {
                            self->read();
                          }
                        });
    });
  }

  void write_and_close(const json& reply) {
    auto out = std::make_shared<std::string>(reply.dump() + "\n");
    asio::async_write(socket_, asio::buffer(*out),
                      [self = shared_from_this(), out](boost::system::error_code, std::size_t) {
                        boost::system::error_code ignored;
                        self->socket_.close(ignored);
                      });
  }

  stream_protocol::socket socket_;
  asio::streambuf buffer_;
  const MethodTable& methods_;
};

void prepare_directory(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      throw std::runtime_error("control socket directory " + dir.string() + ": " +
                               std::strerror(errno));
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      throw std::runtime_error("cannot create control socket directory " + dir.string() + ": " +
                               ec.message());
    }
    if (::chmod(dir.c_str(), 0700) != 0) {
      throw std::runtime_error("cannot make " + dir.string() +
                               " mode 0700: " + std::strerror(errno));
    }
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    throw std::runtime_error("control socket directory " + dir.string() + " is not a directory");
  }
  if ((st.st_mode & 077) == 0) {
    return;
  }
  if (st.st_uid != ::geteuid()) {
    throw std::runtime_error("control socket directory " + dir.string() +
                             " is accessible to other users and not owned by this user; use a "
                             "directory of its own (it is made mode 0700)");
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot make " + dir.string() + " mode 0700: " + std::strerror(errno));
  }
  log::info("control socket directory tightened to mode 0700", {{"path", dir}});
}

// A leftover socket file from a previous run is removed; a live one is an error.
void remove_stale_socket(asio::io_context& io, const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return;
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error("control socket path " + path.string() +
                             " exists and is not a socket");
  }
  stream_protocol::socket probe(io);
  boost::system::error_code ec;
  probe.connect(stream_protocol::endpoint(path.string()), ec);
  if (!ec) {
    throw std::runtime_error("control socket " + path.string() +
                             " is in use by another process (is brindled already running?)");
  }
  std::error_code remove_error;
  fs::remove(path, remove_error);
}

bool peer_allowed(stream_protocol::socket& socket, uid_t* uid) {
  ucred credentials{};
  socklen_t size = sizeof(credentials);
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
    return false;
  }
  *uid = credentials.uid;
  return credentials.uid == 0 || credentials.uid == ::geteuid();
}

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  Impl(asio::io_context& io_context, fs::path socket_path, const MethodTable& table)
      : io(io_context), acceptor(io_context), path(std::move(socket_path)), methods(table) {}

  asio::io_context& io;
  stream_protocol::acceptor acceptor;
  fs::path path;
  const MethodTable& methods;
  bool bound = false;

  void accept() {
    acceptor.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, stream_protocol::socket socket) {
          if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) {
            return;
          }
          if (!ec) {
            uid_t uid = 0;
            if (peer_allowed(socket, &uid)) {
              std::make_shared<Connection>(std::move(socket), self->methods)->start();
            } else {
              log::warn("control connection refused: peer is neither root nor this user",
                        {{"uid", static_cast<long>(uid)}});
            }
          }
          self->accept();
        });
  }
};

ControlServer::ControlServer(asio::io_context& io, const fs::path& socket_path,
                             const MethodTable& methods) {
  if (socket_path.empty() || !socket_path.is_absolute()) {
    throw std::runtime_error("control socket path \"" + socket_path.string() +
                             "\" must be an absolute path");
  }
  // sockaddr_un has room for 107 bytes plus the NUL.
  if (socket_path.string().size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::runtime_error("control socket path " + socket_path.string() + " is longer than " +
                             std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  impl_ = std::make_shared<Impl>(io, socket_path, methods);
  prepare_directory(socket_path.parent_path());
  remove_stale_socket(io, socket_path);
  boost::system::error_code ec;
  const stream_protocol::endpoint endpoint(socket_path.string());
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl_->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl_->bound = true;
    if (::chmod(socket_path.c_str(), 0600) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) {
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    close();
    throw std::runtime_error("cannot listen on control socket " + socket_path.string() + ": " +
                             ec.message());
  }
  impl_->accept();
}

ControlServer::~ControlServer() {
  close();
}

const fs::path& ControlServer::path() const {
  return impl_->path;
}

void ControlServer::close() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  if (impl_->bound) {
    impl_->bound = false;
    std::error_code ec;
    fs::remove(impl_->path, ec);
  }
}

}  // namespace brindle::daemon
