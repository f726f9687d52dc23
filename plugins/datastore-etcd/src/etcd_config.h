// The plugin's configuration section, [datastore.etcd] in brindle.toml:
//
//   endpoints = ["https://198.19.0.10:2379", "198.19.0.11:2379"]  # failover order; default
//                                                                  # ["127.0.0.1:2379"]
//   prefix = "/brindle/v1/"        # key prefix (a trailing '/' is added when missing)
//   dial_timeout_ms = 3000         # connecting to one endpoint
//   request_timeout_ms = 10000     # one request, failover included
//   username = "brindle"           # optional etcd user (Auth.Authenticate)
//   password = "..."
//   list_page_size = 1000          # keys per Range request of a list (1..100000)
//   [datastore.etcd.tls]           # optional; present (or an https:// endpoint) = TLS
//   ca_file = "/etc/brindle/etcd-ca.pem"
//   cert_file = "/etc/brindle/etcd-client.pem"  # client certificate, with key_file
//   key_file = "/etc/brindle/etcd-client-key.pem"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "brindle/sdk.hpp"

namespace brindle::etcd {

struct EtcdConfig {
  std::vector<std::string> endpoints;  // "host:port", scheme stripped
  std::string prefix;
  int64_t dial_timeout_ms = 3000;
  int64_t request_timeout_ms = 10000;
  int64_t list_page_size = 1000;  // bounds the memory of a list (one page is held at a time)
  bool tls = false;
  std::string ca_file;  // empty = system roots
  std::string cert_file;
  std::string key_file;
  std::string username;  // empty = no authentication
  std::string password;

  // Reads and checks the section; throws Error(BRINDLE_ERR_CONFIG) starting with the
  // file:line:column of the offending value. Does not open files or connect.
  static EtcdConfig parse(const Config& config);
};

}  // namespace brindle::etcd
