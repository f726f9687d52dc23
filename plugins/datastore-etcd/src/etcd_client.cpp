#include "etcd_client.h"

#include <thread>

namespace brindle::etcd {
namespace {

constexpr const char* kTokenMetadata = "token";              // etcd rpctypes.TokenFieldNameGRPC
constexpr const char* kRequireLeaderMetadata = "hasleader";  // rpctypes.MetadataRequireLeaderKey

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

const char* grpc_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "?";
  }
}

std::string describe(const grpc::Status& status) {
  return status.error_message() + " (gRPC " + grpc_code_name(status.error_code()) + ")";
}

}  // namespace

brindle_status_t status_for(const grpc::Status& status) {
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return BRINDLE_OK;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return BRINDLE_ERR_TIMEOUT;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
      return BRINDLE_ERR_UNAVAILABLE;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return BRINDLE_ERR_PERMISSION;
    case grpc::StatusCode::INVALID_ARGUMENT:
      // etcd reports bad credentials and missing users as invalid arguments.
      if (contains(message, "authentication failed") || contains(message, "user name is empty") ||
          contains(message, "invalid auth token") || contains(message, "user name not found")) {
        return BRINDLE_ERR_PERMISSION;
      }
      return BRINDLE_ERR_INVALID_ARGUMENT;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return BRINDLE_ERR_RESOURCE_EXHAUSTED;
    case grpc::StatusCode::UNIMPLEMENTED:
      return BRINDLE_ERR_UNSUPPORTED;
    default:
      return BRINDLE_ERR_INTERNAL;
  }
}

bool should_fail_over(const grpc::Status& status) {
  // UNAVAILABLE covers connection failures, "no leader" and members that are shutting down.
  return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

bool needs_authentication(const grpc::Status& status) {
  const std::string& message = status.error_message();
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         contains(message, "invalid auth token") || contains(message, "user name is empty");
}

EtcdClient::EtcdClient(const EtcdConfig& config, const TlsMaterial& tls, Host host)
    : host_(host),
      dial_timeout_ms_(config.dial_timeout_ms),
      request_timeout_ms_(config.request_timeout_ms),
      username_(config.username),
      password_(config.password) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (config.tls) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = tls.ca_pem;
    options.pem_cert_chain = tls.cert_pem;
    options.pem_private_key = tls.key_pem;
    credentials = grpc::SslCredentials(options);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  // Come back quickly after a member restarts; gRPC's defaults back off up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(config.dial_timeout_ms));
  // Notice dead peers on idle watch streams. etcd refuses pings more often than every 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetMaxReceiveMessageSize(-1);  // list pages are bounded by the page size instead
  for (const std::string& address : config.endpoints) {
    Endpoint endpoint;
    endpoint.address = address;
    endpoint.channel = grpc::CreateCustomChannel(address, credentials, args);
    endpoint.kv = etcdserverpb::KV::NewStub(endpoint.channel);
    endpoint.watch = etcdserverpb::Watch::NewStub(endpoint.channel);
    endpoint.auth = etcdserverpb::Auth::NewStub(endpoint.channel);
    endpoints_.push_back(std::move(endpoint));
  }
}

void EtcdClient::connect() {
  std::string failures;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Deadline deadline =
        std::chrono::system_clock::now() + std::chrono::milliseconds(dial_timeout_ms_);
    const bool last = i + 1 == endpoints_.size();
    const Connection result = wait_connected(i, deadline, !last, [] { return false; });
    if (result != Connection::kReady) {
      failures += (failures.empty() ? "" : "; ") + endpoints_[i].address +
                  (result == Connection::kFailed
                       ? ": connection failed"
                       : ": no connection within " + std::to_string(dial_timeout_ms_) + " ms");
      continue;
    }
    preferred_ = i;
    authenticate(i,
                 std::chrono::system_clock::now() + std::chrono::milliseconds(request_timeout_ms_));
    return;
  }
  throw Error(BRINDLE_ERR_UNAVAILABLE, "etcd unreachable: " + failures);
}

EtcdClient::Connection EtcdClient::wait_connected(size_t index, Deadline deadline,
                                                  bool give_up_on_failure,
                                                  const std::function<bool()>& stop) {
  grpc::Channel& channel = *endpoints_[index].channel;
  bool failed = false;
  while (true) {
    const grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) {
      return Connection::kReady;
    }
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
      failed = true;
      if (give_up_on_failure) {
        return Connection::kFailed;
      }
    }
    if (stop()) {
      return Connection::kStopped;
    }
    const Deadline now = std::chrono::system_clock::now();
    if (now >= deadline) {
      return failed ? Connection::kFailed : Connection::kTimedOut;
    }
    channel.WaitForStateChange(state, std::min(deadline, now + std::chrono::milliseconds(100)));
  }
}

void EtcdClient::prepare_stream_context(grpc::ClientContext& context) const {
  if (!username_.empty()) {
    context.AddMetadata(kTokenMetadata, token());
  }
  context.AddMetadata(kRequireLeaderMetadata, "true");
}

std::string EtcdClient::token() const {
  std::lock_guard<std::mutex> lock(token_mutex_);
  return token_;
}

void EtcdClient::authenticate(size_t index, Deadline deadline) {
  if (username_.empty()) {
    return;
  }
  etcdserverpb::AuthenticateRequest request;
  request.set_name(username_);
  request.set_password(password_);
  etcdserverpb::AuthenticateResponse response;
  grpc::ClientContext context;
  context.set_deadline(deadline);
  const grpc::Status status = endpoints_[index].auth->Authenticate(&context, request, &response);
  if (!status.ok()) {
    const brindle_status_t code =
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                status.error_code() == grpc::StatusCode::FAILED_PRECONDITION
            ? BRINDLE_ERR_PERMISSION  // bad user/password, or auth not enabled on the server
            : status_for(status);
    throw Error(code, "etcd authentication as \"" + username_ + "\" at " +
                          endpoints_[index].address + " failed: " + describe(status));
  }
  std::lock_guard<std::mutex> lock(token_mutex_);
  token_ = response.token();
}

template <typename Response>
Response EtcdClient::unary(
    const char* method, std::string_view subject,
    const std::function<grpc::Status(Endpoint&, grpc::ClientContext*, Response*)>& attempt) {
  const Deadline deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(request_timeout_ms_);
  const size_t first = preferred_.load();
  std::string failures;
  for (size_t n = 0; n < endpoints_.size(); ++n) {
    if (n > 0 && std::chrono::system_clock::now() >= deadline) {
      break;
    }
    const size_t index = (first + n) % endpoints_.size();
    Endpoint& endpoint = endpoints_[index];
    // A member whose connection is known to fail is skipped while others remain to be tried;
    // the last candidate gets the whole dial timeout to (re)connect.
    const bool last = n + 1 == endpoints_.size();
    const Deadline dial_deadline = std::min(
        deadline, std::chrono::system_clock::now() + std::chrono::milliseconds(dial_timeout_ms_));
    const Connection connection = wait_connected(index, dial_deadline, !last, [] { return false; });
    if (connection != Connection::kReady) {
      failures += (failures.empty() ? "" : "; ") + endpoint.address +
                  (connection == Connection::kFailed ? ": connection failed" : ": no connection");
      continue;
    }
    grpc::Status status;
    Response response;
    for (int round = 0; round < 2; ++round) {
      grpc::ClientContext context;
      context.set_deadline(deadline);
      if (!username_.empty()) {
        context.AddMetadata(kTokenMetadata, token());
      }
      response.Clear();
      status = attempt(endpoint, &context, &response);
      if (round == 0 && !status.ok() && !username_.empty() && needs_authentication(status)) {
        // Tokens expire and do not survive member restarts.
        try {
          authenticate(index, deadline);
        } catch (const Error& e) {
          if (e.code() != BRINDLE_ERR_UNAVAILABLE) {
            throw;
          }
          break;  // the member went away: fail over with the original status
        }
        continue;
      }
      break;
    }
    if (status.ok()) {
      preferred_ = index;
      return response;
    }
    if (!should_fail_over(status)) {
      // Includes DEADLINE_EXCEEDED: the request may have been applied, so it is not retried.
      throw Error(status_for(status), std::string("etcd ") + method + " " + std::string(subject) +
                                          " at " + endpoint.address + ": " + describe(status));
    }
    failures += (failures.empty() ? "" : "; ") + endpoint.address + ": " + describe(status);
  }
  throw Error(BRINDLE_ERR_UNAVAILABLE, std::string("etcd ") + method + " " + std::string(subject) +
                                           ": no endpoint available (" + failures + ")");
}

etcdserverpb::RangeResponse EtcdClient::range(const etcdserverpb::RangeRequest& request,
                                              std::string_view subject) {
  return unary<etcdserverpb::RangeResponse>(
      "Range", subject, [&](Endpoint& e, grpc::ClientContext* c, etcdserverpb::RangeResponse* r) {
        return e.kv->Range(c, request, r);
      });
}

etcdserverpb::TxnResponse EtcdClient::txn(const etcdserverpb::TxnRequest& request,
                                          std::string_view subject) {
  return unary<etcdserverpb::TxnResponse>(
      "Txn", subject, [&](Endpoint& e, grpc::ClientContext* c, etcdserverpb::TxnResponse* r) {
        return e.kv->Txn(c, request, r);
      });
}

etcdserverpb::DeleteRangeResponse EtcdClient::delete_range(
    const etcdserverpb::DeleteRangeRequest& request, std::string_view subject) {
  return unary<etcdserverpb::DeleteRangeResponse>(
      "DeleteRange", subject,
      [&](Endpoint& e, grpc::ClientContext* c, etcdserverpb::DeleteRangeResponse* r) {
        return e.kv->DeleteRange(c, request, r);
      });
}

}  // namespace brindle::etcd
