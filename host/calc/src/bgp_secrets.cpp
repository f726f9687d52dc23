#include "brindle/calc/bgp_secrets.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace brindle::calc {
namespace {

// Bigger than any usable password; a larger file is refused without reading it all.
constexpr size_t kMaxSecretFileBytes = 4096;

std::string quote(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

SecretValue SecretsDirectory::read(const model::SecretKeySelector& ref) const {
  const std::string what = "secret " + quote(ref.name) + " key " + quote(ref.key);
  // The model allows '.' in keys; "." and ".." (and kubelet's "..data") must not walk the tree.
  if (ref.name.empty() || ref.key.empty() || ref.name.find('/') != std::string::npos ||
      ref.key.find('/') != std::string::npos || ref.name.rfind("..", 0) == 0 || ref.name == "." ||
      ref.key.rfind("..", 0) == 0 || ref.key == ".") {
    return {{}, what + ": not a valid secret name and key"};
  }
  const std::filesystem::path secret_dir = dir_ / ref.name;
  const std::filesystem::path file = secret_dir / ref.key;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int open_errno = errno;
    if (open_errno == ENOENT) {
      std::error_code ec;
      if (!std::filesystem::is_directory(secret_dir, ec)) {
        return {
            {},
            "secret " + quote(ref.name) + " not found (no directory " + secret_dir.string() + ")"};
      }
      return {{},
              "secret " + quote(ref.name) + " has no key " + quote(ref.key) + " (no file " +
                  file.string() + ")"};
    }
    return {{}, what + ": cannot open " + file.string() + ": " + std::strerror(open_errno)};
  }
  std::string value;
  std::array<char, 1024> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int read_errno = errno;
      ::close(fd);
      return {{}, what + ": cannot read " + file.string() + ": " + std::strerror(read_errno)};
    }
    if (n == 0) {
      break;
    }
    value.append(buffer.data(), static_cast<size_t>(n));
    if (value.size() > kMaxSecretFileBytes) {
      ::close(fd);
      return {{},
              what + ": " + file.string() + " is larger than " +
                  std::to_string(kMaxSecretFileBytes) + " bytes"};
    }
  }
  ::close(fd);
  return {std::move(value), {}};
}

std::string check_bgp_password(const std::string& password) {
  if (password.empty()) {
    return "is empty";
  }
  if (password.size() > kMaxBgpPasswordBytes) {
    return "is " + std::to_string(password.size()) +
           " bytes long; TCP MD5 passwords take at most " + std::to_string(kMaxBgpPasswordBytes);
  }
  for (size_t i = 0; i < password.size(); ++i) {
    const auto c = static_cast<unsigned char>(password[i]);
    if (c == '\n' || c == '\r') {
      const bool trailing = i + 1 == password.size() ||
                            (c == '\r' && i + 2 == password.size() && password[i + 1] == '\n');
      return trailing ? "ends with a newline (write the value without one, e.g. printf '%s' or "
                        "echo -n)"
                      : "contains a newline";
    }
    if (c == '"') {
      return "contains a double quote, which a BIRD configuration cannot carry";
    }
    if (c < 0x20 || c == 0x7f) {
      return "contains a control character, which a BIRD configuration cannot carry";
    }
  }
  return {};
}

}  // namespace brindle::calc
