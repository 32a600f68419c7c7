// sshd's StrictModes for plugins: the code hostd's workers run must not be replaceable by
// anyone but root or the user hostd runs as.
#pragma once

#include <string>

namespace hostd::master {

/// "" if the plugin file and the directories it lives in (the configured plugins directory,
/// and the real one if the file is a symlink) are each owned by root or by hostd's effective
/// user and not writable by group or others; else a message naming the path, its owner and
/// mode, and the fix.
std::string untrustedPlugin(const std::string& pluginPath, const std::string& pluginsDir);

}  // namespace hostd::master
