// Validating a plugin from the master without loading it into the master.
#pragma once

#include <string>

namespace hostd::master {

struct ProbeResult {
  bool ok = false;
  std::string name, version;  ///< from the descriptor, when ok
  std::string message;        ///< refusal / crash description, when !ok
};

/// Runs `exe --probe-plugin path` in a child process (a plugin whose static initialisers
/// crash or hang takes only the child down; bounded by timeoutMs) and reports what it saw.
ProbeResult probePlugin(const std::string& exe, const std::string& path, unsigned timeoutMs = 10000);

/// The child side: loads the plugin, prints one line ("OK <name> <version>" or the
/// refusal), returns the exit code (0 = acceptable).
int runPluginProbe(const std::string& path);

}  // namespace hostd::master
