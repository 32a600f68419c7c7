#include "worker/child_processes.h"

#include "app/self_exe.h"
#include "app/spawn.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

namespace hostd::worker {

constexpr size_t kDefaultMaxOutput = 1024 * 1024;

struct ChildProcesses::Child {
  ChildProcesses* owner = nullptr;
  uint64_t id = 0;
  pid_t pid = -1;       ///< the supervisor, our child until reaped (so never a reused pid)
  int pidfd = -1;       ///< readable once it exited; closed with exitPoll
  uv_poll_t exitPoll{};
  uv_pipe_t out{}, err{}, status{};
  uv_timer_t timer{};
  bool buffered = false;
  size_t cap = kDefaultMaxOutput;
  uint32_t timeoutMs = 0;
  std::string outBuf, errBuf, statusLine;
  void (*done)(void*, const hostd_exec_result*) = nullptr;
  hostd_spawn_callbacks cbs{};
  void* arg = nullptr;
  int result = HOSTD_OK;
  std::string message;
  int exitCode = -1;
  int termSignal = 0;
  bool programEnded = false;    ///< status line read, or the supervisor is gone
  bool supervisorExited = false;
  bool reported = false;
  int openHandles = 0;  ///< handles to close before delete
};

namespace {
void onClosed(uv_handle_t* h) {
  auto* c = static_cast<ChildProcesses::Child*>(h->data);
  if (--c->openHandles == 0) delete c;
}
void closeHandle(void* handle) {
  auto* h = static_cast<uv_handle_t*>(handle);
  if (!uv_is_closing(h)) uv_close(h, &onClosed);
}
void alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static char chunk[64 * 1024];  // the loop is single-threaded; data is consumed in the callback
  *buf = uv_buf_init(chunk, sizeof chunk);
}
}  // namespace

std::string findProgram(const std::string& file, const std::string& cwd) {
  if (file.empty()) return {};
  auto inCwd = [&](const std::string& p) { return p[0] == '/' || cwd.empty() ? p : cwd + "/" + p; };
  if (file.find('/') != std::string::npos) return access(inCwd(file).c_str(), X_OK) == 0 ? file : std::string();
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + file;
    if (access(inCwd(candidate).c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

std::string findSupervisor(const std::string& hostdPath) {
  // A hostd that was replaced on disk (an upgrade) runs its own build's supervisor: itself.
  if (hostdPath.empty() || hostdPath.find(" (deleted)") != std::string::npos) return {};
  std::string dir = hostdPath.substr(0, hostdPath.rfind('/'));
  for (const std::string& candidate : {dir + "/hostd-supervise", dir + "/../libexec/hostd/hostd-supervise"})
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  return {};
}

ChildProcesses::ChildProcesses(uv_loop_t* loop, std::string exe, std::string supervisor, Limits limits)
    : loop_(loop), exe_(std::move(exe)), supervisor_(std::move(supervisor)), limits_(limits) {
  uv_timer_init(loop_, &queueTimer_);
  queueTimer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&queueTimer_));  // never what keeps the loop alive
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
  // A newer plugin's options struct is larger: its extra members are ignored. A smaller
  // size is a caller that did not set it.
  hostd_exec_options o{sizeof(hostd_exec_options), 0, 0, nullptr};
  if (opts && opts->size < sizeof(hostd_exec_options)) {
    *rc = HOSTD_EINVAL;
    return 0;
  }
  if (opts) o = *opts;
  struct stat dir {};
  if (o.cwd && (stat(o.cwd, &dir) != 0 || !S_ISDIR(dir.st_mode))) {
    *rc = HOSTD_EINVAL;  // not a directory: say so, not "program not found"
    return 0;
  }
  if (findProgram(argv[0], o.cwd ? o.cwd : "").empty()) {
    *rc = HOSTD_ENOTFOUND;
    return 0;
  }
  // Room now, and nobody waiting ahead: start. Else wait in line, or refuse.
  const uint64_t id = nextId_++;
  if (queue_.empty() && live() < limits_.maxLive)
    return launch(id, argv, o, done, cbs, arg, rc);
  if (queue_.size() >= limits_.maxQueued) {
    ++refused_;
    *rc = HOSTD_EUNAVAILABLE;
    return 0;
  }
  Queued q;
  q.id = id;
  q.argv = argv;
  q.opts = o;
  if (o.cwd) q.cwd = o.cwd;
  q.done = done;
  if (cbs) q.cbs = *cbs;
  q.arg = arg;
  q.deadline = uv_now(loop_) + limits_.queueTimeoutMs;
  queue_.push_back(std::move(q));
  if (queue_.size() == 1) armQueueTimer();
  *rc = HOSTD_OK;
  return id;
}

uint64_t ChildProcesses::launch(uint64_t id, const std::vector<std::string>& argv, const hostd_exec_options& o,
                                void (*done)(void*, const hostd_exec_result*), const hostd_spawn_callbacks* cbs,
                                void* arg, int* rc) {
  std::string parent = std::to_string(getpid());
  const bool helper = !supervisor_.empty();
  std::vector<const char*> args{helper ? supervisor_.c_str() : exe_.c_str(), "--child-exec", parent.c_str()};
  for (const std::string& a : argv) args.push_back(a.c_str());
  args.push_back(nullptr);
  std::vector<char*> env;
  for (std::string& e : env_) env.push_back(e.data());
  env.push_back(nullptr);

  // The supervisor: posix_spawn (in glibc a vfork-style clone: no copy of this worker's
  // page tables, which fork paid per child), setsid, every signal back to its default
  // and unblocked, stdin /dev/null, pipes for stdout, stderr and the status line (fd 3).
  int pipes[3][2];  // out, err, status: [0] ours, [1] the supervisor's
  int made = 0;
  for (; made < 3; ++made)
    if (pipe2(pipes[made], O_CLOEXEC) != 0) break;
  auto closeEnds = [&](int end) {  // 0: ours, 1: the supervisor's
    for (int i = 0; i < made; ++i) close(pipes[i][end]);
  };
  if (made < 3) {
    closeEnds(0);
    closeEnds(1);
    *rc = HOSTD_ERROR;
    return 0;
  }
  const char* file = helper ? supervisor_.c_str() : app::kRunningBinary;  // (exe_ is then argv[0])
  app::SpawnSpec spec;
  spec.file = file;
  spec.argv = const_cast<char**>(args.data());
  spec.envp = env.data();
  for (int i = 0; i < 3; ++i) spec.fds.emplace_back(pipes[i][1], i + 1);
  spec.stdinDevNull = true;
  spec.newSession = true;
  spec.cwd = o.cwd;
  pid_t pid = -1;
  int pidfd = -1;
  int err = app::spawnWithPidfd(spec, &pid, &pidfd);
  closeEnds(1);
  if (err != 0) {
    closeEnds(0);
    *rc = HOSTD_ERROR;
    return 0;
  }

  auto* c = new Child;
  c->owner = this;
  c->id = id;
  c->buffered = done != nullptr;
  c->done = done;
  if (cbs) c->cbs = *cbs;
  c->arg = arg;
  if (o.max_output) c->cap = o.max_output;
  c->timeoutMs = o.timeout_ms;
  c->pid = pid;
  c->pidfd = pidfd;
  uv_pipe_t* ours[] = {&c->out, &c->err, &c->status};
  for (int i = 0; i < 3; ++i) {
    uv_pipe_init(loop_, ours[i], 0);
    uv_pipe_open(ours[i], pipes[i][0]);
  }
  uv_timer_init(loop_, &c->timer);
  uv_poll_init(loop_, &c->exitPoll, pidfd);
  c->out.data = c->err.data = c->status.data = c->timer.data = c->exitPoll.data = c;
  c->openHandles = 5;
  uv_poll_start(&c->exitPoll, UV_READABLE, &onPidfd);
  children_[c->id] = c;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->out), &alloc, &onRead);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->err), &alloc, &onRead);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->status), &alloc, &onStatus);
  if (o.timeout_ms) uv_timer_start(&c->timer, &onTimeout, o.timeout_ms, 0);
  *rc = HOSTD_OK;
  return c->id;
}

void ChildProcesses::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Child*>(s->data);
  if (n > 0) c->owner->output(*c, s == reinterpret_cast<uv_stream_t*>(&c->err), buf->base, size_t(n));
  else if (n < 0) uv_read_stop(s);  // EOF: nothing more from this stream
}

namespace {
/// The supervisor's "exit N" / "signal N" line, once complete. False if not (yet) there.
bool parseStatus(const std::string& line, int* exitCode, int* termSignal) {
  if (line.find('\n') == std::string::npos) return false;
  if (line.rfind("exit ", 0) == 0) *exitCode = std::atoi(line.c_str() + 5);
  else if (line.rfind("signal ", 0) == 0) *termSignal = std::atoi(line.c_str() + 7);
  else return false;
  return true;
}
}  // namespace

bool ChildProcesses::takeStatus(Child& c) {
  uv_os_fd_t fd = -1;
  char buf[256];
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c.status), &fd) == 0)
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) c.statusLine.append(buf, size_t(n));
  return parseStatus(c.statusLine, &c.exitCode, &c.termSignal);
}

void ChildProcesses::onStatus(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Child*>(s->data);
  if (n > 0) c->statusLine.append(buf->base, size_t(n));
  if (n < 0) uv_read_stop(s);  // closed without a line: the supervisor died (see onExit)
  if (parseStatus(c->statusLine, &c->exitCode, &c->termSignal)) c->owner->ended(*c);
}

void ChildProcesses::output(Child& c, bool isErr, const char* data, size_t len) {
  if (c.reported) return;
  if (!c.buffered) {
    auto cb = isErr ? c.cbs.on_stderr : c.cbs.on_stdout;
    if (cb) cb(c.arg, data, len);
    return;
  }
  std::string& into = isErr ? c.errBuf : c.outBuf;
  if (c.result != HOSTD_OK) return;
  size_t room = c.cap - into.size();
  into.append(data, std::min(room, len));
  if (len > room)
    abort(c, HOSTD_ETOOBIG, std::string(isErr ? "stderr" : "stdout") + " exceeded max_output = " +
                                std::to_string(c.cap) + " bytes; the child was killed");
}

void ChildProcesses::onTimeout(uv_timer_t* t) {
  auto* c = static_cast<Child*>(t->data);
  if (c->owner->takeStatus(*c)) return c->owner->ended(*c);  // it had ended, unread: no timeout
  c->owner->abort(*c, HOSTD_ETIMEDOUT, "killed (SIGKILL) at its timeout of " + std::to_string(c->timeoutMs) + " ms");
}

void ChildProcesses::abort(Child& c, int status, const std::string& why) {
  if (c.reported || c.result != HOSTD_OK) return;
  c.result = status;
  c.message = why;
  // The supervisor kills everything below it, then itself (if it is still there: no pid reuse).
  if (!c.supervisorExited) ::kill(c.pid, childExecKillTreeSignal());
}

void ChildProcesses::onPidfd(uv_poll_t* p, int, int) {
  auto* c = static_cast<Child*>(p->data);
  int exitStatus = 0, signal = 0;
  if (!app::reapPidfd(c->pidfd, &exitStatus, &signal)) return;
  uv_poll_stop(p);
  c->owner->supervisorExited(*c, exitStatus, signal);
}

void ChildProcesses::supervisorExited(Child& c, int exitStatus, int signal) {
  c.supervisorExited = true;
  if (!c.programEnded) {
    // Its status line may still sit in the pipe (this callback can come first).
    if (!takeStatus(c)) {
      // Killed before it could report (a timeout, a cap, SIGKILL): the program went with it.
      // (A kill-tree that came before the supervisor set up its signals ended it directly.)
      c.exitCode = signal ? -1 : exitStatus;
      c.termSignal = signal == childExecKillTreeSignal() ? SIGKILL : signal;
    }
    ended(c);
  }
  release(c);
}

void ChildProcesses::ended(Child& c) {
  if (c.programEnded) return;
  c.programEnded = true;
  children_.erase(c.id);  // from here on kill_child says it has ended
  if (c.termSignal) c.exitCode = -1;
  // Everything the group wrote is in the pipes now; a process that left the group may
  // still hold them open (and keep writing), so take what is there now — no more.
  for (uv_pipe_t* pipe : {&c.out, &c.err}) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(pipe));
    uv_os_fd_t fd = -1;
    int left = 0;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) != 0 || ioctl(fd, FIONREAD, &left) != 0) continue;
    char buf[64 * 1024];
    for (ssize_t n; left > 0 && (n = ::read(fd, buf, std::min(sizeof buf, size_t(left)))) > 0; left -= int(n))
      output(c, pipe == &c.err, buf, size_t(n));
  }
  report(c);
}

void ChildProcesses::report(Child& c) {
  c.reported = true;
  children_.erase(c.id);
  uv_timer_stop(&c.timer);
  for (void* h : {static_cast<void*>(&c.out), static_cast<void*>(&c.err), static_cast<void*>(&c.status),
                  static_cast<void*>(&c.timer)})
    closeHandle(h);
  if (!c.supervisorExited) lingering_[c.id] = &c;  // still watching what left the group
  if (c.buffered) {
    hostd_exec_result r{};
    r.status = c.result;
    r.exit_code = c.exitCode;
    r.term_signal = c.termSignal;
    r.out = hostd_str{c.outBuf.data(), c.outBuf.size()};
    r.err = hostd_str{c.errBuf.data(), c.errBuf.size()};
    r.message = hostd_str{c.message.data(), c.message.size()};
    c.done(c.arg, &r);
  } else if (c.cbs.on_exit) {
    c.cbs.on_exit(c.arg, c.result, c.exitCode, c.termSignal);
  }
  // A lingering record may live long (a daemon): it keeps no output.
  std::string().swap(c.outBuf);
  std::string().swap(c.errBuf);
  std::string().swap(c.message);
}

void ChildProcesses::release(Child& c) {
  // The supervisor is gone; the child record goes once it was reported.
  if (!c.reported) return;
  lingering_.erase(c.id);
  // The poll handle first, its fd after (libuv still names the fd while closing it).
  uv_close(reinterpret_cast<uv_handle_t*>(&c.exitPoll), [](uv_handle_t* h) {
    auto* child = static_cast<Child*>(h->data);
    close(child->pidfd);
    onClosed(h);
  });
  startQueued();  // a slot is free
}

void ChildProcesses::startQueued() {
  while (!queue_.empty() && live() < limits_.maxLive) {
    Queued q = std::move(queue_.front());
    queue_.pop_front();
    q.opts.cwd = q.cwd.empty() ? nullptr : q.cwd.c_str();
    int rc = HOSTD_OK;
    if (launch(q.id, q.argv, q.opts, q.done, q.done ? nullptr : &q.cbs, q.arg, &rc) == 0)
      endUnstarted(q, HOSTD_ERROR, 0, "could not start " + q.argv[0] + " (posix_spawn failed)");
  }
  armQueueTimer();
}

void ChildProcesses::endUnstarted(const Queued& q, int status, int signal, const std::string& message) {
  if (q.done) {
    hostd_exec_result r{};
    r.status = status;
    r.exit_code = -1;
    r.term_signal = signal;
    r.message = hostd_str{message.data(), message.size()};
    q.done(q.arg, &r);
  } else if (q.cbs.on_exit) {
    q.cbs.on_exit(q.arg, status, -1, signal);
  }
}

void ChildProcesses::armQueueTimer() {
  // Now for a killed call; else when the first waiting one gives up (the earliest deadline).
  if (killed_.empty() && queue_.empty()) {
    uv_timer_stop(&queueTimer_);
    return;
  }
  uint64_t now = uv_now(loop_), due = killed_.empty() ? queue_.front().deadline : now;
  uv_timer_start(&queueTimer_, &onQueueTimer, due > now ? due - now : 0, 0);
}

void ChildProcesses::onQueueTimer(uv_timer_t* t) {
  auto* self = static_cast<ChildProcesses*>(t->data);
  const uint64_t now = uv_now(t->loop);
  // Taken out first: a completion may call exec again (and queue behind the others).
  std::vector<Queued> killed = std::move(self->killed_), expired;
  self->killed_.clear();
  while (!self->queue_.empty() && self->queue_.front().deadline <= now) {
    expired.push_back(std::move(self->queue_.front()));
    self->queue_.pop_front();
  }
  for (const Queued& q : killed)
    endUnstarted(q, HOSTD_OK, q.killedBy, "killed (signal " + std::to_string(q.killedBy) + ") before it started");
  for (const Queued& q : expired) {
    ++self->expired_;
    endUnstarted(q, HOSTD_ETIMEDOUT, 0,
                 "not started: no free child slot within " + std::to_string(self->limits_.queueTimeoutMs) +
                     " ms ([children] max_per_worker = " + std::to_string(self->limits_.maxLive) + ")");
  }
  self->startQueued();
}

int ChildProcesses::kill(uint64_t id, int signum) {
  if (signum == childExecParentGoneSignal() || signum == childExecKillTreeSignal() || signum == SIGSTOP)
    return HOSTD_EINVAL;  // reserved for the supervisor / would stop the supervisor itself
  for (auto q = queue_.begin(); q != queue_.end(); ++q) {
    if (q->id != id) continue;
    if (signum == 0) return HOSTD_OK;  // it exists (waiting)
    q->killedBy = signum;  // ended from the timer, never from inside this call
    killed_.push_back(std::move(*q));
    queue_.erase(q);
    armQueueTimer();
    return HOSTD_OK;
  }
  auto it = children_.find(id);
  if (it == children_.end() || it->second->supervisorExited) return HOSTD_ENOTFOUND;
  // The supervisor passes signals on to the program's group; SIGKILL cannot be passed on:
  // it ends everything below the supervisor instead.
  int sig = signum == SIGKILL ? childExecKillTreeSignal() : signum;
  return ::kill(it->second->pid, sig) == 0 ? HOSTD_OK : HOSTD_ENOTFOUND;
}

void ChildProcesses::killAll() {
  queue_.clear();  // the worker is exiting: calls that never started are dropped
  killed_.clear();
  uv_timer_stop(&queueTimer_);
  for (auto* set : {&children_, &lingering_})
    for (auto& [id, c] : *set)
      if (!c->supervisorExited) ::kill(c->pid, childExecKillTreeSignal());
}

}  // namespace hostd::worker
