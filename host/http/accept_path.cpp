#include "http/accept_path.h"

#include <cerrno>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace hostd::http {

int StreamOpener::init(uv_loop_t* loop) {
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return -errno;
  uv_tcp_init(loop, &server_);
  if (int rc = uv_tcp_open(&server_, efd); rc != 0) {
    ::close(efd);
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    return rc;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&server_));
  open_ = true;
  return 0;
}

int StreamOpener::open(uv_tcp_t* tcp, int fd) {
  if (!open_) {
    int rc = uv_tcp_open(tcp, fd);
    if (rc != 0) ::close(fd);
    return rc;
  }
  // uv_accept takes accepted_fd into the client stream as uv__stream_open does for a
  // connection libuv accepted itself: no ioctl, no setsockopt. Its watcher on the
  // eventfd is registered once, on the first call, and never fires.
  server_.accepted_fd = fd;
  int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&server_), reinterpret_cast<uv_stream_t*>(tcp));
  server_.accepted_fd = -1;  // on failure uv_accept closed fd
  return rc;
}

void StreamOpener::close() {
  if (!open_) return;
  open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
}

namespace {
// libuv clears only the bits it knows: EPOLLEXCLUSIVE must be taken out by hand before
// uv_poll_start or uv_poll_stop looks at the watcher's events.
void dropExclusive(uv_poll_t* h) { h->io_watcher.pevents &= ~unsigned(EPOLLEXCLUSIVE); }

bool kernelHasEpollExclusive() {
  static const bool has = [] {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN | EPOLLEXCLUSIVE;
    bool ok = ep >= 0 && efd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e) == 0;
    if (ep >= 0) ::close(ep);
    if (efd >= 0) ::close(efd);
    return ok;
  }();
  return has;
}
}  // namespace

int startExclusive(uv_poll_t* h, uv_poll_cb cb) {
  // Started again while running: uv_poll_start first drops the registration (one
  // EPOLL_CTL_DEL), which it does only for a watcher left with no events at all.
  dropExclusive(h);
  int rc = uv_poll_start(h, UV_READABLE, cb);
  // libuv registers the watcher (EPOLL_CTL_ADD, as uv_poll_start dropped any earlier
  // registration) at the top of the next loop turn with exactly these events, and never
  // modifies them while the poll runs: the flag goes in with the ADD, where the kernel
  // accepts it.
  if (rc == 0 && kernelHasEpollExclusive()) h->io_watcher.pevents |= EPOLLEXCLUSIVE;
  return rc;
}

void stopExclusive(uv_poll_t* h) {
  dropExclusive(h);
  uv_poll_stop(h);
}

void closeStream(uv_tcp_t* tcp, uv_close_cb cb) {
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) == 0 && fd >= 0) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp));
    // Nothing armed any more: libuv took the watcher out of its table (its lazy removal:
    // the fd stays in the epoll set until closed). The close(2) takes it out of the
    // kernel's set; an event of this fd already fetched in the current batch finds no
    // watcher, or at worst a new connection that got the same number, which reads EAGAIN.
    if (tcp->io_watcher.pevents == 0) {
      ::close(fd);
      tcp->io_watcher.fd = -1;  // uv_close then neither calls epoll_ctl nor closes
    }
  }
  uv_close(reinterpret_cast<uv_handle_t*>(tcp), cb);
}

}  // namespace hostd::http
