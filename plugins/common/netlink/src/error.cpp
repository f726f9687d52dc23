#include "brindle/netlink/error.hpp"

#include <netlink/errno.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace brindle::netlink {
namespace {

static_assert(static_cast<int>(Errc::failure) == NLE_FAILURE);
static_assert(static_cast<int>(Errc::again) == NLE_AGAIN);
static_assert(static_cast<int>(Errc::no_memory) == NLE_NOMEM);
static_assert(static_cast<int>(Errc::exists) == NLE_EXIST);
static_assert(static_cast<int>(Errc::invalid) == NLE_INVAL);
static_assert(static_cast<int>(Errc::range) == NLE_RANGE);
static_assert(static_cast<int>(Errc::not_supported) == NLE_OPNOTSUPP);
static_assert(static_cast<int>(Errc::not_found) == NLE_OBJ_NOTFOUND);
static_assert(static_cast<int>(Errc::no_address) == NLE_NOADDR);
static_assert(static_cast<int>(Errc::permission) == NLE_PERM);
static_assert(static_cast<int>(Errc::access) == NLE_NOACCESS);
static_assert(static_cast<int>(Errc::busy) == NLE_BUSY);
static_assert(static_cast<int>(Errc::no_device) == NLE_NODEV);
static_assert(static_cast<int>(Errc::dump_interrupted) == NLE_DUMP_INTR);

class LibnlCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libnl"; }
  std::string message(int code) const override { return nl_geterror(code); }
};

}  // namespace

const std::error_category& libnl_category() noexcept {
  static const LibnlCategory kCategory;
  return kCategory;
}

std::error_code make_error_code(Errc code) noexcept {
  return {static_cast<int>(code), libnl_category()};
}

std::error_code libnl_error(int nle_code) noexcept {
  return {std::abs(nle_code), libnl_category()};
}

namespace {
std::string describe(const std::error_code& code, const std::string& operation, int kernel_errno,
                     const std::string& kernel_message) {
  std::string text = operation + ": " + code.message();
  if (kernel_errno != 0) {
    text += " (kernel: ";
    text += std::generic_category().message(kernel_errno);  // strerror is not thread-safe
    if (!kernel_message.empty()) {
      text += ": " + kernel_message;
    }
    text += ")";
  } else if (!kernel_message.empty()) {
    text += " (" + kernel_message + ")";
  }
  return text;
}
}  // namespace

NetlinkError::NetlinkError(std::error_code code, std::string operation, int kernel_errno,
                           std::string kernel_message)
    : std::system_error(code),
      operation_(std::move(operation)),
      description_(describe(code, operation_, kernel_errno, kernel_message)),
      kernel_errno_(kernel_errno),
      kernel_message_(std::move(kernel_message)) {}

bool NetlinkError::is_not_found() const {
  return code() == Errc::not_found || code() == Errc::no_device;
}

bool NetlinkError::is_exists() const {
  return code() == Errc::exists;
}

brindle_status_t to_status(const std::error_code& code, int kernel_errno) noexcept {
  if (!code) {
    return BRINDLE_OK;
  }
  if (code.category() != libnl_category()) {
    return BRINDLE_ERR_INTERNAL;
  }
  switch (kernel_errno) {
    case EPERM:
    case EACCES:
      return BRINDLE_ERR_PERMISSION;
    case EOPNOTSUPP:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
      return BRINDLE_ERR_UNSUPPORTED;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
      return BRINDLE_ERR_INVALID_ARGUMENT;
    default:
      break;
  }
  switch (static_cast<Errc>(code.value())) {
    case Errc::exists:
      return BRINDLE_ERR_ALREADY_EXISTS;
    case Errc::not_found:
    case Errc::no_device:
      return BRINDLE_ERR_NOT_FOUND;
    case Errc::invalid:
    case Errc::range:
    case Errc::no_address:
      return BRINDLE_ERR_INVALID_ARGUMENT;
    case Errc::not_supported:
    case Errc::af_not_supported:
      return BRINDLE_ERR_UNSUPPORTED;
    case Errc::permission:
    case Errc::access:
      return BRINDLE_ERR_PERMISSION;
    case Errc::no_memory:
      return BRINDLE_ERR_RESOURCE_EXHAUSTED;
    case Errc::again:
    case Errc::busy:
    case Errc::interrupted:
    case Errc::dump_interrupted:
      return BRINDLE_ERR_UNAVAILABLE;
    default:
      return BRINDLE_ERR_INTERNAL;
  }
}

}  // namespace brindle::netlink
