// sshd's StrictModes for plugins: the code hostd's workers run must not be replaceable by
// anyone but root or the user hostd runs as.
#pragma once

#include <string>

namespace hostd::master {

/// Opens the plugin for reading and checks what was opened: the file itself (fstat of the
/// open file: what is checked is what is read), the configured plugins directory, and every
/// directory from the file's real location up to / must be owned by root or by hostd's
/// effective user and not writable by group or others (a root-owned sticky directory such
/// as /tmp is fine: nobody can rename what is not theirs in it). Returns the fd
/// (close-on-exec), or -1 and *why naming the path, its owner and mode, and the fix.
int openTrustedPlugin(const std::string& pluginPath, const std::string& pluginsDir, std::string* why);

}  // namespace hostd::master
