#include "worker/child_processes.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

extern char** environ;

namespace hostd::worker {

constexpr size_t kDefaultMaxOutput = 1024 * 1024;

struct ChildProcesses::Child {
  ChildProcesses* owner = nullptr;
  uint64_t id = 0;
  int pid = 0;
  uv_process_t proc{};
  uv_pipe_t out{}, err{};
  uv_timer_t timer{};
  bool buffered = false;
  size_t cap = kDefaultMaxOutput;
  uint32_t timeoutMs = 0;
  std::string outBuf, errBuf;
  void (*done)(void*, const hostd_exec_result*) = nullptr;
  hostd_spawn_callbacks cbs{};
  void* arg = nullptr;
  int status = HOSTD_OK;
  std::string message;
  bool exited = false;
  int exitCode = -1;
  int termSignal = 0;
  int openStreams = 2;
  int openHandles = 0;  ///< handles to close before delete
  bool reported = false;
};

std::string findProgram(const std::string& file) {
  if (file.empty()) return {};
  if (file.find('/') != std::string::npos) return access(file.c_str(), X_OK) == 0 ? file : std::string();
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + file;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

ChildProcesses::ChildProcesses(uv_loop_t* loop, std::string exe) : loop_(loop), exe_(std::move(exe)) {
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "HOSTD_", 6) != 0) env_.emplace_back(*e);
}

int ChildProcesses::exec(std::string_view command, const hostd_exec_options* opts,
                         void (*done)(void*, const hostd_exec_result*), void* arg) {
  if (!done) return HOSTD_EINVAL;
  int rc = HOSTD_OK;
  start({"/bin/sh", "-c", std::string(command)}, opts, done, nullptr, arg, &rc);
  return rc;
}

int ChildProcesses::execFile(const char* file, const char* const* args, const hostd_exec_options* opts,
                             void (*done)(void*, const hostd_exec_result*), void* arg) {
  if (!done || !file) return HOSTD_EINVAL;
  std::vector<std::string> argv{file};
  for (const char* const* a = args; a && *a; ++a) argv.emplace_back(*a);
  int rc = HOSTD_OK;
  start(argv, opts, done, nullptr, arg, &rc);
  return rc;
}

uint64_t ChildProcesses::spawn(const char* file, const char* const* args, const hostd_exec_options* opts,
                               const hostd_spawn_callbacks* cbs, void* arg) {
  if (!file) return 0;
  std::vector<std::string> argv{file};
  for (const char* const* a = args; a && *a; ++a) argv.emplace_back(*a);
  hostd_spawn_callbacks none{sizeof(hostd_spawn_callbacks), nullptr, nullptr, nullptr};
  if (cbs && cbs->size < sizeof(hostd_spawn_callbacks)) return 0;
  int rc = HOSTD_OK;
  return start(argv, opts, nullptr, cbs ? cbs : &none, arg, &rc);
}

uint64_t ChildProcesses::start(const std::vector<std::string>& argv, const hostd_exec_options* opts,
                               void (*done)(void*, const hostd_exec_result*), const hostd_spawn_callbacks* cbs,
                               void* arg, int* rc) {
  if (findProgram(argv[0]).empty()) {
    *rc = HOSTD_ENOTFOUND;
    return 0;
  }
  // A newer plugin's options struct is larger: its extra members are ignored. A smaller
  // size is a caller that did not set it.
  hostd_exec_options o{sizeof(hostd_exec_options), 0, 0, nullptr};
  if (opts && opts->size < sizeof(hostd_exec_options)) {
    *rc = HOSTD_EINVAL;
    return 0;
  }
  if (opts) o = *opts;

  std::string parent = std::to_string(getpid());
  std::vector<const char*> args{exe_.c_str(), "--child-exec", parent.c_str()};
  for (const std::string& a : argv) args.push_back(a.c_str());
  args.push_back(nullptr);
  std::vector<char*> env;
  for (std::string& e : env_) env.push_back(e.data());
  env.push_back(nullptr);

  auto* c = new Child;
  c->owner = this;
  c->id = nextId_++;
  c->buffered = done != nullptr;
  c->done = done;
  if (cbs) c->cbs = *cbs;
  c->arg = arg;
  if (o.max_output) c->cap = o.max_output;
  c->timeoutMs = o.timeout_ms;
  uv_pipe_init(loop_, &c->out, 0);
  uv_pipe_init(loop_, &c->err, 0);
  uv_timer_init(loop_, &c->timer);
  c->out.data = c->err.data = c->timer.data = c->proc.data = c;
  c->openHandles = 3;

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = uv_stdio_flags(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&c->out);
  stdio[2].flags = uv_stdio_flags(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&c->err);
  uv_process_options_t po{};
  po.exit_cb = &onExit;
  po.file = exe_.c_str();
  po.args = const_cast<char**>(args.data());
  po.env = env.data();
  po.cwd = o.cwd;
  po.flags = UV_PROCESS_DETACHED;  // setsid: its own process group
  po.stdio_count = 3;
  po.stdio = stdio;
  int err = uv_spawn(loop_, &c->proc, &po);
  if (err != 0) {
    *rc = err == UV_ENOENT ? HOSTD_ENOTFOUND : HOSTD_ERROR;
    auto closed = [](uv_handle_t* h) {
      auto* c = static_cast<Child*>(h->data);
      if (--c->openHandles == 0) delete c;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&c->proc), closed);  // uv_spawn initialised it
    ++c->openHandles;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->out), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->err), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), closed);
    return 0;
  }
  ++c->openHandles;  // the process handle
  c->pid = c->proc.pid;
  children_[c->id] = c;
  auto alloc = [](uv_handle_t*, size_t, uv_buf_t* buf) {
    static char chunk[64 * 1024];  // the loop is single-threaded; data is consumed in onRead
    *buf = uv_buf_init(chunk, sizeof chunk);
  };
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->out), alloc, &onRead);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->err), alloc, &onRead);
  if (o.timeout_ms) uv_timer_start(&c->timer, &onTimeout, o.timeout_ms, 0);
  *rc = HOSTD_OK;
  return c->id;
}

void ChildProcesses::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Child*>(s->data);
  bool isErr = s == reinterpret_cast<uv_stream_t*>(&c->err);
  if (n > 0) {
    c->owner->output(*c, isErr, buf->base, size_t(n));
    return;
  }
  if (n == 0) return;
  uv_read_stop(s);  // EOF or error: this stream is over
  --c->openStreams;
  c->owner->maybeFinish(*c);
}

void ChildProcesses::output(Child& c, bool isErr, const char* data, size_t len) {
  if (!c.buffered) {
    auto cb = isErr ? c.cbs.on_stderr : c.cbs.on_stdout;
    if (cb) cb(c.arg, data, len);
    return;
  }
  std::string& into = isErr ? c.errBuf : c.outBuf;
  if (c.status != HOSTD_OK) return;
  size_t room = c.cap - into.size();
  into.append(data, std::min(room, len));
  if (len > room)
    abort(c, HOSTD_ETOOBIG, std::string(isErr ? "stderr" : "stdout") + " exceeded max_output = " +
                                std::to_string(c.cap) + " bytes; the child was killed");
}

void ChildProcesses::onTimeout(uv_timer_t* t) {
  auto* c = static_cast<Child*>(t->data);
  c->owner->abort(*c, HOSTD_ETIMEDOUT, "killed (SIGKILL) at its timeout of " + std::to_string(c->timeoutMs) + " ms");
}

void ChildProcesses::abort(Child& c, int status, const std::string& why) {
  // Also after the direct child exited: what it left running in its group may still
  // hold the output open, and is what the timeout or cap is about then.
  if (c.reported || c.status != HOSTD_OK) return;
  c.status = status;
  c.message = why;
  ::kill(-c.pid, SIGKILL);
}

void ChildProcesses::onExit(uv_process_t* p, int64_t status, int signal) {
  auto* c = static_cast<Child*>(p->data);
  c->exited = true;
  c->exitCode = signal ? -1 : int(status);
  c->termSignal = signal;
  c->owner->maybeFinish(*c);
}

void ChildProcesses::maybeFinish(Child& c) {
  if (!c.exited || c.openStreams > 0 || c.reported) return;
  c.reported = true;
  children_.erase(c.id);
  if (c.buffered) {
    hostd_exec_result r{};
    r.status = c.status;
    r.exit_code = c.exitCode;
    r.term_signal = c.termSignal;
    r.out = hostd_str{c.outBuf.data(), c.outBuf.size()};
    r.err = hostd_str{c.errBuf.data(), c.errBuf.size()};
    r.message = hostd_str{c.message.data(), c.message.size()};
    c.done(c.arg, &r);
  } else if (c.cbs.on_exit) {
    c.cbs.on_exit(c.arg, c.status, c.exitCode, c.termSignal);
  }
  auto closed = [](uv_handle_t* h) {
    auto* c = static_cast<Child*>(h->data);
    if (--c->openHandles == 0) delete c;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c.proc), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.out), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.err), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), closed);
}

int ChildProcesses::kill(uint64_t id, int signum) {
  auto it = children_.find(id);  // until reported: the group may outlive its leader
  if (it == children_.end()) return HOSTD_ENOTFOUND;
  return ::kill(-it->second->pid, signum) == 0 ? HOSTD_OK : HOSTD_ENOTFOUND;
}

void ChildProcesses::killAll() {
  for (auto& [id, c] : children_) ::kill(-c->pid, SIGKILL);
}

}  // namespace hostd::worker
