#include "master/master.h"

#include "app/log_files.h"
#include "app/logging.h"

#include "app/self_exe.h"
#include "app/systemd.h"
#include "ipc/fd_passing.h"
#include "ipc/message.h"
#include "ipc/state_wire.h"
#include "ipc/worker_contract.h"

#include <csignal>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <utility>
#include <vector>
#include <unistd.h>

namespace hostd::master {
namespace {
constexpr int kSignals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2, SIGUSR1};
}

Master::Master(std::shared_ptr<Generation> first, const Listener& listener, PluginStore& store)
    : core_(first->id, coreParams(first->cfg), label(*first)),
      current_(std::move(first)),
      listener_(listener),
      listenFd_(listener.fd()),
      store_(store),
      loop_(uv_default_loop()),
      log_(Poco::Logger::get("master")),
      poison_(current_->cfg.quarantine_after, uint64_t(current_->cfg.quarantine_seconds) * 1000) {}

std::shared_ptr<Generation> Master::prepare(const config::Config& cfg, uint64_t id, int listenFd,
                                            PluginStore& store, std::string* why) {
  PluginStore::Prepared p = store.prepare(cfg.pluginPath(), cfg.plugins_dir, id, cfg.run_as, cfg.load_timeout * 1000);
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

ClusterCore::Params Master::coreParams(const config::Config& cfg) {
  ClusterCore::Params p;
  p.workers = cfg.workers;
  p.policy.limit = cfg.restart_limit;
  p.policy.windowMs = uint64_t(cfg.restart_window) * 1000;
  p.heartbeatTimeoutS = cfg.heartbeat_timeout;
  p.startTimeoutS = cfg.start_timeout;
  return p;
}

std::string Master::label(const Generation& g) { return "plugin " + g.pluginName + " " + g.pluginVersion; }

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
  uv_timer_start(&watchdog_, [](uv_timer_t* t) {
    auto* m = static_cast<Master*>(t->data);
    m->updateAccepting();  // resumes accepting after a pause (EMFILE)
    m->core_.tick(m->now(), [m](uint64_t serial) {
      WorkerProcess* w = m->find(serial);
      return w && w->channel && w->channel->unread();
    });
    m->apply();
  }, 1000, 1000);
  uv_timer_init(loop_, &debounce_);
  debounce_.data = this;
  uv_poll_init(loop_, &acceptPoll_, listenFd_);
  acceptPoll_.data = this;
  updateWatch();
  startedMs_ = now();
  startControl();
  startMetrics();
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
  const unsigned waitS = current_->cfg.state.wait_for_redis_s;
  if (current_->cfg.state.backend == config::StateConfig::Backend::Redis && waitS > 0)
    log_.information("[H0149] shared state: waiting up to " + std::to_string(waitS) +
                     " s for Redis before starting workers ([state] wait_for_redis)");
  state_->whenReady([this] {
    if (core_.stopping()) return;
    const config::RunAs& as = current_->cfg.run_as;
    log_.information("[H0102] starting " + std::to_string(current_->cfg.workers) + " worker(s)" +
                     (as.switches() ? " as " + as.user + ":" + as.group + " (uid " + std::to_string(as.uid) + ")"
                                    : std::string()) + " with " +
                     label(*current_) + " (" + current_->cfg.pluginPath() + ")");
    core_.start(now());
    apply();
  }, [this, waitS] {
    log_.error("[H0150] shared state: Redis at " + current_->cfg.state.redactedUrl() + " still unreachable after " +
               std::to_string(waitS) + " s ([state] wait_for_redis); not starting. Start Redis, or set "
               "wait_for_redis = 0 to start with empty replicas that catch up when Redis comes");
    finish(1);
  });
  uv_run(loop_, UV_RUN_DEFAULT);
  return exitCode_;
}

// ---- the core's commands ----

void Master::apply() {
  if (applying_) return;  // an outer apply() is draining the queue: it runs these too
  applying_ = true;
  for (std::vector<Command> cmds = core_.take(); !cmds.empty(); cmds = core_.take())
    for (const Command& c : cmds) execute(c);
  applying_ = false;
  if (!finished_) updateAccepting();  // (after Finish the accept poll is closed)
}

void Master::execute(const Command& c) {
  WorkerProcess* w = find(c.serial);
  switch (c.kind) {
    case Command::Kind::Spawn:
      startWorker(c);
      break;
    case Command::Kind::Drain:
      if (w) drainWorker(*w);
      break;
    case Command::Kind::Kill:
      if (w && w->pid > 0) ::kill(w->pid, SIGKILL);
      break;
    case Command::Kind::ArmRespawn:
    case Command::Kind::CancelRespawn:
      armRespawn(c.slot, c.delayMs, c.kind == Command::Kind::ArmRespawn);
      break;
    case Command::Kind::Probe:
      reload(c.text);
      break;
    case Command::Kind::KillProbe:
      if (probePid_ > 0) ::kill(probePid_, SIGKILL);  // a reload's probe: not worth waiting for
      break;
    case Command::Kind::Rollback:
      onRollback(c.gen);
      break;
    case Command::Kind::ReloadFinished:
      onReloadFinished();
      break;
    case Command::Kind::CloseListeners:
      closeListeners();
      break;
    case Command::Kind::Finish:
      finish(c.code);
      break;
    case Command::Kind::Notify:  // systemd (Type=notify); RELOADING=1 carries the time systemd wants
      app::sdNotify(c.text.rfind("RELOADING=1", 0) == 0
                        ? c.text + "\nMONOTONIC_USEC=" + std::to_string(uv_hrtime() / 1000) : c.text);
      if (c.code != Command::NotAReload) answerReloads(c.code, c.text.substr(c.text.find("STATUS=") + 7));
      break;
    case Command::Kind::Log:
      switch (c.level) {
        case Command::Level::Information: log_.information(c.text); break;
        case Command::Level::Warning: log_.warning(c.text); break;
        case Command::Level::Error: log_.error(c.text); break;
        case Command::Level::Critical: log_.critical(c.text); break;
        case Command::Level::Fatal: log_.fatal(c.text); break;
      }
      break;
  }
}

void Master::startWorker(const Command& c) {
  if (!core_.worker(c.serial)) return;  // dropped by a stop while the command was queued
  std::shared_ptr<Generation> g = current_->id == c.gen ? current_
                                  : previous_ && previous_->id == c.gen ? previous_ : nullptr;
  if (!g) {
    core_.spawnFailed(c.serial, "the build of generation " + std::to_string(c.gen) + " is gone", now());
    return;
  }
  auto* wp = new WorkerProcess;
  wp->master = this;
  wp->slot = c.slot;
  wp->serial = c.serial;
  wp->generation = g->id;
  uv_timer_init(loop_, &wp->killTimer);
  wp->killTimer.data = wp;
  std::string err;
  SpawnSpec spec = g->spec;
  if (g->cfg.scheduling == config::Scheduling::ReusePort) {
    try {
      spec.listenFd = listenFdFor(c.slot);
    } catch (const ListenError& e) {
      err = e.what();
      spec.listenFd = -1;
    }
  }
  int rc = spec.listenFd < 0 && !spec.roundRobin ? -EBADF : spawnWorker(loop_, spec, *wp,
                       [](WorkerProcess& w, int64_t status, int sig) { w.master->onExit(w, status, sig); },
                       &err);
  wp->listenFd = spec.roundRobin ? -1 : spec.listenFd;
  if (err.empty()) err = "no listening socket for the slot";
  if (rc != 0 && wp->pid <= 0) {
    release(*wp);
    core_.spawnFailed(c.serial, err, now());
    return;
  }
  workers_[wp->serial] = wp;
  if (rc != 0) {  // it runs, but without its channel: killed, its exit decides what follows
    core_.spawnedBroken(c.serial, wp->pid, err);
    return;
  }
  core_.spawned(c.serial, wp->pid);
  wp->channel->start([this, serial = wp->serial](ipc::Frame& f) {
                       if (WorkerProcess* w = find(serial)) onFrame(*w, f);
                     },
                     [this, serial = wp->serial](const std::string& why) {
                       WorkerProcess* w = find(serial);
                       // EOF is how every exit looks from here; only a protocol error is news.
                       if (w && why.rfind("protocol error", 0) == 0) protocolError(*w, why);
                     });
  sendQuarantines(*wp);  // before the snapshot: in force by the time it serves
  sendSnapshot(*wp);
}

void Master::drainWorker(WorkerProcess& wp) {
  if (!wp.channel || !wp.channel->send(ipc::MsgType::Restart)) {
    if (wp.pid > 0) ::kill(wp.pid, SIGTERM);
  }
  uv_timer_start(&wp.killTimer, [](uv_timer_t* t) {
    auto* w = static_cast<WorkerProcess*>(t->data);
    w->master->core_.gracefulTimeout(w->serial);
    w->master->apply();
  }, uint64_t(current_->cfg.graceful_timeout) * 1000, 0);
}

void Master::armRespawn(int slotId, uint64_t delayMs, bool arm) {
  auto it = respawnTimers_.find(slotId);
  if (it == respawnTimers_.end()) {
    if (!arm) return;  // never armed: nothing to cancel
    auto t = std::make_unique<RespawnTimer>();
    t->master = this;
    t->slot = slotId;
    uv_timer_init(loop_, &t->timer);
    t->timer.data = t.get();
    it = respawnTimers_.emplace(slotId, std::move(t)).first;
  }
  uv_timer_t* timer = &it->second->timer;
  if (!arm) {
    uv_timer_stop(timer);
    return;
  }
  uv_timer_start(timer, [](uv_timer_t* h) {
    auto* rt = static_cast<RespawnTimer*>(h->data);
    rt->master->core_.respawnDue(rt->slot, rt->master->now());
    rt->master->apply();
  }, delayMs, 0);
}

void Master::protocolError(WorkerProcess& wp, const std::string& why) {
  core_.protocolError(wp.serial, why);
  apply();
}

WorkerProcess* Master::find(uint64_t serial) {
  auto it = workers_.find(serial);
  return it == workers_.end() ? nullptr : it->second;
}

ClusterCore::State Master::stateOf(const WorkerProcess& wp) const {
  const ClusterCore::Worker* w = core_.worker(wp.serial);
  return w ? w->state : ClusterCore::State::Starting;
}

// ---- one worker's frames and exit ----

void Master::onFrame(WorkerProcess& wp, ipc::Frame& f) {
  switch (f.type) {
    case ipc::MsgType::Ready:
      if (stateOf(wp) == ClusterCore::State::Starting && wp.stateStale) {
        // Changes were held back while it started: one snapshot instead.
        wp.stateStale = false;
        sendSnapshot(wp);
        if (wp.droppedMessages)
          log_.warning("[H0143] " + describe(wp) + " is ready; " + std::to_string(wp.droppedMessages) +
                       " plugin message(s) to it were dropped while it was starting");
      }
      core_.ready(wp.serial, now());
      break;
    case ipc::MsgType::Heartbeat:
      core_.heartbeat(wp.serial, now());
      ipc::decodeHeartbeat(f.payload, &wp.counters);
      break;
    case ipc::MsgType::Suicide:
    case ipc::MsgType::Recycle:
      core_.suicide(wp.serial, app::logSafe(f.payload), f.type == ipc::MsgType::Recycle, now());
      break;
    case ipc::MsgType::InitFailed:
      core_.initFailed(wp.serial, app::logSafe(f.payload));  // the worker's words: one line, bounded
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
  apply();
}

void Master::onExit(WorkerProcess& wp, int64_t status, int sig) {
  std::string how = sig ? "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")"
                        : "exited with code " + std::to_string(status);
  ipc::Score sc;
  std::string blame;
  if (wp.score) sc = wp.score->read();
  if (sc.busy)
    blame = "while serving " + app::logSafe(sc.method, 16) + " " + app::logSafe(sc.target, 256) + " from " +
            app::logSafe(sc.remote, 48) + " for " + std::to_string(sc.forMs) + " ms";
  workers_.erase(wp.serial);
  retireCounters(wp);
  retireSlotSocket(wp.slot);  // (before the core's decision: a rollback may need the socket)
  const bool blamed = core_.exited(wp.serial, how, !sig && status == ipc::kExitFatal, blame, now());
  release(wp);
  if (blamed) countPoison(sc);
  apply();
}

void Master::release(WorkerProcess& wp) {
  ipc::Channel::destroy(wp.channel);
  wp.channel = nullptr;
  if (wp.handoffFd >= 0) close(wp.handoffFd);  // connections queued there die with it
  wp.handoffFd = -1;
  // A spawn that failed has no exit watch to close: closing a handle libuv never
  // initialised aborts the master.
  wp.pendingCloses = wp.exitPollOpen ? 2 : 1;
  auto done = [](uv_handle_t* h) {
    auto* w = static_cast<WorkerProcess*>(h->data);
    if (--w->pendingCloses != 0) return;
    if (w->pidfd >= 0) close(w->pidfd);  // only now: libuv watched it until the close
    delete w;
  };
  if (wp.exitPollOpen) uv_close(reinterpret_cast<uv_handle_t*>(&wp.exitPoll), done);
  uv_close(reinterpret_cast<uv_handle_t*>(&wp.killTimer), done);
}

// ---- cluster ----

void Master::onSignal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      log_.information(std::string("[H0116] ") + strsignal(sig) + ": " +
                       (core_.stopping() ? "stopping now" : "graceful shutdown"));
      core_.stop(!core_.stopping());
      break;
    case SIGQUIT:
      log_.information("[H0116] SIGQUIT: immediate shutdown");
      core_.stop(false);
      break;
    case SIGHUP:
      core_.reloadRequested("SIGHUP");
      break;
    case SIGUSR1:
      reopenLogs("SIGUSR1");
      break;
    case SIGUSR2:
      for (auto& [serial, w] : workers_) {
        log_.information("[H0118] " + describe(*w) + " requests=" + std::to_string(w->counters.requests) +
                         " accepted=" + std::to_string(w->counters.accepted) +
                         " active=" + std::to_string(w->counters.active) +
                         " children=" + std::to_string(w->counters.children) +
                         " children_queued=" + std::to_string(w->counters.childrenQueued) +
                         " children_refused=" + std::to_string(w->counters.childrenRefused) +
                         " children_timed_out=" + std::to_string(w->counters.childrenExpired) +
                         (w->handoffFd >= 0 ? " handed_off=" + std::to_string(w->handedOff) : std::string()));
      }
      break;
  }
  apply();
}

std::string Master::reopenLogs(const std::string& trigger) {
  // As nginx: the master (root) recreates the files logrotate moved away and hands them to
  // the workers' user; then every process opens them by name again.
  const config::Config& cfg = current_->cfg;
  std::string failed;
  if (!cfg.log_file.empty())
    if (std::string why = app::redirectStderr(cfg.log_file, cfg.run_as); !why.empty()) failed += why + "; ";
  if (!cfg.access_log.empty()) {
    std::string why;
    int fd = app::prepareLogFile(cfg.access_log, cfg.run_as, &why);
    if (fd >= 0) close(fd);
    else failed += why + "; ";
  }
  for (auto& [serial, w] : workers_)
    if (w->channel) w->channel->send(ipc::MsgType::Reopen);
  if (failed.empty()) log_.information("[H0147] " + trigger + ": log files reopened");
  else log_.error("[H0147] " + trigger + ": " + failed.substr(0, failed.size() - 2));
  return failed.empty() ? "" : failed.substr(0, failed.size() - 2);
}

void Master::closeListeners() {
  ::shutdown(listenFd_, SHUT_RDWR);  // the backlog is reset now, not at exit
  for (auto& [id, l] : slotListeners_) ::shutdown(l.fd(), SHUT_RDWR);
}

void Master::finish(int code) {
  if (finished_) return;
  finished_ = true;
  exitCode_ = code;
  if (state_) state_->close();
  answerReloads(Command::Refused, "hostd stopped");
  if (control_) control_->close();
  if (metrics_) metrics_->close();
  for (uv_signal_t& s : signals_) uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&debounce_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&acceptPoll_), nullptr);
  updateWatch();  // stopping: closes the watch
  for (auto& [id, t] : respawnTimers_) uv_close(reinterpret_cast<uv_handle_t*>(&t->timer), nullptr);
}

}  // namespace hostd::master
