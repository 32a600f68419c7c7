// systemd integration without libsystemd: the notify protocol (sd_notify(3)) and socket
// activation (sd_listen_fds(3)). Both are inert when systemd did not ask for them.
#pragma once

#include <string>

namespace hostd::app {

/// Takes $NOTIFY_SOCKET, $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES out of the environment
/// (workers and plugin children never see them) and remembers what they said. Call once,
/// first thing in the master.
void takeSystemdEnvironment();

/// Sends `state` ("READY=1\nSTATUS=...") to the notify socket, if systemd gave one. Never
/// blocks; a failure is ignored (systemd is gone or not listening).
void sdNotify(const std::string& state);

/// The listening socket systemd passed (socket activation: LISTEN_PID was ours and
/// LISTEN_FDS = 1, so fd 3), or -1 when none was passed. More than one socket is an error
/// (*error set, returns -2): hostd serves one address.
int sdListenFd(std::string* error);

}  // namespace hostd::app
