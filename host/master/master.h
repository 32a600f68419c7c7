// The master process: owns the listening sockets and the worker processes, and only reacts
// — to worker frames, worker exits, signals, timers, hostctl. It never runs plugin code.
// What to do about each event is decided by core_ (master/cluster_core.h, pure); this class
// is the shell that turns events into core_ calls and carries out the commands it returns.
#pragma once

#include "config/config.h"
#include "ipc/fd_passing.h"
#include "master/cluster_core.h"
#include "master/request_server.h"
#include "master/listener.h"
#include "master/plugin_store.h"
#include "master/shared_state.h"
#include "master/poison_tracker.h"
#include "master/sealed_file.h"
#include "master/spawner.h"
#include "master/worker_process.h"

#include <Poco/Logger.h>
#include <uv.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hostd::master {

/// One validated (config, plugin build) pair. Workers are spawned from the current one;
/// a reload builds the next and rolls the workers over to it.
struct Generation {
  uint64_t id = 0;
  config::Config cfg;
  SpawnSpec spec;  ///< spec.pluginPath is the private copy, spec.configFd configFile's
  std::shared_ptr<SealedFile> configFile;  ///< what the workers read their config from
  std::string pluginName, pluginVersion;
};

class Master {
 public:
  /// `first` is validated and its plugin copy lives in `store`; `listener` is bound and
  /// listening (owned by the caller; in reuseport mode it is slot 1's socket).
  Master(std::shared_ptr<Generation> first, const Listener& listener, PluginStore& store);
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  /// Starts the workers and runs the loop until the cluster stopped. Returns the exit
  /// code: 0 after SIGTERM/SIGINT/SIGQUIT, 1 if no worker could start, kExitNoWorkers
  /// when every slot gave up later (crash loops) and nothing could serve.
  int run();
  static constexpr int kExitNoWorkers = ClusterCore::kExitNoWorkers;

  /// Builds a validated generation from a config (copy + probe of its plugin, blocking:
  /// for start-up, before the loop runs). On failure returns nullptr and sets *why.
  static std::shared_ptr<Generation> prepare(const config::Config& cfg, uint64_t id, int listenFd,
                                             PluginStore& store, std::string* why);
  /// The generation of a config whose plugin copy was accepted. nullptr and *why on failure.
  static std::shared_ptr<Generation> makeGeneration(const config::Config& cfg, uint64_t id, int listenFd,
                                                    const PluginStore::Prepared& plugin, std::string* why);

 private:
  // Decisions: core_ decides, apply() carries its commands out (and feeds their outcomes
  // back to it) until none are left.
  void apply();
  void execute(const Command& c);
  /// Command::Spawn: fork+exec a worker of build c.gen; spawned() or spawnFailed() follows.
  void startWorker(const Command& c);
  void drainWorker(WorkerProcess& wp);
  void armRespawn(int slot, uint64_t delayMs, bool arm);
  /// Command::Finish: close every handle so that uv_run returns.
  void finish(int code);
  static ClusterCore::Params coreParams(const config::Config& cfg);
  static std::string label(const Generation& g);

  // One worker's frames and exit, turned into events.
  void onFrame(WorkerProcess& wp, ipc::Frame& f);
  void onExit(WorkerProcess& wp, int64_t status, int signal);
  /// A crash or hang in the middle of this request: counted against its route, which is
  /// quarantined past [cluster] quarantine_after within quarantine_seconds ([H0142]).
  void countPoison(const ipc::Score& sc);
  /// A starting worker (not reading its channel yet) with more than kStartingQueueCap
  /// queued: state changes to it coalesce into a snapshot at ready, messages are dropped.
  bool backlogged(WorkerProcess& wp);
  static constexpr size_t kStartingQueueCap = 4 << 20;
  /// The active quarantines, to a worker just spawned.
  void sendQuarantines(WorkerProcess& wp);
  /// A plugin message: to every serving worker (broadcast) or to one slot (send_to).
  void relay(WorkerProcess& from, const std::string& frame);
  /// A shared-state write: applied by state_, acknowledged to the writer.
  void onStateWrite(WorkerProcess& from, const std::string& frame);
  /// Sends the full state to one worker (at spawn, before it can run init).
  void sendSnapshot(WorkerProcess& wp);
  /// The worker broke the protocol: killed and replaced ([H0111]).
  void protocolError(WorkerProcess& wp, const std::string& why);
  void release(WorkerProcess& wp);
  WorkerProcess* find(uint64_t serial);
  /// What the core says of it (Starting if it is unknown: not serving).
  ClusterCore::State stateOf(const WorkerProcess& wp) const;
  /// The listening socket a worker of this slot inherits: the one socket, or in reuseport
  /// mode the slot's own (created on first use, kept across restarts and reloads).
  int listenFdFor(int slot);
  void retireSlotSocket(int slot);
  /// Reuseport group steering to match current_'s scheduling (see Listener).
  void steerForScheduling();

  // Reload: Command::Probe -> load the config, probe the new build -> the core rolls it out.
  void reload(const std::string& trigger);
  /// The reload's probe answered: hand the core the new build, or its refusal.
  void onReloadProbed(const config::Config& cfg, const PluginStore::Prepared& copy, const ProbeResult& probe);
  /// Command::Rollback / ReloadFinished: which build the shell keeps.
  void onRollback(uint64_t failed);
  void onReloadFinished();
  /// Starts, moves or stops the plugins-directory watch to match current_->cfg.
  void updateWatch();
  void onPluginsChanged(const char* filename);

  // round_robin: the master accepts and hands connection i to ready worker (i + 1) mod n.
  void updateAccepting();
  void acceptAndDispatch();
  bool dispatch(const ipc::Accepted& c);

  // Control socket (hostctl): master_control.cpp.
  void startControl();
  void onControl(const std::string& line, RequestServer::Reply reply);
  std::string statusJson();
  /// A reload ended (Command::Notify with an outcome): answer the hostctl reloads waiting.
  void answerReloads(int outcome, const std::string& status);

  // [metrics] (master_metrics.cpp).
  void startMetrics();
  std::string metricsText();
  /// A worker exits: its counters stay in its slot's totals.
  void retireCounters(const WorkerProcess& wp);

  // Cluster.
  void onSignal(int sig);
  void closeListeners();
  /// SIGUSR1, hostctl reopen-logs: recreate [log] file and [log] access, then every worker
  /// reopens them ([H0147]). Returns "" or what failed.
  std::string reopenLogs(const std::string& trigger);
  std::string describe(const WorkerProcess& wp) const;
  uint64_t now() const { return uv_now(loop_); }

  /// A slot's respawn timer (Command::ArmRespawn).
  struct RespawnTimer {
    Master* master = nullptr;
    int slot = 0;
    uv_timer_t timer{};
  };

  ClusterCore core_;  ///< every lifecycle decision (pure; see cluster_core.h)
  std::shared_ptr<Generation> current_;
  std::shared_ptr<Generation> previous_;  ///< during a reload: what a rollback restores
  const Listener& listener_;
  int listenFd_;
  std::map<int, Listener> slotListeners_;  ///< reuseport: slots 2..n (slot 1 uses listener_)
  bool steered_ = false;                   ///< new connections forced to the main socket
  PluginStore& store_;
  uv_loop_t* loop_;
  Poco::Logger& log_;
  std::map<uint64_t, WorkerProcess*> workers_;  ///< by serial; live processes only
  std::map<int, std::unique_ptr<RespawnTimer>> respawnTimers_;
  bool applying_ = false;  ///< apply() is running: a nested call leaves the queue to it
  int probePid_ = 0;  ///< a reload's plugin probe (the loop goes on serving), killed on stop
  PoisonTracker poison_;  ///< routes that crash or hang workers ([cluster] quarantine_*)
  uint64_t quarantines_ = 0;  ///< routes quarantined so far
  bool finished_ = false;  ///< loop handles closed; uv_run is about to return
  int exitCode_ = 0;
  uv_signal_t signals_[6]{};
  uv_timer_t watchdog_{};
  uv_fs_event_t* watch_ = nullptr;  ///< [plugins] watch: the plugins directory
  std::string watchedDir_;
  uv_timer_t debounce_{};       ///< reload once the directory has been quiet for a moment
  uv_poll_t acceptPoll_{};      ///< round_robin: readiness of the listening socket
  bool accepting_ = false;
  size_t rrNext_ = 0;           ///< round_robin: index of the next ready worker
  uint64_t dropped_ = 0;        ///< round_robin: connections no ready worker could take
  std::unique_ptr<SharedState> state_;  ///< [state]: fixed at startup (a reload keeps it)
  std::unique_ptr<RequestServer> control_;             ///< [control] socket, if any
  std::vector<RequestServer::Reply> pendingReloads_;   ///< hostctl reloads waiting for the outcome
  uint64_t startedMs_ = 0;
  std::unique_ptr<RequestServer> metrics_;  ///< [metrics] listen, if set
  std::map<int, ipc::Heartbeat> retired_;   ///< counters of exited workers, by slot
  uint64_t stateWrites_ = 0;
};

}  // namespace hostd::master
