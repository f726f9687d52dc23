// The plugin's one adapter around libcurl: RAII owners for every curl handle and an HTTP client
// for the API server (bearer token, CA, timeouts). Requests reuse a small pool of easy handles so
// that each keeps its HTTP/1.1 keep-alive connection; watches configure their own easy handles
// (prepare_stream) and drive them with a multi handle on the watch thread.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "brindle/sdk.hpp"
#include "kube_config.h"

namespace brindle::kube {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlMultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// curl_global_init, once per process (thread-safe).
void ensure_curl_initialised();
// New handles; throw Error(RESOURCE_EXHAUSTED) when curl cannot allocate one.
CurlEasy new_easy();
CurlMulti new_multi();

// The Brindle status of a failed transfer: timeouts TIMEOUT, everything else (refused, reset,
// TLS, DNS) UNAVAILABLE.
brindle_status_t status_for_curl(CURLcode code);
// "<curl's text>: <detail from the error buffer>".
std::string describe_curl(CURLcode code, const char* error_buffer);

struct HttpResponse {
  long status = 0;
  std::string body;
};

// The header lists of requests with one bearer token. curl reads a list while its transfer runs,
// so a request holds the snapshot it was configured with until it is done.
struct RequestHeaders {
  std::string token;
  CurlSlist get;   // Accept, Authorization
  CurlSlist body;  // ... and Content-Type; no Expect: 100-continue
};
using RequestHeadersPtr = std::shared_ptr<const RequestHeaders>;

class HttpClient {
 public:
  explicit HttpClient(KubeConnection connection);
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request to <server><path>; `body` (JSON) may be null. Any HTTP answer is returned; a
  // transport failure throws Error(UNAVAILABLE or TIMEOUT) starting with `what`.
  HttpResponse request(const char* method, const std::string& path, const std::string* body,
                       const std::string& what);

  // Configures `easy` for a streaming GET of <server><path> with no overall deadline (only the
  // connection and TCP keep-alive are timed). The caller sets the write/header callbacks and keeps
  // the returned headers until the transfer is done.
  [[nodiscard]] RequestHeadersPtr prepare_stream(CURL* easy, const std::string& path);

  const KubeConnection& connection() const noexcept { return connection_; }

 private:
  // The headers for the current token, after reading the token file again if it changed since
  // it was last read (a file that cannot be read or is empty leaves the token as it was).
  RequestHeadersPtr current_headers();
  void apply_common(CURL* easy, const std::string& path, const curl_slist* headers) const;
  CurlEasy acquire();
  void release(CurlEasy easy);

  KubeConnection connection_;
  std::mutex headers_mutex_;
  RequestHeadersPtr headers_;
  std::string token_file_stamp_;  // identity, size and mtime of the token file last read
  std::mutex pool_mutex_;
  std::vector<CurlEasy> idle_;  // handles with a live keep-alive connection
};

}  // namespace brindle::kube
