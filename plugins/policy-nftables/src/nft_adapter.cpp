// libnftables behind RAII: see nft_adapter.hpp.
#include "nft_adapter.hpp"

#include <nftables/libnftables.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace brindle::policy_nftables::nft {

void Context::Free::operator()(nft_ctx* ctx) const noexcept {
  nft_ctx_free(ctx);
}

Context::Context() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (!ctx_) {
    throw Error(BRINDLE_ERR_UNAVAILABLE, "libnftables: cannot create a context");
  }
  // Captured, never written to the daemon's stdout/stderr.
  if (nft_ctx_buffer_output(ctx_.get()) != 0 || nft_ctx_buffer_error(ctx_.get()) != 0) {
    throw Error(BRINDLE_ERR_UNAVAILABLE, "libnftables: cannot buffer output");
  }
  nft_ctx_output_set_flags(ctx_.get(), NFT_CTX_OUTPUT_STATELESS);
}

Context::~Context() = default;

int Context::execute(std::string_view commands) {
  const std::string text(commands);  // libnftables wants a NUL-terminated buffer
  return nft_run_cmd_from_buffer(ctx_.get(), text.c_str());
}

std::string Context::error_text() const {
  const char* text = nft_ctx_get_error_buffer(ctx_.get());
  return text == nullptr ? std::string() : std::string(text);
}

std::string Context::output_text() const {
  const char* text = nft_ctx_get_output_buffer(ctx_.get());
  return text == nullptr ? std::string() : std::string(text);
}

void Context::run(std::string_view script) {
  if (execute(script) != 0) {
    const std::string error = error_text();
    const bool permission = error.find("Operation not permitted") != std::string::npos;
    throw Error(permission ? BRINDLE_ERR_PERMISSION : BRINDLE_ERR_INTERNAL,
                "nft transaction failed (nothing applied): " + condense_error(error));
  }
  output_text();  // drains the buffer
}

std::optional<std::string> Context::list(std::string_view command) {
  if (execute(command) != 0) {
    const std::string error = error_text();
    if (error.find("No such file or directory") != std::string::npos) {
      return std::nullopt;
    }
    throw Error(BRINDLE_ERR_INTERNAL,
                "nft " + std::string(command) + " failed: " + condense_error(error));
  }
  return output_text();
}

std::string condense_error(std::string_view error_output, size_t limit) {
  // nft reports "<location>: Error: <what>" then the offending command and a line of carets.
  std::vector<std::string> lines;
  std::istringstream in{std::string(error_output)};
  for (std::string line; std::getline(in, line);) {
    const bool carets = line.find_first_not_of("^~ \t") == std::string::npos;
    if (!carets) {
      lines.push_back(line);
    }
  }
  // One part per complaint with the command it names; the kernel often repeats one refusal for
  // every object of the transaction, so repeated parts are given once.
  std::vector<std::string> parts;
  for (const std::string& raw : lines) {
    const size_t first = raw.find_first_not_of(" \t");
    const std::string line = first == std::string::npos ? std::string() : raw.substr(first);
    if (line.find("Error:") != std::string::npos || parts.empty()) {
      parts.push_back(line);
    } else {
      parts.back() += "; in: " + line;
    }
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (std::find(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(i), parts[i]) ==
        parts.begin() + static_cast<std::ptrdiff_t>(i)) {
      out += (out.empty() ? "" : "; ") + parts[i];
    }
  }
  if (out.empty()) {
    out = "(libnftables gave no reason)";
  }
  if (out.size() > limit) {
    out.resize(limit - 3);
    out += "...";
  }
  return out;
}

}  // namespace brindle::policy_nftables::nft
