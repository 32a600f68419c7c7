// "hostd --child-exec WORKER_PID PROGRAM ARGS...": the supervisor of one child process of
// a worker, started by ChildProcesses with setsid (it leads a new process group).
//
//  - It forks PROGRAM into its group and waits for it — and, as a child subreaper, for
//    everything PROGRAM leaves behind — then exits the way PROGRAM did (same code, or the
//    same signal), which is what the worker reports.
//  - PR_SET_PDEATHSIG delivers kParentGone when the worker dies, however it dies: the
//    supervisor then SIGKILLs its whole group. So nothing a plugin started outlives its
//    worker (except a process that leaves the group, e.g. a daemon calling setsid).
//  - Termination signals sent to the group (child_kill, a timeout's SIGKILL aside) reach
//    PROGRAM; the supervisor keeps them blocked (one that came before PROGRAM existed is
//    passed on to it) and reports how PROGRAM ended.
//  - It waits for PROGRAM, then for the other members of its group (what PROGRAM left
//    running in the background: as subreaper it inherits them); a process that left the
//    group (setsid) is neither waited for nor killed.
#include "worker/child_processes.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hostd::worker {
namespace {
const int kHeld[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};

void onParentGone(int) { kill(0, SIGKILL); }  // the group, this process included

sigset_t heldSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kHeld) sigaddset(&set, sig);
  return set;
}

[[noreturn]] void runProgram(char** argv) {
  signal(SIGRTMIN + 1, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execvp(argv[0], argv);
  std::string msg = std::string("hostd: cannot run ") + argv[0] + ": " + std::strerror(errno) + "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
  _exit(127);
}
}  // namespace

int runChildExec(int argc, char** argv) {
  if (argc < 4) return 127;
  const int parentGone = SIGRTMIN + 1;  // a signal nobody else sends us
  struct sigaction sa {};
  sa.sa_handler = &onParentGone;
  sigaction(parentGone, &sa, nullptr);
  prctl(PR_SET_PDEATHSIG, parentGone);
  if (getppid() != std::atol(argv[2])) onParentGone(0);  // the worker died before prctl
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Only stdio goes on: not a plugin's descriptors that lack close-on-exec.
  if (close_range(3, ~0U, 0) != 0)
    for (int fd = 3, max = int(sysconf(_SC_OPEN_MAX)); fd < max; ++fd) close(fd);
  sigset_t held = heldSignals();
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigaddset(&held, SIGCHLD);  // taken with sigtimedwait below
  sigprocmask(SIG_SETMASK, &held, nullptr);  // the parent-gone signal stays deliverable
  signal(SIGPIPE, SIG_IGN);

  pid_t program = fork();
  if (program < 0) return 127;
  if (program == 0) runProgram(argv + 3);
  // A signal sent to the group before the fork is pending here only: pass it on.
  sigset_t pending;
  sigpending(&pending);
  for (int sig : kHeld)
    if (sigismember(&pending, sig)) kill(program, sig);
  int status = 0;
  while (waitpid(program, &status, 0) < 0 && errno == EINTR) {
  }
  // Then what PROGRAM left in the group (its orphans are our children now), until none is
  // left. Not a blocking waitpid(0): a child leaving the group meanwhile never wakes it.
  for (;;) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {  // reap whatever ended, in any group
    }
    if (waitpid(0, nullptr, WNOHANG) < 0 && errno == ECHILD) break;  // no member of ours left
    const timespec tick{0, 100 * 1000 * 1000};
    sigtimedwait(&chld, nullptr, &tick);  // a child ended, or look again in 100 ms
  }
  if (WIFSIGNALED(status)) {  // end the same way, without a second core dump
    int sig = WTERMSIG(status);
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    raise(sig);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

}  // namespace hostd::worker
