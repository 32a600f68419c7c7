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
//
// Cost per child, the reason for each step: the supervisor is started with posix_spawn
// (glibc clones with CLONE_VM|CLONE_VFORK, so the worker's page tables are not copied as
// by fork — on this VM that copy was a third of the CPU of an exec) and watched through a
// pidfd on the loop (no SIGCHLD handler; the pid stays ours until waitid reaps it); it is
// a static executable (no dynamic loading), and it starts the program with posix_spawn too.
#pragma once

#include "worker/child_exec.h"

#include <hostd/plugin.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace hostd::worker {

class ChildProcesses {
 public:
  /// [children]: at most maxLive children live at once (from start until the supervisor,
  /// and whatever it still watches, is gone); past that, calls wait in a FIFO of maxQueued
  /// for at most queueTimeoutMs (then they end with HOSTD_ETIMEDOUT, never started), and a
  /// call that finds the queue full fails at once with HOSTD_EUNAVAILABLE.
  struct Limits {
    unsigned maxLive = 32;
    unsigned maxQueued = 1024;
    unsigned queueTimeoutMs = 10000;
  };
  /// What the SIGUSR2 line and the metrics show.
  struct Counts {
    uint64_t live = 0, queued = 0, refused = 0, expired = 0;
  };
  /// exe: the hostd binary, for argv[0] of "hostd --child-exec" when `supervisor` (the
  /// hostd-supervise executable, findSupervisor()) is "".
  ChildProcesses(uv_loop_t* loop, std::string exe, std::string supervisor, Limits limits);
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
  Counts counts() const { return Counts{live(), queue_.size(), refused_, expired_}; }

  struct Child;  ///< (public only for the libuv callbacks in the .cpp)

 private:
  /// A call waiting for a free slot (everything start() was given, copied).
  struct Queued {
    uint64_t id = 0;
    std::vector<std::string> argv;
    hostd_exec_options opts{};
    std::string cwd;
    void (*done)(void*, const hostd_exec_result*) = nullptr;
    hostd_spawn_callbacks cbs{};
    void* arg = nullptr;
    uint64_t deadline = 0;  ///< uv_now past which it gives up
    int killedBy = 0;       ///< the signal of a kill() before it started (in killed_)
  };
  /// Children started and not yet gone: running, or reported with leftovers still watched.
  size_t live() const { return children_.size() + lingering_.size(); }
  /// Checks argv and options, then starts it now or queues it (see Limits); either done
  /// (buffered) or cbs (streaming) is set.
  uint64_t start(const std::vector<std::string>& argv, const hostd_exec_options* opts,
                 void (*done)(void*, const hostd_exec_result*), const hostd_spawn_callbacks* cbs, void* arg,
                 int* rc);
  /// Starts a checked call under id. 0 and *rc = HOSTD_ERROR if it could not be started.
  uint64_t launch(uint64_t id, const std::vector<std::string>& argv, const hostd_exec_options& o,
                  void (*done)(void*, const hostd_exec_result*), const hostd_spawn_callbacks* cbs, void* arg,
                  int* rc);
  /// Starts queued calls while there is room, in order.
  void startQueued();
  /// Ends a call that never started: the completion gets status, exit_code -1, signal.
  static void endUnstarted(const Queued& q, int status, int signal, const std::string& message);
  static void onQueueTimer(uv_timer_t* t);
  void armQueueTimer();
  /// The supervisor's pidfd is readable: it exited; reap it (waitid) and go on as below.
  static void onPidfd(uv_poll_t* p, int status, int events);
  void supervisorExited(Child& c, int exitStatus, int signal);
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
  Limits limits_;
  std::deque<Queued> queue_;      ///< waiting, in order; deadlines ascend (one timeout for all)
  std::vector<Queued> killed_;    ///< taken out of queue_ by kill(), reported from the timer
  uv_timer_t queueTimer_{};
  uint64_t refused_ = 0, expired_ = 0;
};

/// Resolves a program like execvp would, from directory cwd (empty: the current one): as
/// given if it holds '/', else the first executable match in PATH. Empty if there is none.
std::string findProgram(const std::string& file, const std::string& cwd = "");

/// The supervisor to exec for each child: hostd-supervise next to this hostd (build tree)
/// or in <prefix>/libexec/hostd/ (installed) when it is there, else "" (ChildProcesses
/// then runs the hostd binary itself in --child-exec mode). `hostdPath`: this hostd.
std::string findSupervisor(const std::string& hostdPath);

}  // namespace hostd::worker
