#include "brindle/daemon/http_server.hpp"

#include <chrono>
#include <stdexcept>

// Boost 1.74 Asio uses std::exchange without including <utility> (C++20 coroutine support).
#include <utility>

#include <boost/asio.hpp>

#include "brindle/common/log.hpp"
#include "brindle/common/strings.hpp"

namespace brindle::daemon {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kMaxHeadBytes = 8192;
constexpr auto kRequestTimeout = std::chrono::seconds(10);

std::string_view reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Unknown";
}

std::string serialize(const HttpResponse& response, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(reason(response.status)) + "\r\n";
  out += "Content-Type: " + response.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head_only) {
    out += response.body;
  }
  return out;
}

}  // namespace

bool parse_request_line(std::string_view head, std::string* method, std::string* path) {
  const auto line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const auto first_space = line.find(' ');
  if (first_space == std::string_view::npos) {
    return false;
  }
  const auto second_space = line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos ||
      line.find(' ', second_space + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view version = line.substr(second_space + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return false;
  }
  std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  if (target.empty() || target[0] != '/') {
    return false;
  }
  target = target.substr(0, target.find('?'));
  *method = std::string(line.substr(0, first_space));
  *path = std::string(target);
  return !method->empty();
}

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io_context, std::map<std::string, HttpHandler> handlers)
      : io(io_context), acceptor(io_context), routes(std::move(handlers)) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  std::map<std::string, HttpHandler> routes;

  HttpResponse respond(const std::string& head, bool* head_only) {
    std::string method;
    std::string path;
    *head_only = false;
    if (!parse_request_line(head, &method, &path)) {
      return {400, "text/plain; charset=utf-8", "bad request\n"};
    }
    const auto route = routes.find(path);
    if (route == routes.end()) {
      return {404, "text/plain; charset=utf-8", "not found\n"};
    }
    if (method != "GET" && method != "HEAD") {
      return {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    }
    *head_only = method == "HEAD";
    try {
      return route->second();
    } catch (const std::exception& e) {
      log::error("HTTP handler failed", {{"path", path}, {"error", e.what()}});
      return {500, "text/plain; charset=utf-8", "internal error\n"};
    }
  }

  void accept() {
    acceptor.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) {
            return;
          }
          if (!ec) {
            self->serve(std::make_shared<tcp::socket>(std::move(socket)));
          }
          self->accept();
        });
  }

  void serve(const std::shared_ptr<tcp::socket>& socket) {
    auto buffer = std::make_shared<asio::streambuf>(kMaxHeadBytes);
    auto timer = std::make_shared<asio::steady_timer>(io, kRequestTimeout);
    timer->async_wait([socket](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket->close(ignored);  // too slow: drop it
      }
    });
    asio::async_read_until(
        *socket, *buffer, "\r\n\r\n",
        [self = shared_from_this(), socket, buffer, timer](boost::system::error_code ec,
                                                           std::size_t) {
          timer->cancel();
          HttpResponse response;
          bool head_only = false;
          if (ec == asio::error::not_found) {
            response = {431, "text/plain; charset=utf-8", "request head too large\n"};
          } else if (ec) {
            return;  // closed, reset or timed out
          } else {
            const std::string head(asio::buffers_begin(buffer->data()),
                                   asio::buffers_end(buffer->data()));
            response = self->respond(head, &head_only);
          }
          auto out = std::make_shared<std::string>(serialize(response, head_only));
          asio::async_write(*socket, asio::buffer(*out),
                            [socket, out](boost::system::error_code, std::size_t) {
                              boost::system::error_code ignored;
                              socket->shutdown(tcp::socket::shutdown_both, ignored);
                              socket->close(ignored);
                            });
        });
  }
};

HttpServer::HttpServer(asio::io_context& io, const std::string& listen,
                       std::map<std::string, HttpHandler> routes)
    : impl_(std::make_shared<Impl>(io, std::move(routes))) {
  const auto host_port = strings::parse_host_port(listen);
  if (!host_port) {
    throw std::runtime_error("cannot listen on \"" + listen +
                             "\": expected HOST:PORT, e.g. 127.0.0.1:9099 or [::1]:9099");
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(host_port->host, std::to_string(host_port->port),
                                          tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    throw std::runtime_error("cannot listen on " + listen + ": cannot resolve \"" +
                             host_port->host + "\": " + ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    impl_->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + listen + ": " + ec.message());
  }
  impl_->accept();
}

HttpServer::~HttpServer() {
  close();
}

std::string HttpServer::address() const {
  boost::system::error_code ec;
  const tcp::endpoint endpoint = impl_->acceptor.local_endpoint(ec);
  if (ec) {
    return {};
  }
  return strings::format_host_port({endpoint.address().to_string(), endpoint.port()});
}

uint16_t HttpServer::port() const {
  boost::system::error_code ec;
  const tcp::endpoint endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void HttpServer::close() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace brindle::daemon
