#include "ipc/fd_passing.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hostd::ipc {

int makeHandoffPair(int fds[2]) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return -errno;
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  return 0;
}

int sendFd(int sock, const Accepted& a) {
  // The payload is the address; a message is never empty, so an unknown one is one byte.
  char none = 0;
  iovec iov{a.peerLen ? const_cast<sockaddr_storage*>(&a.peer) : static_cast<void*>(&none),
            a.peerLen ? size_t(a.peerLen) : 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &a.fd, sizeof(int));
  for (;;) {
    if (sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == ssize_t(iov.iov_len)) return 0;
    if (errno != EINTR) return -errno;
  }
}

int receiveFds(int sock, std::vector<Accepted>& out) {
  for (;;) {
    Accepted a;
    iovec iov{&a.peer, sizeof a.peer};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    if (n == 0) return 1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        // One connection per message; anything else is closed, never leaked.
        if (i == 0 && !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
          a.fd = fd;
          a.peerLen = n > 1 ? socklen_t(n) : 0;
          out.push_back(a);
        } else {
          close(fd);
        }
      }
    }
  }
}

}  // namespace hostd::ipc
