#include "curl_http.h"

#include <sys/stat.h>

#include <mutex>
#include <optional>

namespace brindle::kube {
namespace {

// Idle easy handles kept for reuse (each may hold one keep-alive connection).
constexpr size_t kMaxIdleHandles = 8;

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

curl_slist* append_header(curl_slist* list, const std::string& header) {
  curl_slist* out = curl_slist_append(list, header.c_str());
  if (out == nullptr) {
    curl_slist_free_all(list);
    throw Error(BRINDLE_ERR_RESOURCE_EXHAUSTED, "curl_slist_append: out of memory");
  }
  return out;
}

// What changes when a file is replaced or rewritten: device, inode, size, mtime. Empty when the
// file cannot be stat'ed.
std::string file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

CurlSlist make_headers(const std::string& token, bool with_body) {
  curl_slist* list = append_header(nullptr, "Accept: application/json");
  if (!token.empty()) {
    list = append_header(list, "Authorization: Bearer " + token);
  }
  if (with_body) {
    list = append_header(list, "Content-Type: application/json");
    list = append_header(list, "Expect:");
  }
  return CurlSlist(list);
}

RequestHeadersPtr headers_for(std::string token) {
  auto headers = std::make_shared<RequestHeaders>();
  headers->get = make_headers(token, false);
  headers->body = make_headers(token, true);
  headers->token = std::move(token);
  return headers;
}

}  // namespace

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlEasy new_easy() {
  ensure_curl_initialised();
  CurlEasy easy(curl_easy_init());
  if (!easy) {
    throw Error(BRINDLE_ERR_RESOURCE_EXHAUSTED, "curl_easy_init failed");
  }
  return easy;
}

CurlMulti new_multi() {
  ensure_curl_initialised();
  CurlMulti multi(curl_multi_init());
  if (!multi) {
    throw Error(BRINDLE_ERR_RESOURCE_EXHAUSTED, "curl_multi_init failed");
  }
  return multi;
}

brindle_status_t status_for_curl(CURLcode code) {
  return code == CURLE_OPERATION_TIMEDOUT ? BRINDLE_ERR_TIMEOUT : BRINDLE_ERR_UNAVAILABLE;
}

std::string describe_curl(CURLcode code, const char* error_buffer) {
  std::string text = curl_easy_strerror(code);
  if (error_buffer != nullptr && error_buffer[0] != '\0') {
    text += ": ";
    text += error_buffer;
  }
  return text;
}

HttpClient::HttpClient(KubeConnection connection)
    : connection_(std::move(connection)), headers_(headers_for(connection_.token)) {
  if (!connection_.token_file.empty()) {
    token_file_stamp_ = file_stamp(connection_.token_file);
  }
  ensure_curl_initialised();
}

RequestHeadersPtr HttpClient::current_headers() {
  std::lock_guard<std::mutex> lock(headers_mutex_);
  if (!connection_.token_file.empty()) {
    // A stat per request: microseconds, next to a round trip to the API server.
    std::string stamp = file_stamp(connection_.token_file);
    if (!stamp.empty() && stamp != token_file_stamp_) {
      std::string problem;
      const std::optional<std::string> token = read_token_file(connection_.token_file, &problem);
      if (token) {  // else half-written or gone: keep the old token and look again next time
        token_file_stamp_ = std::move(stamp);
        if (*token != headers_->token) {
          headers_ = headers_for(*token);
        }
      }
    }
  }
  return headers_;
}

void HttpClient::apply_common(CURL* easy, const std::string& path,
                              const curl_slist* headers) const {
  const std::string url = connection_.server + path;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());  // curl copies strings it is given
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);      // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(connection_.request_timeout_ms));
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  if (!connection_.ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(connection_.ca_pem.data()), connection_.ca_pem.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
  } else if (!connection_.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, connection_.ca_file.c_str());
  }
}

CurlEasy HttpClient::acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!idle_.empty()) {
      CurlEasy easy = std::move(idle_.back());
      idle_.pop_back();
      curl_easy_reset(easy.get());  // options only: the live connection stays
      return easy;
    }
  }
  return new_easy();
}

void HttpClient::release(CurlEasy easy) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (idle_.size() < kMaxIdleHandles) {
    idle_.push_back(std::move(easy));
  }
}

HttpResponse HttpClient::request(const char* method, const std::string& path,
                                 const std::string* body, const std::string& what) {
  const RequestHeadersPtr headers = current_headers();
  CurlEasy easy = acquire();
  CURL* e = easy.get();
  apply_common(e, path, body != nullptr ? headers->body.get() : headers->get.get());
  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(connection_.request_timeout_ms));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &response.body);
  if (body != nullptr) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (std::string_view(method) != "GET" && std::string_view(method) != "POST") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  const CURLcode code = curl_easy_perform(e);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
  if (code != CURLE_OK) {
    // The handle's connection is in an unknown state: drop both.
    throw Error(status_for_curl(code), what + ": " + method + " " + connection_.server + path +
                                           ": " + describe_curl(code, error_buffer));
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &response.status);
  release(std::move(easy));
  return response;
}

RequestHeadersPtr HttpClient::prepare_stream(CURL* easy, const std::string& path) {
  RequestHeadersPtr headers = current_headers();
  apply_common(easy, path, headers->get.get());
  // A watch has no end; a dead peer is noticed by TCP keep-alive probes instead.
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
  return headers;
}

}  // namespace brindle::kube
