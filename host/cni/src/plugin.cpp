#include "plugin.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "brindle/cni/protocol.hpp"
#include "brindle/cni/spec.hpp"
#include "brindle/common/log.hpp"
#include "client.hpp"
#include "json_access.hpp"

namespace brindle::cni {

using nlohmann::json;

namespace {

constexpr int kDefaultTimeoutSeconds = 60;

// A failure to report to the runtime as a CNI error object.
struct Failure {
  int code;
  std::string message;
  std::string details;
};

// The network configuration keys brindle-cni reads (docs/cni.md lists them).
struct PluginConfig {
  json document;
  std::string cni_version;
  std::string name;
  std::string control_socket{kDefaultControlSocket};
  std::optional<uint32_t> mtu;
  std::string log_file;
  log::Level log_level = log::Level::info;
  std::chrono::milliseconds timeout{kDefaultTimeoutSeconds * 1000};
  Dns dns;
  std::vector<Attachment> valid_attachments;  // GC
};

// Appends every log line to stderr and, when configured, to a file.
class LogDestinations {
 public:
  void open_file(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      log::warn("cannot open the log file; logging to stderr only",
                {{"path", path}, {"error", std::strerror(errno)}});
      return;
    }
    file_fd_ = fd;
  }
  ~LogDestinations() {
    if (file_fd_ >= 0) {
      close(file_fd_);
    }
  }
  void write_line(std::string_view line) const {
    std::string text(line);
    text += '\n';
    write_all(STDERR_FILENO, text);
    if (file_fd_ >= 0) {
      write_all(file_fd_, text);
    }
  }

 private:
  static void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
      ssize_t n = write(fd, text.data(), text.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return;
      }
      text.remove_prefix(static_cast<size_t>(n));
    }
  }
  int file_fd_ = -1;
};

std::string version_for_errors(const json& document) {
  if (document.is_object()) {
    auto found = document.find("cniVersion");
    if (found != document.end() && found->is_string() &&
        is_supported_version(found->get<std::string>())) {
      return found->get<std::string>();
    }
  }
  return std::string(kLatestVersion);
}

std::vector<Attachment> parse_valid_attachments(const json& document) {
  std::vector<Attachment> result;
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    auto found = document.find(key);
    if (found == document.end() || found->is_null()) {
      continue;
    }
    if (!found->is_array()) {
      throw Failure{errors::kDecodingFailure, std::string(key) + ": expected an array", ""};
    }
    for (size_t i = 0; i < found->size(); ++i) {
      const json& entry = (*found)[i];
      std::string where = std::string(key) + "[" + std::to_string(i) + "]";
      try {
        if (!entry.is_object()) {
          throw ProtocolError(errors::kDecodingFailure, where + ": expected an object");
        }
        result.push_back(Attachment{
            detail::required_string(entry, "containerID", where, errors::kDecodingFailure),
            detail::required_string(entry, "ifname", where, errors::kDecodingFailure)});
      } catch (const ProtocolError& e) {
        throw Failure{e.code(), e.what(), ""};
      }
    }
    return result;  // the newer key wins when both are present
  }
  return result;
}

PluginConfig parse_config(std::string_view stdin_text, std::string_view command) {
  PluginConfig config;
  config.document = json::parse(stdin_text.begin(), stdin_text.end(), nullptr, false);
  if (config.document.is_discarded()) {
    throw Failure{errors::kDecodingFailure,
                  "cannot decode the network configuration on stdin: not valid JSON",
                  "stdin had " + std::to_string(stdin_text.size()) + " bytes"};
  }
  if (!config.document.is_object()) {
    throw Failure{errors::kDecodingFailure,
                  "cannot decode the network configuration on stdin: expected a JSON object", ""};
  }
  const json& doc = config.document;
  const std::string where = "network configuration";
  try {
    using namespace detail;
    constexpr int kType = errors::kDecodingFailure;
    auto version = optional_string(doc, "cniVersion", where, kType);
    if (!version || version->empty()) {
      throw Failure{errors::kInvalidNetworkConfig, "network configuration: cniVersion is missing",
                    ""};
    }
    config.cni_version = *version;
    if (!is_supported_version(config.cni_version)) {
      std::string list;
      for (std::string_view v : supported_versions()) {
        list += (list.empty() ? "" : ", ") + std::string(v);
      }
      throw Failure{errors::kIncompatibleVersion, "incompatible CNI version " + config.cni_version,
                    "brindle-cni supports " + list};
    }
    if (!command_allowed(command, config.cni_version)) {
      throw Failure{errors::kIncompatibleVersion,
                    "CNI version " + config.cni_version + " does not allow " + std::string(command),
                    command == "CHECK" ? "CHECK needs cniVersion 0.4.0 or later"
                                       : "STATUS and GC need cniVersion 1.1.0 or later"};
    }
    auto name = optional_string(doc, "name", where, kType);
    if (!name) {
      throw Failure{errors::kInvalidNetworkConfig, "network configuration: name is missing", ""};
    }
    if (auto problem = network_name_problem(*name)) {
      throw Failure{errors::kInvalidNetworkConfig, "network configuration: " + *problem, ""};
    }
    config.name = *name;
    if (auto socket = optional_string(doc, "control_socket", where, kType)) {
      if (socket->empty() || socket->front() != '/') {
        throw Failure{
            errors::kInvalidNetworkConfig,
            "network configuration: control_socket \"" + *socket + "\" must be an absolute path",
            ""};
      }
      config.control_socket = *socket;
    }
    if (auto mtu = optional_integer(doc, "mtu", where, kType, INT32_MIN, INT32_MAX)) {
      if (*mtu != 0 && (*mtu < 68 || *mtu > 65535)) {
        throw Failure{errors::kInvalidNetworkConfig,
                      "network configuration: mtu " + std::to_string(*mtu) +
                          " is outside 68..65535 (0 or absent: brindled decides)",
                      ""};
      }
      if (*mtu != 0) {
        config.mtu = static_cast<uint32_t>(*mtu);
      }
    }
    if (auto file = optional_string(doc, "log_file", where, kType)) {
      if (!file->empty() && file->front() != '/') {
        throw Failure{errors::kInvalidNetworkConfig,
                      "network configuration: log_file \"" + *file + "\" must be an absolute path",
                      ""};
      }
      config.log_file = *file;
    }
    if (auto level = optional_string(doc, "log_level", where, kType)) {
      auto parsed = log::parse_level(*level);
      if (!parsed) {
        throw Failure{errors::kInvalidNetworkConfig,
                      "network configuration: log_level \"" + *level +
                          "\" is not one of trace, debug, info, warn, error",
                      ""};
      }
      config.log_level = *parsed;
    }
    if (auto found = doc.find("timeout_seconds"); found != doc.end() && !found->is_null()) {
      if (!found->is_number()) {
        throw Failure{kType, "network configuration.timeout_seconds: expected a number", ""};
      }
      double seconds = found->get<double>();
      if (!(seconds > 0 && seconds <= 3600)) {
        throw Failure{errors::kInvalidNetworkConfig,
                      "network configuration: timeout_seconds must be in (0, 3600]", ""};
      }
      config.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    }
    if (auto found = doc.find("dns"); found != doc.end()) {
      try {
        config.dns = dns_from_json(*found, "network configuration.dns");
      } catch (const ProtocolError& e) {
        throw Failure{errors::kInvalidNetworkConfig, e.what(), ""};
      }
    }
    if (auto found = doc.find("runtimeConfig");
        found != doc.end() && !found->is_null() && !found->is_object()) {
      throw Failure{kType, "network configuration.runtimeConfig: expected an object", ""};
    }
    if (command == "GC") {
      config.valid_attachments = parse_valid_attachments(doc);
    }
  } catch (const ProtocolError& e) {
    throw Failure{e.code(), e.what(), ""};
  }
  return config;
}

std::string required_env(const EnvLookup& env, const char* name, std::string_view command) {
  auto value = env(name);
  if (!value || value->empty()) {
    throw Failure{errors::kInvalidEnvironment,
                  std::string("required environment variable ") + name + " is missing",
                  std::string(name) + " must be set for " + std::string(command)};
  }
  return *value;
}

Request build_request(const EnvLookup& env, std::string_view command, const PluginConfig& config) {
  Request request;
  Params& p = request.params;
  p.cni_version = config.cni_version;
  p.network_name = config.name;
  p.config = config.document;
  if (command == "STATUS") {
    request.method = Method::status;
    return request;
  }
  if (command == "GC") {
    request.method = Method::gc;
    p.valid_attachments = config.valid_attachments;
    return request;
  }
  request.method = command == "ADD" ? Method::add : command == "DEL" ? Method::del : Method::check;
  p.container_id = required_env(env, "CNI_CONTAINERID", command);
  if (auto problem = container_id_problem(p.container_id)) {
    throw Failure{errors::kInvalidEnvironment, "CNI_CONTAINERID: " + *problem, ""};
  }
  p.ifname = required_env(env, "CNI_IFNAME", command);
  if (auto problem = interface_name_problem(p.ifname)) {
    throw Failure{errors::kInvalidEnvironment, "CNI_IFNAME: " + *problem, ""};
  }
  if (request.method == Method::del) {
    p.netns = env("CNI_NETNS").value_or("");
  } else {
    p.netns = required_env(env, "CNI_NETNS", command);
  }
  try {
    p.args = parse_cni_args(env("CNI_ARGS").value_or(""));
  } catch (const ProtocolError& e) {
    throw Failure{e.code(), e.what(), ""};
  }
  p.mtu = config.mtu;
  return request;
}

Outcome error_outcome(const Failure& failure, std::string_view version) {
  log::error("CNI request failed",
             {{"code", failure.code}, {"error", failure.message}, {"details", failure.details}});
  return Outcome{
      1, format_error(failure.code, failure.message, failure.details, version).dump() + "\n"};
}

Outcome run_command(const EnvLookup& env, std::string_view stdin_text, LogDestinations& logs) {
  auto command_env = env("CNI_COMMAND");
  std::string command = command_env.value_or("");
  if (command == "VERSION") {
    // stdin: {"cniVersion": ...} or nothing; the answer echoes the requested version.
    std::string version(kLatestVersion);
    json input = json::parse(stdin_text.begin(), stdin_text.end(), nullptr, false);
    bool blank = stdin_text.find_first_not_of(" \t\r\n") == std::string_view::npos;
    if (!blank) {
      if (input.is_discarded() || !input.is_object()) {
        throw Failure{errors::kDecodingFailure,
                      "cannot decode VERSION input on stdin: expected a JSON object", ""};
      }
      auto found = input.find("cniVersion");
      if (found != input.end() && found->is_string() && !found->get<std::string>().empty()) {
        version = found->get<std::string>();
      }
    }
    return Outcome{0, format_version_info(version).dump() + "\n"};
  }
  if (command.empty()) {
    throw Failure{errors::kInvalidEnvironment,
                  "required environment variable CNI_COMMAND is missing", ""};
  }
  if (command != "ADD" && command != "DEL" && command != "CHECK" && command != "STATUS" &&
      command != "GC") {
    throw Failure{errors::kInvalidEnvironment, "unknown CNI_COMMAND \"" + command + "\"",
                  "expected ADD, DEL, CHECK, STATUS, GC or VERSION"};
  }

  PluginConfig config = parse_config(stdin_text, command);
  log::logger().set_level(config.log_level);
  if (!config.log_file.empty()) {
    logs.open_file(config.log_file);
  }

  Request request = build_request(env, command, config);
  auto started = std::chrono::steady_clock::now();
  std::string reply_line;
  try {
    reply_line =
        exchange_with_daemon(config.control_socket, encode_request(request), config.timeout);
  } catch (const TransportError& e) {
    // The runtime retries code 11; STATUS reports "not available" instead.
    int code = command == "STATUS" ? errors::kNotAvailable : errors::kTryAgainLater;
    throw Failure{code, "brindled is not reachable", e.what()};
  }
  Response response;
  try {
    response = decode_response(reply_line);
  } catch (const ProtocolError& e) {
    throw Failure{errors::kProtocolError, "unexpected reply from brindled", e.what()};
  }
  double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!response.ok) {
    throw Failure{response.error.code, response.error.message, response.error.details};
  }
  log::info("CNI request done", {{"command", command},
                                 {"container", request.params.container_id},
                                 {"ifname", request.params.ifname},
                                 {"netns", request.params.netns},
                                 {"ms", elapsed_ms}});
  if (command != "ADD") {
    return Outcome{0, ""};
  }
  Result result = std::move(response.result);
  if (result.dns.empty()) {
    result.dns = config.dns;
  }
  try {
    return Outcome{0, format_result(result, config.cni_version).dump() + "\n"};
  } catch (const ProtocolError& e) {
    throw Failure{errors::kProtocolError, "unexpected result from brindled", e.what()};
  }
}

}  // namespace

Outcome run_plugin(const EnvLookup& env, std::string_view stdin_text) {
  auto logs = std::make_shared<LogDestinations>();
  log::logger().set_sink([logs](std::string_view line) { logs->write_line(line); });
  struct ResetSink {
    ~ResetSink() { log::logger().set_sink({}); }
  } reset;
  json document = json::parse(stdin_text.begin(), stdin_text.end(), nullptr, false);
  std::string version = version_for_errors(document);
  try {
    return run_command(env, stdin_text, *logs);
  } catch (const Failure& failure) {
    return error_outcome(failure, version);
  } catch (const std::exception& e) {
    return error_outcome(Failure{errors::kIoFailure, "internal error in brindle-cni", e.what()},
                         version);
  }
}

}  // namespace brindle::cni
