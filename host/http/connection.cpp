#include "http/connection.h"

#include "http/server.h"

#include <cstring>
#include <unistd.h>

namespace hostd::http {
namespace {
Connection* self(llhttp_t* p) { return static_cast<Connection*>(p->data); }
}  // namespace

const llhttp_settings_t& Connection::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_message_begin = &Connection::onMessageBegin;
    x.on_url = &Connection::onUrl;
    x.on_header_field = &Connection::onHeaderField;
    x.on_header_value = &Connection::onHeaderValue;
    x.on_headers_complete = &Connection::onHeadersComplete;
    x.on_body = &Connection::onBody;
    x.on_message_complete = &Connection::onMessageComplete;
    return x;
  }();
  return s;
}

Connection::Connection(Server& server) : server_(server) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
  tcp_.data = this;
  writeReq_.data = this;
}

bool Connection::start(int fd) {
  uv_tcp_init(server_.loop(), &tcp_);
  if (uv_tcp_open(&tcp_, fd) != 0) {
    ::close(fd);
    close();
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  deadline_ = uv_now(server_.loop()) + server_.limits().header_timeout_s * 1000ull;
  startReading();
  return true;
}

void Connection::stopReading() {
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
}

void Connection::startReading() {
  reading_ = true;
  // Every connection reads into the server's one buffer: llhttp's pieces are copied out
  // before the callback returns.
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        Server& s = static_cast<Connection*>(h->data)->server_;
        buf->base = s.readBuffer();
        buf->len = s.readBufferSize();
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) { static_cast<Connection*>(s->data)->onRead(n, buf); });
}

bool Connection::draining() const { return server_.draining(); }

bool Connection::idle() const { return !inMessage_ && !responsePending_ && !writing_ && out_.empty(); }

void Connection::drain() {
  // Not closed at once: a request may already be on its way (a just-accepted connection
  // whose bytes were not read yet, or a keep-alive client sending its next request).
  // What arrives within the grace period is answered with Connection: close; the sweep
  // closes the connection if nothing does. Busy connections close after their response.
  if (!idle()) return;
  uint64_t grace = uv_now(server_.loop()) + kDrainGraceMs;
  if (deadline_ == 0 || deadline_ > grace) deadline_ = grace;
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  stopReading();
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    c->handleClosed_ = true;
    c->finishIfDone();
  });
}

void Connection::finishIfDone() {
  // A deferred response still holds a pointer to res_: wait for its end().
  if (handleClosed_ && !responsePending_) server_.removed(this);
}

std::string_view Connection::remote() {
  if (remote_.empty()) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
        remote_ = std::string("[") + host + "]:" + std::to_string(port);
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
        remote_ = std::string(host) + ":" + std::to_string(port);
      }
    } else {
      remote_ = "?";
    }
  }
  return remote_;
}

// ---- reading and parsing ----

void Connection::onRead(ssize_t n, const uv_buf_t* buf) {
  if (n == 0 || closing_) return;
  if (n < 0) {
    close();  // EOF or error; a pending deferred response keeps the object alive
    return;
  }
  inRead_ = true;
  feed(buf->base, size_t(n));
  inRead_ = false;
  flush();
}

void Connection::feed(const char* data, size_t len) {
  // Body inactivity timeout; the head keeps the deadline set when it began (slowloris).
  if (inBody_ && !responsePending_)
    deadline_ = uv_now(server_.loop()) + server_.limits().header_timeout_s * 1000ull;
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED) {
    // A response is pending (or this connection closes after it): keep the rest, in order.
    const char* at = llhttp_get_error_pos(&parser_);
    if (!closeAfterWrite_ && at && at < data + len) pending_.append(at, size_t(data + len - at));
    stopReading();
    return;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    // No protocol upgrades here: the request was answered as plain HTTP; end the connection.
    closeAfterWrite_ = true;
    return;
  }
  fail(errorStatus_ ? errorStatus_ : 400);
}

void Connection::fail(int status) {
  server_.mutableStats().bad_requests++;
  inMessage_ = false;
  const char* reason = reasonPhrase(status);
  std::string body = std::string(reason) + "\n";
  out_ += "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  server_.appendStandardHeaders(out_);
  out_ += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
  closeAfterWrite_ = true;
  pending_.clear();
  stopReading();
  flushSoon();
}

int Connection::limitHead(size_t more) {
  headBytes_ += more;
  if (headBytes_ > server_.limits().max_header_bytes) {
    errorStatus_ = 431;
    return HPE_USER;
  }
  return 0;
}

int Connection::onMessageBegin(llhttp_t* p) {
  Connection* c = self(p);
  c->inMessage_ = true;
  c->inBody_ = false;
  c->headBuf_.clear();
  c->ranges_.clear();
  c->urlLen_ = 0;
  c->lastWasValue_ = false;
  c->headBytes_ = 0;
  c->body_.clear();
  c->errorStatus_ = 0;
  c->deadline_ = uv_now(c->server_.loop()) + c->server_.limits().header_timeout_s * 1000ull;
  return 0;
}

int Connection::onUrl(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  c->headBuf_.append(at, len);
  c->urlLen_ += len;
  return c->limitHead(len);
}

int Connection::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->ranges_.empty() || c->lastWasValue_) {
    c->ranges_.push_back(Range{c->headBuf_.size(), 0, 0, 0});
    c->lastWasValue_ = false;
    if (int rc = c->limitHead(4)) return rc;  // ": " and CRLF
  }
  c->headBuf_.append(at, len);
  c->ranges_.back().nameLen += len;
  return c->limitHead(len);
}

int Connection::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  Range& r = c->ranges_.back();
  if (!c->lastWasValue_) {
    r.valueOff = c->headBuf_.size();
    c->lastWasValue_ = true;
  }
  c->headBuf_.append(at, len);
  r.valueLen += len;
  return c->limitHead(len);
}

int Connection::onHeadersComplete(llhttp_t* p) {
  Connection* c = self(p);
  const Limits& lim = c->server_.limits();
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > lim.max_body_bytes) {
    c->errorStatus_ = 413;
    return HPE_USER;
  }
  // Views are built once the head is complete: headBuf_ no longer moves.
  Request& r = c->req_;
  const char* base = c->headBuf_.data();
  r.method_ = llhttp_method_name(llhttp_method_t(p->method));
  r.target_ = std::string_view(base, c->urlLen_);
  size_t q = r.target_.find('?');
  r.path_ = r.target_.substr(0, q);
  r.query_ = q == std::string_view::npos ? std::string_view() : r.target_.substr(q + 1);
  r.headers_.clear();
  bool expectContinue = false;
  for (const Range& x : c->ranges_) {
    Header h{std::string_view(base + x.nameOff, x.nameLen), std::string_view(base + x.valueOff, x.valueLen)};
    r.headers_.push_back(h);
    if (equalsIgnoreCase(h.name, "expect") && equalsIgnoreCase(h.value, "100-continue")) expectContinue = true;
  }
  c->inBody_ = true;
  r.major_ = p->http_major;
  r.minor_ = p->http_minor;
  if (expectContinue && p->http_major == 1 && p->http_minor >= 1) {
    c->out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    c->flushSoon();
  }
  return 0;
}

int Connection::onBody(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->body_.size() + len > c->server_.limits().max_body_bytes) {
    c->errorStatus_ = 413;
    return HPE_USER;
  }
  c->body_.append(at, len);
  return 0;
}

int Connection::onMessageComplete(llhttp_t* p) {
  Connection* c = self(p);
  Request& r = c->req_;
  r.body_ = c->body_;
  r.remote_ = c->remote();
  // Must be read here: llhttp resets the flags once this callback returns.
  bool keepAlive = llhttp_should_keep_alive(p) && !c->server_.draining();
  c->inMessage_ = false;
  c->inBody_ = false;
  c->deadline_ = 0;
  c->res_.reset(c, p->method == HTTP_HEAD, p->http_minor, keepAlive);
  c->responsePending_ = true;
  c->server_.mutableStats().requests++;
  c->server_.handler()(r, c->res_);
  // The handler's views die here; a deferred response keeps only res_.
  r.headers_.clear();
  if (c->responsePending_ || c->closeAfterWrite_) return HPE_PAUSED;
  return 0;
}

// ---- writing ----

void Connection::appendStandardHeaders() { server_.appendStandardHeaders(out_); }

void Connection::responseWritten(bool keepAlive) {
  responsePending_ = false;
  if (!keepAlive) closeAfterWrite_ = true;
  if (handleClosed_) {
    finishIfDone();  // deletes this
    return;
  }
  if (closing_) return;
  if (inRead_) return;  // onRead flushes and the parser carries on by itself
  flush();  // may close: a write to a client that left fails here
  if (!closeAfterWrite_ && !closing_) resume();
}

void Connection::resume() {
  // Parse what arrived behind the response that just ended, then read again.
  llhttp_resume(&parser_);
  std::string rest;
  rest.swap(pending_);
  if (!rest.empty()) {
    inRead_ = true;
    feed(rest.data(), rest.size());
    inRead_ = false;
    flush();
  }
  if (closing_ || closeAfterWrite_ || responsePending_) return;
  if (!reading_) startReading();
  if (!inMessage_) deadline_ = uv_now(server_.loop()) + server_.limits().keepalive_timeout_s * 1000ull;
}

void Connection::flushSoon() {
  if (!inRead_) flush();
}

void Connection::flush() {
  if (closing_ || writing_) return;
  if (out_.empty()) {
    if (closeAfterWrite_ && !responsePending_) close();
    else if (!responsePending_ && !inMessage_ && deadline_ == 0)
      deadline_ = uv_now(server_.loop()) + server_.limits().keepalive_timeout_s * 1000ull;
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  uv_buf_t b = uv_buf_init(out_.data(), unsigned(out_.size()));
  int n = uv_try_write(stream, &b, 1);
  if (n == int(out_.size())) {
    out_.clear();
    flush();  // settles close / keep-alive deadline
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    out_.clear();
    close();
    return;
  }
  // Partial write: hand the rest to libuv; out_ collects what comes next.
  inflight_.swap(out_);
  out_.clear();
  if (n > 0) inflight_.erase(0, size_t(n));
  writing_ = true;
  b = uv_buf_init(inflight_.data(), unsigned(inflight_.size()));
  if (uv_write(&writeReq_, stream, &b, 1, [](uv_write_t* w, int status) {
        static_cast<Connection*>(w->data)->onWritten(status);
      }) != 0) {
    writing_ = false;
    close();
  }
}

void Connection::onWritten(int status) {
  writing_ = false;
  inflight_.clear();
  if (status < 0) {
    close();
    return;
  }
  flush();
}

}  // namespace hostd::http
