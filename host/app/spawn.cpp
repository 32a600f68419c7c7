#include "app/spawn.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hostd::app {

int spawnWithPidfd(const SpawnSpec& spec, pid_t* pid, int* pidfd) {
  // Sources may sit on another mapping's target (the caller's fd 4 meant to be the
  // program's 5, while its fd 5 becomes 4): give each a number above every target first.
  int above = 3;
  for (const auto& [from, to] : spec.fds) above = std::max(above, to + 1);
  std::vector<int> moved;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int err = 0;
  if (spec.stdinDevNull) posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  for (const auto& [from, to] : spec.fds) {
    int tmp = fcntl(from, F_DUPFD_CLOEXEC, above);
    if (tmp < 0) {
      err = errno;
      break;
    }
    moved.push_back(tmp);
    posix_spawn_file_actions_adddup2(&actions, tmp, to);  // the copy at `to` is inherited
  }
  if (spec.cwd) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, short(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        (spec.newSession ? POSIX_SPAWN_SETSID : 0)));
  *pid = -1;
  if (err == 0) err = posix_spawn(pid, spec.file, &actions, &attr, spec.argv, spec.envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : moved) close(fd);
  if (err != 0) return -err;
  *pidfd = int(syscall(SYS_pidfd_open, *pid, 0));  // close-on-exec by default
  if (*pidfd < 0) {  // (a kernel without pidfds: before Linux 5.3)
    err = errno;
    ::kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    return -err;
  }
  return 0;
}

bool reapPidfd(int pidfd, int* exitStatus, int* signal) {
  siginfo_t info{};
  if (waitid(idtype_t(P_PIDFD), id_t(pidfd), &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) return false;
  const bool exited = info.si_code == CLD_EXITED;
  *exitStatus = exited ? info.si_status : 0;
  *signal = exited ? 0 : info.si_status;
  return true;
}

}  // namespace hostd::app
