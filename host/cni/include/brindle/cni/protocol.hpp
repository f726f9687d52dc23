// The cni.* methods of brindled's control API (docs/cni.md; envelope and framing as in
// docs/control-api.md). brindle-cni opens one connection per invocation, writes one JSON request
// line and reads one reply line:
//
//   -> {"version":1,"method":"cni.add","params":{...}}
//   <- {"ok":true,"result":{...}}
//   <- {"ok":false,"error":{"code":"addresses_exhausted","cni_code":100,"message":"...",
//                           "details":"..."}}
//
// Both sides link this library: the binary encodes requests and decodes responses, the daemon
// decodes requests (or just their params) and encodes results. Decoding validates types and
// names the offending member.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace brindle::cni {

// Version of the socket protocol (the "version" member of a request). A daemon answers requests
// of a version it does not know with error code 1.
inline constexpr int kProtocolVersion = 1;
inline constexpr std::string_view kDefaultControlSocket = "/run/brindle/brindled.sock";

// CNI error codes (the spec's well-known ones and Brindle's plugin-specific 100+).
namespace errors {
inline constexpr int kIncompatibleVersion = 1;
inline constexpr int kUnsupportedField = 2;
inline constexpr int kUnknownContainer = 3;
inline constexpr int kInvalidEnvironment = 4;
inline constexpr int kIoFailure = 5;
inline constexpr int kDecodingFailure = 6;
inline constexpr int kInvalidNetworkConfig = 7;
inline constexpr int kTryAgainLater = 11;
inline constexpr int kNotAvailable = 50;  // STATUS: cannot serve ADD
inline constexpr int kNotAvailableLimitedConnectivity = 51;
inline constexpr int kAddressesExhausted = 100;  // IPAM: no free address in the pools
inline constexpr int kAddressUnavailable = 101;  // requested address/pool not usable
inline constexpr int kPlumbingFailed = 102;      // veth, addresses, routes, sysctls
inline constexpr int kPolicyFailed = 103;        // endpoint policy could not be applied
inline constexpr int kCheckFailed = 104;         // CHECK found a difference
inline constexpr int kDaemonInternal = 105;      // unexpected failure inside brindled
inline constexpr int kProtocolError = 110;       // malformed request or reply
}  // namespace errors

// The snake_case name of a CNI error code, as the control API's `error.code` carries it
// ("addresses_exhausted" for 100); "cni_error" for codes without a name.
std::string_view error_name(int code);
// The CNI code of an `error.code` name: the names above, and the control API's generic ones
// (parse_error, invalid_request, invalid_params, request_too_large, unknown_method -> 110,
// unsupported_version -> 1, internal -> 105, not_ready -> 11). Unknown names -> 105.
int error_code_from_name(std::string_view name);

// A decoding failure; code() is the CNI error code to answer with.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

enum class Method { add, del, check, status, gc };
std::string_view method_name(Method method);  // "cni.add", ...
std::optional<Method> parse_method(std::string_view name);

// One entry of GC's valid attachments.
struct Attachment {
  std::string container_id;
  std::string ifname;
  friend bool operator==(const Attachment&, const Attachment&) = default;
};

// Parameters of every method. Which members are meaningful depends on the method (see
// docs/cni.md): ADD, DEL and CHECK carry the attachment (container_id, netns, ifname, args);
// GC carries valid_attachments; STATUS only the common part.
struct Params {
  // common
  std::string cni_version;   // as requested by the runtime, already validated by the binary
  std::string network_name;  // the network configuration's "name"
  nlohmann::json config = nlohmann::json::object();  // the whole network configuration (stdin)

  // ADD, DEL, CHECK
  std::string container_id;
  std::string netns;  // may be empty on DEL
  std::string ifname;
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS, in order
  std::optional<uint32_t> mtu;  // explicit "mtu" of the network configuration

  // GC
  std::vector<Attachment> valid_attachments;

  // The value of a CNI_ARGS key (the last one when repeated).
  std::optional<std::string> arg(std::string_view key) const;
  std::optional<std::string> pod_namespace() const { return arg("K8S_POD_NAMESPACE"); }
  std::optional<std::string> pod_name() const { return arg("K8S_POD_NAME"); }
  // config["runtimeConfig"] or an empty object.
  nlohmann::json runtime_config() const;
  // config["prevResult"], if any.
  std::optional<nlohmann::json> prev_result() const;
};

struct Request {
  int version = kProtocolVersion;
  Method method = Method::add;
  Params params;
};

// The ADD result in a version-neutral form (the shape of CNI 1.1.0 without cniVersion); the
// binary renders it in the runtime's requested version.
struct Interface {
  std::string name;
  std::string mac;      // "aa:bb:cc:dd:ee:ff", empty: none
  std::string sandbox;  // netns path for interfaces inside the container, empty on the host
  std::optional<uint32_t> mtu;
  friend bool operator==(const Interface&, const Interface&) = default;
};

struct IpConfig {
  std::string address;  // CIDR: "198.18.0.5/32"
  std::optional<std::string> gateway;
  std::optional<int> interface;  // index into Result::interfaces
  friend bool operator==(const IpConfig&, const IpConfig&) = default;
};

struct Route {
  std::string dst;  // CIDR
  std::optional<std::string> gw;
  friend bool operator==(const Route&, const Route&) = default;
};

struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
  bool empty() const {
    return nameservers.empty() && domain.empty() && search.empty() && options.empty();
  }
  friend bool operator==(const Dns&, const Dns&) = default;
};

struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  Dns dns;
  friend bool operator==(const Result&, const Result&) = default;
};

struct Error {
  int code = errors::kDaemonInternal;
  std::string message;
  std::string details;
};

// Either a result (ADD; empty for the other methods) or an error.
struct Response {
  bool ok = true;
  Result result;
  Error error;

  static Response success(Result result = {}) { return Response{true, std::move(result), {}}; }
  static Response failure(int code, std::string message, std::string details = {}) {
    return Response{false, {}, Error{code, std::move(message), std::move(details)}};
  }
};

// --- wire format (one line each, terminated by '\n') ---
// The `params` object of a method alone, for daemons whose control server parses the envelope
// (decode_params throws ProtocolError like decode_request).
nlohmann::json encode_params(Method method, const Params& params);
Params decode_params(Method method, const nlohmann::json& params);

std::string encode_request(const Request& request);
// Throws ProtocolError: code 6 for malformed JSON or wrong types, 1 for an unknown protocol
// version, 110 for an unknown method or missing members. Messages name the member
// ("params.container_id: expected a string").
Request decode_request(std::string_view line);

// Errors are written as {"code": error_name(code), "cni_code": code, "message", "details"?}.
std::string encode_response(const Response& response);
// Throws ProtocolError (code 110) naming the member that is wrong. `error.cni_code` gives the
// CNI code; without it `error.code` may be that integer or a name (error_code_from_name).
Response decode_response(std::string_view line);

// JSON conversions of the pieces (the daemon may use them for its own records).
nlohmann::json to_json(const Result& result);
// The parts every result version shares (also used by format_result).
nlohmann::json routes_to_json(const std::vector<Route>& routes);
nlohmann::json to_json(const Dns& dns);
Result result_from_json(const nlohmann::json& json);  // throws ProtocolError (code 110)
Dns dns_from_json(const nlohmann::json& json, std::string_view where);  // throws ProtocolError

}  // namespace brindle::cni
