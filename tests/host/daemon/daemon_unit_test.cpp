// Units of the daemon library: command line, control method table, request-line parsing, and
// the control socket's file-system rules (in-process, on a private event loop).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

// Boost 1.74 Asio uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "brindle/build_info.hpp"
#include "brindle/daemon/command_line.hpp"
#include "brindle/daemon/control_server.hpp"
#include "brindle/daemon/http_server.hpp"

namespace brindle::daemon {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

CommandLine parse(std::vector<const char*> args) {
  args.insert(args.begin(), "brindled");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST(CommandLineTest, DefaultsAndOptions) {
  const CommandLine defaults = parse({});
  EXPECT_EQ(defaults.mode, Mode::run);
  EXPECT_EQ(defaults.config_file, build_info::kDefaultConfig);
  EXPECT_FALSE(defaults.config_given);
  EXPECT_FALSE(defaults.log_level);

  const CommandLine full = parse({"--config", "/tmp/b.toml", "--log-level", "debug", "--plugin-dir",
                                  "/a", "--plugin-dir", "/b", "--check-config"});
  EXPECT_EQ(full.mode, Mode::check_config);
  EXPECT_EQ(full.config_file, "/tmp/b.toml");
  EXPECT_TRUE(full.config_given);
  EXPECT_EQ(full.log_level, log::Level::debug);
  EXPECT_EQ(full.plugin_dirs, (std::vector<fs::path>{"/a", "/b"}));

  EXPECT_EQ(parse({"-c", "x.toml", "--list-plugins"}).mode, Mode::list_plugins);
  EXPECT_EQ(parse({"-V"}).mode, Mode::version);
  EXPECT_EQ(parse({"--list-plugins", "--help"}).mode, Mode::help);
}

TEST(CommandLineTest, MistakesAreExplained) {
  EXPECT_THROW(parse({"--frob"}), CommandLineError);
  EXPECT_THROW(parse({"--config"}), CommandLineError);
  EXPECT_THROW(parse({"--config", ""}), CommandLineError);
  EXPECT_THROW(parse({"--log-level", "verbose"}), CommandLineError);
  EXPECT_THROW(parse({"--version", "--list-plugins"}), CommandLineError);
  EXPECT_THROW(parse({"stray"}), CommandLineError);
}

TEST(CommandLineTest, HelpMentionsEveryOption) {
  const std::string help = help_text();
  for (const char* text : {"--config", "--check-config", "--list-plugins", "--plugin-dir",
                           "--log-level", "--version", "--help", "Exit status"}) {
    EXPECT_NE(help.find(text), std::string::npos) << text;
  }
}

TEST(HttpRequestLineTest, Parses) {
  std::string method;
  std::string path;
  EXPECT_TRUE(
      parse_request_line("GET /readyz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n", &method, &path));
  EXPECT_EQ(method, "GET");
  EXPECT_EQ(path, "/readyz");
  EXPECT_TRUE(parse_request_line("HEAD / HTTP/1.0\r\n\r\n", &method, &path));
  EXPECT_FALSE(parse_request_line("GET /x\r\n\r\n", &method, &path));
  EXPECT_FALSE(parse_request_line("GET x HTTP/1.1\r\n\r\n", &method, &path));
  EXPECT_FALSE(parse_request_line("GET /x SPDY/3\r\n\r\n", &method, &path));
  EXPECT_FALSE(parse_request_line("GET /x y HTTP/1.1\r\n\r\n", &method, &path));
  EXPECT_FALSE(parse_request_line("", &method, &path));
}

class MethodTableTest : public ::testing::Test {
 protected:
  json call(const std::string& line) {
    std::vector<json> replies;
    table_.dispatch(line, [&](const json& reply) { replies.push_back(reply); });
    EXPECT_EQ(replies.size(), 1u) << line;
    return replies.empty() ? json() : replies[0];
  }
  MethodTable table_;
};

TEST_F(MethodTableTest, DispatchesAndValidates) {
  table_.add("echo", "returns its params", [](const json& params) { return params; });
  table_.add("fails", "always fails",
             [](const json&) -> json { throw ControlError("no_luck", "it never works"); });
  table_.add("typed", "wants an integer", [](const json& params) {
    return json{{"double", params.at("n").get<int>() * 2}};
  });

  EXPECT_EQ(call(R"({"version":1,"method":"echo","params":{"a":1},"id":"x"})"),
            json::parse(R"({"ok":true,"id":"x","result":{"a":1}})"));
  EXPECT_EQ(call(R"({"version":1,"method":"echo"})"), json::parse(R"({"ok":true,"result":{}})"));
  EXPECT_EQ(
      call(R"({"version":1,"method":"fails","id":2})"),
      json::parse(R"({"ok":false,"id":2,"error":{"code":"no_luck","message":"it never works"}})"));
  EXPECT_EQ(call(R"({"version":1,"method":"typed","params":{"n":"two"}})")["error"]["code"],
            "invalid_params");
  EXPECT_EQ(call(R"({"version":1,"method":"typed","params":{"n":21}})")["result"]["double"], 42);

  EXPECT_EQ(call("{")["error"]["code"], "parse_error");
  EXPECT_EQ(call("[1]")["error"]["code"], "invalid_request");
  EXPECT_EQ(call(R"({"method":"echo"})")["error"]["code"], "invalid_request");
  EXPECT_EQ(call(R"({"version":"1","method":"echo"})")["error"]["code"], "invalid_request");
  EXPECT_EQ(call(R"({"version":7,"method":"echo"})")["error"]["code"], "unsupported_version");
  EXPECT_EQ(call(R"({"version":1})")["error"]["code"], "invalid_request");
  EXPECT_EQ(call(R"({"version":1,"method":"echo","params":[1]})")["error"]["code"],
            "invalid_params");
  EXPECT_EQ(call(R"({"version":1,"method":"nope"})")["error"]["code"], "unknown_method");

  const auto summaries = table_.summaries();
  EXPECT_EQ(summaries.size(), 3u);
  EXPECT_EQ(summaries.at("echo"), "returns its params");
}

TEST_F(MethodTableTest, AsyncMethodsAnswerLaterAndOnlyOnce) {
  std::vector<ControlReply> pending;
  table_.add_async("later", "answers when told",
                   [&](const json&, ControlReply reply) { pending.push_back(reply); });
  std::vector<json> replies;
  table_.dispatch(R"({"version":1,"method":"later","id":9})",
                  [&](const json& reply) { replies.push_back(reply); });
  EXPECT_TRUE(replies.empty());
  ASSERT_EQ(pending.size(), 1u);
  pending[0].ok({{"done", true}});
  pending[0].fail("late", "ignored: already answered");
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0], json::parse(R"({"ok":true,"id":9,"result":{"done":true}})"));
}

// A private directory for socket tests (short enough for sun_path).
class SocketDir {
 public:
  SocketDir() {
    char pattern[] = "/tmp/brindle-ctl-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~SocketDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(ControlServerTest, CreatesAPrivateDirectoryAndSocket) {
  SocketDir dir;
  boost::asio::io_context io;
  MethodTable table;
  const fs::path socket = dir.path() / "a" / "b" / "brindled.sock";
  {
    ControlServer server(io, socket, table);
    EXPECT_EQ(mode_of(socket.parent_path()), 0700u);
    EXPECT_EQ(mode_of(socket), 0600u);
  }
  EXPECT_FALSE(fs::exists(socket));  // removed on close
}

TEST(ControlServerTest, TightensItsOwnDirectoryAndReplacesAStaleSocket) {
  SocketDir dir;
  ::chmod(dir.path().c_str(), 0755);
  boost::asio::io_context io;
  MethodTable table;
  const fs::path socket = dir.path() / "brindled.sock";
  // A socket file nobody listens on any more, as a crashed daemon leaves it.
  {
    boost::asio::local::stream_protocol::acceptor acceptor(
        io, boost::asio::local::stream_protocol::endpoint(socket.string()));
  }
  ASSERT_TRUE(fs::exists(socket));
  ControlServer server(io, socket, table);
  EXPECT_EQ(mode_of(dir.path()), 0700u);
  EXPECT_EQ(mode_of(socket), 0600u);
}

TEST(ControlServerTest, RefusesUnsafeOrInvalidPaths) {
  SocketDir dir;
  boost::asio::io_context io;
  MethodTable table;
  EXPECT_THROW(ControlServer(io, "relative/brindled.sock", table), std::runtime_error);
  EXPECT_THROW(ControlServer(io, dir.path() / std::string(120, 'x'), table), std::runtime_error);

  // A regular file where the socket should be.
  std::ofstream(dir.path() / "file.sock") << "not a socket";
  try {
    ControlServer server(io, dir.path() / "file.sock", table);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("exists and is not a socket"), std::string::npos);
  }

  // A shared directory owned by someone else is never taken over.
  const fs::path shared = dir.path() / "shared";
  fs::create_directory(shared);
  ASSERT_EQ(::chown(shared.c_str(), 65534, 65534), 0);
  ::chmod(shared.c_str(), 0755);
  try {
    ControlServer server(io, shared / "brindled.sock", table);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("accessible to other users and not owned by this user"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(mode_of(shared), 0755u);
}

TEST(HttpServerTest, RefusesBadAddresses) {
  boost::asio::io_context io;
  EXPECT_THROW(HttpServer(io, "127.0.0.1", {}), std::runtime_error);
  EXPECT_THROW(HttpServer(io, "127.0.0.1:65536", {}), std::runtime_error);
  HttpServer first(io, "127.0.0.1:0", {});
  EXPECT_NE(first.port(), 0);
  EXPECT_EQ(first.address(), "127.0.0.1:" + std::to_string(first.port()));
  try {
    HttpServer second(io, first.address(), {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on " + first.address()), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace brindle::daemon
