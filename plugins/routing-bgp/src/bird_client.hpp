// A client for BIRD's control socket (a unix stream socket, `bird -s <path>`): one command per
// line, replies parsed by BirdReplyParser.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "bird_reply.hpp"

namespace brindle::bgp {

class BirdClient {
 public:
  // Connects and reads BIRD's greeting ("0001 BIRD 2.0.12 ready."). Throws BirdReplyError (bad
  // reply) or std::system_error (socket) naming the path.
  explicit BirdClient(const std::string& socket_path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  BirdClient(BirdClient&& other) noexcept;
  BirdClient& operator=(BirdClient&&) = delete;
  BirdClient(const BirdClient&) = delete;
  BirdClient& operator=(const BirdClient&) = delete;
  ~BirdClient();

  const std::string& greeting() const { return greeting_; }
  // Sends one command (no newline inside) and returns its complete reply.
  BirdReply command(std::string_view command);

 private:
  std::string read_line();

  std::string path_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;
  std::string greeting_;
};

}  // namespace brindle::bgp
