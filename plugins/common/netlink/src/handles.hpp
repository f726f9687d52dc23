// Private: move-only RAII owners for libnl objects. Never included by the public headers.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <utility>

namespace brindle::netlink::detail {

// Owns one reference to a libnl object; `Release` drops it.
template <typename T, void (*Release)(T*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T* raw) : raw_(raw) {}
  Handle(Handle&& other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.raw_, nullptr));
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  T* get() const { return raw_; }
  T* release() { return std::exchange(raw_, nullptr); }
  void reset(T* raw = nullptr) {
    if (raw_ != nullptr) {
      Release(raw_);
    }
    raw_ = raw;
  }
  explicit operator bool() const { return raw_ != nullptr; }
  // For out-parameters of libnl functions: `rtnl_link_get_kernel(..., link.out())`.
  T** out() {
    reset();
    return &raw_;
  }

 private:
  T* raw_ = nullptr;
};

inline void release_socket(nl_sock* s) {
  nl_socket_free(s);
}
inline void release_callbacks(nl_cb* c) {
  nl_cb_put(c);
}
inline void release_message(nl_msg* m) {
  nlmsg_free(m);
}
inline void release_address(nl_addr* a) {
  nl_addr_put(a);
}
inline void release_link(rtnl_link* l) {
  rtnl_link_put(l);
}
inline void release_route(rtnl_route* r) {
  rtnl_route_put(r);
}
inline void release_neigh(rtnl_neigh* n) {
  rtnl_neigh_put(n);
}
inline void release_addr(rtnl_addr* a) {
  rtnl_addr_put(a);
}
inline void release_cache(nl_cache* c) {
  nl_cache_free(c);
}

using SocketHandle = Handle<nl_sock, release_socket>;
using CallbacksHandle = Handle<nl_cb, release_callbacks>;
using MessageHandle = Handle<nl_msg, release_message>;
using AddressHandle = Handle<nl_addr, release_address>;
using LinkHandle = Handle<rtnl_link, release_link>;
using RouteHandle = Handle<rtnl_route, release_route>;
using NeighHandle = Handle<rtnl_neigh, release_neigh>;
using AddrHandle = Handle<rtnl_addr, release_addr>;
using CacheHandle = Handle<nl_cache, release_cache>;

}  // namespace brindle::netlink::detail
