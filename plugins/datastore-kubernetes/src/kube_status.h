// HTTP answers of the API server as Brindle status codes. A failed request's body is a
// Kubernetes Status object ({"kind":"Status","status":"Failure","message":...,"reason":...,
// "code":...}); its message goes into the error text.
#pragma once

#include <string>
#include <string_view>

#include "brindle/sdk.hpp"

namespace brindle::kube {

struct ApiStatus {
  long http_status = 0;
  std::string reason;   // "AlreadyExists", "Conflict", "NotFound", "Expired", "Gone", ... or ""
  std::string message;  // the server's message, or the body's start when it is not a Status
};

// Reads the Status object of a failed answer (any body is accepted).
ApiStatus parse_api_status(long http_status, std::string_view body);

// 404 NOT_FOUND; 409 AlreadyExists ALREADY_EXISTS, other 409 CONFLICT; 401/403 PERMISSION;
// 400/422 and other 4xx INVALID_ARGUMENT; 410 UNAVAILABLE (history gone; callers that can resync
// check for 410 first); 413 RESOURCE_EXHAUSTED; 429 and 5xx UNAVAILABLE, but 504 TIMEOUT.
brindle_status_t status_code_for(long http_status, std::string_view reason);

// Throws Error(status_code_for(...)) with "<what>: <server message> (HTTP <code> <reason>)".
[[noreturn]] void throw_api_error(const ApiStatus& status, const std::string& what);

}  // namespace brindle::kube
