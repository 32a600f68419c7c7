// What a connection's path needs that libuv 1.44 has no public call for. All of it is
// about syscalls per connection (issue 13: a connection costs what it costs in nginx):
//
// - StreamOpener: a uv_tcp_t on an fd accept4 already made non-blocking, without
//   uv_tcp_open's ioctl(FIONBIO) (libuv's own uv_accept skips it; so do we, by handing the
//   fd to uv_accept through a silent "server" stream).
// - startExclusive: a uv_poll_t on a shared listening socket registered with
//   EPOLLEXCLUSIVE, so a connection wakes one idle worker, not every worker (the losers'
//   wake-up and EAGAIN accept4 cost two syscalls each).
// - closeStream: uv_close without libuv's EPOLL_CTL_DEL before the close(2) (the kernel
//   drops a closed socket from epoll by itself; nginx relies on that too).
//
// They rely on uv_stream_t / uv_poll_t fields of libuv's unix.h (accepted_fd,
// io_watcher.fd and .pevents), stable across libuv 1.x; the unit and e2e tests (the
// syscall count among them) check the behaviour.
#pragma once

#include <uv.h>

namespace hostd::http {

class StreamOpener {
 public:
  /// 0 or a negative uv error (no eventfd).
  int init(uv_loop_t* loop);
  /// Makes `tcp` (uv_tcp_init'ed, not open) a stream on `fd`, which must already be a
  /// non-blocking, connected socket. 0, or a negative uv error (fd closed).
  int open(uv_tcp_t* tcp, int fd);
  /// Closes the opener's handle (its eventfd); idempotent.
  void close();

 private:
  uv_tcp_t server_{};  // on an eventfd that is never written: never readable
  bool open_ = false;
};

/// uv_poll_start(h, UV_READABLE, cb), registered with EPOLLEXCLUSIVE when the kernel
/// supports it (Linux >= 4.5; checked once per process). Same result as uv_poll_start.
/// On a running poll it registers again (EPOLL_CTL_DEL now, ADD at the next loop turn),
/// which puts this process at the back of the kernel's wake order.
int startExclusive(uv_poll_t* h, uv_poll_cb cb);
/// uv_poll_stop for a poll started by startExclusive. Every stop, and every uv_close,
/// of such a poll must go through it: libuv clears only the bits it knows, and a leftover
/// EPOLLEXCLUSIVE would make it modify the registration, which the kernel refuses and
/// libuv answers with abort().
void stopExclusive(uv_poll_t* h);

/// uv_close(tcp, cb) for a connection's stream. When nothing but reading was armed on it
/// (no write in flight), it stops reading (libuv then forgets the fd's watcher, without a
/// syscall), closes the socket itself and leaves libuv a handle without an fd, so libuv
/// makes no EPOLL_CTL_DEL. Otherwise it is plain uv_close.
void closeStream(uv_tcp_t* tcp, uv_close_cb cb);

}  // namespace hostd::http
