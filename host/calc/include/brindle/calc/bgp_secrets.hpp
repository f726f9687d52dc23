// Where BGP passwords come from. A BGPPeer's spec.password is a reference to one key of a
// Kubernetes Secret ({name, key}); the host resolves it from a directory laid out like a Secret
// volume mount: <dir>/<secret name>/<key>, whose content is the value. kubelet writes a Secret's
// bytes as they are, and Calico uses a Secret's value as it is, so nothing is stripped: a file
// written with `echo` ends with a newline, which is refused (see check_bgp_password) rather than
// quietly becoming part of, or cut from, the password. Works the same with every datastore.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "brindle/model/kinds.hpp"

namespace brindle::calc {

// The value of one secret key, or why there is none.
struct SecretValue {
  std::string value;
  std::string error;  // non-empty: no usable value (missing secret, missing key, unreadable)
};

// Reads a key of a secret; the calculator asks it once per BGPPeer with a password.
using SecretLookup = std::function<SecretValue(const model::SecretKeySelector&)>;

// A secrets directory: <dir>/<secret name>/<key>. Reads the file on every call (a rotated
// secret is seen at the next read). Symbolic links are followed (kubelet's ..data layout).
class SecretsDirectory {
 public:
  explicit SecretsDirectory(std::filesystem::path dir) : dir_(std::move(dir)) {}
  SecretValue read(const model::SecretKeySelector& ref) const;
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

// TCP MD5 signatures (RFC 2385, what BIRD's `password` sets on Linux) take at most 80 bytes.
inline constexpr size_t kMaxBgpPasswordBytes = 80;

// "" when `password` can be handed to BIRD, else why not: it is empty, longer than
// kMaxBgpPasswordBytes, or has a double quote or a control character (a newline included), which
// a BIRD string cannot carry.
std::string check_bgp_password(const std::string& password);

}  // namespace brindle::calc
