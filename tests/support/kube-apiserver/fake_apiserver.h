// The test Kubernetes API server (tests/support/kube-apiserver/fake_kube_apiserver.py) as a child
// process on a free 127.0.0.1 port with its own temporary directory, stopped (SIGTERM, then
// SIGKILL) when the object goes away; plus plain HTTP requests to it (libcurl) for setting up and
// inspecting state behind the plugin's back (HTTPS with certificates from make_test_pki()).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "etcd_harness.h"

namespace brindle::test {

// A temporary directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to <dir>/<name> and returns the path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct RawResponse {
  long status = 0;  // 0 when the request failed in transport
  std::string body;
  nlohmann::json json() const;
};

class FakeApiServer {
 public:
  struct Options {
    std::string token;                       // required bearer token; empty = none
    std::string token_file;                  // or: the token in this file, read at every request
    double min_request_timeout_seconds = 0;  // > 0: watches end after this to twice this
    std::string tls_cert, tls_key;           // e.g. from make_test_pki() (etcd_harness.h)
    std::string ca_file;                     // the CA of tls_cert, trusted by request()
    int history = 0;                         // --history N; 0 = the server's default
    uint16_t port = 0;                       // 0 = a free port
  };
  explicit FakeApiServer(Options options);
  FakeApiServer() : FakeApiServer(Options{}) {}
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Stops the process (SIGKILL when `hard`, else SIGTERM) and waits for it.
  void stop(bool hard = false);
  // Starts it again on the same port (empty store).
  void start();
  // SIGSTOP / SIGCONT: connections stay up, nothing answers.
  void pause() const;
  void resume() const;

  const std::string& url() const { return url_; }
  uint16_t port() const { return port_; }
  const std::string& log_path() const { return log_path_; }

  // One request with the configured token (and CA for https). `body` may be empty.
  RawResponse request(const std::string& method, const std::string& path,
                      const std::string& body = "") const;
  // Creates every document of a multi-document YAML file (the CRDs) with POST to its collection.
  void apply_yaml(const std::string& file) const;
  // Creates a core v1 namespace.
  void create_namespace(const std::string& name) const;

 private:
  Options options_;
  ScratchDir dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string url_;
};

// Converts a YAML document to JSON (plain scalars true/false/null/integers are typed).
nlohmann::json yaml_file_documents(const std::string& file);

}  // namespace brindle::test
