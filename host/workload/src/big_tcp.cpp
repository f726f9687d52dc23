#include "brindle/workload/big_tcp.hpp"

#include <algorithm>
#include <optional>

#include "brindle/common/log.hpp"

namespace brindle::workload {

namespace {

uint32_t big_tcp_size(uint32_t uplink) {
  return uplink > kLegacyGsoMaxSize ? std::min(kBigTcpMaxSize, uplink) : 0;
}

BigTcpChoice choose(const BigTcpRequest& request) {
  BigTcpChoice choice;
  if (request.encapsulation != "none") {
    choice.reason = "the encapsulation is " +
                    (request.encapsulation.empty() ? std::string("not configured")
                                                   : "\"" + request.encapsulation + "\"") +
                    ": BIG TCP is only applied with encapsulation \"none\" (tunnels do not carry "
                    "packets above 64 KB)";
    return choice;
  }
  const std::optional<netlink::LinkInfo>& uplink = request.uplink;
  if (!uplink) {
    choice.reason = "no device carries the node's address";
    return choice;
  }
  choice.uplink = uplink->name;
  const netlink::GsoLimits& offered = uplink->gso;
  choice.veth_gso = big_tcp_limits(offered);
  auto shown = [](uint32_t size) { return size == 0 ? std::string("?") : std::to_string(size); };
  const std::string offered_text = "gso_ipv4_max_size " + shown(offered.gso_ipv4_max_size) +
                                   ", gro_ipv4_max_size " + shown(offered.gro_ipv4_max_size) +
                                   ", gso_max_size " + shown(offered.gso_max_size) +
                                   ", gro_max_size " + shown(offered.gro_max_size);
  if (choice.veth_gso.empty()) {
    choice.reason =
        "the uplink " + uplink->name + " offers no more than 65536 bytes (" + offered_text + ")";
  } else if (choice.veth_gso.gso_ipv4_max_size == 0 || choice.veth_gso.gro_ipv4_max_size == 0 ||
             choice.veth_gso.gso_max_size == 0 || choice.veth_gso.gro_max_size == 0) {
    choice.reason = "the uplink " + uplink->name + " offers more than 65536 bytes only for some " +
                    "limits (" + offered_text + ")";
  }
  return choice;
}

}  // namespace

netlink::GsoLimits big_tcp_limits(const netlink::GsoLimits& uplink) {
  return {.gso_max_size = big_tcp_size(uplink.gso_max_size),
          .gro_max_size = big_tcp_size(uplink.gro_max_size),
          .gso_ipv4_max_size = big_tcp_size(uplink.gso_ipv4_max_size),
          .gro_ipv4_max_size = big_tcp_size(uplink.gro_ipv4_max_size)};
}

BigTcpChoice choose_big_tcp(const BigTcpRequest& request) {
  if (!request.enabled) {
    return {};
  }
  BigTcpChoice choice = choose(request);
  if (request.encapsulation != "none") {
    log::warn("[workload] big_tcp is not applied", {{"reason", choice.reason}});
  } else if (choice.veth_gso.empty()) {
    log::info("[workload] big_tcp: pod veths keep 64 KB GSO/GRO sizes",
              {{"reason", choice.reason}});
  } else if (choice.reason.empty()) {
    log::info("[workload] big_tcp: pod veths get larger GSO/GRO sizes",
              {{"uplink", choice.uplink}, {"sizes", choice.veth_gso.to_string()}});
  } else {
    log::info("[workload] big_tcp: pod veths get larger GSO/GRO sizes",
              {{"uplink", choice.uplink},
               {"sizes", choice.veth_gso.to_string()},
               {"note", choice.reason}});
  }
  return choice;
}

}  // namespace brindle::workload
