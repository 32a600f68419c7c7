// The master, reload: re-read the config, probe the new build from the loop, roll it out
// one slot at a time, roll back when it cannot serve; and the plugins-directory watch.
#include "master/master.h"

namespace hostd::master {

void Master::reload(const std::string& trigger) {
  if (reloading_ || probing_ || startingUp_) {
    log_.warning("[H0126] " + trigger + ": " + (startingUp_ ? "still starting" : "a reload is already running") +
                 "; ignored");
    return;
  }
  log_.information("[H0120] " + trigger + ": reloading " + current_->cfg.file);
  config::Config cfg;
  try {
    cfg = config::loadConfig(current_->cfg.file);
  } catch (const config::ConfigError& e) {
    log_.error(std::string("[H0121] reload refused, the running workers keep serving: ") + e.what());
    return;
  }
  if (cfg.listen.toString() != current_->cfg.listen.toString()) {
    log_.warning("[H0125] [server] listen changed to " + cfg.listen.toString() + ": the listening socket is kept (" +
                 current_->cfg.listen.toString() + "); restart hostd to move it");
    cfg.listen = current_->cfg.listen;
  }
  if (!(cfg.state == current_->cfg.state)) {
    log_.warning("[H0138] [state] changed: the shared-state backend is kept (" + state_->describe() +
                 "); restart hostd to switch it");
    cfg.state = current_->cfg.state;
  }
  PluginStore::Prepared copy = store_.copy(cfg.pluginPath(), current_->id + 1);
  if (!copy.ok) {
    log_.error("[H0121] reload refused, the running workers keep serving: plugin " + cfg.pluginPath() + ": " +
               copy.message);
    return;
  }
  // The probe runs as a child watched from the loop: workers keep being heard (heartbeats,
  // state, messages) however long the plugin takes to load.
  probing_ = true;
  probePid_ = startPluginProbe(loop_, store_.exe(), copy.path, kProbeTimeoutMs,
                               [this, cfg, copy](ProbeResult r) { onReloadProbed(cfg, copy, r); });
}

void Master::onReloadProbed(const config::Config& cfg, const PluginStore::Prepared& copied, const ProbeResult& r) {
  probing_ = false;
  probePid_ = 0;
  if (stopping_) {
    store_.discard(copied.path);
    return;
  }
  PluginStore::Prepared accepted = store_.accept(copied, cfg.pluginPath(), r);
  std::string why = accepted.message;
  std::shared_ptr<Generation> next =
      accepted.ok ? makeGeneration(cfg, current_->id + 1, listenFd_, accepted, &why) : nullptr;
  if (!next) {
    if (accepted.ok) store_.discard(accepted.path);
    log_.error("[H0121] reload refused, the running workers keep serving: plugin " + cfg.pluginPath() + ": " + why);
    return;
  }
  previous_ = current_;
  current_ = next;
  reloading_ = true;
  steerForScheduling();
  rollSlot_ = 1;
  // A reload (a fixed build, presumably) lifts every quarantine.
  // (Old-build workers keep theirs until they drained: they still run the crashing build.)
  poison_ = PoisonTracker(cfg.quarantine_after, uint64_t(cfg.quarantine_seconds) * 1000);
  for (auto& [id, s] : slots_) {  // a reload gives given-up slots a new chance
    cancelHeldReplacement(*s);
    s->givenUp = false;
    s->policy = RestartPolicy(policyParams());
  }
  log_.information("[H0122] reload started: generation " + std::to_string(current_->id) + ", plugin " +
                   current_->pluginName + " " + current_->pluginVersion + ", " +
                   std::to_string(current_->cfg.workers) + " worker(s), one slot at a time");
  rollNext();
}

void Master::rollNext() {
  if (rollSlot_ > int(current_->cfg.workers)) {
    finishReload();
    return;
  }
  spawn(rollSlot_);
}

void Master::finishReload() {
  // Slots beyond the new worker count, and anything else of an older generation.
  for (auto& [serial, w] : workers_) {
    if (w->generation != current_->id) askToStop(*w, "reload finished");
  }
  reloading_ = false;
  store_.discard(previous_->spec.pluginPath);
  previous_.reset();
  updateWatch();
  std::vector<int> slotSockets;
  for (auto& [slotId, l] : slotListeners_) slotSockets.push_back(slotId);
  for (int slotId : slotSockets) retireSlotSocket(slotId);
  log_.information("[H0123] reload finished: generation " + std::to_string(current_->id) + " serving with plugin " +
                   current_->pluginName + " " + current_->pluginVersion);
}

void Master::rollback(const std::string& why) {
  log_.error("[H0127] reload rolled back to generation " + std::to_string(previous_->id) + " (plugin " +
             previous_->pluginName + " " + previous_->pluginVersion + "): " + why);
  std::shared_ptr<Generation> failed = current_;
  current_ = previous_;
  previous_.reset();
  reloading_ = false;
  steerForScheduling();
  for (auto& [serial, w] : workers_) {
    if (w->generation != failed->id) continue;
    if (w->state == WorkerProcess::State::Ready) {
      askToStop(*w, "reload rolled back");  // serving: drain, lose nothing
    } else {
      w->state = WorkerProcess::State::Stopping;  // its exit is expected now
      ::kill(w->pid, SIGKILL);
    }
  }
  store_.discard(failed->spec.pluginPath);
  for (auto& [id, s] : slots_) cancelHeldReplacement(*s);
  // Slots already handed to the failed build get an old-build worker back.
  for (unsigned s = 1; s <= current_->cfg.workers; ++s) {
    bool served = false;
    for (auto& [serial, w] : workers_)
      served |= w->slot == int(s) && w->generation == current_->id && w->state != WorkerProcess::State::Stopping;
    if (!served) spawn(int(s));
  }
}

void Master::updateWatch() {
  const bool want = current_->cfg.watch && !stopping_;
  if (watch_ && (!want || watchedDir_ != current_->cfg.plugins_dir)) {
    uv_close(reinterpret_cast<uv_handle_t*>(watch_), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    watch_ = nullptr;
  }
  if (!want || watch_) return;
  auto* w = new uv_fs_event_t;
  uv_fs_event_init(loop_, w);
  w->data = this;
  int rc = uv_fs_event_start(w, [](uv_fs_event_t* h, const char* name, int, int) {
    static_cast<Master*>(h->data)->onPluginsChanged(name);
  }, current_->cfg.plugins_dir.c_str(), 0);
  if (rc != 0) {
    log_.error("[H0128] cannot watch " + current_->cfg.plugins_dir + " ([plugins] watch): " + uv_strerror(rc) +
               "; reload with SIGHUP instead");
    uv_close(reinterpret_cast<uv_handle_t*>(w), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    return;
  }
  watch_ = w;
  watchedDir_ = current_->cfg.plugins_dir;
  log_.information("[H0128] watching " + watchedDir_ + " for a new " + current_->cfg.handler + ".so");
}

void Master::onPluginsChanged(const char* filename) {
  if (!filename || std::string(filename) != current_->cfg.handler + ".so") return;
  // A copy in progress fires many events: reload once it has been quiet for 500 ms. (An
  // atomic rename of a finished file is the documented deploy path.)
  uv_timer_start(&debounce_, [](uv_timer_t* t) {
    auto* m = static_cast<Master*>(t->data);
    if (m->reloading_ || m->probing_) return;  // a newer build landed mid-reload: the repeat retries
    uv_timer_stop(t);
    m->reload(m->current_->cfg.handler + ".so changed in " + m->watchedDir_);
  }, 500, 500);
}

}  // namespace hostd::master
