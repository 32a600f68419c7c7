// Child processes of a worker (the SDK's exec / exec_file / spawn), on the worker's loop.
//
// Every child is started through a small supervisor (worker/child_exec.cpp, built as the
// static executable hostd-supervise, or the hostd binary itself in "--child-exec" mode
// where that is missing) that runs the program in its own process group, tells
// the worker over a status pipe when the program and its group have ended, and kills
// everything below it when the worker dies — even by SIGKILL — or asks it to (a timeout,
// an output cap, the worker exiting). child_kill signals go through it to the program.
// Children see the worker's environment minus HOSTD_*, stdin = /dev/null, and no other
// inherited descriptor.
#pragma once

#include "worker/child_exec.h"

#include <hostd/plugin.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hostd::worker {

class ChildProcesses {
 public:
  /// exe: the hostd binary, for argv[0] of "hostd --child-exec" when `supervisor` (the
  /// hostd-supervise executable, findSupervisor()) is "".
  ChildProcesses(uv_loop_t* loop, std::string exe, std::string supervisor);
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

  struct Child;  ///< (public only for the libuv callbacks in the .cpp)

 private:
  /// Starts argv (argv[0] = program); either done (buffered) or cbs (streaming) is set.
  uint64_t start(const std::vector<std::string>& argv, const hostd_exec_options* opts,
                 void (*done)(void*, const hostd_exec_result*), const hostd_spawn_callbacks* cbs, void* arg,
                 int* rc);
  static void onExit(uv_process_t* p, int64_t status, int signal);
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void onStatus(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void onTimeout(uv_timer_t* t);
  void output(Child& c, bool isErr, const char* data, size_t len);
  void abort(Child& c, int status, const std::string& why);
  /// The program has ended (status line, or the supervisor died): take what its output
  /// pipes hold, then report.
  void ended(Child& c);
  /// Reads the supervisor's status pipe without waiting; true once its line is complete.
  bool takeStatus(Child& c);
  void report(Child& c);
  void release(Child& c);

  uv_loop_t* loop_;
  std::string exe_;
  std::string supervisor_;
  std::vector<std::string> env_;
  std::map<uint64_t, Child*> children_;  ///< not reported yet
  std::map<uint64_t, Child*> lingering_; ///< reported; the supervisor still watches leftovers
  uint64_t nextId_ = 1;
};

/// Resolves a program like execvp would, from directory cwd (empty: the current one): as
/// given if it holds '/', else the first executable match in PATH. Empty if there is none.
std::string findProgram(const std::string& file, const std::string& cwd = "");

/// The supervisor to exec for each child: hostd-supervise next to this hostd (build tree)
/// or in <prefix>/libexec/hostd/ (installed) when it is there, else "" (ChildProcesses
/// then runs the hostd binary itself in --child-exec mode). `hostdPath`: this hostd.
std::string findSupervisor(const std::string& hostdPath);

}  // namespace hostd::worker
