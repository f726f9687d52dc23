#include "fake_apiserver.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <stdexcept>
#include <thread>

namespace brindle::test {
namespace {

size_t append(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& entry : node) {
        out[entry.first.as<std::string>()] = to_json(entry.second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) {
        out.push_back(to_json(item));
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() != "!") {  // plain (unquoted) scalars are typed
        if (text == "true" || text == "false") {
          return text == "true";
        }
        if (std::regex_match(text, std::regex("-?[0-9]+"))) {
          return std::stoll(text);
        }
        if (text == "null" || text == "~") {
          return nullptr;
        }
      }
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace

ScratchDir::ScratchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "brindle-k8s-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string ScratchDir::write(const std::string& name, const std::string& content) const {
  const std::string file = path_ + "/" + name;
  std::ofstream out(file, std::ios::binary);
  out << content;
  return file;
}

nlohmann::json RawResponse::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

FakeApiServer::FakeApiServer(Options options) : options_(std::move(options)) {
  log_path_ = dir_.path() + "/apiserver.log";
  port_ = options_.port;
  start();
}

FakeApiServer::~FakeApiServer() {
  stop(true);
}

void FakeApiServer::start() {
  int out[2];
  if (pipe(out) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> args = {"python3", BRINDLE_FAKE_KUBE_APISERVER, "--listen",
                                   "127.0.0.1:" + std::to_string(port_)};
  if (!options_.token_file.empty()) {
    args.insert(args.end(), {"--token-file", options_.token_file});
  }
  if (options_.min_request_timeout_seconds > 0) {
    args.insert(args.end(),
                {"--min-request-timeout", std::to_string(options_.min_request_timeout_seconds)});
  }
  if (!options_.token.empty()) {
    args.insert(args.end(), {"--token", options_.token});
  }
  if (!options_.tls_cert.empty()) {
    args.insert(args.end(), {"--tls-cert", options_.tls_cert, "--tls-key", options_.tls_key});
  }
  if (options_.history > 0) {
    args.insert(args.end(), {"--history", std::to_string(options_.history)});
  }
  pid_ = fork();
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    dup2(out[1], 1);
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      dup2(log, 2);
    }
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    execvp("python3", argv.data());
    _exit(127);
  }
  close(out[1]);
  // Wait for "ready <url>".
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd fd{out[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&fd, 1, static_cast<int>(left.count())) <= 0) {
      close(out[0]);
      stop(true);
      throw std::runtime_error("the fake API server did not get ready; see " + log_path_);
    }
    char buffer[256];
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) {
      close(out[0]);
      stop(true);
      throw std::runtime_error("the fake API server exited before it was ready; see " + log_path_);
    }
    line.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);  // the server writes nothing else to stdout
  std::smatch match;
  line = line.substr(0, line.find('\n'));
  if (!std::regex_match(line, match, std::regex("ready (https?://[^:]+:([0-9]+))\\s*"))) {
    stop(true);
    throw std::runtime_error("unexpected first line from the fake API server: " + line);
  }
  url_ = match[1];
  port_ = static_cast<uint16_t>(std::stoi(match[2]));
}

void FakeApiServer::stop(bool hard) {
  if (pid_ <= 0) {
    return;
  }
  kill(pid_, SIGCONT);  // a paused server cannot act on SIGTERM
  kill(pid_, hard ? SIGKILL : SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void FakeApiServer::pause() const {
  kill(pid_, SIGSTOP);
  // kill() returns before every thread has stopped (a group stop completes as each thread next
  // leaves the kernel): wait until all of them are stopped, so that no request is answered after.
  const std::string tasks = "/proc/" + std::to_string(pid_) + "/task";
  for (int i = 0; i < 200; ++i) {
    bool all_stopped = true;
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      std::ifstream stat(task.path() / "stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      const size_t after_name = text.rfind(')');
      if (after_name == std::string::npos || after_name + 2 >= text.size() ||
          text[after_name + 2] != 'T') {
        all_stopped = false;
        break;
      }
    }
    if (all_stopped) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("the fake API server did not stop on SIGSTOP");
}

void FakeApiServer::resume() const {
  kill(pid_, SIGCONT);
}

RawResponse FakeApiServer::request(const std::string& method, const std::string& path,
                                   const std::string& body) const {
  RawResponse response;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    return response;
  }
  const std::string url = url_ + path;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json");
  std::string token = options_.token;
  if (!options_.token_file.empty()) {
    std::ifstream in(options_.token_file);
    std::getline(in, token);
  }
  const std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) {
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &append);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (!body.empty()) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
  }
  if (method != "GET" && method != "POST") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (curl_easy_perform(easy) == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return response;
}

nlohmann::json yaml_file_documents(const std::string& file) {
  nlohmann::json out = nlohmann::json::array();
  for (const YAML::Node& doc : YAML::LoadAllFromFile(file)) {
    if (doc.IsMap()) {
      out.push_back(to_json(doc));
    }
  }
  return out;
}

void FakeApiServer::apply_yaml(const std::string& file) const {
  for (const nlohmann::json& doc : yaml_file_documents(file)) {
    if (doc.value("kind", "") != "CustomResourceDefinition") {
      throw std::runtime_error(file + ": only CustomResourceDefinitions are applied here");
    }
    const RawResponse r =
        request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc.dump());
    if (r.status != 201 && r.status != 200) {
      throw std::runtime_error("creating CRD " + doc["metadata"].value("name", "?") + ": HTTP " +
                               std::to_string(r.status) + " " + r.body);
    }
  }
}

void FakeApiServer::create_namespace(const std::string& name) const {
  const RawResponse r = request(
      "POST", "/api/v1/namespaces",
      nlohmann::json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}}
          .dump());
  if (r.status != 201 && r.status != 409) {
    throw std::runtime_error("creating namespace " + name + ": HTTP " + std::to_string(r.status) +
                             " " + r.body);
  }
}

}  // namespace brindle::test
