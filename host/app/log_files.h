// Log files the master prepares for everyone: [log] file (the server log, which becomes
// stderr of the master and of every worker) and [log] access (written by workers).
#pragma once

#include "config/config.h"

#include <string>

namespace hostd::app {

/// Opens `path` for appending, creating it (0640) if logrotate moved it away, and hands it
/// to the workers' user ([server] user), so that workers running as that user can reopen
/// it. Returns the fd (close-on-exec), or -1 and *error.
int prepareLogFile(const std::string& path, const config::RunAs& as, std::string* error);

/// [log] file: the server log replaces stderr (fd 2) here, and so in every process started
/// afterwards. Returns "" or why not.
std::string redirectStderr(const std::string& path, const config::RunAs& as);

}  // namespace hostd::app
