// What a master hands a worker process, besides frames: fds, environment, exit codes.
// Like Node's NODE_UNIQUE_ID / NODE_CHANNEL_FD: the worker is the hostd binary itself,
// exec'ed with these set.
#pragma once

namespace hostd::ipc {

/// Fds in the worker (everything else is close-on-exec in the master).
constexpr int kWorkerListenFd = 3;     ///< the shared listening socket
constexpr int kWorkerChannelInFd = 4;  ///< master -> worker frames (read end)
constexpr int kWorkerChannelOutFd = 5; ///< worker -> master frames (write end)
constexpr int kWorkerConfigFd = 6;     ///< sealed memfd: the validated config as JSON; read
                                       ///< and closed before anything else runs
constexpr int kWorkerScoreboardFd = 7; ///< memfd: this worker's scoreboard slot; mapped and
                                       ///< closed at start (ipc/scoreboard.h)

/// Environment of a worker process.
constexpr const char* kEnvWorkerId = "HOSTD_WORKER_ID";         ///< slot id, 1..workers
constexpr const char* kEnvChannelFd = "HOSTD_CHANNEL_FD";       ///< "4,5": in, out
constexpr const char* kEnvListenFd = "HOSTD_LISTEN_FD";         ///< "3"
constexpr const char* kEnvConfigFd = "HOSTD_CONFIG_FD";         ///< "6" (never the config itself:
                                                                ///< the environment is size-limited)
constexpr const char* kEnvScoreboardFd = "HOSTD_SCOREBOARD_FD"; ///< "7", or "-1" if there is none
constexpr const char* kEnvPluginPath = "HOSTD_PLUGIN_PATH";     ///< the .so to load
constexpr const char* kEnvMasterPid = "HOSTD_MASTER_PID";       ///< for the orphan check

/// Worker exit codes the master acts on (like nginx's "exited with fatal code 2").
constexpr int kExitOk = 0;     ///< drained and left as asked
constexpr int kExitFatal = 2;  ///< cannot start (plugin load/init failed): never respawned in a loop

}  // namespace hostd::ipc
