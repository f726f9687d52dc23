// The only libnftables user: an RAII owner of one `struct nft_ctx` with its output and error
// buffered, running nft scripts as single transactions and listing objects. Failures become
// brindle::Error (code + message naming the failing command), never a libnftables message on
// stderr.
#pragma once

#include <brindle/sdk.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct nft_ctx;

namespace brindle::policy_nftables::nft {

class Context {
 public:
  // Acts in the network namespace of the calling thread (libnftables opens its netlink socket
  // here). Throws Error(UNAVAILABLE) when no context can be made.
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Runs `script` (nft syntax, one command a line or blocks) as ONE kernel transaction: all of it
  // takes effect or none. Throws Error naming nft's complaint and the failing command's text.
  void run(std::string_view script);
  // The output of a listing command (stateless: no counters), or nullopt when the object does
  // not exist. Other failures throw.
  std::optional<std::string> list(std::string_view command);

 private:
  struct Free {
    void operator()(nft_ctx* ctx) const noexcept;
  };
  // Runs `commands`; returns nft's result code. Output and errors are left in the buffers.
  int execute(std::string_view commands);
  std::string error_text() const;
  std::string output_text() const;

  std::unique_ptr<nft_ctx, Free> ctx_;
};

// nft's error output condensed to one line: "<complaint>; in: <command text>" (the caret lines
// dropped), at most `limit` characters.
std::string condense_error(std::string_view error_output, size_t limit = 400);

}  // namespace brindle::policy_nftables::nft
