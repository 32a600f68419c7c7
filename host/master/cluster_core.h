// The master's decisions as a pure state machine: events in (a worker spawned, failed to
// spawn, became ready, asked to be replaced, exited, missed heartbeats; a reload was asked
// for, its probe answered; stop), commands out (spawn a slot, drain or kill a worker, arm a
// respawn timer, close the listening sockets, log a line). No libuv, no syscalls, no clock:
// the caller passes the time. The shell (Master) executes the commands in order and feeds
// their outcomes back as events; tests drive it the same way (tests/unit/test_cluster_core).
#pragma once

#include "master/restart_policy.h"

#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hostd::master {

struct Command {
  enum class Kind {
    Spawn,           ///< start a worker: serial, slot, gen (its build), replaces (skip it if
                     ///< worker(serial) is gone: a stop dropped it before it started)
    Drain,           ///< ask a worker to finish its requests and exit: serial, text (why)
    Kill,            ///< SIGKILL a worker: serial (the reason was logged)
    ArmRespawn,      ///< call respawnDue(slot) in delayMs (re-arming replaces the timer)
    CancelRespawn,   ///< the slot's respawn timer is off
    Probe,           ///< begin a reload: load the config, probe its plugin, then reloadAccepted/Refused
    KillProbe,       ///< stop a running probe: nothing will use its answer
    Rollback,        ///< the build `gen` failed: restore the previous one, discard its copy
    ReloadFinished,  ///< the build `gen` (the previous one) is no longer used by any slot
    CloseListeners,  ///< nothing can serve: refuse clients instead of leaving them hanging
    Finish,          ///< every worker is gone after a stop: close everything, exit with `code`
    Log,             ///< a log line at `level`
    Notify,          ///< the service's state changed: `text` in sd_notify(3) form ("READY=1\nSTATUS=..."),
                     ///< `code` the ReloadOutcome when it ends a reload
  };
  enum class Level { Information, Warning, Error, Critical, Fatal };
  enum ReloadOutcome { NotAReload = 0, Finished = 1, Refused = 2, RolledBack = 3 };

  explicit Command(Kind k) : kind(k) {}

  Kind kind;
  uint64_t serial = 0;
  int slot = 0;
  uint64_t gen = 0;
  uint64_t replaces = 0;
  uint64_t delayMs = 0;
  int code = 0;
  Level level = Level::Information;
  std::string text;

  /// One line for tests and debugging: "spawn slot=1 #3 gen=1", "kill #2", "log H0110", ...
  std::string str() const;
};

class ClusterCore {
 public:
  /// What the current build asks of the cluster (from its [cluster] section).
  struct Params {
    unsigned workers = 1;
    RestartPolicy::Params policy;
    unsigned heartbeatTimeoutS = 10;
    unsigned startTimeoutS = 60;
  };
  enum class State { Starting, Ready, Stopping };
  /// "starting", "ready", "stopping" (hostctl status, metrics).
  static const char* stateName(State s);
  enum class Phase { Idle, Probing, Rolling };

  struct Worker {
    uint64_t serial = 0;
    int slot = 0;
    uint64_t gen = 0;
    int pid = 0;  ///< 0 until spawned()
    State state = State::Starting;
    uint64_t replaces = 0;            ///< the worker it takes over from, once ready
    bool replacementSpawned = false;  ///< it asked to be replaced and its successor exists or is held
    bool killed = false;              ///< SIGKILL sent
    bool killedAsHung = false;        ///< ... because it stopped answering while serving
    uint64_t startedMs = 0;
    uint64_t lastHeartbeatMs = 0;
    std::string lastError;  ///< why it could not start (init_failed, start_timeout)
  };

  static constexpr int kExitStartFailed = 1;  ///< no worker could start
  static constexpr int kExitNoWorkers = 3;    ///< every slot gave up: a supervisor should restart us

  /// `label` names the build in log lines ("plugin hello 1.0").
  ClusterCore(uint64_t gen, Params p, std::string label);

  // ---- events ----
  /// The first start: one worker per slot.
  void start(uint64_t nowMs);
  /// A Spawn command succeeded (the process exists).
  void spawned(uint64_t serial, int pid);
  /// The process exists but could not be set up (its control channel): killed.
  void spawnedBroken(uint64_t serial, int pid, const std::string& error);
  /// A Spawn command failed before a process existed (EMFILE, E2BIG, fork failure).
  void spawnFailed(uint64_t serial, const std::string& error, uint64_t nowMs);
  void ready(uint64_t serial, uint64_t nowMs);
  void heartbeat(uint64_t serial, uint64_t nowMs);
  /// The worker said why it cannot start (init_failed), before it exits.
  void initFailed(uint64_t serial, const std::string& why);
  /// It asks to be replaced: `planned` (recycling) at once, else through the restart policy.
  void suicide(uint64_t serial, const std::string& why, bool planned, uint64_t nowMs);
  /// It broke the protocol (or could not be set up): killed and replaced.
  void protocolError(uint64_t serial, const std::string& why);
  /// It did not exit within graceful_timeout of its Drain.
  void gracefulTimeout(uint64_t serial);
  /// The process exited (`how`: "exited with code 2", "killed by signal 11 (...)").
  /// `blame` says what its plugin was doing ("while serving GET / from ... for 3 ms"), or
  /// is empty. Returns true when that request is to blame (crash or hang): count it.
  bool exited(uint64_t serial, const std::string& how, bool fatalCode, const std::string& blame, uint64_t nowMs);
  /// A respawn timer armed by ArmRespawn fired.
  void respawnDue(int slot, uint64_t nowMs);
  /// The watchdog (once a second): hung and never-ready workers are killed. A worker for
  /// which `framesWaiting(serial)` says its frames sit unread is not judged this time:
  /// the loop was late, not the worker (its heartbeats are read next).
  void tick(uint64_t nowMs, const std::function<bool(uint64_t serial)>& framesWaiting = nullptr);
  /// SIGHUP or the plugins watch: a Probe command, or a line saying why not now.
  void reloadRequested(const std::string& trigger);
  /// The reload's config or plugin was refused (stopping: silently).
  void reloadRefused(const std::string& why);
  /// The reload's build `gen` passed its probe: roll it out one slot at a time.
  void reloadAccepted(uint64_t gen, Params p, std::string label, uint64_t nowMs);
  /// SIGTERM/SIGINT (graceful) or SIGQUIT / a second SIGTERM (not).
  void stop(bool graceful);
  /// Something the cluster cannot run without failed (`line` is logged as fatal): stop now,
  /// exit with `code`.
  void fail(const std::string& line, int code);
  /// hostctl scale: n slots from now on (until a reload reads the config again): new
  /// slots start, slots past n drain. Returns "" or why not now.
  std::string scale(unsigned n, uint64_t nowMs);

  /// The commands produced so far, oldest first; the queue is emptied.
  std::vector<Command> take();

  // ---- queries ----
  const Worker* worker(uint64_t serial) const;
  const std::map<uint64_t, Worker>& workers() const { return workers_; }
  bool stopping() const { return stopping_; }
  bool startingUp() const { return startingUp_; }
  Phase phase() const { return phase_; }
  uint64_t generation() const { return gen_; }
  const Params& params() const { return params_; }
  /// Restarts of the slot counted in the current window (for the SIGUSR2 line).
  size_t recentRestarts(int slot, uint64_t nowMs);
  bool givenUp(int slot) const;
  /// For metrics: worker restarts by reason (crash, hung, suicide, recycle, reload,
  /// spawn_failure) and reloads by result (finished, refused, rolled_back).
  const std::map<std::string, uint64_t>& restartsByReason() const { return restarts_; }
  const std::map<std::string, uint64_t>& reloadsByResult() const { return reloads_; }

 private:
  struct Slot {
    RestartPolicy policy;
    bool givenUp = false;
    uint64_t replaces = 0;  ///< a suicided worker waiting for its held-back replacement
    bool armed = false;     ///< an ArmRespawn is pending (a respawnDue without one is stale)
    explicit Slot(RestartPolicy::Params p) : policy(p) {}
  };

  Worker* find(uint64_t serial);
  Slot& slot(int id);
  std::string describe(const Worker& w) const;
  void log(Command::Level level, std::string text);
  void spawnSlot(int slot, uint64_t replaces, uint64_t nowMs);
  void drain(Worker& w, const std::string& why);
  void kill(Worker& w, const std::string& why);
  /// An unexpected exit (or failed spawn) of the slot: the restart policy decides; `reason`
  /// counts the restart in restartsByReason().
  void crash(int slot, uint64_t ranMs, const std::string& how, const char* reason, uint64_t nowMs);
  void giveUp(int slot);
  void arm(int slot, uint64_t delayMs);
  /// Cancels the slot's respawn timer and its held-back replacement, if any.
  void cancelRespawn(int slot);
  /// Every slot of 1..params_.workers exists (its policy, its timer).
  void ensureSlots();
  void exitIfNoneCanServe();
  void startupFailed(const std::string& why);
  void rollNext(uint64_t nowMs);
  void finishReload();
  void rollback(const std::string& why, uint64_t nowMs);
  void maybeFinish();
  void notify(std::string state, Command::ReloadOutcome outcome = Command::NotAReload);
  void push(Command c) { out_.push_back(std::move(c)); }

  uint64_t gen_;
  Params params_;
  std::string label_;
  uint64_t prevGen_ = 0;  ///< Rolling: what a rollback restores
  Params prevParams_;
  std::string prevLabel_;
  std::map<uint64_t, Worker> workers_;  ///< live (or about to be spawned) processes by serial
  std::map<int, std::unique_ptr<Slot>> slots_;
  uint64_t nextSerial_ = 1;
  bool startingUp_ = true;
  Phase phase_ = Phase::Idle;
  int rollSlot_ = 0;  ///< Rolling: the slot being moved to the new build
  bool stopping_ = false;
  bool finished_ = false;
  int exitCode_ = 0;
  uint64_t lastTickMs_ = 0;
  std::deque<Command> out_;
  std::map<std::string, uint64_t> restarts_, reloads_;
};

}  // namespace hostd::master
