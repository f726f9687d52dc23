// A small etcd v3 gRPC client: one channel per configured endpoint, failover between them,
// optional TLS and user/password authentication, and a mapping of gRPC/etcd failures to ABI
// status codes. The protobuf/gRPC types never leave the plugin.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "brindle/sdk.hpp"
#include "brindle_etcd/rpc.grpc.pb.h"
#include "etcd_config.h"

namespace brindle::etcd {

// TLS material, already read from the files named in the configuration.
struct TlsMaterial {
  std::string ca_pem;  // empty = system roots
  std::string cert_pem;
  std::string key_pem;
};

using Deadline = std::chrono::system_clock::time_point;

// The ABI status for a failed gRPC call to etcd.
brindle_status_t status_for(const grpc::Status& status);
// True for failures that say nothing about the request and may succeed on another member.
bool should_fail_over(const grpc::Status& status);
// True when etcd rejected the request's auth token (expired, lost by a restart, missing).
bool needs_authentication(const grpc::Status& status);

class EtcdClient {
 public:
  EtcdClient(const EtcdConfig& config, const TlsMaterial& tls, Host host);
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Connects to the first reachable endpoint (each within dial_timeout_ms) and authenticates.
  // Throws Error(UNAVAILABLE) naming every endpoint tried, or Error(PERMISSION).
  void connect();

  // Unary KV calls with failover; `subject` names the key or range in error messages.
  etcdserverpb::RangeResponse range(const etcdserverpb::RangeRequest& request,
                                    std::string_view subject);
  etcdserverpb::TxnResponse txn(const etcdserverpb::TxnRequest& request, std::string_view subject);
  etcdserverpb::DeleteRangeResponse delete_range(const etcdserverpb::DeleteRangeRequest& request,
                                                 std::string_view subject);

  // --- for watch streams, which manage their own reconnects -----------------------------------
  size_t endpoint_count() const noexcept { return endpoints_.size(); }
  const std::string& endpoint_address(size_t index) const { return endpoints_[index].address; }
  // The endpoint that last worked (where new streams should go first).
  size_t preferred_endpoint() const noexcept { return preferred_.load(); }
  enum class Connection { kReady, kFailed, kTimedOut, kStopped };
  // Waits until the endpoint's channel is connected, at most until `deadline` or until `stop`
  // returns true (polled every 100 ms). kFailed: connection attempts failed (refused, TLS
  // handshake, ...); with `give_up_on_failure` that ends the wait at the first failure.
  Connection wait_connected(size_t index, Deadline deadline, bool give_up_on_failure,
                            const std::function<bool()>& stop);
  etcdserverpb::Watch::Stub& watch_stub(size_t index) { return *endpoints_[index].watch; }
  // Adds the auth token (when authenticating) and, for watches, etcd's "require a leader" flag
  // so that a member cut off from the cluster ends the stream instead of going silent.
  void prepare_stream_context(grpc::ClientContext& context) const;
  // Gets a fresh token from `index` (no-op without a username). Throws Error.
  void authenticate(size_t index, Deadline deadline);
  bool uses_authentication() const noexcept { return !username_.empty(); }
  int64_t dial_timeout_ms() const noexcept { return dial_timeout_ms_; }

 private:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Auth::Stub> auth;
  };

  // Runs `attempt` against each endpoint in turn, starting with the preferred one, until one
  // answers with something other than an endpoint failure; throws Error for failures.
  template <typename Response>
  Response unary(
      const char* method, std::string_view subject,
      const std::function<grpc::Status(Endpoint&, grpc::ClientContext*, Response*)>& attempt);
  std::string token() const;

  Host host_;
  std::vector<Endpoint> endpoints_;
  std::atomic<size_t> preferred_{0};
  int64_t dial_timeout_ms_;
  int64_t request_timeout_ms_;
  std::string username_;
  std::string password_;
  mutable std::mutex token_mutex_;
  std::string token_;
};

}  // namespace brindle::etcd
