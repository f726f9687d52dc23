#include "ipip_link.hpp"

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include <memory>

namespace brindle_ipip {
namespace {

struct SocketDeleter {
  void operator()(nl_sock* sock) const { nl_socket_free(sock); }
};
struct LinkDeleter {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};

CreateResult failure(CreateResult::Outcome outcome, const std::string& what, int code) {
  return {outcome, what + ": " + nl_geterror(code)};
}

}  // namespace

CreateResult create_ipip_link(const std::string& name) {
  std::unique_ptr<nl_sock, SocketDeleter> sock(nl_socket_alloc());
  if (!sock) {
    return {CreateResult::Outcome::failed, "cannot allocate a netlink socket"};
  }
  if (const int rc = nl_connect(sock.get(), NETLINK_ROUTE); rc < 0) {
    return failure(CreateResult::Outcome::failed, "connecting to rtnetlink", rc);
  }
  std::unique_ptr<rtnl_link, LinkDeleter> link(rtnl_link_alloc());
  if (!link) {
    return {CreateResult::Outcome::failed, "cannot allocate a link object"};
  }
  rtnl_link_set_name(link.get(), name.c_str());
  if (const int rc = rtnl_link_set_type(link.get(), "ipip"); rc < 0) {
    return failure(CreateResult::Outcome::failed, "setting link kind ipip", rc);
  }
  const int rc = rtnl_link_add(sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (rc == 0) {
    return {CreateResult::Outcome::created, {}};
  }
  const int code = rc < 0 ? -rc : rc;
  if (code == NLE_EXIST) {
    return {CreateResult::Outcome::exists, {}};
  }
  // EOPNOTSUPP ("Unknown device type"): no ipip link kind, even after the module request.
  if (code == NLE_OPNOTSUPP) {
    return failure(CreateResult::Outcome::unsupported, "creating ipip link \"" + name + "\"", code);
  }
  return failure(CreateResult::Outcome::failed, "creating ipip link \"" + name + "\"", code);
}

}  // namespace brindle_ipip
