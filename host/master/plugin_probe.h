// Validating a plugin from the master without loading it into the master, and without
// blocking the master's loop: the probe is a child process watched from the loop.
#pragma once

#include "config/config.h"

#include <uv.h>

#include <functional>
#include <string>

namespace hostd::master {

struct ProbeResult {
  bool ok = false;
  std::string name, version;  ///< from the descriptor, when ok
  std::string message;        ///< refusal / crash description, when !ok
};

/// Starts `exe --probe-plugin path` on `loop` (a plugin whose static initialisers crash or
/// hang takes only the child down), as `as` when hostd is root (those initialisers run
/// with the workers' identity, not root's), and calls done(result) once, from the loop, when it
/// exited and its output (capped at 4 KiB) was read, or timeoutMs ([plugins] load_timeout) passed (the child is
/// then SIGKILLed). The child inherits stdio only. Returns at once with the child's pid
/// (0 if it could not start: done has then run already); the loop keeps serving.
int startPluginProbe(uv_loop_t* loop, const std::string& exe, const std::string& path, unsigned timeoutMs,
                     const config::RunAs& as, std::function<void(ProbeResult)> done);

/// The same, for callers that have no loop running (start-up, `hostd -t`): runs the probe
/// on a private loop and waits for it.
ProbeResult probePlugin(const std::string& exe, const std::string& path, const config::RunAs& as,
                        unsigned timeoutMs);

/// The child side: loads the plugin, prints one line ("OK <name> <version>" or the
/// refusal), returns the exit code (0 = acceptable).
int runPluginProbe(const std::string& path);

}  // namespace hostd::master
