#include "http/server.h"

#include "http/connection.h"

#include <algorithm>
#include <cerrno>
#include <utility>
#include <ctime>
#include <vector>
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
  opener_.init(loop_);  // without it (no eventfd) connections open through uv_tcp_open
  spare_.reserve(kSpareConnections);
  spareExchanges_.reserve(kSpareExchanges);
  received_.reserve(64);
}

Server::~Server() {
  closeHandles();
  for (Connection* c : spare_) delete c;
  for (Exchange* x : spareExchanges_) delete x;
}

Exchange* Server::takeExchange() {
  if (spareExchanges_.empty()) return new Exchange;
  Exchange* x = spareExchanges_.back();
  spareExchanges_.pop_back();
  return x;
}

void Server::giveBack(Exchange* x) {
  if (spareExchanges_.size() >= kSpareExchanges) {
    delete x;
    return;
  }
  x->clear(kKeptCapacity);
  spareExchanges_.push_back(x);
}

void Server::closeHandles() {
  for (uv_timer_t* t : {&sweep_, &acceptPause_, &deferTimer_}) {
    uv_timer_stop(t);
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(t))) uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  }
  opener_.close();
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
  return watch();
}

int Server::watch() {
  // A listening socket the siblings share wakes one idle worker per connection: each
  // readiness event takes exactly one connection (see acceptOne). The hand-off socket
  // is this worker's alone.
  if (handoff_) return uv_poll_start(&listener_, UV_READABLE, &Server::onAcceptable);
  return startExclusive(&listener_, &Server::onAcceptable);
}

void Server::onAcceptable(uv_poll_t* h, int status, int) {
  auto* self = static_cast<Server*>(h->data);
  if (status != 0) {  // libuv stopped the poll (POLLERR): finish the stop for it
    if (!self->handoff_) stopExclusive(h);
    return;
  }
  if (self->draining_) return;
  if (self->handoff_) self->receiveHandedOff();
  else self->acceptOne();
}

void Server::receiveHandedOff() {
  received_.clear();
  int rc = ipc::receiveFds(listenFd_, received_);
  for (const ipc::Accepted& a : received_) adopt(a);
  if (rc != 0) stopAccepting();  // the master is gone (EOF) or the socket broke
}

void Server::adopt(const ipc::Accepted& a) {
  Connection* c;
  if (!spare_.empty()) {
    c = spare_.back();
    spare_.pop_back();
  } else {
    c = new Connection(*this);
  }
  c->next = head_;
  c->prev = nullptr;
  if (head_) head_->prev = c;
  head_ = c;
  ++count_;
  if (c->start(a)) stats_.accepted++;
}

bool Server::acceptOne() {
  ipc::Accepted a;
  a.peerLen = sizeof a.peer;
  a.fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&a.peer), &a.peerLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (a.fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // The connection stays queued and the socket stays readable: pause instead of spinning.
      stopExclusive(&listener_);
      uv_timer_start(&acceptPause_, [](uv_timer_t* t) {
        auto* self = static_cast<Server*>(t->data);
        if (self->listening_) self->watch();
      }, 100, 0);
    }
    return false;  // EAGAIN: a sibling worker took it
  }
  adopt(a);
  // EPOLLEXCLUSIVE wakes the first idle worker in the order they registered, so at light
  // load one worker would take every connection (and keep every long-lived one). After
  // kRotateAccepts accepts, and at most every kRotateMs, this worker registers again,
  // which puts it at the back of that order: two epoll_ctl calls per 16 connections at
  // light load, at most 40 a second at any load. (Under load the kernel spreads
  // connections by itself: a busy worker is not waiting, so the idle one is woken.)
  if (!ownSocket_ && ++acceptedSinceRotate_ >= kRotateAccepts && uv_now(loop_) - rotatedAt_ >= kRotateMs) {
    acceptedSinceRotate_ = 0;
    rotatedAt_ = uv_now(loop_);
    watch();
  }
  return true;
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
  return c && c->x_ ? &c->x_->req : nullptr;
}

Response* Server::responseFor(uint64_t token) {
  Connection* c = handles_.response(token);
  return c && c->x_ ? &c->x_->res : nullptr;
}

void Server::removed(Connection* c) {
  for (Connection*& d : deferred_)
    if (d == c) d = nullptr;
  if (c->prev) c->prev->next = c->next;
  else head_ = c->next;
  if (c->next) c->next->prev = c->prev;
  --count_;
  // Kept for the next connection: a connection costs no allocation once the worker has
  // served as many at once as it keeps.
  if (spare_.size() < kSpareConnections) {
    c->recycle();
    spare_.push_back(c);
  } else {
    delete c;
  }
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
    received_.clear();
    ipc::receiveFds(listenFd_, received_);
    for (const ipc::Accepted& a : received_) adopt(a);
  } else if (ownSocket_) {
    while (acceptOne()) {
    }
  }
  uv_timer_stop(&acceptPause_);
  stopExclusive(&listener_);
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  // Our copy of the shared socket: siblings keep theirs and go on accepting.
  close(listenFd_);
  listenFd_ = -1;
}

void Server::drain(std::function<void()> onDrained) {
  stopAccepting();
  draining_ = true;
  drainDeadline_ = uv_now(loop_) + std::max(limits_.drain_idle_ms, Connection::kDrainGraceMs);
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
