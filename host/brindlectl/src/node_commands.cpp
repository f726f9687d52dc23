// node status: asks the local brindled (its control socket) for its state and prints the routing
// peers like calicoctl node status.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <iomanip>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace brindle::ctl {
namespace {

// One request line, one reply line (docs/control-api.md).
nlohmann::json control_request(const std::string& socket_path, const std::string& method) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } closer{fd};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    throw std::runtime_error("control socket path too long: " + socket_path);
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw std::runtime_error("cannot reach brindled at " + socket_path + ": " +
                             std::strerror(errno) + " (is it running? are you root?)");
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const std::string line = nlohmann::json{{"version", 1}, {"method", method}}.dump() + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error("cannot send the request to brindled");
  }
  std::string reply;
  char buffer[4096];
  while (reply.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) {
      throw std::runtime_error("brindled closed the connection without a reply");
    }
    reply.append(buffer, static_cast<size_t>(n));
  }
  const nlohmann::json parsed = nlohmann::json::parse(reply.substr(0, reply.find('\n')));
  if (!parsed.value("ok", false)) {
    throw std::runtime_error("brindled: " + parsed.value("/error/message"_json_pointer, reply));
  }
  return parsed.at("result");
}

}  // namespace

int node_status_command(const std::string& socket_path, bool json, std::ostream& out,
                        std::ostream& err) {
  nlohmann::json status;
  try {
    status = control_request(socket_path, "status");
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
  if (json) {
    out << status.dump(2) << "\n";
    return 0;
  }
  out << "brindled is " << (status.value("ready", false) ? "ready" : "not ready");
  if (status.contains("not_ready_reason")) {
    out << " (" << status["not_ready_reason"].get<std::string>() << ")";
  }
  out << "; node " << status["node"].value("name", "?") << ", version "
      << status.value("version", "?") << "\n";
  const nlohmann::json agent = status.value("agent", nlohmann::json::object());
  if (agent.contains("policy") && agent["policy"].is_object()) {
    const nlohmann::json& policy = agent["policy"];
    out << "Policy: " << policy.value("local_endpoints", 0) << " local endpoints, "
        << policy.value("active_policies", 0) << " policies and profiles, "
        << policy.value("active_ipsets", 0) << " IP sets";
    const std::string error = policy.value("error", "");
    out << (error.empty() ? " programmed" : "; error: " + error) << "\n";
  }
  const nlohmann::json peers = agent.value("routing_peers", nlohmann::json::array());
  if (peers.empty()) {
    out << "No routing peers (static routing, or no BGP sessions configured).\n";
    return 0;
  }
  out << "Routing peers:\n";
  std::vector<std::array<std::string, 5>> rows = {
      {"PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"}};
  for (const auto& p : peers) {
    rows.push_back({p.value("address", ""), p.value("type", ""), p.value("state", ""),
                    p.value("since", ""), p.value("info", "")});
  }
  std::array<size_t, 5> width{};
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      out << std::left << std::setw(static_cast<int>(width[i] + 3)) << r[i];
    }
    out << "\n";
  }
  return 0;
}

}  // namespace brindle::ctl
