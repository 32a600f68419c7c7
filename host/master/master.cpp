#include "master/master.h"

#include "app/logging.h"

#include "app/self_exe.h"
#include "ipc/fd_passing.h"
#include "ipc/message.h"
#include "ipc/state_wire.h"
#include "ipc/worker_contract.h"
#include "master/exit_policy.h"

#include <csignal>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <utility>
#include <vector>
#include <unistd.h>

namespace hostd::master {
namespace {
constexpr int kSignals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2};
}

Master::Master(std::shared_ptr<Generation> first, const Listener& listener, PluginStore& store)
    : current_(std::move(first)),
      listener_(listener),
      listenFd_(listener.fd()),
      store_(store),
      loop_(uv_default_loop()),
      log_(Poco::Logger::get("master")),
      poison_(current_->cfg.quarantine_after, uint64_t(current_->cfg.quarantine_seconds) * 1000) {}

std::shared_ptr<Generation> Master::prepare(const config::Config& cfg, uint64_t id, int listenFd,
                                            PluginStore& store, std::string* why) {
  PluginStore::Prepared p = store.prepare(cfg.pluginPath(), id);
  if (!p.ok) {
    *why = p.message;
    return nullptr;
  }
  std::shared_ptr<Generation> g = makeGeneration(cfg, id, listenFd, p, why);
  if (!g) store.discard(p.path);
  return g;
}

std::shared_ptr<Generation> Master::makeGeneration(const config::Config& cfg, uint64_t id, int listenFd,
                                                   const PluginStore::Prepared& p, std::string* why) {
  auto g = std::make_shared<Generation>();
  g->id = id;
  g->cfg = cfg;
  g->pluginName = p.name;
  g->pluginVersion = p.version;
  g->spec.exe = app::selfExecutable();
  if (g->spec.exe.empty()) g->spec.exe = "/proc/self/exe";
  g->spec.listenFd = listenFd;
  g->spec.roundRobin = cfg.scheduling == config::Scheduling::RoundRobin;
  config::Config forWorkers = cfg;
  // Workers never talk to Redis: keep the password out of their environment.
  forWorkers.state.url = cfg.state.redactedUrl();
  forWorkers.state.redis_password.clear();
  g->configFile = SealedFile::create("hostd-config", config::toJson(forWorkers), why);
  if (!g->configFile) return nullptr;
  g->spec.configFd = g->configFile->fd();
  g->spec.pluginPath = p.path;
  g->spec.masterPid = int(getpid());
  return g;
}

RestartPolicy::Params Master::policyParams() const {
  RestartPolicy::Params p;
  p.limit = current_->cfg.restart_limit;
  p.windowMs = uint64_t(current_->cfg.restart_window) * 1000;
  return p;
}

std::string Master::describe(const WorkerProcess& wp) const {
  return "worker " + std::to_string(wp.slot) + " (pid " + std::to_string(wp.pid) + ")";
}

int Master::run() {
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    uv_signal_init(loop_, &signals_[i]);
    signals_[i].data = this;
    uv_signal_start(&signals_[i], [](uv_signal_t* h, int sig) { static_cast<Master*>(h->data)->onSignal(sig); },
                    kSignals[i]);
  }
  uv_timer_init(loop_, &watchdog_);
  watchdog_.data = this;
  uv_timer_start(&watchdog_, [](uv_timer_t* t) { static_cast<Master*>(t->data)->checkHeartbeats(); }, 1000, 1000);
  uv_timer_init(loop_, &debounce_);
  debounce_.data = this;
  uv_poll_init(loop_, &acceptPoll_, listenFd_);
  acceptPoll_.data = this;
  updateWatch();
  SharedState::Sinks sinks;
  sinks.change = [this](const std::string& change) {
    // Every live worker, starting ones too: their snapshot went out at spawn, so this
    // change follows it on the same channel - unless a starting worker (not reading yet)
    // has too much queued: then its changes coalesce into a fresh snapshot once it is ready.
    for (auto& [serial, w] : workers_)
      if (w->channel && !backlogged(*w)) w->channel->send(ipc::MsgType::State, change);
  };
  sinks.reset = [this] {
    for (auto& [serial, w] : workers_)
      if (!backlogged(*w)) sendSnapshot(*w);  // a starting one gets its own when ready
  };
  state_ = std::make_unique<SharedState>(loop_, current_->cfg.state, std::move(sinks));
  log_.information("[H0137] shared state: " + state_->describe());

  // Workers get the full state before their init: with Redis, once it was loaded.
  state_->whenReady([this] {
    if (stopping_) return;
    log_.information("[H0102] starting " + std::to_string(current_->cfg.workers) + " worker(s) with plugin " +
                     current_->pluginName + " " + current_->pluginVersion + " (" + current_->cfg.pluginPath() + ")");
    for (unsigned s = 1; s <= current_->cfg.workers && !stopping_; ++s) spawn(int(s));
  });
  uv_run(loop_, UV_RUN_DEFAULT);
  return exitCode_;
}

Master::Slot& Master::slot(int id) {
  auto& s = slots_[id];
  if (!s) {
    s = std::make_unique<Slot>(policyParams());
    s->master = this;
    s->id = id;
    uv_timer_init(loop_, &s->respawn);
    s->respawn.data = s.get();
  }
  return *s;
}

WorkerProcess* Master::spawn(int slotId, uint64_t replaces) {
  auto* wp = new WorkerProcess;
  wp->master = this;
  wp->slot = slotId;
  wp->serial = nextSerial_++;
  wp->replaces = replaces;
  wp->generation = current_->id;
  wp->startedMs = wp->lastHeartbeatMs = now();
  uv_timer_init(loop_, &wp->killTimer);
  wp->killTimer.data = wp;
  std::string err;
  SpawnSpec spec = current_->spec;
  if (current_->cfg.scheduling == config::Scheduling::ReusePort) {
    try {
      spec.listenFd = listenFdFor(slotId);
    } catch (const ListenError& e) {
      err = e.what();
      spec.listenFd = -1;
    }
  }
  int rc = spec.listenFd < 0 && !spec.roundRobin ? -EBADF : spawnWorker(loop_, spec, *wp,
                       [](uv_process_t* p, int64_t status, int sig) {
                         auto* w = static_cast<WorkerProcess*>(p->data);
                         w->master->onExit(*w, status, sig);
                       },
                       &err);
  wp->listenFd = spec.roundRobin ? -1 : spec.listenFd;
  if (rc != 0) {
    if (err.empty()) err = "no listening socket for the slot";
    log_.error("[H0110] " + err + " (slot " + std::to_string(slotId) + ")");
    bool started = wp->pid > 0;
    if (started) {
      ::kill(wp->pid, SIGKILL);  // its exit callback releases it, and decides what follows
      return nullptr;
    }
    release(*wp);
    // Never leave the slot empty without a word: what a crash of it would have caused.
    if (startingUp_) startupFailed("could not start worker " + std::to_string(slotId) + ": " + err);
    else if (reloading_ && slotId == rollSlot_) rollback("worker " + std::to_string(slotId) + " of the new build could not be started: " + err);
    else if (!stopping_) onCrash(slotId, 0, "could not be started: " + err);
    return nullptr;
  }
  workers_[wp->serial] = wp;
  log_.information("[H0103] " + describe(*wp) + " started (generation " + std::to_string(wp->generation) + ")");
  wp->channel->start([this, serial = wp->serial](ipc::Frame& f) {
                       if (WorkerProcess* w = find(serial)) onFrame(*w, f);
                     },
                     [this, serial = wp->serial](const std::string& why) {
                       WorkerProcess* w = find(serial);
                       // EOF is how every exit looks from here; only a protocol error is news.
                       if (w && why.rfind("protocol error", 0) == 0) {
                         log_.error("[H0111] " + describe(*w) + ": " + why + "; replacing it");
                         kill(*w, "protocol error");
                       }
                     });
  sendQuarantines(*wp);  // before the snapshot: in force by the time it serves
  sendSnapshot(*wp);
  return wp;
}

WorkerProcess* Master::find(uint64_t serial) {
  auto it = workers_.find(serial);
  return it == workers_.end() ? nullptr : it->second;
}

void Master::onFrame(WorkerProcess& wp, ipc::Frame& f) {
  switch (f.type) {
    case ipc::MsgType::Ready:
      onReady(wp);
      break;
    case ipc::MsgType::Heartbeat:
      wp.lastHeartbeatMs = now();
      ipc::decodeHeartbeat(f.payload, &wp.counters);
      break;
    case ipc::MsgType::Suicide:
    case ipc::MsgType::Recycle:
      onSuicide(wp, f.payload, f.type == ipc::MsgType::Recycle);
      break;
    case ipc::MsgType::InitFailed:
      wp.lastError = app::logSafe(f.payload);  // the worker's words: one line, bounded
      break;
    case ipc::MsgType::State:
      onStateWrite(wp, f.payload);
      break;
    case ipc::MsgType::Message:
      relay(wp, f.payload);
      break;
    default:
      log_.warning("[H0112] " + describe(wp) + " sent an unexpected " + ipc::msgTypeName(f.type) + " frame");
      break;
  }
}

void Master::onReady(WorkerProcess& wp) {
  if (wp.state != WorkerProcess::State::Starting) return;
  wp.state = WorkerProcess::State::Ready;
  if (wp.stateStale) {  // changes were held back while it started: one snapshot instead
    wp.stateStale = false;
    sendSnapshot(wp);
    if (wp.droppedMessages)
      log_.warning("[H0143] " + describe(wp) + " is ready; " + std::to_string(wp.droppedMessages) +
                   " plugin message(s) to it were dropped while it was starting");
  }
  wp.lastHeartbeatMs = now();
  log_.information("[H0104] " + describe(wp) + " ready");
  updateAccepting();
  if (stopping_) {
    askToStop(wp, "shutting down");
    return;
  }
  if (wp.replaces) {
    if (WorkerProcess* old = find(wp.replaces)) askToStop(*old, "its replacement is ready");
  }
  if (reloading_ && wp.generation == current_->id && wp.slot == rollSlot_) {
    for (auto& [serial, w] : workers_) {
      if (w->slot == wp.slot && w->generation != current_->id) askToStop(*w, "reload: its new-generation replacement is ready");
    }
    ++rollSlot_;
    rollNext();
    return;
  }
  if (startingUp_) {
    size_t ready = 0;
    for (auto& [serial, w] : workers_) ready += w->state == WorkerProcess::State::Ready;
    if (ready >= current_->cfg.workers) {
      startingUp_ = false;
      log_.information("[H0105] all " + std::to_string(current_->cfg.workers) + " worker(s) ready");
    }
  }
}

void Master::onSuicide(WorkerProcess& wp, const std::string& reason, bool planned) {
  const std::string why = app::logSafe(reason);
  log_.warning("[H0106] " + describe(wp) + " asks to be replaced" + (planned ? " (recycling): " : ": ") + why);
  if (stopping_ || wp.replacementSpawned || wp.state == WorkerProcess::State::Stopping) return;
  wp.replacementSpawned = true;
  if (planned) {  // max_requests / max_memory_mb: routine, not a failure
    if (!spawn(wp.slot, wp.serial)) askToStop(wp, "no replacement could be started");
    return;
  }
  // A suicide is a restart like a crash: the same policy (backoff, give-up) decides, so a
  // client that can make a handler fail cannot make the cluster respawn at will.
  Slot& s = slot(wp.slot);
  RestartPolicy::Decision d = s.givenUp ? RestartPolicy::Decision{false, 0}
                                        : s.policy.onCrash(now(), now() - wp.startedMs, "suicide: " + why);
  if (!d.respawn) {
    if (!s.givenUp) giveUp(s);
    askToStop(wp, "its slot gave up: no replacement");
    return;
  }
  if (d.delayMs == 0 || wp.state != WorkerProcess::State::Ready) {
    if (!spawn(wp.slot, wp.serial)) askToStop(wp, "no replacement could be started");
    return;
  }
  // Replacement first, so capacity never dips; the old one serves until it is ready.
  log_.warning("[H0124] replacing worker slot " + std::to_string(wp.slot) + " in " + std::to_string(d.delayMs) +
               " ms (" + std::to_string(s.policy.recent(now())) + " restart(s) in the last " +
               std::to_string(current_->cfg.restart_window) + " s)");
  s.replaces = wp.serial;
  uv_timer_start(&s.respawn, [](uv_timer_t* t) {
    auto* sl = static_cast<Slot*>(t->data);
    Master* m = sl->master;
    WorkerProcess* old = m->find(std::exchange(sl->replaces, 0));
    // Meanwhile a reload or a rollback may have replaced or stopped it: then it has a successor.
    if (m->stopping_ || sl->givenUp || (old && (old->state == WorkerProcess::State::Stopping ||
                                               old->generation != m->current_->id)))
      return;
    if (!m->spawn(sl->id, old ? old->serial : 0) && old) m->askToStop(*old, "no replacement could be started");
  }, d.delayMs, 0);
}

void Master::askToStop(WorkerProcess& wp, const char* why) {
  if (wp.state == WorkerProcess::State::Stopping) return;
  wp.state = WorkerProcess::State::Stopping;
  updateAccepting();  // round_robin: no new connection goes to a draining worker
  log_.information("[H0107] asking " + describe(wp) + " to drain and exit (" + why + ")");
  if (!wp.channel || !wp.channel->send(ipc::MsgType::Restart)) ::kill(wp.pid, SIGTERM);
  uv_timer_start(&wp.killTimer, [](uv_timer_t* t) {
    auto* w = static_cast<WorkerProcess*>(t->data);
    w->master->kill(*w, "still running after graceful_timeout");
  }, uint64_t(current_->cfg.graceful_timeout) * 1000, 0);
}

void Master::kill(WorkerProcess& wp, const char* why) {
  log_.warning("[H0108] killing " + describe(wp) + " with SIGKILL: " + why);
  wp.killed = true;
  ::kill(wp.pid, SIGKILL);
}

void Master::onExit(WorkerProcess& wp, int64_t status, int sig) {
  std::string how = sig ? "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")"
                        : "exited with code " + std::to_string(status);
  ExitFacts facts;
  facts.stopping = stopping_;
  facts.askedToStop = wp.state == WorkerProcess::State::Stopping;
  facts.replacementSpawned = wp.replacementSpawned;
  facts.currentGeneration = wp.generation == current_->id;
  facts.wasStarting = wp.state == WorkerProcess::State::Starting;
  facts.reloading = reloading_;
  facts.startingUp = startingUp_;
  facts.fatalExitCode = !sig && status == ipc::kExitFatal;
  const bool expected = expectedExit(facts);
  const int slotId = wp.slot;
  const uint64_t serial = wp.serial, replaces = wp.replaces;
  const uint64_t ranMs = now() - wp.startedMs;
  const std::string lastError = wp.lastError;
  std::string line = "[H0109] " + describe(wp) + " " + how;
  if (!lastError.empty()) line += ": " + lastError;
  // A crash or a hang: name the request its plugin was running, and count it against the route.
  if ((!expected || wp.killedAsHung) && wp.score) {
    ipc::Score sc = wp.score->read();
    if (sc.busy) {
      line += " while serving " + app::logSafe(sc.method, 16) + " " + app::logSafe(sc.target, 256) + " from " +
              app::logSafe(sc.remote, 48) + " for " + std::to_string(sc.forMs) + " ms";
      countPoison(sc);
    }
  }
  if (expected) log_.information(line);
  else log_.error(line);
  workers_.erase(serial);
  release(wp);
  updateAccepting();
  retireSlotSocket(slotId);

  // A replacement that died before it was ready still owes its predecessor a stop.
  if (!stopping_ && replaces && facts.wasStarting) {
    if (WorkerProcess* old = find(replaces)) askToStop(*old, "its replacement failed");
  }
  switch (classifyExit(facts)) {
    case ExitDecision::FinishStop:
      maybeFinish();
      break;
    case ExitDecision::Expected:
      break;
    case ExitDecision::Rollback:
      rollback("worker " + std::to_string(slotId) + " of the new build " + how +
               (lastError.empty() ? " before it was ready" : ": " + lastError));
      break;
    case ExitDecision::StartupFailed:
      startupFailed(lastError.empty() ? "worker " + std::to_string(slotId) + " " + how + " before it was ready"
                                      : lastError);
      break;
    case ExitDecision::GiveUpFatal:
      log_.critical("[H0113] worker slot " + std::to_string(slotId) +
                    " exited with the fatal code (it cannot start): not respawning it until a reload");
      slot(slotId).givenUp = true;
      exitIfNoneCanServe();
      break;
    case ExitDecision::Crash:
      onCrash(slotId, ranMs, how);
      break;
  }
  // Also after an expected exit: the last worker of a slot that gave up (a refused suicide).
  if (!stopping_) exitIfNoneCanServe();
}

void Master::onCrash(int slotId, uint64_t ranMs, const std::string& how) {
  Slot& s = slot(slotId);
  if (s.givenUp) return;
  RestartPolicy::Decision d = s.policy.onCrash(now(), ranMs, how);
  if (!d.respawn) {
    giveUp(s);
    return;
  }
  log_.warning("[H0124] respawning worker slot " + std::to_string(slotId) + " in " + std::to_string(d.delayMs) +
               " ms (" + std::to_string(s.policy.recent(now())) + " restart(s) in the last " +
               std::to_string(current_->cfg.restart_window) + " s)");
  uv_timer_start(&s.respawn, [](uv_timer_t* t) {
    auto* sl = static_cast<Slot*>(t->data);
    if (!sl->master->stopping_ && !sl->givenUp) sl->master->spawn(sl->id);
  }, d.delayMs, 0);
}

void Master::cancelHeldReplacement(Slot& s) {
  uv_timer_stop(&s.respawn);
  // A worker whose replacement was held back no longer has one coming: its exit is a
  // crash again, and a rollback sees its slot as needing a worker if it stops.
  if (WorkerProcess* w = find(std::exchange(s.replaces, 0))) w->replacementSpawned = false;
}

void Master::giveUp(Slot& s) {
  s.givenUp = true;
  log_.critical("[H0114] giving up on worker slot " + std::to_string(s.id) + ": more than " +
                std::to_string(current_->cfg.restart_limit) + " restarts within " +
                std::to_string(current_->cfg.restart_window) + " s; last exits: " + s.policy.lastReasons() +
                "; the slot stays empty until a reload (SIGHUP)");
  exitIfNoneCanServe();
}

void Master::exitIfNoneCanServe() {
  if (stopping_) return;
  for (unsigned id = 1; id <= current_->cfg.workers; ++id)
    if (!slot(int(id)).givenUp) return;
  for (auto& [serial, w] : workers_)
    if (w->state == WorkerProcess::State::Ready) return;
  // A socket nobody accepts on makes clients hang until their own timeout. Refuse them
  // instead, and leave with a code a supervisor (systemd Restart=on-failure) acts on.
  log_.critical("[H0140] no worker can serve: every slot gave up; closing the listening socket and exiting "
                "with code " + std::to_string(kExitNoWorkers) + " so that a supervisor restarts hostd");
  exitCode_ = kExitNoWorkers;
  ::shutdown(listenFd_, SHUT_RDWR);  // the backlog is reset now, not at exit
  for (auto& [id, l] : slotListeners_) ::shutdown(l.fd(), SHUT_RDWR);
  stop(false);
}

void Master::release(WorkerProcess& wp) {
  ipc::Channel::destroy(wp.channel);
  wp.channel = nullptr;
  if (wp.handoffFd >= 0) close(wp.handoffFd);  // connections queued there die with it
  wp.handoffFd = -1;
  // A spawn that failed before uv_spawn (no fds for the pipes, say) has no process handle
  // to close: closing one libuv never initialised aborts the master.
  wp.pendingCloses = wp.processOpen ? 2 : 1;
  auto done = [](uv_handle_t* h) {
    auto* w = static_cast<WorkerProcess*>(h->data);
    if (--w->pendingCloses == 0) delete w;
  };
  wp.process.data = &wp;
  if (wp.processOpen) uv_close(reinterpret_cast<uv_handle_t*>(&wp.process), done);
  uv_close(reinterpret_cast<uv_handle_t*>(&wp.killTimer), done);
}

// ---- cluster ----

void Master::startupFailed(const std::string& why) {
  log_.fatal("[H0115] no worker could start: " + why);
  exitCode_ = 1;
  stop(false);
}

void Master::onSignal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      log_.information(std::string("[H0116] ") + strsignal(sig) + ": " +
                       (stopping_ ? "stopping now" : "graceful shutdown"));
      stop(!stopping_);
      break;
    case SIGQUIT:
      log_.information("[H0116] SIGQUIT: immediate shutdown");
      stop(false);
      break;
    case SIGHUP:
      if (!stopping_) reload("SIGHUP");
      break;
    case SIGUSR2:
      for (auto& [serial, w] : workers_) {
        log_.information("[H0118] " + describe(*w) + " requests=" + std::to_string(w->counters.requests) +
                         " accepted=" + std::to_string(w->counters.accepted) +
                         " active=" + std::to_string(w->counters.active) +
                         (w->handoffFd >= 0 ? " handed_off=" + std::to_string(w->handedOff) : std::string()));
      }
      break;
  }
}

void Master::stop(bool graceful) {
  stopping_ = true;
  if (probing_ && probePid_ > 0) ::kill(probePid_, SIGKILL);  // a reload's probe: not worth waiting for
  updateAccepting();
  for (auto& [id, s] : slots_) uv_timer_stop(&s->respawn);
  for (auto& [serial, w] : workers_) {
    if (graceful) askToStop(*w, "shutting down");
    else ::kill(w->pid, SIGKILL);
  }
  maybeFinish();
}

void Master::maybeFinish() {
  if (!stopping_ || !workers_.empty() || finished_) return;
  finished_ = true;
  if (state_) state_->close();
  for (uv_signal_t& s : signals_) uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&debounce_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&acceptPoll_), nullptr);
  updateWatch();  // stopping_: closes the watch
  for (auto& [id, s] : slots_) uv_close(reinterpret_cast<uv_handle_t*>(&s->respawn), nullptr);
  log_.information("[H0119] all workers gone; master exits with code " + std::to_string(exitCode_));
}

void Master::checkHeartbeats() {
  updateAccepting();  // resumes accepting after a pause (EMFILE)
  // Judge workers by what they sent, never by a loop that was itself late: after a late
  // tick, heartbeats may still wait unread in the pipes. Give them a turn first.
  const uint64_t t = now(), late = lastWatchdogMs_ ? t - lastWatchdogMs_ : 0;
  lastWatchdogMs_ = t;
  if (late > 2000) return;
  const uint64_t limit = uint64_t(current_->cfg.heartbeat_timeout) * 1000;
  const uint64_t startLimit = uint64_t(current_->cfg.start_timeout) * 1000;
  for (auto& [serial, w] : workers_) {
    if (w->state == WorkerProcess::State::Ready && t - w->lastHeartbeatMs > limit) {
      w->killedAsHung = true;  // what it was serving is to blame (forensics, quarantine)
      kill(*w, ("hung: no heartbeat for " + std::to_string(current_->cfg.heartbeat_timeout) + " s").c_str());
    }
    else if (w->state == WorkerProcess::State::Starting && !w->killed && t - w->startedMs > startLimit) {
      w->lastError = "not ready within start_timeout (" + std::to_string(current_->cfg.start_timeout) + " s)";
      kill(*w, ("not ready within start_timeout = " + std::to_string(current_->cfg.start_timeout) + " s").c_str());
    }
  }
}

}  // namespace hostd::master
