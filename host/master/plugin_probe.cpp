#include "master/plugin_probe.h"

#include "app/fault_seam.h"
#include "app/self_exe.h"

#include "plugin/plugin_loader.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace hostd::master {
namespace {

constexpr size_t kMaxOutput = 4096;
constexpr uint64_t kEofGraceMs = 1000;  // after the probe exited, for the rest of its output

/// One probe child: its process handle, its output pipe, its timeout. Frees itself once
/// all three handles are closed.
struct Probe {
  uv_process_t process{};
  uv_pipe_t out{};
  uv_timer_t timer{};
  std::string exe, path, text;
  unsigned timeoutMs = 0;
  std::function<void(ProbeResult)> done;
  int64_t exitStatus = 0;
  int termSignal = 0;
  bool exited = false, eof = false, timedOut = false, reported = false;
  int open = 0;  // handles not yet closed
  bool spawnRan = false;  // the process handle was initialised (by uv_spawn, even a failed one)

  void close(uv_handle_t* h) {
    if (uv_is_closing(h)) return;
    uv_close(h, [](uv_handle_t* h) {
      auto* p = static_cast<Probe*>(h->data);
      if (--p->open == 0) delete p;
    });
  }
  void outputDone() {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&out));
    eof = true;
    finishIfDone();
  }
  void finishIfDone() {
    if (reported || !exited || (!eof && !timedOut)) return;
    reported = true;
    uv_timer_stop(&timer);
    close(reinterpret_cast<uv_handle_t*>(&out));
    close(reinterpret_cast<uv_handle_t*>(&timer));
    if (spawnRan) close(reinterpret_cast<uv_handle_t*>(&process));
    done(result());
  }
  ProbeResult result() const {
    ProbeResult r;
    std::string t = text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    if (timedOut) {
      r.message = "plugin " + path + " did not finish loading within " + std::to_string(timeoutMs / 1000) +
                  " s ([plugins] load_timeout): its static initialisers hang, or it needs longer; refusing it";
    } else if (termSignal) {
      r.message = "plugin " + path + " crashed while loading (signal " + std::to_string(termSignal) + ", " +
                  strsignal(termSignal) + ") — its static initialisers or a library it needs crash; the master "
                  "is unaffected. Run it under gdb, or check `ldd " + path + "`";
    } else if (exitStatus == 0 && t.rfind("OK ", 0) == 0) {
      std::istringstream ss(t.substr(3));
      ss >> r.name;
      std::getline(ss >> std::ws, r.version);
      r.ok = true;
    } else {
      r.message = t.empty() ? "plugin " + path + " was refused (probe exit code " + std::to_string(exitStatus) + ")" : t;
    }
    return r;
  }
};

}  // namespace

int startPluginProbe(uv_loop_t* loop, const std::string& exe, const std::string& path, unsigned timeoutMs,
                     const config::RunAs& as, std::function<void(ProbeResult)> done) {
  auto* p = new Probe;
  p->exe = exe;
  p->path = path;
  p->timeoutMs = timeoutMs;
  p->done = std::move(done);
  p->process.data = p->out.data = p->timer.data = p;
  uv_pipe_init(loop, &p->out, 0);
  uv_timer_init(loop, &p->timer);
  p->open = 2;

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = uv_stdio_flags(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&p->out);
  stdio[2].flags = UV_INHERIT_FD;  // stderr: what the dynamic loader says goes to our log
  stdio[2].data.fd = 2;
  std::string flag = "--probe-plugin";
  char* args[] = {p->exe.data(), flag.data(), p->path.data(), nullptr};
  uv_process_options_t opts{};
  opts.file = app::kRunningBinary;  // p->exe is argv[0] and names it in messages
  opts.args = args;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  if (as.switches() && geteuid() == 0) {  // libuv drops the supplementary groups, then setgid, setuid
    opts.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    opts.uid = uv_uid_t(as.uid);
    opts.gid = uv_gid_t(as.gid);
  }
  opts.exit_cb = [](uv_process_t* h, int64_t status, int sig) {
    auto* p = static_cast<Probe*>(h->data);
    p->exited = true;
    p->exitStatus = status;
    p->termSignal = p->timedOut ? 0 : sig;
    p->finishIfDone();
    // Something the plugin started may hold the pipe open: its verdict is in already.
    if (!p->reported) uv_timer_start(&p->timer, [](uv_timer_t* t) { static_cast<Probe*>(t->data)->outputDone(); },
                                     kEofGraceMs, 0);
  };
  int rc = -app::injectedFault("probe");  // as uv_spawn reports a failed fork or exec
  if (rc == 0) {
    rc = uv_spawn(loop, &p->process, &opts);
    p->open = 3;  // uv_spawn initialised the process handle even if it failed
    p->spawnRan = true;
  }
  if (rc != 0) {
    p->text = "cannot start the plugin probe (" + p->exe + "): " + uv_strerror(rc);
    p->exited = p->eof = true;
    p->exitStatus = 1;
    p->finishIfDone();
    return 0;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&p->out),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char chunk[1024];  // loop thread only; copied out before the next read
        *buf = uv_buf_init(chunk, sizeof chunk);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* p = static_cast<Probe*>(s->data);
        if (n > 0) {
          p->text.append(buf->base, std::min(size_t(n), kMaxOutput - std::min(kMaxOutput, p->text.size())));
        } else if (n < 0) {
          p->outputDone();
        }
      });
  uv_timer_start(&p->timer, [](uv_timer_t* t) {
    auto* p = static_cast<Probe*>(t->data);
    if (p->exited) return p->outputDone();  // (not reached: the exit re-arms the timer)
    p->timedOut = true;
    uv_process_kill(&p->process, SIGKILL);  // its exit (and the pipe's EOF) follow
  }, timeoutMs, 0);
  return p->process.pid;
}

ProbeResult probePlugin(const std::string& exe, const std::string& path, const config::RunAs& as, unsigned timeoutMs) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ProbeResult out;
  startPluginProbe(&loop, exe, path, timeoutMs, as, [&](ProbeResult r) { out = std::move(r); });
  uv_run(&loop, UV_RUN_DEFAULT);  // until the probe's handles are closed
  uv_loop_close(&loop);
  return out;
}

int runPluginProbe(const std::string& path) {
  // Plugin code runs here: nothing of the master's beyond stdio may be reachable.
  close_range(3, ~0U, 0);
  try {
    plugin::LoadedPlugin p = plugin::loadPlugin(path);
    std::cout << "OK " << p.desc->name << " " << (p.desc->version ? p.desc->version : "") << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cout << e.what() << std::endl;
    return 1;
  }
}

}  // namespace hostd::master
