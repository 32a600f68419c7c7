// The master process: owns the listening socket and the worker table, and only reacts —
// to worker frames, worker exits, signals and timers. It never runs plugin code.
#pragma once

#include "config/config.h"
#include "master/restart_policy.h"
#include "master/spawner.h"
#include "master/worker_process.h"

#include <Poco/Logger.h>
#include <uv.h>

#include <map>
#include <string>

namespace hostd::master {

class Master {
 public:
  /// `cfg` is validated; `listenFd` is bound and listening (owned by the caller).
  Master(config::Config cfg, int listenFd, std::string exe);
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  /// Starts the workers and runs the loop until the cluster stopped. Returns the exit
  /// code: 0 after SIGTERM/SIGINT/SIGQUIT, 1 if no worker could start.
  int run();

 private:
  // Lifecycle of one worker.
  WorkerProcess* spawn(int slot, uint64_t replaces = 0);
  void onFrame(WorkerProcess& wp, ipc::Frame& f);
  void onReady(WorkerProcess& wp);
  void onSuicide(WorkerProcess& wp, const std::string& reason);
  void onExit(WorkerProcess& wp, int64_t status, int signal);
  void askToStop(WorkerProcess& wp, const char* why);
  void kill(WorkerProcess& wp, const char* why);
  void release(WorkerProcess& wp);
  WorkerProcess* find(uint64_t serial);

  // Cluster.
  void onSignal(int sig);
  void stop(bool graceful);
  void startupFailed(const std::string& why);
  void checkHeartbeats();
  void maybeFinish();
  size_t liveWorkers() const { return workers_.size(); }
  std::string describe(const WorkerProcess& wp) const;
  uint64_t now() const { return uv_now(loop_); }

  config::Config cfg_;
  int listenFd_;
  SpawnSpec spec_;
  uv_loop_t* loop_;
  Poco::Logger& log_;
  RestartPolicy restarts_;
  std::map<uint64_t, WorkerProcess*> workers_;  ///< by serial; live processes only
  uint64_t nextSerial_ = 1;
  bool startingUp_ = true;
  bool stopping_ = false;
  bool finished_ = false;  ///< loop handles closed; uv_run is about to return
  int exitCode_ = 0;
  uv_signal_t signals_[5]{};
  uv_timer_t watchdog_{};
};

}  // namespace hostd::master
