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
//    PROGRAM; the supervisor ignores them and reports how PROGRAM ended.
#include "worker/child_processes.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hostd::worker {
namespace {
const int kIgnored[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM};

void onParentGone(int) { kill(0, SIGKILL); }  // the group, this process included

[[noreturn]] void runProgram(char** argv) {
  for (int sig : kIgnored) signal(sig, SIG_DFL);  // ignored dispositions survive exec
  signal(SIGRTMIN + 1, SIG_DFL);
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
  for (int sig : kIgnored) signal(sig, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  pid_t program = fork();
  if (program < 0) return 127;
  if (program == 0) runProgram(argv + 3);
  int status = 0;
  for (;;) {  // until no child is left: PROGRAM, and whatever it orphaned to us
    int st = 0;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) break;
    if (p == program) status = st;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    raise(sig);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

}  // namespace hostd::worker
