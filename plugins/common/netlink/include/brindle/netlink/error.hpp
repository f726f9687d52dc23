// Errors of the netlink adapter: libnl error codes as a std::error_category, and the exception
// every failing operation throws (naming the operation, libnl's cause, the kernel errno and the
// kernel's extended-ack message when it sent one).
#pragma once

#include <string>
#include <system_error>

#include "brindle/abi.h"

namespace brindle::netlink {

// libnl's NLE_* codes (netlink/errno.h); the values are libnl's, checked at compile time in
// error.cpp, so that users compare codes without including libnl headers.
enum class Errc {
  failure = 1,            // NLE_FAILURE: unspecific (the kernel errno says more)
  interrupted = 2,        // NLE_INTR
  bad_socket = 3,         // NLE_BAD_SOCK
  again = 4,              // NLE_AGAIN
  no_memory = 5,          // NLE_NOMEM
  exists = 6,             // NLE_EXIST
  invalid = 7,            // NLE_INVAL
  range = 8,              // NLE_RANGE
  message_size = 9,       // NLE_MSGSIZE
  not_supported = 10,     // NLE_OPNOTSUPP
  af_not_supported = 11,  // NLE_AF_NOSUPPORT
  not_found = 12,         // NLE_OBJ_NOTFOUND
  no_attribute = 13,      // NLE_NOATTR
  missing_attribute = 14,
  af_mismatch = 15,
  seq_mismatch = 16,
  message_overflow = 17,
  message_truncated = 18,
  no_address = 19,        // NLE_NOADDR: address not available
  permission = 28,        // NLE_PERM
  access = 27,            // NLE_NOACCESS
  busy = 25,              // NLE_BUSY
  no_device = 31,         // NLE_NODEV
  dump_interrupted = 33,  // NLE_DUMP_INTR
};

// Category "libnl"; message() is nl_geterror() of the code.
const std::error_category& libnl_category() noexcept;
std::error_code make_error_code(Errc code) noexcept;
// From a libnl return value (negative or positive NLE_* code).
std::error_code libnl_error(int nle_code) noexcept;

class NetlinkError : public std::system_error {
 public:
  // what(): "<operation>: <libnl cause>[ (kernel: <strerror(errno)>[: <extack message>])]".
  NetlinkError(std::error_code code, std::string operation, int kernel_errno = 0,
               std::string kernel_message = {});

  const char* what() const noexcept override { return description_.c_str(); }
  const std::string& operation() const { return operation_; }
  int kernel_errno() const { return kernel_errno_; }  // 0 when not from the kernel
  const std::string& kernel_message() const { return kernel_message_; }  // extended ack

  bool is_not_found() const;  // missing object or device
  bool is_exists() const;

 private:
  std::string operation_;
  std::string description_;
  int kernel_errno_;
  std::string kernel_message_;
};

// The ABI status that best describes a netlink failure (for plugins reporting to the host).
brindle_status_t to_status(const std::error_code& code, int kernel_errno = 0) noexcept;

}  // namespace brindle::netlink

template <>
struct std::is_error_code_enum<brindle::netlink::Errc> : std::true_type {};
