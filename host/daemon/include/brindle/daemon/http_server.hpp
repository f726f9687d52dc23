// A tiny HTTP/1.1 server on the daemon's event loop for /livez, /readyz and /metrics: GET and
// HEAD only, one request per connection (Connection: close), 8 KiB of request headers at most,
// 10 s to send them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace brindle::daemon {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called on the event loop thread.
using HttpHandler = std::function<HttpResponse()>;

class HttpServer {
 public:
  // Binds `listen` ("127.0.0.1:9099", "[::1]:9099", "localhost:9099") and starts accepting.
  // Throws std::runtime_error naming the address when it cannot.
  HttpServer(boost::asio::io_context& io, const std::string& listen,
             std::map<std::string, HttpHandler> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound address, e.g. "127.0.0.1:9099" (the real port when 0 was asked for).
  std::string address() const;
  uint16_t port() const;
  // Stops accepting; requests in flight finish.
  void close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Parses the request line of a request head: {method, target path without query}.
// Returns false when it is not "METHOD TARGET HTTP/1.x".
bool parse_request_line(std::string_view head, std::string* method, std::string* path);

}  // namespace brindle::daemon
