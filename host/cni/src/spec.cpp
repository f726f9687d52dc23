#include "brindle/cni/spec.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>

namespace brindle::cni {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 5> kSupportedVersions{"0.3.0", "0.3.1", "0.4.0", "1.0.0",
                                                             "1.1.0"};

// major, minor, patch of "x.y.z" (missing or non-numeric parts are 0).
std::array<int, 3> version_parts(std::string_view version) {
  std::array<int, 3> parts{0, 0, 0};
  size_t part = 0;
  for (char c : version) {
    if (c == '.') {
      if (++part >= parts.size()) {
        break;
      }
    } else if (c >= '0' && c <= '9') {
      parts[part] = parts[part] * 10 + (c - '0');
    } else {
      break;
    }
  }
  return parts;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
}

std::optional<std::string> id_like_problem(std::string_view text, std::string_view what) {
  if (text.empty()) {
    return std::string(what) + " is empty";
  }
  if (std::isalnum(static_cast<unsigned char>(text.front())) == 0) {
    return std::string(what) + " \"" + std::string(text) + "\" must start with a letter or digit";
  }
  for (char c : text) {
    if (!is_name_char(c)) {
      return std::string(what) + " \"" + std::string(text) +
             "\" may contain only letters, digits, '_', '.' and '-'";
    }
  }
  return std::nullopt;
}

}  // namespace

std::span<const std::string_view> supported_versions() {
  return kSupportedVersions;
}

bool is_supported_version(std::string_view version) {
  for (std::string_view v : kSupportedVersions) {
    if (v == version) {
      return true;
    }
  }
  return false;
}

int compare_versions(std::string_view a, std::string_view b) {
  auto pa = version_parts(a);
  auto pb = version_parts(b);
  for (size_t i = 0; i < pa.size(); ++i) {
    if (pa[i] != pb[i]) {
      return pa[i] < pb[i] ? -1 : 1;
    }
  }
  return 0;
}

bool command_allowed(std::string_view command, std::string_view version) {
  if (command == "CHECK") {
    return compare_versions(version, "0.4.0") >= 0;
  }
  if (command == "STATUS" || command == "GC") {
    return compare_versions(version, "1.1.0") >= 0;
  }
  return command == "ADD" || command == "DEL" || command == "VERSION";
}

json format_result(const Result& result, std::string_view version) {
  const bool with_ip_version = compare_versions(version, "1.0.0") < 0;
  const bool with_interface_mtu = compare_versions(version, "1.1.0") >= 0;
  json interfaces = json::array();
  for (const Interface& i : result.interfaces) {
    json entry = {{"name", i.name}};
    if (!i.mac.empty()) {
      entry["mac"] = i.mac;
    }
    if (with_interface_mtu && i.mtu) {
      entry["mtu"] = *i.mtu;
    }
    if (!i.sandbox.empty()) {
      entry["sandbox"] = i.sandbox;
    }
    interfaces.push_back(std::move(entry));
  }
  json ips = json::array();
  for (size_t n = 0; n < result.ips.size(); ++n) {
    const IpConfig& ip = result.ips[n];
    json entry = json::object();
    if (with_ip_version) {
      std::string address = ip.address.substr(0, ip.address.find('/'));
      unsigned char buffer[16];
      if (inet_pton(AF_INET, address.c_str(), buffer) == 1) {
        entry["version"] = "4";
      } else if (inet_pton(AF_INET6, address.c_str(), buffer) == 1) {
        entry["version"] = "6";
      } else {
        throw ProtocolError(errors::kProtocolError, "result.ips[" + std::to_string(n) +
                                                        "].address: \"" + ip.address +
                                                        "\" is not an IP address");
      }
    }
    entry["address"] = ip.address;
    if (ip.gateway) {
      entry["gateway"] = *ip.gateway;
    }
    if (ip.interface) {
      entry["interface"] = *ip.interface;
    }
    ips.push_back(std::move(entry));
  }
  return {{"cniVersion", std::string(version)},
          {"interfaces", std::move(interfaces)},
          {"ips", std::move(ips)},
          {"routes", routes_to_json(result.routes)},
          {"dns", to_json(result.dns)}};
}

json format_error(int code, std::string_view message, std::string_view details,
                  std::string_view version) {
  json error = {
      {"cniVersion", std::string(version)}, {"code", code}, {"msg", std::string(message)}};
  if (!details.empty()) {
    error["details"] = std::string(details);
  }
  return error;
}

json format_version_info(std::string_view version) {
  json versions = json::array();
  for (std::string_view v : kSupportedVersions) {
    versions.push_back(std::string(v));
  }
  return {{"cniVersion", std::string(version)}, {"supportedVersions", std::move(versions)}};
}

std::vector<std::pair<std::string, std::string>> parse_cni_args(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> args;
  while (!text.empty()) {
    size_t end = text.find(';');
    std::string_view part = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (part.empty()) {
      continue;
    }
    size_t equals = part.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      throw ProtocolError(errors::kInvalidEnvironment,
                          "CNI_ARGS: \"" + std::string(part) + "\" is not a KEY=VALUE pair");
    }
    args.emplace_back(std::string(part.substr(0, equals)), std::string(part.substr(equals + 1)));
  }
  return args;
}

std::optional<std::string> container_id_problem(std::string_view id) {
  return id_like_problem(id, "container ID");
}

std::optional<std::string> network_name_problem(std::string_view name) {
  return id_like_problem(name, "network name");
}

std::optional<std::string> interface_name_problem(std::string_view name) {
  // Built by appending: "literal" + std::string trips GCC 12's -Wrestrict at -O3.
  std::string subject = "interface name \"";
  subject.append(name);
  subject.append("\"");
  if (name.empty()) {
    return std::string("interface name is empty");
  }
  if (name.size() > 15) {
    return subject + " is longer than 15 characters";
  }
  if (name == "." || name == "..") {
    return subject + " is not allowed";
  }
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0) {
      return subject + " must not contain '/', ':' or whitespace";
    }
  }
  return std::nullopt;
}

}  // namespace brindle::cni
