#include "worker/host_api.h"

#include "app/logging.h"
#include "http/request.h"
#include "http/response.h"
#include "http/server.h"
#include "ipc/message.h"
#include "worker/child_processes.h"
#include "worker/state_replica.h"

#include <Poco/Logger.h>

#include <cctype>
#include <unordered_map>

namespace hostd::worker {
namespace {

HostServices* g_services = nullptr;

// Handles are tokens (http/handles.h): a stale one resolves to nothing and touches nothing.
const http::Request* rq(const hostd_request* r) {
  return g_services && g_services->server ? g_services->server->requestFor(reinterpret_cast<uintptr_t>(r)) : nullptr;
}
http::Response* rs(hostd_response* r) {
  return g_services && g_services->server ? g_services->server->responseFor(reinterpret_cast<uintptr_t>(r)) : nullptr;
}
hostd_str str(std::string_view v) { return hostd_str{v.data(), v.size()}; }
template <class F>
hostd_str reqField(const hostd_request* r, F field) {
  const http::Request* q = rq(r);
  return q ? str((q->*field)()) : hostd_str{nullptr, 0};
}

hostd_str reqMethod(const hostd_request* r) { return reqField(r, &http::Request::method); }
hostd_str reqTarget(const hostd_request* r) { return reqField(r, &http::Request::target); }
hostd_str reqPath(const hostd_request* r) { return reqField(r, &http::Request::path); }
hostd_str reqQuery(const hostd_request* r) { return reqField(r, &http::Request::query); }
hostd_str reqBody(const hostd_request* r) { return reqField(r, &http::Request::body); }
hostd_str reqRemote(const hostd_request* r) { return reqField(r, &http::Request::remoteAddr); }
size_t reqHeaderCount(const hostd_request* r) {
  const http::Request* q = rq(r);
  return q ? q->headerCount() : 0;
}

int reqHeader(const hostd_request* r, const char* name, size_t len, hostd_str* out) {
  const http::Request* q = rq(r);
  if (!q) return HOSTD_ESTALE;
  std::string_view v;
  if (!name || !out || !q->header(std::string_view(name, len), &v)) return HOSTD_ENOTFOUND;
  *out = str(v);
  return HOSTD_OK;
}

int reqHeaderAt(const hostd_request* r, size_t i, hostd_str* name, hostd_str* value) {
  const http::Request* q = rq(r);
  if (!q) return HOSTD_ESTALE;
  if (i >= q->headerCount() || !name || !value) return HOSTD_EINVAL;
  const http::Header& h = q->headerAt(i);
  *name = str(h.name);
  *value = str(h.value);
  return HOSTD_OK;
}

std::string_view view(const char* p, size_t n) { return p ? std::string_view(p, n) : std::string_view(); }

int resStatus(hostd_response* r, int status) {
  http::Response* x = rs(r);
  return x ? x->setStatus(status) : HOSTD_ESTALE;
}
int resHeader(hostd_response* r, const char* n, size_t nl, const char* v, size_t vl) {
  http::Response* x = rs(r);
  return x ? x->addHeader(view(n, nl), view(v, vl)) : HOSTD_ESTALE;
}
int resWrite(hostd_response* r, const char* d, size_t n) {
  http::Response* x = rs(r);
  return x ? x->write(view(d, n)) : HOSTD_ESTALE;
}
int resEnd(hostd_response* r, const char* d, size_t n) {
  http::Response* x = rs(r);
  return x ? x->end(view(d, n)) : HOSTD_ESTALE;
}
int resOutput(hostd_response* r, size_t* buffered, size_t* limit) {
  http::Response* x = rs(r);
  if (!x) return HOSTD_ESTALE;
  if (buffered) *buffered = x->buffered();
  if (limit) *limit = g_services->server->limits().max_output_buffer;
  return x->clientGone() ? HOSTD_ECLOSED : HOSTD_OK;
}
int resOnDrain(hostd_response* r, void (*cb)(void*, int), void* arg) {
  http::Response* x = rs(r);
  if (!x) return HOSTD_ESTALE;
  return cb ? x->onDrain(cb, arg) : HOSTD_EINVAL;
}

void logLine(int level, const char* msg, size_t len) {
  Poco::Logger& log = Poco::Logger::get("plugin " + (g_services ? g_services->pluginName : std::string("?")));
  std::string text = app::logSafe(view(msg, len), app::kPluginLogCap);
  switch (level) {
    case HOSTD_LOG_ERROR: log.error(text); break;
    case HOSTD_LOG_WARNING: log.warning(text); break;
    case HOSTD_LOG_DEBUG: log.debug(text); break;
    default: log.information(text); break;
  }
}

int configGet(const char* key, size_t len, hostd_str* out) {
  if (!g_services || !g_services->pluginConfig || !key || !out) return HOSTD_ENOTFOUND;
  std::string k(key, len);
  for (char& c : k) c = char(std::tolower(static_cast<unsigned char>(c)));
  auto it = g_services->pluginConfig->find(k);
  if (it == g_services->pluginConfig->end()) return HOSTD_ENOTFOUND;
  *out = str(it->second);
  return HOSTD_OK;
}

int workerId() { return g_services ? g_services->workerId : 0; }

void fatal(const char* msg, size_t len) {
  if (g_services && g_services->fatal) g_services->fatal(std::string(view(msg, len)));
}

void pluginError(const char* msg, size_t len) {
  if (g_services && g_services->pluginError) g_services->pluginError(std::string(view(msg, len)));
}

// ---- timers ----
struct Timer {
  uv_timer_t handle;
  uint64_t id;
  uint64_t repeat;
  void (*cb)(void*);
  void* arg;
  void (*dtor)(void*);
  bool running = false;
  bool over = false;
};
std::unordered_map<uint64_t, Timer*> g_timers;
uint64_t g_nextTimerId = 1;

void finishTimer(Timer* t) {
  if (t->over) return;
  t->over = true;
  g_timers.erase(t->id);
  uv_timer_stop(&t->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), [](uv_handle_t* h) {
    auto* t = static_cast<Timer*>(h->data);
    if (t->dtor) t->dtor(t->arg);
    delete t;
  });
}

void onTimer(uv_timer_t* h) {
  auto* t = static_cast<Timer*>(h->data);
  t->running = true;
  t->cb(t->arg);
  t->running = false;
  if (t->repeat == 0) finishTimer(t);
}

uint64_t timerStart(uint64_t delay, uint64_t repeat, void (*cb)(void*), void* arg, void (*dtor)(void*)) {
  if (!g_services || !cb) {
    if (dtor) dtor(arg);
    return 0;
  }
  auto* t = new Timer{};
  t->id = g_nextTimerId++;
  t->repeat = repeat;
  t->cb = cb;
  t->arg = arg;
  t->dtor = dtor;
  uv_timer_init(g_services->loop, &t->handle);
  t->handle.data = t;
  uv_timer_start(&t->handle, &onTimer, delay, repeat);
  g_timers.emplace(t->id, t);
  return t->id;
}

int timerCancel(uint64_t id) {
  auto it = g_timers.find(id);
  if (it == g_timers.end()) return HOSTD_ENOTFOUND;
  Timer* t = it->second;
  if (t->running) {
    // Cancelled from its own callback: finish once the callback returned.
    t->repeat = 0;
    uv_timer_stop(&t->handle);
    return HOSTD_OK;
  }
  finishTimer(t);
  return HOSTD_OK;
}

// ---- thread pool ----
struct Work {
  uv_work_t req;
  void (*work)(void*);
  void (*done)(void*, int);
  void* arg;
};

int queueWork(void (*work)(void*), void (*done)(void*, int), void* arg) {
  if (!g_services || !work) return HOSTD_EINVAL;
  auto* w = new Work{{}, work, done, arg};
  w->req.data = w;
  int rc = uv_queue_work(
      g_services->loop, &w->req, [](uv_work_t* r) { auto* w = static_cast<Work*>(r->data); w->work(w->arg); },
      [](uv_work_t* r, int status) {
        auto* w = static_cast<Work*>(r->data);
        if (w->done) w->done(w->arg, status == 0 ? HOSTD_OK : HOSTD_ERROR);
        delete w;
      });
  if (rc != 0) {
    delete w;
    return HOSTD_ERROR;
  }
  return HOSTD_OK;
}

// ---- messages ----
int relay(ipc::PluginMessage::Kind kind, int target, bool includeSelf, const char* topic, size_t topicLen,
          const char* payload, size_t len) {
  if (!g_services || !g_services->sendMessage) return HOSTD_ERROR;
  if (topicLen + len > HOSTD_MAX_MESSAGE || topicLen > 0xffff) return HOSTD_ETOOBIG;
  ipc::PluginMessage m;
  m.kind = kind;
  m.includeSelf = includeSelf;
  m.target = uint32_t(target);
  m.from = uint32_t(g_services->workerId);
  m.topic.assign(view(topic, topicLen));
  m.payload.assign(view(payload, len));
  g_services->sendMessage(ipc::encodePluginMessage(m));
  return HOSTD_OK;
}

int broadcast(const char* topic, size_t topicLen, const char* payload, size_t len, int includeSelf) {
  return relay(ipc::PluginMessage::Broadcast, 0, includeSelf != 0, topic, topicLen, payload, len);
}

int sendTo(int worker, const char* topic, size_t topicLen, const char* payload, size_t len) {
  if (!g_services || worker < 1 || unsigned(worker) > g_services->workers) return HOSTD_EINVAL;
  return relay(ipc::PluginMessage::SendTo, worker, false, topic, topicLen, payload, len);
}

// ---- shared state (1.2) ----
int stateGet(const char* key, size_t len, hostd_str* out) {
  if (!g_services || !g_services->state || !out) return HOSTD_EINVAL;
  const std::string* v = g_services->state->get(view(key, len));
  if (!v) return HOSTD_ENOTFOUND;
  *out = str(*v);
  return HOSTD_OK;
}

int stateWrite(ipc::StateMsg::Op op, const char* key, size_t klen, std::string_view value, int64_t delta,
               hostd_state_done_fn done, void* arg) {
  if (!g_services || !g_services->state || !key) return HOSTD_EINVAL;
  return g_services->state->write(op, view(key, klen), value, delta, done, arg);
}

int stateSet(const char* key, size_t klen, const char* value, size_t vlen, hostd_state_done_fn done, void* arg) {
  return stateWrite(ipc::StateMsg::Set, key, klen, view(value, vlen), 0, done, arg);
}

int stateDel(const char* key, size_t klen, hostd_state_done_fn done, void* arg) {
  return stateWrite(ipc::StateMsg::Del, key, klen, {}, 0, done, arg);
}

int stateIncr(const char* key, size_t klen, int64_t delta, hostd_state_done_fn done, void* arg) {
  return stateWrite(ipc::StateMsg::Incr, key, klen, {}, delta, done, arg);
}

uint64_t stateWatch(const char* key, size_t klen, int prefix, hostd_state_watch_fn cb, void* arg,
                    void (*dtor)(void*)) {
  if (!g_services || !g_services->state) {
    if (dtor) dtor(arg);
    return 0;
  }
  return g_services->state->watch(view(key, klen), prefix != 0, cb, arg, dtor);
}

int stateUnwatch(uint64_t id) {
  return g_services && g_services->state ? g_services->state->unwatch(id) : HOSTD_ENOTFOUND;
}

// ---- child processes (1.2) ----
int execCommand(const char* command, size_t len, const hostd_exec_options* opts,
                void (*done)(void*, const hostd_exec_result*), void* arg) {
  if (!g_services || !g_services->children || !command) return HOSTD_EINVAL;
  return g_services->children->exec(view(command, len), opts, done, arg);
}

int execFile(const char* file, const char* const* args, const hostd_exec_options* opts,
             void (*done)(void*, const hostd_exec_result*), void* arg) {
  if (!g_services || !g_services->children) return HOSTD_EINVAL;
  return g_services->children->execFile(file, args, opts, done, arg);
}

uint64_t spawnChild(const char* file, const char* const* args, const hostd_exec_options* opts,
                    const hostd_spawn_callbacks* cbs, void* arg) {
  if (!g_services || !g_services->children) return 0;
  return g_services->children->spawn(file, args, opts, cbs, arg);
}

int childKill(uint64_t id, int signum) {
  return g_services && g_services->children ? g_services->children->kill(id, signum) : HOSTD_ENOTFOUND;
}

const hostd_host_api kApi = {
    sizeof(hostd_host_api), HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR,
    reqMethod, reqTarget, reqPath, reqQuery, reqHeader, reqHeaderCount, reqHeaderAt, reqBody, reqRemote,
    resStatus, resHeader, resWrite, resEnd,
    logLine, configGet, workerId, timerStart, timerCancel, fatal,
    queueWork, broadcast, sendTo,
    stateGet, stateSet, stateDel, stateIncr, stateWatch, stateUnwatch,
    execCommand, execFile, spawnChild, childKill,
    resOutput, resOnDrain, pluginError,
};

}  // namespace

const hostd_host_api* makeHostApi(HostServices* services) {
  g_services = services;
  return &kApi;
}

}  // namespace hostd::worker
