// [server] user / group: who workers run as. The master resolves the names (so `hostd -t`
// names an unknown user) and a worker started as root switches before any plugin code runs.
#pragma once

#include "config/config.h"

#include <string>

namespace hostd::config {

/// Resolves [server] user and group for a hostd running with effective uid geteuid():
///  - as root: `user` (default "nobody", like nginx; "root" only when written) and `group`
///    (default: the user's primary group), with the user's supplementary groups;
///  - as anyone else: no switch is possible; `user`/`group` must be unset or name what hostd
///    already runs as.
/// Throws ConfigError naming `file`, the key and what was expected.
RunAs resolveRunAs(const std::string& user, const std::string& group, const std::string& file);

/// In a process still running as root: setgroups, setgid, setuid, in that order, then
/// verified (real, effective and saved ids; for a non-root user, regaining root must fail).
/// Returns "" or what failed. A no-op when `who` does not switch or we are not root.
std::string dropPrivileges(const RunAs& who);

}  // namespace hostd::config
