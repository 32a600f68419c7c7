#include "http/server.h"

#include "http/connection.h"

#include <ctime>

namespace hostd::http {

Server::Server(uv_loop_t* loop, const Limits& limits, Handler handler)
    : loop_(loop), limits_(limits), handler_(std::move(handler)) {
  uv_timer_init(loop_, &sweep_);
  sweep_.data = this;
  // Timeouts have one-second granularity: one sweep a second instead of a timer per
  // connection re-armed per request. Unref'd: it never keeps the loop alive by itself.
  uv_timer_start(&sweep_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->sweep(); }, 1000, 1000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
}

Server::~Server() {
  uv_timer_stop(&sweep_);
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&sweep_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
}

int Server::listen(int fd) {
  if (int rc = uv_tcp_init(loop_, &listener_); rc != 0) return rc;
  listener_.data = this;
  listening_ = true;
  if (int rc = uv_tcp_open(&listener_, fd); rc != 0) return rc;
  return uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 511, &Server::onConnection);
}

void Server::onConnection(uv_stream_t* s, int status) {
  auto* self = static_cast<Server*>(s->data);
  if (status < 0 || self->draining_) return;
  auto* c = new Connection(*self);
  c->next = self->head_;
  if (self->head_) self->head_->prev = c;
  self->head_ = c;
  ++self->count_;
  if (c->start(s)) self->stats_.accepted++;
}

void Server::removed(Connection* c) {
  if (c->prev) c->prev->next = c->next;
  else head_ = c->next;
  if (c->next) c->next->prev = c->prev;
  --count_;
  delete c;
  if (draining_ && count_ == 0 && onDrained_) {
    auto cb = std::move(onDrained_);
    onDrained_ = nullptr;
    cb();
  }
}

void Server::stopAccepting() {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
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
  if (count_ == 0 && onDrained_) {
    auto cb = std::move(onDrained_);
    onDrained_ = nullptr;
    cb();
  }
}

void Server::closeAll() {
  stopAccepting();
  for (Connection* c = head_; c; c = c->next) c->close();
}

void Server::sweep() {
  const uint64_t now = uv_now(loop_);
  for (Connection* c = head_; c; c = c->next) {
    if (c->deadline() && now >= c->deadline() && !c->busy()) c->close();
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
