#include "master/master.h"

#include "ipc/worker_contract.h"

#include <csignal>
#include <cstring>
#include <unistd.h>

namespace hostd::master {
namespace {
constexpr int kSignals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2};
}

Master::Master(config::Config cfg, int listenFd, std::string exe)
    : cfg_(std::move(cfg)),
      listenFd_(listenFd),
      loop_(uv_default_loop()),
      log_(Poco::Logger::get("master")),
      restarts_(cfg_.restart_limit, uint64_t(cfg_.restart_window) * 1000) {
  spec_.exe = std::move(exe);
  spec_.listenFd = listenFd_;
  spec_.configJson = config::toJson(cfg_);
  spec_.pluginPath = cfg_.pluginPath();
  spec_.masterPid = int(getpid());
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

  log_.information("[H0102] starting " + std::to_string(cfg_.workers) + " worker(s) with plugin " +
                   spec_.pluginPath);
  for (unsigned slot = 1; slot <= cfg_.workers && !stopping_; ++slot) spawn(int(slot));
  uv_run(loop_, UV_RUN_DEFAULT);
  return exitCode_;
}

WorkerProcess* Master::spawn(int slot, uint64_t replaces) {
  auto* wp = new WorkerProcess;
  wp->master = this;
  wp->slot = slot;
  wp->serial = nextSerial_++;
  wp->replaces = replaces;
  wp->startedMs = wp->lastHeartbeatMs = now();
  uv_timer_init(loop_, &wp->killTimer);
  wp->killTimer.data = wp;
  std::string err;
  int rc = spawnWorker(loop_, spec_, *wp,
                       [](uv_process_t* p, int64_t status, int sig) {
                         auto* w = static_cast<WorkerProcess*>(p->data);
                         w->master->onExit(*w, status, sig);
                       },
                       &err);
  if (rc != 0) {
    log_.error("[H0110] " + err + " (slot " + std::to_string(slot) + ")");
    if (wp->pid > 0) ::kill(wp->pid, SIGKILL);  // its exit callback releases it
    else release(*wp);
    if (wp->pid <= 0 && startingUp_) startupFailed("could not start worker " + std::to_string(slot) + ": " + err);
    return nullptr;
  }
  workers_[wp->serial] = wp;
  log_.information("[H0103] " + describe(*wp) + " started");
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
      onSuicide(wp, f.payload);
      break;
    case ipc::MsgType::InitFailed:
      wp.lastError = f.payload;
      break;
    default:
      log_.warning("[H0112] " + describe(wp) + " sent an unexpected " + ipc::msgTypeName(f.type) + " frame");
      break;
  }
}

void Master::onReady(WorkerProcess& wp) {
  if (wp.state != WorkerProcess::State::Starting) return;
  wp.state = WorkerProcess::State::Ready;
  wp.lastHeartbeatMs = now();
  log_.information("[H0104] " + describe(wp) + " ready");
  if (stopping_) {
    askToStop(wp, "shutting down");
    return;
  }
  if (wp.replaces) {
    if (WorkerProcess* old = find(wp.replaces)) askToStop(*old, "its replacement is ready");
  }
  if (startingUp_) {
    size_t ready = 0;
    for (auto& [serial, w] : workers_) ready += w->state == WorkerProcess::State::Ready;
    if (ready >= cfg_.workers) {
      startingUp_ = false;
      log_.information("[H0105] all " + std::to_string(cfg_.workers) + " worker(s) ready");
    }
  }
}

void Master::onSuicide(WorkerProcess& wp, const std::string& reason) {
  log_.warning("[H0106] " + describe(wp) + " asks to be replaced: " + reason);
  if (stopping_ || wp.replacementSpawned || wp.state == WorkerProcess::State::Stopping) return;
  wp.replacementSpawned = true;
  // Replacement first, so capacity never dips; the old one drains once the new one is ready.
  if (!spawn(wp.slot, wp.serial)) askToStop(wp, "no replacement could be started");
}

void Master::askToStop(WorkerProcess& wp, const char* why) {
  if (wp.state == WorkerProcess::State::Stopping) return;
  wp.state = WorkerProcess::State::Stopping;
  log_.information("[H0107] asking " + describe(wp) + " to drain and exit (" + why + ")");
  if (!wp.channel || !wp.channel->send(ipc::MsgType::Restart)) ::kill(wp.pid, SIGTERM);
  uv_timer_start(&wp.killTimer, [](uv_timer_t* t) {
    auto* w = static_cast<WorkerProcess*>(t->data);
    w->master->kill(*w, "still running after graceful_timeout");
  }, uint64_t(cfg_.graceful_timeout) * 1000, 0);
}

void Master::kill(WorkerProcess& wp, const char* why) {
  log_.warning("[H0108] killing " + describe(wp) + " with SIGKILL: " + why);
  ::kill(wp.pid, SIGKILL);
}

void Master::onExit(WorkerProcess& wp, int64_t status, int sig) {
  std::string how = sig ? "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")"
                        : "exited with code " + std::to_string(status);
  const WorkerProcess::State state = wp.state;
  const bool expected = state == WorkerProcess::State::Stopping || wp.replacementSpawned || stopping_;
  const int slot = wp.slot;
  const uint64_t serial = wp.serial;
  const uint64_t replaces = wp.replaces;
  const std::string lastError = wp.lastError;
  std::string line = "[H0109] " + describe(wp) + " " + how;
  if (!lastError.empty()) line += ": " + lastError;
  if (expected) log_.information(line); else log_.error(line);
  workers_.erase(serial);
  release(wp);

  if (stopping_) {
    maybeFinish();
    return;
  }
  // A replacement that died before it was ready still owes its predecessor a stop.
  for (auto& [s, w] : workers_) {
    if (w->replacementSpawned && state == WorkerProcess::State::Starting && replaces == s)
      askToStop(*w, "its replacement failed");
  }
  if (expected) return;
  if (startingUp_ && state == WorkerProcess::State::Starting) {
    startupFailed(lastError.empty() ? "worker " + std::to_string(slot) + " " + how + " before it was ready"
                                    : lastError);
    return;
  }
  if (!sig && status == ipc::kExitFatal) {
    log_.critical("[H0113] worker slot " + std::to_string(slot) +
                  " exited with the fatal code (it cannot start): not respawning it; fix the plugin and "
                  "restart hostd");
    return;
  }
  if (!restarts_.allow(now())) {
    log_.critical("[H0114] giving up on worker slot " + std::to_string(slot) + ": more than " +
                  std::to_string(cfg_.restart_limit) + " restarts within " + std::to_string(cfg_.restart_window) +
                  " s; last exit: " + how);
    return;
  }
  spawn(slot);
}

void Master::release(WorkerProcess& wp) {
  ipc::Channel::destroy(wp.channel);
  wp.channel = nullptr;
  wp.pendingCloses = 2;
  auto done = [](uv_handle_t* h) {
    auto* w = static_cast<WorkerProcess*>(h->data);
    if (--w->pendingCloses == 0) delete w;
  };
  wp.process.data = &wp;
  uv_close(reinterpret_cast<uv_handle_t*>(&wp.process), done);
  uv_close(reinterpret_cast<uv_handle_t*>(&wp.killTimer), done);
}

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
      log_.warning("[H0117] SIGHUP: configuration reload is not available in this version; ignored");
      break;
    case SIGUSR2:
      for (auto& [serial, w] : workers_) {
        log_.information("[H0118] " + describe(*w) + " requests=" + std::to_string(w->counters.requests) +
                         " accepted=" + std::to_string(w->counters.accepted) +
                         " active=" + std::to_string(w->counters.active));
      }
      break;
  }
}

void Master::stop(bool graceful) {
  stopping_ = true;
  for (auto& [serial, w] : workers_) {
    if (graceful) askToStop(*w, "shutting down");
    else ::kill(w->pid, SIGKILL);
  }
  maybeFinish();
}

void Master::maybeFinish() {
  if (!stopping_ || !workers_.empty() || finished_) return;
  finished_ = true;
  for (uv_signal_t& s : signals_) uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  log_.information("[H0119] all workers gone; master exits with code " + std::to_string(exitCode_));
}

void Master::checkHeartbeats() {
  const uint64_t limit = uint64_t(cfg_.heartbeat_timeout) * 1000;
  for (auto& [serial, w] : workers_) {
    if (w->state == WorkerProcess::State::Ready && now() - w->lastHeartbeatMs > limit)
      kill(*w, ("hung: no heartbeat for " + std::to_string(cfg_.heartbeat_timeout) + " s").c_str());
  }
}

}  // namespace hostd::master
