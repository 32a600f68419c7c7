// The master, reload: re-read the config, probe the new build from the loop, roll it out
// one slot at a time, roll back when it cannot serve; and the plugins-directory watch.
#include "master/master.h"

namespace hostd::master {

void Master::reload(const std::string& trigger) {
  log_.information("[H0120] " + trigger + ": reloading " + current_->cfg.file);
  config::Config cfg;
  try {
    cfg = config::loadConfig(current_->cfg.file);
  } catch (const config::ConfigError& e) {
    core_.reloadRefused(e.what());
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
  PluginStore::Prepared copy = store_.copy(cfg.pluginPath(), cfg.plugins_dir, current_->id + 1);
  if (!copy.ok) {
    core_.reloadRefused("plugin " + cfg.pluginPath() + ": " + copy.message);
    return;
  }
  // The probe runs as a child watched from the loop: workers keep being heard (heartbeats,
  // state, messages) however long the plugin takes to load.
  probePid_ = startPluginProbe(loop_, store_.exe(), copy.path, cfg.load_timeout * 1000, cfg.run_as,
                               [this, cfg, copy](ProbeResult r) {
    onReloadProbed(cfg, copy, r);
    apply();
  });
}

void Master::onReloadProbed(const config::Config& cfg, const PluginStore::Prepared& copied, const ProbeResult& r) {
  probePid_ = 0;
  if (core_.stopping()) {
    store_.discard(copied.path);
    core_.reloadRefused("stopping");
    return;
  }
  PluginStore::Prepared accepted = store_.accept(copied, cfg.pluginPath(), r);
  std::string why = accepted.message;
  std::shared_ptr<Generation> next =
      accepted.ok ? makeGeneration(cfg, current_->id + 1, listenFd_, accepted, &why) : nullptr;
  if (!next) {
    if (accepted.ok) store_.discard(accepted.path);
    core_.reloadRefused("plugin " + cfg.pluginPath() + ": " + why);
    return;
  }
  previous_ = current_;
  current_ = next;
  steerForScheduling();
  // A reload (a fixed build, presumably) lifts every quarantine.
  // (Old-build workers keep theirs until they drained: they still run the crashing build.)
  poison_ = PoisonTracker(cfg.quarantine_after, uint64_t(cfg.quarantine_seconds) * 1000);
  core_.reloadAccepted(next->id, coreParams(cfg), label(*next), now());
}

void Master::onRollback(uint64_t failed) {
  if (!previous_ || current_->id != failed) return;
  store_.discard(current_->spec.pluginPath);
  current_ = std::move(previous_);
  previous_.reset();
  steerForScheduling();
}

void Master::onReloadFinished() {
  if (previous_) store_.discard(previous_->spec.pluginPath);
  previous_.reset();
  updateWatch();
  std::vector<int> slotSockets;
  for (auto& [slotId, l] : slotListeners_) slotSockets.push_back(slotId);
  for (int slotId : slotSockets) retireSlotSocket(slotId);
}

void Master::updateWatch() {
  const bool want = current_->cfg.watch && !core_.stopping();
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
    if (m->core_.phase() != ClusterCore::Phase::Idle) return;  // a newer build landed mid-reload: the repeat retries
    uv_timer_stop(t);
    m->core_.reloadRequested(m->current_->cfg.handler + ".so changed in " + m->watchedDir_);
    m->apply();
  }, 500, 500);
}

}  // namespace hostd::master
