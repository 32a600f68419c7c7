// Starting a program without fork: posix_spawn (glibc's clone with CLONE_VM|CLONE_VFORK:
// no copy of the caller's mappings or page tables, so neither their cost nor the kernel's
// mapping locks, which stall fork for seconds on a loaded box) and a pidfd to learn of its
// exit on an event loop. Used by the master for workers and by workers for child
// supervisors.
#pragma once

#include <sys/types.h>

#include <utility>
#include <vector>

namespace hostd::app {

struct SpawnSpec {
  const char* file = nullptr;        ///< a path (no PATH search)
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  /// fd in the caller -> fd number in the program. Targets may be any numbers, sources too
  /// (they are moved out of the way first); every other fd is expected close-on-exec.
  std::vector<std::pair<int, int>> fds;
  bool stdinDevNull = false;  ///< fd 0 opened on /dev/null
  bool newSession = false;    ///< setsid()
  const char* cwd = nullptr;
};

/// Starts the program with every signal at its default disposition and none blocked.
/// Returns 0 with *pid and *pidfd (close-on-exec) set, or a negative errno (nothing runs).
int spawnWithPidfd(const SpawnSpec& spec, pid_t* pid, int* pidfd);

/// Reaps the process behind pidfd if it has ended: true with *exitStatus and *signal set
/// (one of them 0, as libuv reports them); false if it still runs.
bool reapPidfd(int pidfd, int* exitStatus, int* signal);

}  // namespace hostd::app
