// "hostd --child-exec WORKER_PID PROGRAM ARGS...": the supervisor of one child process of
// a worker. ChildProcesses starts it with setsid (it leads a new process group), stdout
// and stderr piped to the worker, and fd 3: a status pipe to the worker.
//
//  - It starts PROGRAM in a process group of PROGRAM's own (so nothing PROGRAM does to
//    "its group" — kill -STOP 0 — reaches the supervisor) and is the child subreaper of
//    everything PROGRAM starts, so every descendant stays below it, even one that leaves
//    the group.
//  - Once PROGRAM and the rest of its group have ended, it writes how PROGRAM ended to fd 3
//    ("exit N" / "signal N"): for the worker, the child has ended. Descendants that left
//    the group (a daemon's setsid, timeout(1)'s own group) do not hold that up; the
//    supervisor stays until they are gone too, so it can still kill them.
//  - All signals are blocked and taken synchronously: kParentGone (PR_SET_PDEATHSIG: the
//    worker died, however) and kKillTree (a timeout, a cap, the worker exiting) SIGKILL
//    every descendant, then the supervisor; any other signal is passed on to PROGRAM's
//    group while it has members.
#include "worker/child_exec.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <spawn.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace hostd::worker {
namespace {
constexpr int kStatusFd = 3;

/// Every process below root, from /proc (parent links).
std::vector<pid_t> descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  if (DIR* proc = opendir("/proc")) {
    while (dirent* e = readdir(proc)) {
      pid_t pid = pid_t(std::atol(e->d_name));
      if (pid <= 0) continue;
      std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
      std::string line;
      if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
      pid_t ppid = pid_t(std::atol(line.c_str() + line.rfind(')') + 4));  // ") S PPID"
      children.emplace(ppid, pid);
    }
    closedir(proc);
  }
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    auto [from, to] = children.equal_range(out[i]);
    for (auto it = from; it != to; ++it) out.push_back(it->second);
  }
  out.erase(out.begin());
  return out;
}

[[noreturn]] void killTreeAndDie() {
  for (int round = 0; round < 5; ++round) {  // a few rounds: something may fork meanwhile
    std::vector<pid_t> all = descendants(getpid());
    if (all.empty()) break;
    for (pid_t p : all) kill(p, SIGKILL);
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
  kill(getpid(), SIGKILL);
  _exit(137);
}

/// Starts PROGRAM in a process group of its own, with no signal blocked and without the
/// status pipe: posix_spawn (a vfork-style clone in glibc, no copy of our page tables),
/// so a child costs about one exec. -1 if it could not be started (said on stderr).
pid_t startProgram(char** argv) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, kStatusFd);
  pid_t pid = -1;
  int err = posix_spawnp(&pid, argv[0], &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err == 0) return pid;
  std::string msg = std::string("hostd: cannot run ") + argv[0] + ": " + std::strerror(err) + "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
  return -1;
}

void reportEnd(int status) {
  std::string line = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) + "\n"
                                         : "exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 127) + "\n";
  ssize_t ignored = write(kStatusFd, line.data(), line.size());
  (void)ignored;
  close(kStatusFd);
}

/// True while this process has a child (any group), without reaping it.
bool hasChildren() {
  siginfo_t info{};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}
}  // namespace

int childExecParentGoneSignal() { return SIGRTMIN + 1; }
int childExecKillTreeSignal() { return SIGRTMIN + 2; }

int runChildExec(int argc, char** argv) {
  if (argc < 4) return 127;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);  // every signal is taken below, in order
  prctl(PR_SET_PDEATHSIG, childExecParentGoneSignal());
  if (getppid() != std::atol(argv[2])) return 127;  // the worker died before prctl: start nothing
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Only stdio and the status pipe stay: not a plugin's descriptors without close-on-exec.
  if (close_range(kStatusFd + 1, ~0U, 0) != 0)
    for (int fd = kStatusFd + 1, max = int(sysconf(_SC_OPEN_MAX)); fd < max; ++fd) close(fd);

  pid_t program = startProgram(argv + 3);
  if (program < 0) {
    reportEnd(127 << 8);  // as a shell says "not found": exit 127
    return 0;
  }
  // The output pipes belong to the group now: they reach EOF when it is done.
  int devnull = open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) dup2(devnull, fd);
  if (devnull > 2) close(devnull);
  int status = 0;
  bool programDone = false, reported = false;
  for (;;) {
    int st = 0;
    for (pid_t p; (p = waitpid(-1, &st, WNOHANG)) > 0;) {
      if (p == program) {
        status = st;
        programDone = true;
      }
    }
    // PROGRAM and its group are over (no child of ours left in it) -> report. (Never a
    // blocking waitpid on a group: a child that leaves the group meanwhile never wakes it.)
    if (programDone && !reported && waitpid(-program, nullptr, WNOHANG) < 0 && errno == ECHILD) {
      reportEnd(status);
      reported = true;
    }
    if (reported && !hasChildren()) return 0;
    const timespec tick{0, 100 * 1000 * 1000};
    siginfo_t info{};
    int sig = sigtimedwait(&all, &info, &tick);
    if (sig == childExecParentGoneSignal() || sig == childExecKillTreeSignal()) killTreeAndDie();
    if (sig > 0 && sig != SIGCHLD && !reported) kill(-program, sig);
  }
}

}  // namespace hostd::worker
