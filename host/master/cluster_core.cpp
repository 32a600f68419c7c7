#include "master/cluster_core.h"

#include "master/exit_policy.h"

#include <utility>

namespace hostd::master {

std::string Command::str() const {
  const std::string s = " slot=" + std::to_string(slot), w = " #" + std::to_string(serial);
  switch (kind) {
    case Kind::Spawn:
      return "spawn" + s + w + " gen=" + std::to_string(gen) + (replaces ? " replaces=#" + std::to_string(replaces) : "");
    case Kind::Drain: return "drain" + w;
    case Kind::Kill: return "kill" + w;
    case Kind::ArmRespawn: return "arm" + s + " " + std::to_string(delayMs) + "ms";
    case Kind::CancelRespawn: return "cancel" + s;
    case Kind::Probe: return "probe";
    case Kind::KillProbe: return "kill-probe";
    case Kind::Rollback: return "rollback gen=" + std::to_string(gen);
    case Kind::ReloadFinished: return "reload-finished gen=" + std::to_string(gen);
    case Kind::CloseListeners: return "close-listeners";
    case Kind::Finish: return "finish code=" + std::to_string(code);
    case Kind::Log: return "log " + text.substr(1, 5);  // "[H0110] ..." -> "H0110"
    case Kind::Notify: return "notify " + text.substr(0, text.find('\n'));  // "notify READY=1"
  }
  return "?";
}

const char* ClusterCore::stateName(State s) {
  switch (s) {
    case State::Starting: return "starting";
    case State::Ready: return "ready";
    case State::Stopping: return "stopping";
  }
  return "?";
}

ClusterCore::ClusterCore(uint64_t gen, Params p, std::string label)
    : gen_(gen), params_(p), label_(std::move(label)) {}

std::vector<Command> ClusterCore::take() {
  std::vector<Command> v(std::make_move_iterator(out_.begin()), std::make_move_iterator(out_.end()));
  out_.clear();
  return v;
}

const ClusterCore::Worker* ClusterCore::worker(uint64_t serial) const {
  auto it = workers_.find(serial);
  return it == workers_.end() ? nullptr : &it->second;
}

ClusterCore::Worker* ClusterCore::find(uint64_t serial) {
  auto it = workers_.find(serial);
  return it == workers_.end() ? nullptr : &it->second;
}

ClusterCore::Slot& ClusterCore::slot(int id) {
  auto& s = slots_[id];
  if (!s) s = std::make_unique<Slot>(params_.policy);
  return *s;
}

bool ClusterCore::givenUp(int id) const {
  auto it = slots_.find(id);
  return it != slots_.end() && it->second->givenUp;
}

size_t ClusterCore::recentRestarts(int id, uint64_t nowMs) { return slot(id).policy.recent(nowMs); }

std::string ClusterCore::describe(const Worker& w) const {
  return "worker " + std::to_string(w.slot) + " (pid " + std::to_string(w.pid) + ")";
}

void ClusterCore::notify(std::string state, Command::ReloadOutcome outcome) {
  Command c{Command::Kind::Notify};
  c.text = std::move(state);
  c.code = outcome;
  if (outcome != Command::NotAReload)
    ++reloads_[outcome == Command::Finished ? "finished" : outcome == Command::RolledBack ? "rolled_back" : "refused"];
  push(std::move(c));
}

void ClusterCore::log(Command::Level level, std::string text) {
  Command c{Command::Kind::Log};
  c.level = level;
  c.text = std::move(text);
  push(std::move(c));
}

// ---- lifecycle of one worker ----

void ClusterCore::spawnSlot(int slotId, uint64_t replaces, uint64_t nowMs) {
  Worker w;
  w.serial = nextSerial_++;
  w.slot = slotId;
  w.gen = gen_;
  w.replaces = replaces;
  w.startedMs = w.lastHeartbeatMs = nowMs;
  workers_[w.serial] = w;
  Command c{Command::Kind::Spawn};
  c.serial = w.serial;
  c.slot = slotId;
  c.gen = gen_;
  c.replaces = replaces;
  push(std::move(c));
}

void ClusterCore::start(uint64_t nowMs) {
  ensureSlots();
  for (unsigned s = 1; s <= params_.workers && !stopping_; ++s) spawnSlot(int(s), 0, nowMs);
}

void ClusterCore::spawned(uint64_t serial, int pid) {
  Worker* w = find(serial);
  if (!w) return;
  w->pid = pid;
  log(Command::Level::Information, "[H0103] " + describe(*w) + " started (generation " + std::to_string(w->gen) + ")");
}

void ClusterCore::spawnedBroken(uint64_t serial, int pid, const std::string& error) {
  Worker* w = find(serial);
  if (!w) return;
  w->pid = pid;
  log(Command::Level::Error, "[H0110] " + error + " (slot " + std::to_string(w->slot) + ")");
  kill(*w, "it could not be set up");  // its exit decides what follows, as for any start
}

void ClusterCore::spawnFailed(uint64_t serial, const std::string& error, uint64_t nowMs) {
  Worker* w = find(serial);
  if (!w) return;
  const Worker gone = *w;
  workers_.erase(serial);
  log(Command::Level::Error, "[H0110] " + error + " (slot " + std::to_string(gone.slot) + ")");
  if (stopping_) {
    maybeFinish();
    return;
  }
  // Never leave the slot empty without a word: what a crash of it would have caused.
  if (startingUp_) {
    startupFailed("could not start worker " + std::to_string(gone.slot) + ": " + error);
    return;
  }
  if (phase_ == Phase::Rolling && gone.gen == gen_ && gone.slot == rollSlot_) {
    rollback("worker " + std::to_string(gone.slot) + " of the new build could not be started: " + error, nowMs);
    return;
  }
  if (Worker* old = find(gone.replaces)) drain(*old, "no replacement could be started");
  crash(gone.slot, 0, "could not be started: " + error, "spawn_failure", nowMs);
  exitIfNoneCanServe();
}

void ClusterCore::ready(uint64_t serial, uint64_t nowMs) {
  Worker* w = find(serial);
  if (!w || w->state != State::Starting) return;
  w->state = State::Ready;
  w->lastHeartbeatMs = nowMs;
  log(Command::Level::Information, "[H0104] " + describe(*w) + " ready");
  if (stopping_) {
    drain(*w, "shutting down");
    return;
  }
  if (Worker* old = find(w->replaces)) drain(*old, "its replacement is ready");
  if (phase_ == Phase::Rolling && w->gen == gen_ && w->slot == rollSlot_) {
    ++restarts_["reload"];
    for (auto& [s, other] : workers_)
      if (other.slot == w->slot && other.gen != gen_) drain(other, "reload: its new-generation replacement is ready");
    ++rollSlot_;
    rollNext(nowMs);
    return;
  }
  if (startingUp_) {
    size_t n = 0;
    for (auto& [s, other] : workers_) n += other.state == State::Ready;
    if (n >= params_.workers) {
      startingUp_ = false;
      log(Command::Level::Information, "[H0105] all " + std::to_string(params_.workers) + " worker(s) ready");
      notify("READY=1\nSTATUS=serving: " + std::to_string(params_.workers) + " worker(s), " + label_);
    }
  }
}

void ClusterCore::heartbeat(uint64_t serial, uint64_t nowMs) {
  if (Worker* w = find(serial)) w->lastHeartbeatMs = nowMs;
}

void ClusterCore::initFailed(uint64_t serial, const std::string& why) {
  if (Worker* w = find(serial)) w->lastError = why;
}

void ClusterCore::suicide(uint64_t serial, const std::string& why, bool planned, uint64_t nowMs) {
  Worker* w = find(serial);
  if (!w) return;
  log(Command::Level::Warning,
      "[H0106] " + describe(*w) + " asks to be replaced" + (planned ? " (recycling): " : ": ") + why);
  if (stopping_ || w->replacementSpawned || w->state == State::Stopping) return;
  w->replacementSpawned = true;
  if (planned) {  // max_requests / max_memory_mb: routine, not a failure
    ++restarts_["recycle"];
    spawnSlot(w->slot, serial, nowMs);
    return;
  }
  // A suicide is a restart like a crash: the same policy (backoff, give-up) decides, so a
  // client that can make a handler fail cannot make the cluster respawn at will.
  Slot& s = slot(w->slot);
  RestartPolicy::Decision d = s.givenUp ? RestartPolicy::Decision{false, 0}
                                        : s.policy.onCrash(nowMs, nowMs - w->startedMs, "suicide: " + why);
  if (!d.respawn) {
    if (!s.givenUp) giveUp(w->slot);
    drain(*w, "its slot gave up: no replacement");  // its exit ends the service if it was the last
    return;
  }
  ++restarts_["suicide"];
  if (d.delayMs == 0 || w->state != State::Ready) {
    spawnSlot(w->slot, serial, nowMs);
    return;
  }
  // Replacement first, so capacity never dips; the old one serves until it is ready.
  log(Command::Level::Warning, "[H0124] replacing worker slot " + std::to_string(w->slot) + " in " +
                                   std::to_string(d.delayMs) + " ms (" + std::to_string(s.policy.recent(nowMs)) +
                                   " restart(s) in the last " + std::to_string(params_.policy.windowMs / 1000) + " s)");
  s.replaces = serial;
  arm(w->slot, d.delayMs);
}

void ClusterCore::respawnDue(int slotId, uint64_t nowMs) {
  Slot& s = slot(slotId);
  if (!std::exchange(s.armed, false)) return;  // cancelled meanwhile
  const uint64_t held = std::exchange(s.replaces, 0);
  if (stopping_ || s.givenUp) return;
  Worker* old = find(held);
  // Meanwhile a reload or a rollback may have replaced or stopped it: then it has a successor.
  if (old && (old->state == State::Stopping || old->gen != gen_)) return;
  spawnSlot(slotId, old ? held : 0, nowMs);
}

void ClusterCore::drain(Worker& w, const std::string& why) {
  if (w.state == State::Stopping) return;
  w.state = State::Stopping;
  log(Command::Level::Information, "[H0107] asking " + describe(w) + " to drain and exit (" + why + ")");
  Command c{Command::Kind::Drain};
  c.serial = w.serial;
  c.slot = w.slot;
  c.text = why;
  push(std::move(c));
}

void ClusterCore::kill(Worker& w, const std::string& why) {
  log(Command::Level::Warning, "[H0108] killing " + describe(w) + " with SIGKILL: " + why);
  w.killed = true;
  Command c{Command::Kind::Kill};
  c.serial = w.serial;
  c.slot = w.slot;
  push(std::move(c));
}

void ClusterCore::protocolError(uint64_t serial, const std::string& why) {
  Worker* w = find(serial);
  if (!w || w->killed) return;
  log(Command::Level::Error, "[H0111] " + describe(*w) + ": " + why + "; replacing it");
  kill(*w, "protocol error");
}

void ClusterCore::gracefulTimeout(uint64_t serial) {
  if (Worker* w = find(serial)) kill(*w, "still running after graceful_timeout");
}

bool ClusterCore::exited(uint64_t serial, const std::string& how, bool fatalCode, const std::string& blame,
                         uint64_t nowMs) {
  Worker* wp = find(serial);
  if (!wp) return false;
  const Worker w = *wp;
  workers_.erase(serial);
  ExitFacts facts;
  facts.stopping = stopping_;
  facts.askedToStop = w.state == State::Stopping;
  facts.replacementSpawned = w.replacementSpawned;
  facts.currentGeneration = w.gen == gen_;
  facts.wasStarting = w.state == State::Starting;
  facts.reloading = phase_ == Phase::Rolling;
  facts.startingUp = startingUp_;
  facts.fatalExitCode = fatalCode;
  const bool expected = expectedExit(facts);
  // A crash or a hang: name the request its plugin was running (and count it).
  const bool blamed = (!expected || w.killedAsHung) && !blame.empty();
  std::string line = "[H0109] " + describe(w) + " " + how;
  if (!w.lastError.empty()) line += ": " + w.lastError;
  if (blamed) line += " " + blame;
  log(expected ? Command::Level::Information : Command::Level::Error, line);

  // A replacement that died before it was ready still owes its predecessor a stop.
  if (!stopping_ && w.replaces && facts.wasStarting) {
    if (Worker* old = find(w.replaces)) drain(*old, "its replacement failed");
  }
  switch (classifyExit(facts)) {
    case ExitDecision::FinishStop:
      maybeFinish();
      break;
    case ExitDecision::Expected:
      break;
    case ExitDecision::Rollback:
      rollback("worker " + std::to_string(w.slot) + " of the new build " + how +
                   (w.lastError.empty() ? " before it was ready" : ": " + w.lastError),
               nowMs);
      break;
    case ExitDecision::StartupFailed:
      startupFailed(w.lastError.empty() ? "worker " + std::to_string(w.slot) + " " + how + " before it was ready"
                                        : w.lastError);
      break;
    case ExitDecision::GiveUpFatal:
      log(Command::Level::Critical, "[H0113] worker slot " + std::to_string(w.slot) +
                                        " exited with the fatal code (it cannot start): not respawning it until a reload");
      slot(w.slot).givenUp = true;
      break;
    case ExitDecision::Crash:
      crash(w.slot, nowMs - w.startedMs, how, w.killedAsHung ? "hung" : "crash", nowMs);
      break;
  }
  // Also after an expected exit: the last worker of a slot that gave up (a refused suicide).
  exitIfNoneCanServe();
  return blamed;
}

void ClusterCore::crash(int slotId, uint64_t ranMs, const std::string& how, const char* reason, uint64_t nowMs) {
  Slot& s = slot(slotId);
  if (s.givenUp) return;
  RestartPolicy::Decision d = s.policy.onCrash(nowMs, ranMs, how);
  if (!d.respawn) {
    giveUp(slotId);
    return;
  }
  log(Command::Level::Warning, "[H0124] respawning worker slot " + std::to_string(slotId) + " in " +
                                   std::to_string(d.delayMs) + " ms (" + std::to_string(s.policy.recent(nowMs)) +
                                   " restart(s) in the last " + std::to_string(params_.policy.windowMs / 1000) + " s)");
  ++restarts_[reason];
  arm(slotId, d.delayMs);
}

void ClusterCore::arm(int slotId, uint64_t delayMs) {
  slot(slotId).armed = true;
  Command c{Command::Kind::ArmRespawn};
  c.slot = slotId;
  c.delayMs = delayMs;
  push(std::move(c));
}

void ClusterCore::ensureSlots() {
  for (unsigned id = 1; id <= params_.workers; ++id) slot(int(id));
}

void ClusterCore::cancelRespawn(int slotId) {
  slot(slotId).armed = false;
  Command c{Command::Kind::CancelRespawn};
  c.slot = slotId;
  push(std::move(c));
  // A worker whose replacement was held back no longer has one coming: its exit is a
  // crash again, and a rollback sees its slot as needing a worker if it stops.
  if (Worker* w = find(std::exchange(slot(slotId).replaces, 0))) w->replacementSpawned = false;
}

void ClusterCore::giveUp(int slotId) {
  Slot& s = slot(slotId);
  s.givenUp = true;
  log(Command::Level::Critical,
      "[H0114] giving up on worker slot " + std::to_string(slotId) + ": more than " +
          std::to_string(params_.policy.limit) + " restarts within " + std::to_string(params_.policy.windowMs / 1000) +
          " s; last exits: " + s.policy.lastReasons() + "; the slot stays empty until a reload (SIGHUP)");
}

void ClusterCore::exitIfNoneCanServe() {
  if (stopping_) return;
  for (unsigned id = 1; id <= params_.workers; ++id)
    if (!givenUp(int(id))) return;
  for (auto& [s, w] : workers_)
    if (w.state == State::Ready) return;
  // A socket nobody accepts on makes clients hang until their own timeout. Refuse them
  // instead, and leave with a code a supervisor (systemd Restart=on-failure) acts on.
  log(Command::Level::Critical, "[H0140] no worker can serve: every slot gave up; closing the listening socket and "
                                "exiting with code " + std::to_string(kExitNoWorkers) +
                                    " so that a supervisor restarts hostd");
  exitCode_ = kExitNoWorkers;
  push(Command{Command::Kind::CloseListeners});
  stop(true);  // nothing serves; what still drains (a refused suicide) may finish its requests
}

void ClusterCore::startupFailed(const std::string& why) {
  fail("[H0115] no worker could start: " + why, kExitStartFailed);
}

void ClusterCore::fail(const std::string& line, int code) {
  log(Command::Level::Fatal, line);
  exitCode_ = code;
  stop(false);
}

void ClusterCore::tick(uint64_t nowMs, const std::function<bool(uint64_t serial)>& framesWaiting) {
  // Judge workers by what they sent, never by a loop that was itself late: after a late
  // tick, heartbeats may still wait unread in the pipes. Give them a turn first.
  const uint64_t late = lastTickMs_ ? nowMs - lastTickMs_ : 0;
  lastTickMs_ = nowMs;
  if (late > 2000) return;
  const uint64_t limit = uint64_t(params_.heartbeatTimeoutS) * 1000;
  const uint64_t startLimit = uint64_t(params_.startTimeoutS) * 1000;
  for (auto& [s, w] : workers_) {
    if (w.killed) continue;
    const bool hung = w.state == State::Ready && nowMs - w.lastHeartbeatMs > limit;
    const bool neverReady = w.state == State::Starting && nowMs - w.startedMs > startLimit;
    // Only a worker about to be judged costs the question (an ioctl on its channel).
    if (!(hung || neverReady) || (framesWaiting && framesWaiting(s))) continue;
    if (hung) {
      w.killedAsHung = true;  // what it was serving is to blame (forensics, quarantine)
      kill(w, "hung: no heartbeat for " + std::to_string(params_.heartbeatTimeoutS) + " s");
    } else {
      w.lastError = "not ready within start_timeout (" + std::to_string(params_.startTimeoutS) + " s)";
      kill(w, "not ready within start_timeout = " + std::to_string(params_.startTimeoutS) + " s");
    }
  }
}

// ---- reload: probe, roll slot by slot, finish or roll back ----

void ClusterCore::reloadRequested(const std::string& trigger) {
  if (stopping_) return;
  if (phase_ != Phase::Idle || startingUp_) {
    log(Command::Level::Warning, "[H0126] " + trigger + ": " +
                                     (startingUp_ ? "still starting" : "a reload is already running") + "; ignored");
    return;
  }
  phase_ = Phase::Probing;
  notify("RELOADING=1\nSTATUS=reloading (" + trigger + ")");
  Command c{Command::Kind::Probe};
  c.text = trigger;
  push(std::move(c));
}

void ClusterCore::reloadRefused(const std::string& why) {
  if (phase_ != Phase::Probing) return;
  phase_ = Phase::Idle;
  if (stopping_) return;
  log(Command::Level::Error, "[H0121] reload refused, the running workers keep serving: " + why);
  notify("READY=1\nSTATUS=reload refused: " + why, Command::Refused);
}

void ClusterCore::reloadAccepted(uint64_t gen, Params p, std::string label, uint64_t nowMs) {
  if (phase_ != Phase::Probing || stopping_) return;
  prevGen_ = std::exchange(gen_, gen);
  prevParams_ = std::exchange(params_, p);
  prevLabel_ = std::exchange(label_, std::move(label));
  phase_ = Phase::Rolling;
  rollSlot_ = 1;
  ensureSlots();
  for (auto& [id, s] : slots_) {  // a reload gives given-up slots a new chance
    cancelRespawn(id);
    s->givenUp = false;
    s->policy = RestartPolicy(params_.policy);
  }
  log(Command::Level::Information, "[H0122] reload started: generation " + std::to_string(gen_) + ", " + label_ +
                                       ", " + std::to_string(params_.workers) + " worker(s), one slot at a time");
  rollNext(nowMs);
}

void ClusterCore::rollNext(uint64_t nowMs) {
  if (rollSlot_ > int(params_.workers)) {
    finishReload();
    return;
  }
  spawnSlot(rollSlot_, 0, nowMs);
}

void ClusterCore::finishReload() {
  // Slots beyond the new worker count, and anything else of an older generation.
  for (auto& [s, w] : workers_)
    if (w.gen != gen_) drain(w, "reload finished");
  phase_ = Phase::Idle;
  Command c{Command::Kind::ReloadFinished};
  c.gen = prevGen_;
  push(std::move(c));
  log(Command::Level::Information,
      "[H0123] reload finished: generation " + std::to_string(gen_) + " serving with " + label_);
  notify("READY=1\nSTATUS=serving: " + std::to_string(params_.workers) + " worker(s), " + label_ + " (generation " +
         std::to_string(gen_) + ")",
         Command::Finished);
}

void ClusterCore::rollback(const std::string& why, uint64_t nowMs) {
  log(Command::Level::Error, "[H0127] reload rolled back to generation " + std::to_string(prevGen_) + " (" +
                                 prevLabel_ + "): " + why);
  const uint64_t failed = std::exchange(gen_, prevGen_);
  params_ = prevParams_;
  label_ = prevLabel_;
  phase_ = Phase::Idle;
  notify("READY=1\nSTATUS=reload rolled back: " + why, Command::RolledBack);
  Command c{Command::Kind::Rollback};
  c.gen = failed;
  push(std::move(c));
  for (auto& [s, w] : workers_) {
    if (w.gen != failed) continue;
    if (w.state == State::Ready) {
      drain(w, "reload rolled back");  // serving: drain, lose nothing
    } else if (w.state == State::Starting) {
      w.state = State::Stopping;  // its exit is expected now
      kill(w, "reload rolled back before it was ready");
    }
  }
  for (auto& [id, s] : slots_) cancelRespawn(id);
  // Slots already handed to the failed build get an old-build worker back.
  for (unsigned id = 1; id <= params_.workers; ++id) {
    bool served = false;
    for (auto& [s, w] : workers_) served |= w.slot == int(id) && w.gen == gen_ && w.state != State::Stopping;
    if (!served) spawnSlot(int(id), 0, nowMs);
  }
}

// ---- scale, stop ----

std::string ClusterCore::scale(unsigned n, uint64_t nowMs) {
  if (stopping_) return "hostd is stopping";
  if (startingUp_) return "hostd is still starting";
  if (phase_ != Phase::Idle) return "a reload is running";
  if (n < 1 || n > 1024) return "expected a worker count from 1 to 1024";
  const unsigned was = std::exchange(params_.workers, n);
  log(Command::Level::Information, "[H0145] scaling from " + std::to_string(was) + " to " + std::to_string(n) +
                                       " worker(s) (hostctl; the config's count returns with the next reload)");
  ensureSlots();
  for (unsigned id = was + 1; id <= n; ++id) {
    Slot& s = slot(int(id));
    s.givenUp = false;
    spawnSlot(int(id), 0, nowMs);
  }
  for (auto& [id, s] : slots_)
    if (id > int(n)) cancelRespawn(id);
  for (auto& [serial, w] : workers_)
    if (w.slot > int(n)) drain(w, "scaled down");
  notify("STATUS=serving: " + std::to_string(n) + " worker(s), " + label_);
  return "";
}


void ClusterCore::stop(bool graceful) {
  if (!stopping_) {
    notify("STOPPING=1\nSTATUS=stopping", phase_ != Phase::Idle ? Command::Refused : Command::NotAReload);
    if (phase_ == Phase::Probing) push(Command{Command::Kind::KillProbe});
  }
  stopping_ = true;
  for (auto& [id, s] : slots_) cancelRespawn(id);
  for (auto it = workers_.begin(); it != workers_.end();) {
    Worker& w = it->second;
    if (w.pid == 0) {  // its Spawn is still queued: the shell skips a Spawn of a worker we dropped
      it = workers_.erase(it);
      continue;
    }
    if (graceful) {
      drain(w, "shutting down");
    } else if (!w.killed) {
      w.killed = true;  // (no [H0108] line per worker: the stop itself was logged)
      Command c{Command::Kind::Kill};
      c.serial = w.serial;
      c.slot = w.slot;
      push(std::move(c));
    }
    ++it;
  }
  maybeFinish();
}

void ClusterCore::maybeFinish() {
  if (!stopping_ || !workers_.empty() || finished_) return;
  finished_ = true;
  log(Command::Level::Information, "[H0119] all workers gone; master exits with code " + std::to_string(exitCode_));
  Command c{Command::Kind::Finish};
  c.code = exitCode_;
  push(std::move(c));
}

}  // namespace hostd::master
