#include "http/server.h"

#include "http/connection.h"
#include "ipc/fd_passing.h"

#include <algorithm>
#include <cerrno>
#include <utility>
#include <ctime>
#include <vector>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hostd::http {

Server::Server(uv_loop_t* loop, const Limits& limits, Handler handler)
    : loop_(loop), limits_(limits), handler_(std::move(handler)) {
  uv_timer_init(loop_, &sweep_);
  sweep_.data = this;
  // Timeouts have one-second granularity: one sweep a second instead of a timer per
  // connection re-armed per request. Unref'd: it never keeps the loop alive by itself.
  uv_timer_start(&sweep_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->sweep(); }, 1000, 1000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
  uv_timer_init(loop_, &acceptPause_);
  acceptPause_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&acceptPause_));
  uv_timer_init(loop_, &deferTimer_);
  deferTimer_.data = this;
}

Server::~Server() { closeHandles(); }

void Server::closeHandles() {
  for (uv_timer_t* t : {&sweep_, &acceptPause_, &deferTimer_}) {
    uv_timer_stop(t);
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(t))) uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  }
}

int Server::listen(int fd, bool ownSocket) {
  ownSocket_ = ownSocket;
  // Accepting ourselves (not uv_listen) so each readiness event takes exactly one
  // connection: every worker polls the one shared socket, and a worker that wakes first
  // must not drain the whole queue — with keep-alive that would pin all long-lived
  // connections to one process (nginx: multi_accept off).
  return watchSource(fd);
}

int Server::receiveFrom(int handoffFd) {
  handoff_ = true;
  return watchSource(handoffFd);
}

int Server::watchSource(int fd) {
  listenFd_ = fd;
  if (int rc = uv_poll_init(loop_, &listener_, fd); rc != 0) return rc;
  listener_.data = this;
  listening_ = true;
  return uv_poll_start(&listener_, UV_READABLE, &Server::onAcceptable);
}

void Server::onAcceptable(uv_poll_t* h, int status, int) {
  auto* self = static_cast<Server*>(h->data);
  if (status != 0 || self->draining_) return;
  if (self->handoff_) self->receiveHandedOff();
  else self->acceptOne();
}

void Server::receiveHandedOff() {
  std::vector<int> fds;
  int rc = ipc::receiveFds(listenFd_, fds);
  for (int fd : fds) adopt(fd);
  if (rc != 0) stopAccepting();  // the master is gone (EOF) or the socket broke
}

void Server::adopt(int fd) {
  auto* c = new Connection(*this);
  c->next = head_;
  if (head_) head_->prev = c;
  head_ = c;
  ++count_;
  if (c->start(fd)) stats_.accepted++;
}

void Server::acceptOne() {
  int fd = accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // The connection stays queued and the socket stays readable: pause instead of spinning.
      uv_poll_stop(&listener_);
      uv_timer_start(&acceptPause_, [](uv_timer_t* t) {
        auto* self = static_cast<Server*>(t->data);
        if (self->listening_) uv_poll_start(&self->listener_, UV_READABLE, &Server::onAcceptable);
      }, 100, 0);
    }
    return;  // EAGAIN: a sibling worker took it
  }
  adopt(fd);
  // Let a sibling woken by the same readiness take the next connection before we loop
  // back (returns at once when nobody else is runnable; unlike libuv's single-accept
  // nanosleep, which sleeps for the timer slack, ~50 us, on every accept).
  sched_yield();
}

void Server::defer(Connection* c) {
  if (std::find(deferred_.begin(), deferred_.end(), c) != deferred_.end()) return;
  deferred_.push_back(c);
  uv_timer_start(&deferTimer_, [](uv_timer_t* t) {
    auto* self = static_cast<Server*>(t->data);
    // By index: a callback may add to the list, and removed() nulls freed connections.
    for (size_t i = 0; i < self->deferred_.size(); ++i)
      if (Connection* c = std::exchange(self->deferred_[i], nullptr)) c->deferred();
    self->deferred_.clear();
  }, 0, 0);
}

Request* Server::requestFor(uint64_t token) {
  Connection* c = handles_.request(token);
  return c ? &c->req_ : nullptr;
}

Response* Server::responseFor(uint64_t token) {
  Connection* c = handles_.response(token);
  return c ? &c->res_ : nullptr;
}

void Server::removed(Connection* c) {
  for (Connection*& d : deferred_)
    if (d == c) d = nullptr;
  if (c->prev) c->prev->next = c->next;
  else head_ = c->next;
  if (c->next) c->next->prev = c->prev;
  --count_;
  delete c;
  notifyIfDrained();
}

void Server::notifyIfDrained() {
  if (!draining_ || count_ != 0 || !onDrained_) return;
  auto cb = std::move(onDrained_);
  onDrained_ = nullptr;
  cb();
}

void Server::stopAccepting() {
  if (!listening_) return;
  listening_ = false;
  // Connections the master already handed over are ours: take them before closing, or
  // closing the socket would drop them with it.
  if (handoff_) {
    std::vector<int> fds;
    ipc::receiveFds(listenFd_, fds);
    for (int fd : fds) adopt(fd);
  } else if (ownSocket_) {
    for (int fd; (fd = accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) adopt(fd);
  }
  uv_timer_stop(&acceptPause_);
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  // Our copy of the shared socket: siblings keep theirs and go on accepting.
  close(listenFd_);
  listenFd_ = -1;
}

void Server::drain(std::function<void()> onDrained) {
  stopAccepting();
  draining_ = true;
  onDrained_ = std::move(onDrained);
  for (Connection* c = head_; c;) {
    Connection* next = c->next;  // drain() closes asynchronously; the list stays intact
    c->drain();
    c = next;
  }
  notifyIfDrained();
}

void Server::closeAll() {
  stopAccepting();
  for (Connection* c = head_; c; c = c->next) c->close();
}

void Server::sweep() {
  const uint64_t now = uv_now(loop_);
  for (Connection* c = head_; c;) {
    Connection* next = c->next;  // sweep() may close c; its memory goes only in a close callback
    c->sweep(now);
    c = next;
  }
}

void Server::appendStandardHeaders(std::string& out) {
  uint64_t second = uv_now(loop_) / 1000;
  if (second != dateSecond_) {
    dateSecond_ = second;
    time_t t = time(nullptr);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    dateLine_.assign(buf, n);
  }
  out += serverLine_;
  out += dateLine_;
}

}  // namespace hostd::http
