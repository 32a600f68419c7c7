#include "ipc/channel.h"

#include "app/fault_seam.h"

#include <cstring>
#include <stdexcept>
#include <sys/ioctl.h>

namespace hostd::ipc {
namespace {
struct WriteReq {
  uv_write_t req;
  std::string data;
};
}  // namespace

Channel::Channel(uv_loop_t* loop) {
  uv_pipe_init(loop, &in_, 0);
  uv_pipe_init(loop, &out_, 0);
  in_.data = this;
  out_.data = this;
}

int Channel::open(int readFd, int writeFd) {
  // uv_pipe_open makes the fds non-blocking; from here libuv owns and closes them.
  int rc = uv_pipe_open(&in_, readFd);
  if (rc == 0) rc = uv_pipe_open(&out_, writeFd);
  open_ = rc == 0;
  return rc;
}

bool Channel::unread() const {
  uv_os_fd_t fd;
  int n = 0;
  return isOpen() && uv_fileno(reinterpret_cast<const uv_handle_t*>(&in_), &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 &&
         n > 0;
}

void Channel::start(FrameFn onFrame, CloseFn onClose) {
  onFrame_ = std::move(onFrame);
  onClose_ = std::move(onClose);
  readBuf_.resize(64 * 1024);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&in_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<Channel*>(h->data);
        buf->base = self->readBuf_.data();
        buf->len = self->readBuf_.size();
      },
      &Channel::onRead);
}

void Channel::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<Channel*>(s->data);
  if (n == 0) return;
  if (n < 0) {
    self->fail(n == UV_EOF ? "peer closed the channel" : std::string("read error: ") + uv_strerror(int(n)));
    return;
  }
  self->frames_.clear();
  bool ok = self->decoder_.feed(buf->base, size_t(n), self->frames_);
  // Frames decoded before a protocol error are still delivered, in order.
  for (Frame& f : self->frames_) {
    if (self->failed_) return;
    if (self->onFrame_) self->onFrame_(f);
  }
  if (!ok) self->fail("protocol error: " + self->decoder_.error());
}

void Channel::fail(const std::string& reason) {
  if (failed_) return;
  failed_ = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&in_));
  if (onClose_) {
    CloseFn cb = std::move(onClose_);
    onClose_ = nullptr;
    cb(reason);
  }
}

bool Channel::send(MsgType type, std::string_view payload) {
  if (!isOpen() || payload.size() > kMaxPayload) return false;
  encoded_.clear();
  appendFrame(encoded_, type, payload);
  auto* stream = reinterpret_cast<uv_stream_t*>(&out_);
  size_t done = 0;
  if (uv_stream_get_write_queue_size(stream) == 0) {
    uv_buf_t b = uv_buf_init(encoded_.data(), unsigned(encoded_.size()));
    int n = app::injectedFault("write") ? UV_EAGAIN : uv_try_write(stream, &b, 1);
    if (n > 0) done = size_t(n);
    else if (n != UV_EAGAIN) return false;
  }
  if (done == encoded_.size()) return true;
  auto* w = new WriteReq;
  w->req.data = this;
  w->data.assign(encoded_, done, std::string::npos);
  uv_buf_t b = uv_buf_init(w->data.data(), unsigned(w->data.size()));
  if (uv_write(&w->req, stream, &b, 1, &Channel::onWritten) != 0) {
    delete w;
    return false;
  }
  return true;
}

void Channel::onWritten(uv_write_t* req, int) {
  // A failed write shows up as EOF/error on the read side; nothing to do here.
  delete reinterpret_cast<WriteReq*>(req);
}

void Channel::onClosed(uv_handle_t* h) {
  auto* self = static_cast<Channel*>(h->data);
  if (--self->pendingCloses_ == 0) delete self;
}

void Channel::destroy(Channel* c) {
  if (!c) return;
  // onFrame_ may be running right now (destroy from inside a frame callback): keep it
  // alive; failed_ stops any further delivery.
  c->onClose_ = nullptr;
  c->failed_ = true;
  c->pendingCloses_ = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->in_), &Channel::onClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->out_), &Channel::onClosed);
}

}  // namespace hostd::ipc
