// Handing accepted connections from the master to a worker: one fd per message over a
// Unix-domain SOCK_SEQPACKET socketpair (SCM_RIGHTS), the client's address (as accept4
// gave it) as the payload, so the worker never asks the kernel again (getpeername).
// Poco has no SCM_RIGHTS, and libuv's fd passing is tied to its own IPC pipes.
#pragma once

#include <sys/socket.h>

#include <vector>

namespace hostd::ipc {

/// Creates the hand-off socketpair: fds[0] for the master, fds[1] for the worker; both
/// close-on-exec, the master's end non-blocking. Returns 0 or -errno.
int makeHandoffPair(int fds[2]);

/// An accepted connection and its peer's address (peerLen 0: unknown).
struct Accepted {
  int fd = -1;
  sockaddr_storage peer{};
  socklen_t peerLen = 0;
};

/// Sends c.fd and its peer address (the master keeps its own copy of the fd; the caller
/// closes it afterwards). Returns 0, -EAGAIN if the worker's queue is full, or another
/// -errno if the worker is gone.
int sendFd(int sock, const Accepted& c);

/// Receives every connection queued on sock (non-blocking) into out, each fd close-on-exec
/// (MSG_CMSG_CLOEXEC); an fd arriving in a malformed message is closed, never leaked.
/// Returns 0 when the queue is empty (EAGAIN), 1 on EOF (the master is gone), -errno.
int receiveFds(int sock, std::vector<Accepted>& out);

}  // namespace hostd::ipc
