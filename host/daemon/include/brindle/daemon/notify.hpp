// systemd service notification (sd_notify); a no-op when not started by systemd with
// Type=notify (NOTIFY_SOCKET unset).
#pragma once

#include <string_view>

namespace brindle::daemon {

void notify_ready();
void notify_reloading();  // followed by notify_ready() when the reload is over
void notify_stopping();
// Free-form status line shown by `systemctl status`.
void notify_status(std::string_view status);

}  // namespace brindle::daemon
