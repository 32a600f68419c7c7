// The supervisor of one child process of a worker (worker/child_exec.cpp): what runs as
// "hostd-supervise --child-exec WORKER_PID PROGRAM ARGS..." (a small static executable,
// host/supervise/) or, without it, as "hostd --child-exec ...". Plain libc and the C++
// standard library only: no Poco, no libuv, so the helper starts as fast as /bin/true.
#pragma once

namespace hostd::worker {

/// main() of the supervisor; argv[1] is "--child-exec".
int runChildExec(int argc, char** argv);
/// The supervisor's reserved signals: the worker is gone / kill everything below it.
int childExecParentGoneSignal();
int childExecKillTreeSignal();

}  // namespace hostd::worker
