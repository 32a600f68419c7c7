// Child processes of a worker (the SDK's exec / exec_file / spawn), on the worker's loop.
//
// Every child is started through the hostd binary itself in "--child-exec" mode: a small
// supervisor (worker/child_exec.cpp) that leads the child's own process group, runs the
// program in it and kills the whole group if the worker dies — even by SIGKILL. Timeouts,
// caps, child_kill and the worker's exit signal that group. Children see the worker's
// environment minus HOSTD_*, stdin = /dev/null, and no other inherited descriptor.
#pragma once

#include <hostd/plugin.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hostd::worker {

class ChildProcesses {
 public:
  /// exe: the hostd binary (the trampoline).
  ChildProcesses(uv_loop_t* loop, std::string exe);
  ChildProcesses(const ChildProcesses&) = delete;
  ChildProcesses& operator=(const ChildProcesses&) = delete;

  int exec(std::string_view command, const hostd_exec_options* opts,
           void (*done)(void*, const hostd_exec_result*), void* arg);
  int execFile(const char* file, const char* const* args, const hostd_exec_options* opts,
               void (*done)(void*, const hostd_exec_result*), void* arg);
  uint64_t spawn(const char* file, const char* const* args, const hostd_exec_options* opts,
                 const hostd_spawn_callbacks* cbs, void* arg);
  int kill(uint64_t id, int signum);
  /// SIGKILL to every child's process group: the worker is exiting.
  void killAll();
  size_t running() const { return children_.size(); }

 private:
  struct Child;
  /// Starts argv (argv[0] = program); either done (buffered) or cbs (streaming) is set.
  uint64_t start(const std::vector<std::string>& argv, const hostd_exec_options* opts,
                 void (*done)(void*, const hostd_exec_result*), const hostd_spawn_callbacks* cbs, void* arg,
                 int* rc);
  static void onExit(uv_process_t* p, int64_t status, int signal);
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void onTimeout(uv_timer_t* t);
  void output(Child& c, bool isErr, const char* data, size_t len);
  void abort(Child& c, int status, const std::string& why);
  void maybeFinish(Child& c);

  uv_loop_t* loop_;
  std::string exe_;
  std::vector<std::string> env_;
  std::map<uint64_t, Child*> children_;
  uint64_t nextId_ = 1;
};

/// Resolves a program like execvp would: as given if it holds '/', else the first
/// executable match in PATH. Empty if there is none.
std::string findProgram(const std::string& file);

/// main() of "hostd --child-exec WORKER_PID PROGRAM ARGS..." (worker/child_exec.cpp).
int runChildExec(int argc, char** argv);

}  // namespace hostd::worker
