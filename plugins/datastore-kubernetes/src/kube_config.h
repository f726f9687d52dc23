// The plugin's configuration section, [datastore.kubernetes] in brindle.toml:
//
//   server = "https://198.19.0.10:6443"  # API server base URL (http:// or https://)
//   token_file = "/etc/brindle/k8s-token" # bearer token, read at start
//   ca_file = "/etc/brindle/k8s-ca.pem"   # CA of the server certificate (https)
//   kubeconfig = "/etc/brindle/kubeconfig"  # or: server, token and CA of its current context
//   request_timeout_ms = 10000            # one request (connecting included)
//   crd_group = "brindle.network"         # API group of Brindle's custom resources
//   list_page_size = 500                  # items per LIST request of a list (1..100000)
//
// server/token_file/ca_file override what a kubeconfig says. With neither server nor kubeconfig
// the plugin runs in-cluster: KUBERNETES_SERVICE_HOST/PORT and the pod's service account token
// and CA (/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "brindle/sdk.hpp"

namespace brindle::kube {

inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// What the section says (parse() reads no file).
struct KubeSettings {
  std::string server;  // empty = from kubeconfig or in-cluster
  std::string token_file;
  std::string ca_file;
  std::string kubeconfig;
  int64_t request_timeout_ms = 10000;
  std::string crd_group = "brindle.network";
  int64_t list_page_size = 500;

  // Reads and checks the section; throws Error(BRINDLE_ERR_CONFIG) starting with the
  // file:line:column of the offending value.
  static KubeSettings parse(const Config& config);
};

// Where and how to connect, with every file read.
struct KubeConnection {
  std::string server;  // base URL, no trailing '/'
  std::string token;   // empty = no Authorization header
  // The file the token came from, if any: read again whenever it changes (kubelet rotates a
  // projected service account token, typically hourly, by replacing the file).
  std::string token_file;
  std::string ca_file;  // empty: ca_pem, or the system roots
  std::string ca_pem;   // from a kubeconfig's certificate-authority-data
  int64_t request_timeout_ms = 10000;
  std::string source;  // "config", "kubeconfig <file>", "in-cluster": for logs
};

// Environment lookup, replaceable in tests.
using Getenv = std::function<std::optional<std::string>(const char*)>;
std::optional<std::string> process_getenv(const char* name);

// Resolves the settings into a connection: reads the kubeconfig, token and CA files (the CA only
// to check it is readable), consults the environment when in-cluster. Throws
// Error(BRINDLE_ERR_CONFIG) naming the config key (and the kubeconfig file:line:column for a bad
// kubeconfig). `service_account_dir` is where in-cluster credentials live.
KubeConnection resolve_connection(const Config& config, const KubeSettings& settings,
                                  const Getenv& getenv = process_getenv,
                                  std::string_view service_account_dir = kServiceAccountDir);

// Checks a server URL; returns it without a trailing '/', or nullopt and *problem.
std::optional<std::string> normalize_server_url(std::string_view url, std::string* problem);

// The bearer token in `file`: its one line, trimmed. nullopt and *problem when the file cannot be
// read, is empty or holds more than one line.
std::optional<std::string> read_token_file(const std::string& file, std::string* problem);

// Standard base64 (RFC 4648, padding optional, whitespace ignored); nullopt when invalid.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace brindle::kube
