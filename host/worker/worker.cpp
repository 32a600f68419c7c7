#include "worker/worker.h"

#include "app/logging.h"
#include "app/resident.h"
#include "app/self_exe.h"
#include "config/run_as.h"
#include "ipc/message.h"
#include "ipc/worker_contract.h"

#include <Poco/Logger.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <sys/prctl.h>
#include <unistd.h>
#include <utility>

namespace hostd::worker {
namespace {

Poco::Logger& log() { return Poco::Logger::get("worker"); }

std::string envOr(const char* name) {
  const char* v = std::getenv(name);
  if (!v) throw std::runtime_error(std::string("worker: environment variable ") + name + " is not set");
  return v;
}

int envInt(const char* name) {
  std::string v = envOr(name);
  try {
    return std::stoi(v);
  } catch (...) {
    throw std::runtime_error(std::string("worker: ") + name + "=\"" + v + "\" is not a number");
  }
}

// [server] thread_pool: libuv sizes its pool from UV_THREADPOOL_SIZE when the first work
// is queued, once per process. Queue a no-op now with the configured size in the
// environment, then put the environment back, so programs the plugin runs do not inherit it.
void startThreadPool(uv_loop_t* loop, unsigned threads) {
  const char* was = std::getenv("UV_THREADPOOL_SIZE");
  std::string saved = was ? was : "";
  setenv("UV_THREADPOOL_SIZE", std::to_string(threads).c_str(), 1);
  static uv_work_t warmUp;
  uv_queue_work(loop, &warmUp, [](uv_work_t*) {}, [](uv_work_t*, int) {});
  if (was) setenv("UV_THREADPOOL_SIZE", saved.c_str(), 1);
  else unsetenv("UV_THREADPOOL_SIZE");
}

// The config arrives in a sealed memfd (pread: its offset is shared with the siblings).
std::string readConfigFd(int fd) {
  std::string json;
  char buf[16384];
  for (off_t at = 0;;) {
    ssize_t n = pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("worker: cannot read the config (fd ") + std::to_string(fd) +
                                        "): " + std::strerror(errno));
    if (n == 0) break;
    json.append(buf, size_t(n));
    at += n;
  }
  close(fd);
  return json;
}

// Exactly the documented fds cross into a worker (0-2, 3, 4-5, 6, 7): whatever else the
// master had open without close-on-exec at the moment of the fork (a socket a library made,
// e.g. Poco's Redis connections) is closed before any plugin code could use it.
void closeStrayFds() {
  if (close_range(unsigned(ipc::kWorkerScoreboardFd) + 1, ~0U, 0) == 0) return;
  for (int fd = ipc::kWorkerScoreboardFd + 1; fd < 1024; ++fd) close(fd);  // kernels before 5.9
}

void resetSignals() {
  // The mask survives fork+exec, and libPocoFoundation blocks SIGPIPE when it loads.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Ctrl-C / hangup reach the whole process group: the master decides what happens.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
}

}  // namespace

WorkerEnv readWorkerEnv() {
  WorkerEnv e;
  e.id = envInt(ipc::kEnvWorkerId);
  e.listenFd = envInt(ipc::kEnvListenFd);
  std::string ch = envOr(ipc::kEnvChannelFd);
  size_t comma = ch.find(',');
  if (comma == std::string::npos) throw std::runtime_error("worker: HOSTD_CHANNEL_FD must be \"in,out\"");
  e.channelIn = std::stoi(ch.substr(0, comma));
  e.channelOut = std::stoi(ch.substr(comma + 1));
  e.masterPid = envInt(ipc::kEnvMasterPid);
  e.pluginPath = envOr(ipc::kEnvPluginPath);
  e.config = config::fromJson(readConfigFd(envInt(ipc::kEnvConfigFd)));
  e.scoreboardFd = envInt(ipc::kEnvScoreboardFd);
  if (e.scoreboardFd < 0) close(ipc::kWorkerScoreboardFd);  // none was passed: nothing may sit there
  return e;
}

uint64_t recycleAfter(uint64_t maxRequests, uint64_t jitter, uint64_t seed) {
  if (maxRequests == 0) return 0;
  return maxRequests + (jitter ? seed % (jitter + 1) : 0);
}

uint64_t residentMb() { return app::residentBytes() / (1024 * 1024); }

Worker::Worker(WorkerEnv env)
    : env_(std::move(env)),
      loop_(uv_default_loop()),
      state_([this](const std::string& frame) { return channel_ && channel_->send(ipc::MsgType::State, frame); }),
      recycleAfter_(recycleAfter(env_.config.max_requests, env_.config.max_requests_jitter,
                                 uint64_t(getpid()) * 2654435761u ^ uint64_t(uv_hrtime()))) {}

void Worker::failStartup(const std::string& why) {
  log().error("[H0201] worker " + std::to_string(env_.id) + " cannot start: " + app::logSafe(why));
  if (children_) children_->killAll();
  if (channel_) channel_->send(ipc::MsgType::InitFailed, why.substr(0, ipc::kMaxPayload));
  _exit(ipc::kExitFatal);
}

int Worker::run() {
  score_.attach(env_.scoreboardFd);
  // The inherited fds came through dup2 (no close-on-exec): keep them from any program
  // this worker runs (a child holding the listening socket would outlive us on the port).
  for (int fd : {env_.listenFd, env_.channelIn, env_.channelOut}) fcntl(fd, F_SETFD, FD_CLOEXEC);
  channel_ = new ipc::Channel(loop_);
  if (int rc = channel_->open(env_.channelIn, env_.channelOut); rc != 0) {
    log().error("[H0201] worker " + std::to_string(env_.id) + " cannot open its control channel: " + uv_strerror(rc));
    _exit(ipc::kExitFatal);
  }
  // The access log is opened as root (it may be in a root-only directory), then kept.
  if (!env_.config.access_log.empty()) {
    auto format = env_.config.access_format == config::AccessFormat::Json ? AccessLog::Format::Json
                                                                            : AccessLog::Format::Combined;
    if (std::string why = accessLog_.open(env_.config.access_log, format, env_.id); !why.empty()) failStartup(why);
  }
  // [server] user/group, before any plugin code runs (and so for every child it starts).
  if (std::string why = config::dropPrivileges(env_.config.run_as); !why.empty())
    failStartup("cannot switch to user " + env_.config.run_as.user + ": " + why);
  // Ask the kernel for SIGTERM (= drain) when the master dies (after the switch, which
  // clears it), and close the race.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  // Ready before any plugin code runs: init may already call fatal (which arms deadline_).
  uv_timer_init(loop_, &heartbeat_);
  heartbeat_.data = this;
  uv_timer_init(loop_, &deadline_);
  deadline_.data = this;
  uv_timer_init(loop_, &finishing_);
  finishing_.data = this;
  channel_->start([this](ipc::Frame& f) { onFrame(f); },
                  [this](const std::string& why) { onMasterGone(why); });
  if (getppid() != env_.masterPid) failStartup("the master (pid " + std::to_string(env_.masterPid) + ") is gone");
  // The master sends the full shared state first thing: have it before init runs.
  while (!state_.synced() && channel_->isOpen() && uv_run(loop_, UV_RUN_ONCE) != 0) {
  }
  if (!state_.synced()) failStartup("the master closed the control channel before sending the shared state");

  try {
    plugin_ = plugin::loadPlugin(env_.pluginPath);
  } catch (const plugin::PluginError& e) {
    failStartup(e.what());
  }
  const hostd_plugin* d = plugin_.desc;
  services_.loop = loop_;
  services_.workerId = env_.id;
  services_.pluginName = d->name;
  services_.pluginConfig = env_.config.pluginSection(d->name);
  services_.fatal = [this](const std::string& msg) {
    // Before it serves, a fatal is an init failure: counted by the restart policy like
    // one, instead of a replacement spawned at once (and again, and again).
    if (!pluginReady_) failStartup("plugin called fatal before serving: " + msg);
    log().error("[H0204] worker " + std::to_string(env_.id) + ": plugin called fatal: " + app::logSafe(msg));
    requestReplacement("plugin fatal: " + msg);
  };
  services_.pluginError = [this](const std::string& msg) {
    log().error("[H0210] worker " + std::to_string(env_.id) + ": " + app::logSafe(msg) +
                (env_.config.on_exception == config::OnException::Replace ? "; replacing the worker (on_exception = replace)"
                                                                         : "; the worker keeps serving"));
    if (env_.config.on_exception == config::OnException::Replace) requestReplacement(msg);
  };
  services_.workers = env_.config.workers;
  services_.sendMessage = [this](const std::string& encoded) { channel_->send(ipc::MsgType::Message, encoded); };
  services_.state = &state_;
  std::string exe = app::selfExecutable();
  ChildProcesses::Limits childLimits{env_.config.children_max, env_.config.children_max_queued,
                                     env_.config.children_queue_timeout_ms};
  children_ = std::make_unique<ChildProcesses>(loop_, exe.empty() ? app::kRunningBinary : exe, findSupervisor(exe),
                                               childLimits);
  services_.children = children_.get();
  startThreadPool(loop_, env_.config.thread_pool);
  const hostd_host_api* api = makeHostApi(&services_);
  if (d->init) {
    char err[1024] = {0};
    if (d->init(api, &pluginState_, err, sizeof err) != HOSTD_OK) {
      failStartup(std::string("plugin ") + d->name + " " + (d->version ? d->version : "") +
                  " init failed: " + (err[0] ? err : "(no reason given)"));
    }
  }

  http::Limits limits;
  limits.max_header_bytes = env_.config.max_header_bytes;
  limits.max_body_bytes = env_.config.max_body_bytes;
  limits.header_timeout_s = env_.config.header_timeout;
  limits.keepalive_timeout_s = env_.config.keepalive_timeout;
  limits.body_timeout_s = env_.config.body_timeout;
  limits.send_timeout_s = env_.config.send_timeout;
  limits.max_output_buffer = env_.config.max_output_buffer;
  // Idle connections close before the master's SIGKILL at graceful_timeout would cut them.
  limits.drain_idle_ms = env_.config.graceful_timeout * 1000ull - 1000;
  server_ = std::make_unique<http::Server>(loop_, limits,
                                           [this](http::Request& rq, http::Response& rs) { handle(rq, rs); });
  services_.server = server_.get();
  // Per-request accounting only when asked for: the access log, and metrics for [metrics].
  countRequests_ = !env_.config.metrics_listen.empty();
  if (accessLog_.enabled() || countRequests_) {
    server_->onCompleted([](void* self, const http::Server::Completed& e) {
      auto* w = static_cast<Worker*>(self);
      if (w->countRequests_) w->metrics_.countRequest(e.status, e.requestBytes, e.bodyBytes, e.durationUs);
      w->accessLog_.record(e);
    }, this);
    accessLog_.start(loop_);
  }
  server_->setServerHeader(std::string("hostd/") + HOSTD_VERSION);
  const bool roundRobin = env_.config.scheduling == config::Scheduling::RoundRobin;
  const bool ownSocket = env_.config.scheduling == config::Scheduling::ReusePort;
  if (int rc = roundRobin ? server_->receiveFrom(env_.listenFd) : server_->listen(env_.listenFd, ownSocket); rc != 0)
    failStartup(std::string("cannot serve on the inherited ") + (roundRobin ? "hand-off" : "listening") +
                " socket: " + uv_strerror(rc));

  uv_signal_init(loop_, &sigterm_);
  sigterm_.data = this;
  uv_signal_start(&sigterm_, [](uv_signal_t* s, int) { static_cast<Worker*>(s->data)->beginDrain("SIGTERM"); },
                  SIGTERM);
  uv_signal_init(loop_, &sigquit_);
  uv_signal_start(&sigquit_, [](uv_signal_t* s, int) {
    static_cast<Worker*>(s->data)->children_->killAll();
    static_cast<Worker*>(s->data)->accessLog_.flush();
    _exit(0);
  }, SIGQUIT);
  sigquit_.data = this;

  uv_timer_start(&heartbeat_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->sendHeartbeat(); }, 1000, 1000);

  log().information("[H0202] worker " + std::to_string(env_.id) + " ready: plugin " + d->name + " " +
                    (d->version ? d->version : ""));
  channel_->send(ipc::MsgType::Ready, std::string(d->name) + " " + (d->version ? d->version : ""));
  pluginReady_ = true;  // everything is set up: messages held during startup can go in now
  for (std::string& early : std::exchange(earlyMessages_, {})) deliver(early);
  uv_run(loop_, UV_RUN_DEFAULT);
  finish();
}

void Worker::handle(http::Request& req, http::Response& res) {
  ++handled_;
  if (!quarantine_.empty() && answerQuarantined(req, res)) return;
  char err[1024];
  err[0] = '\0';
  score_.begin(req.method(), req.target(), req.path(), req.remoteAddr());
  int rc = plugin_.desc->on_request(pluginState_, reinterpret_cast<hostd_request*>(uintptr_t(req.token())),
                                    reinterpret_cast<hostd_response*>(uintptr_t(res.token())), err, sizeof err);
  score_.end();
  if (rc != HOSTD_OK) {
    err[sizeof err - 1] = '\0';
    std::string why = err[0] ? err : "(no reason given)";
    log().error("[H0203] worker " + std::to_string(env_.id) + ": handler failed on " + std::string(req.method()) +
                " " + app::logSafe(req.target(), 256) + " from " + std::string(req.remoteAddr()) + ": " +
                app::logSafe(why));
    res.fail();  // a 500, or the connection cut if the head went out already
    if (env_.config.on_exception == config::OnException::Replace)
      requestReplacement("handler error: " + why);
    return;
  }
  if (recycleAfter_ && handled_ >= recycleAfter_)
    requestReplacement("served " + std::to_string(handled_) + " requests (max_requests = " +
                           std::to_string(env_.config.max_requests) + " + jitter)",
                       true);
}

bool Worker::answerQuarantined(http::Request& req, http::Response& res) {
  auto it = quarantine_.find(std::string(req.method()) + " " + std::string(req.path()));
  if (it == quarantine_.end()) return false;
  uint64_t now = ipc::monotonicMs();
  if (now >= it->second) {
    quarantine_.erase(it);
    return false;
  }
  res.setStatus(503);
  res.addHeader("Retry-After", std::to_string((it->second - now + 999) / 1000));
  res.addHeader("Content-Type", "text/plain");
  res.end("Service Unavailable: this route is quarantined after crashing workers\n");
  return true;
}

void Worker::onQuarantine(const std::string& payload) {
  // "<seconds> <METHOD> <path>", or "0": clear.
  size_t sp = payload.find(' ');
  unsigned long seconds = std::strtoul(payload.substr(0, sp).c_str(), nullptr, 10);
  if (seconds == 0 || sp == std::string::npos) {
    quarantine_.clear();
    return;
  }
  quarantine_[payload.substr(sp + 1)] = ipc::monotonicMs() + seconds * 1000;
}

void Worker::requestReplacement(const std::string& reason, bool planned) {
  if (replacementAsked_ || draining_) return;
  replacementAsked_ = true;
  log().warning("[H0205] worker " + std::to_string(env_.id) + " asks for its replacement (" +
                (planned ? "recycling" : "suicide") + "): " + app::logSafe(reason));
  channel_->send(planned ? ipc::MsgType::Recycle : ipc::MsgType::Suicide, reason.substr(0, ipc::kMaxPayload));
  // The master answers `restart` once the replacement is ready. If it never does, leave
  // anyway: a worker that asked to die must not serve forever.
  // The master may hold the replacement back (restart policy backoff, up to 15 s).
  uint64_t wait = 1000ull * (30 + env_.config.graceful_timeout * 2);
  uv_timer_start(&deadline_, [](uv_timer_t* t) {
    static_cast<Worker*>(t->data)->beginDrain("no restart from the master after suicide");
  }, wait, 0);
}

void Worker::onFrame(ipc::Frame& f) {
  switch (f.type) {
    case ipc::MsgType::Restart:
      beginDrain("restart requested by the master");
      break;
    case ipc::MsgType::Message:
      deliver(f.payload);
      break;
    case ipc::MsgType::Quarantine:
      onQuarantine(f.payload);
      break;
    case ipc::MsgType::Reopen:
      reopenLogs();
      break;
    case ipc::MsgType::State:
      if (!state_.onFrame(f.payload))
        log().warning("[H0206] worker " + std::to_string(env_.id) + " ignores a malformed state frame");
      break;
    default:
      log().warning("[H0206] worker " + std::to_string(env_.id) + " ignores an unexpected " +
                    ipc::msgTypeName(f.type) + " frame from the master");
      break;
  }
}

void Worker::deliver(const std::string& frame) {
  if (!pluginReady_) {  // sent while this worker was starting: for the plugin, after init
    earlyMessages_.push_back(frame);
    return;
  }
  ipc::PluginMessage m;
  const hostd_plugin* d = plugin_.desc;
  // A 1.0 plugin's descriptor ends before on_message: read only what it has.
  bool hasCallback = d && d->size >= offsetof(hostd_plugin, on_message) + sizeof(d->on_message) && d->on_message;
  if (!ipc::decodePluginMessage(frame, &m) || m.kind != ipc::PluginMessage::Deliver || !hasCallback) return;
  d->on_message(pluginState_, m.topic.data(), m.topic.size(), m.payload.data(), m.payload.size(), int(m.from));
}

void Worker::onMasterGone(const std::string& reason) {
  log().warning("[H0207] worker " + std::to_string(env_.id) + " lost its master (" + reason + "): draining");
  state_.failPending(HOSTD_EUNAVAILABLE, "shared state: the master is gone; the write may not have been applied");
  beginDrain("master gone");
  // Nobody will SIGKILL us past graceful_timeout now: enforce it ourselves, even if the
  // loop gets stuck in plugin code (alarm's default action ends the process).
  alarm(env_.config.graceful_timeout + 1);
  uv_timer_start(&deadline_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->finish(); },
                 1000ull * env_.config.graceful_timeout, 0);
}

void Worker::beginDrain(const std::string& why) {
  if (draining_) return;
  draining_ = true;
  log().information("[H0208] worker " + std::to_string(env_.id) + " draining (" + why + "): " +
                    std::to_string(server_ ? server_->connectionCount() : 0) + " connection(s) open");
  if (!server_) finish();
  // Drained may be reached inside a plugin call (its res_end closed the last connection):
  // finish (shutdown, exit) from the loop, not under the plugin's feet.
  server_->drain([this] {
    uv_timer_start(&finishing_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->finish(); }, 0, 0);
  });
}

void Worker::reopenLogs() {
  // The master recreated the files and gave them to our user: open them by name again.
  if (std::string why = accessLog_.reopen(); !why.empty())
    log().error("[H0211] worker " + std::to_string(env_.id) + ": " + why + "; it keeps writing to the old file");
  if (!env_.config.log_file.empty()) {
    int fd = ::open(env_.config.log_file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      ::close(fd);
    } else {
      log().error("[H0211] worker " + std::to_string(env_.id) + ": cannot reopen " + env_.config.log_file + ": " +
                  std::strerror(errno));
    }
  }
}

void Worker::finish() {
  if (plugin_.desc && plugin_.desc->shutdown && pluginState_) plugin_.desc->shutdown(pluginState_);
  pluginState_ = nullptr;
  if (children_) children_->killAll();
  accessLog_.flush();
  log().information("[H0209] worker " + std::to_string(env_.id) + " exiting after " + std::to_string(handled_) +
                    " request(s)");
  // _exit, not exit: no atexit handlers or static destructors of a forked image.
  _exit(ipc::kExitOk);
}

void Worker::sendHeartbeat() {
  // Checked here, on the loop, once a second: a leaking plugin is recycled like max_requests.
  if (env_.config.max_memory_mb && !replacementAsked_) {
    uint64_t rss = residentMb();
    if (rss > env_.config.max_memory_mb)
      requestReplacement("resident memory " + std::to_string(rss) + " MB exceeds max_memory_mb = " +
                             std::to_string(env_.config.max_memory_mb),
                         true);
  }
  ipc::Heartbeat hb = metrics_;
  const http::Server::Stats& s = server_->stats();
  hb.requests = s.requests;
  hb.accepted = s.accepted;
  hb.active = server_->connectionCount();
  if (children_) {
    ChildProcesses::Counts c = children_->counts();
    hb.children = c.live;
    hb.childrenQueued = c.queued;
    hb.childrenRefused = c.refused;
    hb.childrenExpired = c.expired;
  }
  channel_->send(ipc::MsgType::Heartbeat, ipc::encodeHeartbeat(hb));
}

int runWorker() {
  closeStrayFds();
  resetSignals();
  WorkerEnv env;
  try {
    env = readWorkerEnv();
  } catch (const std::exception& e) {
    app::setupLogging("information");
    Poco::Logger::get("worker").error(std::string("[H0201] ") + e.what());
    return ipc::kExitFatal;
  }
  app::setupLogging(env.config.log_level);
  Worker w(std::move(env));
  return w.run();
}

}  // namespace hostd::worker
