#include "brindle/daemon/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <string>

#include "brindle/common/log.hpp"

namespace brindle::daemon {
namespace {

void send(const std::string& state) {
  const int result = sd_notify(0, state.c_str());
  if (result < 0) {
    log::warn("sd_notify failed", {{"state", state}, {"errno", -result}});
  } else if (result > 0) {
    log::debug("sd_notify sent", {{"state", state}});
  }
}

}  // namespace

void notify_ready() {
  send("READY=1");
}

void notify_reloading() {
  // systemd >= 253 (Type=notify-reload) wants the monotonic time with RELOADING=1.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ull +
                                  static_cast<unsigned long long>(now.tv_nsec) / 1000ull;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() {
  send("STOPPING=1");
}

void notify_status(std::string_view status) {
  send("STATUS=" + std::string(status));
}

}  // namespace brindle::daemon
