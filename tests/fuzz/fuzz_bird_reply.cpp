// libFuzzer entry for BIRD's control-socket reply parser (plugins/routing-bgp/src/bird_reply.cpp):
// any bytes either parse or raise BirdReplyError; nothing else may escape, crash or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bird_reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const brindle::bgp::BirdReply reply = brindle::bgp::parse_bird_reply(text);
    (void)reply.error_message();
    (void)brindle::bgp::parse_show_protocols(reply);
  } catch (const brindle::bgp::BirdReplyError&) {
  }
  // The incremental parser, line by line, as the socket client drives it.
  brindle::bgp::BirdReplyParser parser;
  size_t start = 0;
  try {
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) {
        end = text.size();
      }
      if (parser.feed(text.substr(start, end - start))) {
        parser.reset();
      }
      start = end + 1;
    }
  } catch (const brindle::bgp::BirdReplyError&) {
  }
  return 0;
}
