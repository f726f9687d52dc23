#include "kube_status.h"

#include <nlohmann/json.hpp>

namespace brindle::kube {

ApiStatus parse_api_status(long http_status, std::string_view body) {
  ApiStatus out;
  out.http_status = http_status;
  const nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_object()) {
    if (auto it = doc.find("reason"); it != doc.end() && it->is_string()) {
      out.reason = it->get<std::string>();
    }
    if (auto it = doc.find("message"); it != doc.end() && it->is_string()) {
      out.message = it->get<std::string>();
    }
  }
  if (out.message.empty()) {
    // Not a Status (a proxy's page, plain text): its start, on one line.
    std::string text(body.substr(0, 200));
    for (char& c : text) {
      if (c == '\n' || c == '\r' || c == '\t') {
        c = ' ';
      }
    }
    out.message = text.empty() ? "no message" : text;
  }
  return out;
}

brindle_status_t status_code_for(long http_status, std::string_view reason) {
  switch (http_status) {
    case 404:
      return BRINDLE_ERR_NOT_FOUND;
    case 409:
      return reason == "AlreadyExists" ? BRINDLE_ERR_ALREADY_EXISTS : BRINDLE_ERR_CONFLICT;
    case 401:
    case 403:
      return BRINDLE_ERR_PERMISSION;
    case 410:
      return BRINDLE_ERR_UNAVAILABLE;
    case 413:
      return BRINDLE_ERR_RESOURCE_EXHAUSTED;
    case 429:
      return BRINDLE_ERR_UNAVAILABLE;
    case 504:
      return BRINDLE_ERR_TIMEOUT;
    default:
      break;
  }
  if (http_status >= 500) {
    return BRINDLE_ERR_UNAVAILABLE;
  }
  if (http_status >= 400) {
    return BRINDLE_ERR_INVALID_ARGUMENT;
  }
  return BRINDLE_ERR_INTERNAL;  // a 1xx/2xx/3xx answer where a failure was expected
}

void throw_api_error(const ApiStatus& status, const std::string& what) {
  std::string text = what + ": " + status.message + " (HTTP " + std::to_string(status.http_status);
  if (!status.reason.empty()) {
    text += " " + status.reason;
  }
  text += ")";
  if (status.http_status == 401) {
    text += "; check the bearer token (token_file or kubeconfig)";
  }
  throw Error(status_code_for(status.http_status, status.reason), text);
}

}  // namespace brindle::kube
