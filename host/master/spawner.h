// Starting a worker process: hostd itself, by posix_spawn (app/spawn.h), with its fds and
// environment.
#pragma once

#include "master/worker_process.h"

#include <string>

namespace hostd::master {

struct SpawnSpec {
  std::string exe;          ///< the hostd binary (uv_exepath)
  int listenFd = -1;
  bool roundRobin = false;  ///< fd 3 is a hand-off socket from the master, not the listener
  int configFd = -1;        ///< a SealedFile with config::toJson of the validated config
  std::string pluginPath;
  int masterPid = 0;
};

/// Spawns a worker into `wp` (slot set by the caller): two Poco::Pipe become its control
/// channel (fds 4 and 5 in the child), the listening socket becomes fd 3, the config file
/// fd 6, stdio is shared; nothing else crosses exec (every fd of ours is close-on-exec, and
/// the worker closes anything else it finds at start). With roundRobin, fd 3
/// is instead the worker's end of a hand-off socketpair and wp.handoffFd the master's.
/// On success wp.pid, wp.pidfd with wp.exitPoll (its end, reaped: onExit(wp, exit status,
/// signal)) and wp.channel (opened, not started) are set and 0 is returned; else a
/// negative errno code and *error says which call failed.
using WorkerExitFn = void (*)(WorkerProcess& wp, int64_t exitStatus, int signal);
int spawnWorker(uv_loop_t* loop, const SpawnSpec& spec, WorkerProcess& wp, WorkerExitFn onExit,
                std::string* error);

}  // namespace hostd::master
