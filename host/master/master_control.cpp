// The master, control socket: what hostctl asks (status, reload, stop, scale) and the
// answers. One line in, text out: "ok ...", "error: ...", or a reload's outcome.
#include "master/master.h"

#include "app/logging.h"
#include "app/resident.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <unistd.h>
#include <utility>

namespace hostd::master {

void Master::startControl() {
  const std::string& want = current_->cfg.control_socket;
  if (want == "off") return;
  const std::string path = want.empty() ? defaultControlSocket(store_.cacheDir()) : want;
  control_ = std::make_unique<RequestServer>(loop_);
  std::string why = control_->listenUnix(path, [this](const std::string& line, RequestServer::Reply reply) {
    onControl(line, std::move(reply));
  });
  if (!why.empty()) {
    control_.reset();
    log_.warning("[H0144] no control socket at " + path + ": " + why +
                 "; hostctl cannot reach this hostd (set [control] socket)");
    return;
  }
  log_.information("[H0144] control socket " + path + " (hostctl -s " + path + ")");
}

void Master::onControl(const std::string& line, RequestServer::Reply reply) {
  std::istringstream in(line);
  std::string cmd, arg;
  in >> cmd >> arg;
  if (cmd == "status") log_.debug("[H0146] hostctl: status");  // monitoring polls it: not news
  else log_.information("[H0146] hostctl: " + app::logSafe(line, 64));
  if (cmd == "status") {
    reply("ok\n" + statusJson() + "\n");
  } else if (cmd == "reload") {
    if (core_.stopping()) return reply("refused: hostd is stopping\n");
    // Never the outcome of another reload (SIGHUP, the watch): that one may predate the edit.
    if (core_.startingUp() || core_.phase() != ClusterCore::Phase::Idle)
      return reply(std::string("refused: ") +
                   (core_.startingUp() ? "hostd is still starting" : "a reload is already running") + "\n");
    core_.reloadRequested("hostctl reload");
    pendingReloads_.push_back(std::move(reply));  // answered with the outcome (answerReloads)
    apply();
  } else if (cmd == "stop" && (arg.empty() || arg == "--now")) {
    reply(std::string("ok: ") + (arg.empty() ? "draining the workers, then exiting" : "stopping now") + "\n");
    core_.stop(arg.empty() && !core_.stopping());
    apply();
  } else if (cmd == "reopen-logs") {
    std::string why = reopenLogs("hostctl reopen-logs");
    reply(why.empty() ? "ok: log files reopened\n" : "error: " + why + "\n");
  } else if (cmd == "scale") {
    char* end = nullptr;
    unsigned long n = std::strtoul(arg.c_str(), &end, 10);
    std::string why = arg.empty() || *end || n > 1024 ? "expected a worker count from 1 to 1024: scale N"
                                                     : core_.scale(unsigned(n), now());
    if (!why.empty()) return reply("error: " + why + "\n");
    current_->cfg.workers = unsigned(n);
    reply("ok: " + std::to_string(n) + " worker(s)\n");
    apply();
  } else {
    reply("error: unknown command \"" + app::logSafe(line, 64) +
          "\"; expected status, reload, stop [--now], scale N or reopen-logs\n");
  }
}

void Master::answerReloads(int outcome, const std::string& status) {
  const char* word = outcome == Command::Finished ? "finished" : outcome == Command::RolledBack ? "rolled back"
                                                                                                 : "refused";
  std::string text = status;
  for (const char* prefix : {"reload refused: ", "reload rolled back: "})
    if (text.rfind(prefix, 0) == 0) text = text.substr(std::strlen(prefix));
  for (RequestServer::Reply& r : std::exchange(pendingReloads_, {})) r(std::string(word) + ": " + text + "\n");
}

std::string Master::statusJson() {
  Poco::JSON::Object o;
  o.set("master_pid", int(getpid()));
  o.set("uptime_s", (now() - startedMs_) / 1000);
  o.set("generation", core_.generation());
  o.set("plugin", current_->pluginName);
  o.set("plugin_version", current_->pluginVersion);
  o.set("state", core_.stopping() ? "stopping"
                 : core_.startingUp() ? "starting"
                 : core_.phase() != ClusterCore::Phase::Idle ? "reloading" : "serving");
  o.set("workers_configured", core_.params().workers);
  Poco::JSON::Array workers;
  std::vector<const WorkerProcess*> bySlot;
  for (auto& [serial, w] : workers_) bySlot.push_back(w);
  std::stable_sort(bySlot.begin(), bySlot.end(), [](auto* a, auto* b) { return a->slot < b->slot; });
  for (const WorkerProcess* w : bySlot) {
    Poco::JSON::Object wj;
    wj.set("slot", w->slot);
    wj.set("pid", w->pid);
    wj.set("generation", w->generation);
    wj.set("state", ClusterCore::stateName(stateOf(*w)));
    wj.set("requests", w->counters.requests);
    wj.set("accepted", w->counters.accepted);
    wj.set("connections", w->counters.active);
    wj.set("rss_kb", app::residentBytes(w->pid) / 1024);
    wj.set("restarts", core_.recentRestarts(w->slot, now()));
    if (w->score) {
      ipc::Score sc = w->score->read();
      if (sc.busy) {
        Poco::JSON::Object busy;
        busy.set("method", sc.method);
        busy.set("target", sc.target);
        busy.set("remote", sc.remote);
        busy.set("for_ms", sc.forMs);
        wj.set("serving", busy);
      }
    }
    workers.add(wj);
  }
  o.set("workers", workers);
  std::ostringstream out;
  o.stringify(out);
  return out.str();
}

}  // namespace hostd::master
