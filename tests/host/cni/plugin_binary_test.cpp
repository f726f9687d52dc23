// The brindle-cni executable: environment and configuration validation, VERSION, error codes,
// and its side of the socket protocol against a scripted fake daemon (no namespaces needed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "brindle/cni/protocol.hpp"
#include "cni_test_support.hpp"

namespace brindle::cni::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Accepts connections on a unix socket and answers each request line with `reply(line)`; an
// empty reply closes the connection without answering.
class FakeDaemon {
 public:
  FakeDaemon(const std::filesystem::path& path,
             std::function<std::string(const std::string&)> reply)
      : path_(path), reply_(std::move(reply)) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string text = path.string();
    std::memcpy(address.sun_path, text.data(), text.size());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(fd_, 8) != 0) {
      throw std::runtime_error("cannot listen on " + text);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd entry{fd_, POLLIN, 0};
      if (poll(&entry, 1, 100) <= 0) {
        continue;
      }
      int connection = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) {
        continue;
      }
      std::string line;
      char buffer[4096];
      while (line.find('\n') == std::string::npos) {
        ssize_t n = read(connection, buffer, sizeof(buffer));
        if (n <= 0) {
          break;
        }
        line.append(buffer, static_cast<size_t>(n));
      }
      line = line.substr(0, line.find('\n'));
      {
        std::lock_guard lock(mutex_);
        lines_.push_back(line);
      }
      std::string answer = reply_(line);
      if (!answer.empty()) {
        ssize_t ignored = write(connection, answer.data(), answer.size());
        (void)ignored;
      }
      close(connection);
    }
  }

  std::filesystem::path path_;
  std::function<std::string(const std::string&)> reply_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> lines_;
  std::thread thread_;
};

std::string config(const std::string& version, const std::filesystem::path& socket,
                   const json& extra = json::object()) {
  json document = {{"cniVersion", version},
                   {"name", "brt-net"},
                   {"type", "brindle-cni"},
                   {"control_socket", socket.string()}};
  for (const auto& [key, value] : extra.items()) {
    document[key] = value;
  }
  return document.dump();
}

std::map<std::string, std::string> add_env(const std::string& command = "ADD") {
  return cni_env(command, "c0ffee01", "/run/netns/brt-cni-none", "eth0", "ns1", "web-0");
}

// The run failed with a spec error object carrying `code`.
void expect_cni_error(const PluginRun& run, int code, const std::string& version = "") {
  EXPECT_NE(run.exit_code, 0) << run.stdout_text;
  json error = json::parse(run.stdout_text, nullptr, false);
  ASSERT_TRUE(error.is_object()) << "stdout: " << run.stdout_text;
  EXPECT_EQ(error["code"], code) << run.stdout_text;
  EXPECT_TRUE(error["msg"].is_string());
  ASSERT_TRUE(error["cniVersion"].is_string());
  if (!version.empty()) {
    EXPECT_EQ(error["cniVersion"], version);
  }
  // Logs go to stderr, never stdout.
  EXPECT_THAT(run.stderr_text, HasSubstr("level=error"));
}

class CniBinaryTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::filesystem::path socket_ = dir_.path() / "brindled.sock";
};

TEST_F(CniBinaryTest, VersionAnswersWithTheSupportedVersions) {
  PluginRun run = run_cni_binary({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion":"0.4.0"})");
  ASSERT_EQ(run.exit_code, 0) << run.stdout_text;
  json info = json::parse(run.stdout_text);
  EXPECT_EQ(info["cniVersion"], "0.4.0");
  EXPECT_EQ(info["supportedVersions"], json::array({"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));

  PluginRun empty = run_cni_binary({{"CNI_COMMAND", "VERSION"}}, "");
  ASSERT_EQ(empty.exit_code, 0);
  EXPECT_EQ(json::parse(empty.stdout_text)["cniVersion"], "1.1.0");
}

TEST_F(CniBinaryTest, MalformedStdinIsDecodeFailure) {
  expect_cni_error(run_cni_binary(add_env(), "{\"cniVersion\": \"1.0.0\", "), 6);
  expect_cni_error(run_cni_binary(add_env(), "[1, 2, 3]"), 6);
  expect_cni_error(run_cni_binary(add_env(), R"({"cniVersion": 1, "name": "n"})"), 6);
  expect_cni_error(run_cni_binary(add_env(), ""), 6);
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "VERSION"}}, "nope"), 6);
  // A well-known field of the wrong type.
  expect_cni_error(run_cni_binary(add_env(), config("1.0.0", socket_, {{"mtu", "1500"}})), 6,
                   "1.0.0");
}

TEST_F(CniBinaryTest, UnsupportedVersionIsIncompatible) {
  expect_cni_error(run_cni_binary(add_env(), config("0.2.0", socket_)), 1);
  expect_cni_error(run_cni_binary(add_env(), config("2.0.0", socket_)), 1);
  // Commands the requested version does not have.
  expect_cni_error(run_cni_binary(add_env("CHECK"), config("0.3.1", socket_)), 1, "0.3.1");
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "STATUS"}}, config("1.0.0", socket_)), 1);
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "GC"}}, config("1.0.0", socket_)), 1);
}

TEST_F(CniBinaryTest, MissingOrInvalidEnvironmentIsCode4) {
  std::string good = config("1.0.0", socket_);
  expect_cni_error(run_cni_binary({}, good), 4, "1.0.0");
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "FROB"}}, good), 4);
  for (const char* missing : {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}) {
    SCOPED_TRACE(missing);
    auto env = add_env();
    env.erase(missing);
    PluginRun run = run_cni_binary(env, good);
    expect_cni_error(run, 4);
    EXPECT_THAT(run.stdout_text, HasSubstr(missing));
  }
  auto bad_args = add_env();
  bad_args["CNI_ARGS"] = "K8S_POD_NAME=a;junk";
  expect_cni_error(run_cni_binary(bad_args, good), 4);
  auto long_ifname = add_env();
  long_ifname["CNI_IFNAME"] = "a-very-long-ifname";
  expect_cni_error(run_cni_binary(long_ifname, good), 4);
  auto bad_id = add_env();
  bad_id["CNI_CONTAINERID"] = "../etc";
  expect_cni_error(run_cni_binary(bad_id, good), 4);
}

TEST_F(CniBinaryTest, InvalidNetworkConfigurationIsCode7) {
  expect_cni_error(run_cni_binary(add_env(), R"({"cniVersion":"1.0.0"})"), 7);
  expect_cni_error(run_cni_binary(add_env(), R"({"name":"n"})"), 7);
  expect_cni_error(
      run_cni_binary(add_env(), R"({"cniVersion":"1.0.0","name":"n","control_socket":"rel.sock"})"),
      7);
  expect_cni_error(run_cni_binary(add_env(), config("1.0.0", socket_, {{"mtu", 10}})), 7);
  expect_cni_error(run_cni_binary(add_env(), config("1.0.0", socket_, {{"log_level", "loud"}})), 7);
  expect_cni_error(run_cni_binary(add_env(), config("1.0.0", socket_, {{"name", "bad name"}})), 7);
}

TEST_F(CniBinaryTest, DaemonDownMeansTryAgainLaterAndStatusNotAvailable) {
  std::string good = config("1.1.0", socket_);
  for (const char* command : {"ADD", "DEL", "CHECK"}) {
    SCOPED_TRACE(command);
    expect_cni_error(run_cni_binary(add_env(command), good), 11, "1.1.0");
  }
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "GC"}}, good), 11);
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "STATUS"}}, good), 50);

  // A socket file that nobody listens on any more.
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string path = socket_.string();
    std::memcpy(address.sun_path, path.data(), path.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    close(fd);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_));
  expect_cni_error(run_cni_binary(add_env("DEL"), good), 11);
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "STATUS"}}, good), 50);
}

TEST_F(CniBinaryTest, DaemonClosingWithoutAnswerIsTryAgainLater) {
  FakeDaemon daemon(socket_, [](const std::string&) { return std::string(); });
  expect_cni_error(run_cni_binary(add_env(), config("1.0.0", socket_)), 11);
}

TEST_F(CniBinaryTest, SlowDaemonTimesOut) {
  FakeDaemon daemon(socket_, [](const std::string&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return std::string(encode_response(Response::success()));
  });
  auto started = std::chrono::steady_clock::now();
  PluginRun run =
      run_cni_binary(add_env("DEL"), config("1.0.0", socket_, {{"timeout_seconds", 0.3}}));
  expect_cni_error(run, 11);
  EXPECT_THAT(run.stdout_text, HasSubstr("in time"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1400));
}

TEST_F(CniBinaryTest, GarbageReplyIsProtocolError) {
  FakeDaemon daemon(socket_, [](const std::string&) { return std::string("{\"what\":1}\n"); });
  PluginRun run = run_cni_binary(add_env(), config("1.0.0", socket_));
  expect_cni_error(run, errors::kProtocolError);
  EXPECT_THAT(run.stdout_text, HasSubstr("reply.ok"));
}

TEST_F(CniBinaryTest, DaemonErrorsPassThroughWithTheirCode) {
  FakeDaemon daemon(socket_, [](const std::string&) {
    return encode_response(Response::failure(errors::kAddressesExhausted,
                                             "no free address in pool default-ipv4",
                                             "pool 198.18.0.0/16: 0 of 65536 free"));
  });
  PluginRun run = run_cni_binary(add_env(), config("0.3.1", socket_));
  expect_cni_error(run, 100, "0.3.1");
  json error = json::parse(run.stdout_text);
  EXPECT_EQ(error["msg"], "no free address in pool default-ipv4");
  EXPECT_EQ(error["details"], "pool 198.18.0.0/16: 0 of 65536 free");
}

TEST_F(CniBinaryTest, ForwardsTheRequestAndFormatsTheResult) {
  Result result;
  result.interfaces = {{"brv0123456789a", "ee:ee:ee:ee:ee:ee", "", std::nullopt},
                       {"eth0", "02:00:00:00:00:01", "/run/netns/brt-cni-none", 1400}};
  result.ips = {{"198.18.3.4/32", std::nullopt, 1}};
  result.routes = {{"0.0.0.0/0", "169.254.1.1"}};
  FakeDaemon daemon(socket_,
                    [&](const std::string&) { return encode_response(Response::success(result)); });
  std::filesystem::path log_file = dir_.path() / "cni.log";
  PluginRun run =
      run_cni_binary(add_env(), config("0.3.1", socket_,
                                       {{"mtu", 1400},
                                        {"log_file", log_file.string()},
                                        {"dns", {{"nameservers", {"198.18.255.10"}}}},
                                        {"runtimeConfig", {{"ips", {"198.18.3.4/32"}}}}}));
  ASSERT_EQ(run.exit_code, 0) << run.stdout_text << run.stderr_text;
  json formatted = json::parse(run.stdout_text);
  EXPECT_EQ(formatted["cniVersion"], "0.3.1");
  EXPECT_EQ(formatted["ips"][0]["version"], "4");
  EXPECT_EQ(formatted["ips"][0]["address"], "198.18.3.4/32");
  EXPECT_EQ(formatted["ips"][0]["interface"], 1);
  EXPECT_EQ(formatted["interfaces"][1]["sandbox"], "/run/netns/brt-cni-none");
  EXPECT_FALSE(formatted["interfaces"][1].contains("mtu"));  // 1.1.0 only
  // The daemon sent no DNS: the network configuration's applies.
  EXPECT_EQ(formatted["dns"]["nameservers"][0], "198.18.255.10");

  ASSERT_EQ(daemon.lines().size(), 1u);
  Request request = decode_request(daemon.lines()[0]);
  EXPECT_EQ(request.method, Method::add);
  EXPECT_EQ(request.params.container_id, "c0ffee01");
  EXPECT_EQ(request.params.netns, "/run/netns/brt-cni-none");
  EXPECT_EQ(request.params.ifname, "eth0");
  EXPECT_EQ(request.params.network_name, "brt-net");
  EXPECT_EQ(request.params.cni_version, "0.3.1");
  EXPECT_EQ(request.params.mtu, 1400u);
  EXPECT_EQ(request.params.pod_namespace(), "ns1");
  EXPECT_EQ(request.params.pod_name(), "web-0");
  EXPECT_EQ(request.params.runtime_config()["ips"][0], "198.18.3.4/32");

  std::ifstream log(log_file);
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("msg=\"CNI request done\" command=ADD container=c0ffee01"));
}

TEST_F(CniBinaryTest, GcForwardsValidAttachmentsUnderEitherKey) {
  FakeDaemon daemon(socket_,
                    [](const std::string&) { return encode_response(Response::success()); });
  json attachments = json::array(
      {{{"containerID", "a1"}, {"ifname", "eth0"}}, {{"containerID", "b2"}, {"ifname", "net1"}}});
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    SCOPED_TRACE(key);
    PluginRun run =
        run_cni_binary({{"CNI_COMMAND", "GC"}}, config("1.1.0", socket_, {{key, attachments}}));
    ASSERT_EQ(run.exit_code, 0) << run.stdout_text;
    EXPECT_TRUE(run.stdout_text.empty());
    Request request = decode_request(daemon.lines().back());
    EXPECT_EQ(request.method, Method::gc);
    EXPECT_EQ(request.params.valid_attachments,
              (std::vector<Attachment>{{"a1", "eth0"}, {"b2", "net1"}}));
  }
  expect_cni_error(run_cni_binary({{"CNI_COMMAND", "GC"}},
                                  config("1.1.0", socket_,
                                         {{"cni.dev/valid-attachments", {{{"ifname", "eth0"}}}}})),
                   6);
}

TEST_F(CniBinaryTest, DelWithoutNetnsIsForwarded) {
  FakeDaemon daemon(socket_,
                    [](const std::string&) { return encode_response(Response::success()); });
  auto env = add_env("DEL");
  env.erase("CNI_NETNS");
  PluginRun run = run_cni_binary(env, config("1.0.0", socket_));
  ASSERT_EQ(run.exit_code, 0) << run.stdout_text;
  EXPECT_TRUE(run.stdout_text.empty());
  EXPECT_TRUE(decode_request(daemon.lines().back()).params.netns.empty());
}

}  // namespace
}  // namespace brindle::cni::testing
