#include "kube_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace brindle::kube {
namespace {

std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) {
    return {};
  }
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) {
    return std::nullopt;
  }
  return data.str();
}

std::string read_token(const Config& config, std::string_view key, const std::string& file) {
  std::string problem;
  std::optional<std::string> token = read_token_file(file, &problem);
  if (!token) {
    config.fail(key, problem);
  }
  return *token;
}

void check_readable(const Config& config, std::string_view key, const std::string& file) {
  const std::optional<std::string> text = read_whole_file(file);
  if (!text || text->empty()) {
    config.fail(key, "cannot read \"" + file + "\"");
  }
}

// The kubeconfig file's current context, read with yaml-cpp.
class Kubeconfig {
 public:
  Kubeconfig(const Config& config, std::string file) : config_(config), file_(std::move(file)) {
    try {
      root_ = YAML::LoadFile(file_);
    } catch (const YAML::BadFile&) {
      config_.fail("kubeconfig", "cannot read the kubeconfig \"" + file_ + "\"");
    } catch (const YAML::Exception& e) {
      fail_at(e.mark, e.msg);
    }
    if (!root_.IsMap()) {
      fail_at(root_.Mark(),
              "a kubeconfig is a mapping (clusters, contexts, users, current-context)");
    }
  }

  void resolve(KubeConnection* out) {
    const YAML::Node current = root_["current-context"];
    if (!current || !current.IsScalar() || current.Scalar().empty()) {
      fail_at(root_.Mark(), "current-context is not set");
    }
    const YAML::Node context = named("contexts", current.Scalar(), "context");
    const YAML::Node cluster = named("clusters", scalar(context, "cluster"), "cluster");
    const std::optional<std::string> server = optional_scalar(cluster, "server");
    if (!server) {
      fail_at(cluster.Mark(), "the cluster has no server");
    }
    std::string problem;
    const std::optional<std::string> url = normalize_server_url(*server, &problem);
    if (!url) {
      fail_at(cluster["server"].Mark(), "server: " + problem);
    }
    out->server = *url;
    if (const YAML::Node skip = cluster["insecure-skip-tls-verify"];
        skip && skip.IsScalar() && skip.Scalar() == "true") {
      fail_at(skip.Mark(),
              "insecure-skip-tls-verify is not supported: give the cluster's CA instead");
    }
    if (const std::optional<std::string> data =
            optional_scalar(cluster, "certificate-authority-data")) {
      const std::optional<std::string> pem = base64_decode(*data);
      if (!pem || pem->empty()) {
        fail_at(cluster["certificate-authority-data"].Mark(),
                "certificate-authority-data is not valid base64");
      }
      out->ca_pem = *pem;
    } else if (const std::optional<std::string> ca =
                   optional_scalar(cluster, "certificate-authority")) {
      out->ca_file = relative_to_file(*ca);
      if (!read_whole_file(out->ca_file)) {
        fail_at(cluster["certificate-authority"].Mark(), "cannot read \"" + out->ca_file + "\"");
      }
    }

    const std::optional<std::string> user_name = optional_scalar(context, "user");
    if (!user_name) {
      return;  // no credentials: anonymous
    }
    const YAML::Node user = named("users", *user_name, "user");
    for (const char* unsupported :
         {"client-certificate", "client-certificate-data", "exec", "auth-provider", "username"}) {
      if (user[unsupported]) {
        fail_at(user[unsupported].Mark(),
                std::string(unsupported) +
                    " is not supported by the kubernetes datastore: give the user a bearer token "
                    "(token or tokenFile)");
      }
    }
    if (const std::optional<std::string> token = optional_scalar(user, "token")) {
      out->token = trim(*token);
    } else if (const std::optional<std::string> file = optional_scalar(user, "tokenFile")) {
      const std::string path = relative_to_file(*file);
      const std::optional<std::string> text = read_whole_file(path);
      if (!text || trim(*text).empty()) {
        fail_at(user["tokenFile"].Mark(), "cannot read a token from \"" + path + "\"");
      }
      out->token = trim(*text);
      out->token_file = path;
    }
  }

 private:
  [[noreturn]] void fail_at(const YAML::Mark& mark, const std::string& message) const {
    std::string where = file_;
    if (!mark.is_null()) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    config_.fail("kubeconfig", where + ": " + message);
  }

  // The `field` mapping of the entry named `name` in the list `list` (contexts, clusters, users).
  YAML::Node named(const char* list, const std::string& name, const char* field) const {
    const YAML::Node entries = root_[list];
    if (entries && entries.IsSequence()) {
      for (const YAML::Node& entry : entries) {
        const YAML::Node entry_name = entry.IsMap() ? entry["name"] : YAML::Node();
        if (entry_name && entry_name.IsScalar() && entry_name.Scalar() == name) {
          const YAML::Node body = entry[field];
          if (!body || !body.IsMap()) {
            fail_at(entry.Mark(),
                    std::string(list) + " entry \"" + name + "\" has no " + field + " mapping");
          }
          return body;
        }
      }
    }
    fail_at(entries ? entries.Mark() : root_.Mark(), "no entry named \"" + name + "\" in " + list);
  }

  std::string scalar(const YAML::Node& node, const char* key) const {
    const std::optional<std::string> value = optional_scalar(node, key);
    if (!value || value->empty()) {
      fail_at(node.Mark(), std::string(key) + " is required");
    }
    return *value;
  }

  std::optional<std::string> optional_scalar(const YAML::Node& node, const char* key) const {
    const YAML::Node value = node[key];
    if (!value || value.IsNull()) {
      return std::nullopt;
    }
    if (!value.IsScalar()) {
      fail_at(value.Mark(), std::string(key) + " must be a string");
    }
    return value.Scalar();
  }

  std::string relative_to_file(const std::string& path) const {
    if (path.empty() || path.front() == '/') {
      return path;
    }
    return (std::filesystem::path(file_).parent_path() / path).string();
  }

  const Config& config_;
  std::string file_;
  YAML::Node root_;
};

}  // namespace

std::optional<std::string> process_getenv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
}

std::optional<std::string> normalize_server_url(std::string_view url, std::string* problem) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    *problem = "must start with http:// or https://, got \"" + std::string(url) + "\"";
    return std::nullopt;
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.front() == ':') {
    *problem = "has no host: \"" + std::string(url) + "\"";
    return std::nullopt;
  }
  if (url.find_first_of(" \t\r\n?#") != std::string_view::npos) {
    *problem =
        "must be a plain base URL (no spaces, query or fragment): \"" + std::string(url) + "\"";
    return std::nullopt;
  }
  std::string out(url);
  while (out.back() == '/') {
    out.pop_back();
  }
  return out;
}

std::optional<std::string> read_token_file(const std::string& file, std::string* problem) {
  const std::optional<std::string> text = read_whole_file(file);
  if (!text) {
    *problem = "cannot read the token file \"" + file + "\"";
    return std::nullopt;
  }
  std::string token = trim(*text);
  if (token.empty()) {
    *problem = "the token file \"" + file + "\" is empty";
    return std::nullopt;
  }
  if (token.find_first_of("\r\n") != std::string::npos) {
    *problem = "the token file \"" + file + "\" holds more than one line";
    return std::nullopt;
  }
  return token;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    if (c == '+') {
      return 62;
    }
    if (c == '/') {
      return 63;
    }
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    }
    if (c == '=') {
      padding = true;
      continue;
    }
    const int v = value_of(c);
    if (v < 0 || padding) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xffu));
    }
  }
  if (bits >= 6) {
    return std::nullopt;  // a lone trailing character
  }
  return out;
}

KubeSettings KubeSettings::parse(const Config& config) {
  config.allow_only("", {"server", "token_file", "ca_file", "kubeconfig", "request_timeout_ms",
                         "crd_group", "list_page_size"});
  KubeSettings out;
  if (const std::optional<std::string> server = config.get_string("server")) {
    std::string problem;
    const std::optional<std::string> url = normalize_server_url(*server, &problem);
    if (!url) {
      config.fail("server", problem);
    }
    out.server = *url;
  }
  for (const auto& [key, field] :
       {std::pair<const char*, std::string*>{"token_file", &out.token_file},
        {"ca_file", &out.ca_file},
        {"kubeconfig", &out.kubeconfig}}) {
    if (const std::optional<std::string> value = config.get_string(key)) {
      if (value->empty()) {
        config.fail(key, "must not be empty (leave it out instead)");
      }
      *field = *value;
    }
  }
  out.request_timeout_ms = config.int_or("request_timeout_ms", out.request_timeout_ms, 1, 3600000);
  out.list_page_size = config.int_or("list_page_size", out.list_page_size, 1, 100000);
  out.crd_group = config.string_or("crd_group", out.crd_group);
  // A DNS subdomain with at least one dot, as the API server requires of a CRD group.
  const std::string& group = out.crd_group;
  const bool group_ok =
      !group.empty() && group.size() <= 253 && group.find('.') != std::string::npos &&
      group.front() != '.' && group.back() != '.' && group.front() != '-' &&
      group.find("..") == std::string::npos && std::all_of(group.begin(), group.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      });
  if (!group_ok) {
    config.fail("crd_group",
                "must be a lowercase DNS name with a dot, such as \"brindle.network\", "
                "got \"" +
                    group + "\"");
  }
  if (!out.server.empty() && out.server.starts_with("http://") && config.has("ca_file")) {
    config.fail("ca_file", "is set but server \"" + out.server + "\" is http://");
  }
  return out;
}

KubeConnection resolve_connection(const Config& config, const KubeSettings& settings,
                                  const Getenv& getenv, std::string_view service_account_dir) {
  KubeConnection out;
  out.request_timeout_ms = settings.request_timeout_ms;
  if (!settings.kubeconfig.empty()) {
    Kubeconfig(config, settings.kubeconfig).resolve(&out);
    out.source = "kubeconfig " + settings.kubeconfig;
  } else if (settings.server.empty()) {
    // In-cluster, as client-go's rest.InClusterConfig().
    const std::optional<std::string> host = getenv("KUBERNETES_SERVICE_HOST");
    const std::optional<std::string> port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || host->empty() || !port || port->empty()) {
      config.fail("server",
                  "is not set, nor is kubeconfig, and this is not a pod (KUBERNETES_SERVICE_HOST "
                  "and KUBERNETES_SERVICE_PORT are unset): set server or kubeconfig");
    }
    const bool ipv6 = host->find(':') != std::string::npos;
    out.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
    const std::string dir(service_account_dir);
    if (settings.token_file.empty()) {
      out.token_file = dir + "/token";
      out.token = read_token(config, "token_file", out.token_file);
    }
    if (settings.ca_file.empty()) {
      out.ca_file = dir + "/ca.crt";
      check_readable(config, "ca_file", out.ca_file);
    }
    out.source = "in-cluster";
  } else {
    out.source = "config";
  }
  if (!settings.server.empty()) {
    out.server = settings.server;
  }
  if (!settings.token_file.empty()) {
    out.token = read_token(config, "token_file", settings.token_file);
    out.token_file = settings.token_file;
  }
  if (!settings.ca_file.empty()) {
    check_readable(config, "ca_file", settings.ca_file);
    out.ca_file = settings.ca_file;
    out.ca_pem.clear();
  }
  if (out.server.starts_with("http://") && (!out.ca_file.empty() || !out.ca_pem.empty()) &&
      settings.ca_file.empty()) {
    out.ca_file.clear();  // a kubeconfig CA for a plain-HTTP server is simply unused
    out.ca_pem.clear();
  }
  return out;
}

}  // namespace brindle::kube
