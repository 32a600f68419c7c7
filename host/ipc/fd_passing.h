// Handing accepted connections from the master to a worker: one byte + one fd per
// message over a Unix-domain SOCK_SEQPACKET socketpair (SCM_RIGHTS). Poco has no
// SCM_RIGHTS, and libuv's fd passing is tied to its own IPC pipes.
#pragma once

#include <vector>

namespace hostd::ipc {

/// Creates the hand-off socketpair: fds[0] for the master, fds[1] for the worker; both
/// close-on-exec, the master's end non-blocking. Returns 0 or -errno.
int makeHandoffPair(int fds[2]);

/// Sends fd (the master keeps its own copy; the caller closes it afterwards). Returns 0,
/// -EAGAIN if the worker's queue is full, or another -errno if the worker is gone.
int sendFd(int sock, int fd);

/// Receives every fd queued on sock (non-blocking) into out, each close-on-exec
/// (MSG_CMSG_CLOEXEC); an fd arriving in a malformed message is closed, never leaked.
/// Returns 0 when the queue is empty (EAGAIN), 1 on EOF (the master is gone), -errno.
int receiveFds(int sock, std::vector<int>& out);

}  // namespace hostd::ipc
