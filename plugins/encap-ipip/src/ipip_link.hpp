// Private helper of the ipip plugin: the one rtnetlink request the shared adapter lacks.
#pragma once

#include <string>

namespace brindle_ipip {

// Outcome of asking the kernel (in the calling thread's network namespace) for an ipip link.
struct CreateResult {
  enum class Outcome { created, exists, unsupported, failed };
  Outcome outcome = Outcome::failed;
  std::string message;  // libnl's and the kernel's description, for errors
};

// Sends RTM_NEWLINK kind "ipip" named `name` (create, exclusive). The kernel loads the ipip module
// on demand, which itself creates the fallback device tunl0 in every namespace; the request then
// reports `exists` for "tunl0". A kernel without IPIP support answers EOPNOTSUPP: `unsupported`.
CreateResult create_ipip_link(const std::string& name);

}  // namespace brindle_ipip
