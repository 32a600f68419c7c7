#include "http/connection.h"

#include "http/request_rules.h"
#include "http/server.h"

#include <hostd/plugin.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>
#include <sys/ioctl.h>
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
    x.on_chunk_extension_name = &Connection::onChunkExtension;
    x.on_chunk_extension_value = &Connection::onChunkExtension;
    x.on_body = &Connection::onBody;
    x.on_message_complete = &Connection::onMessageComplete;
    return x;
  }();
  return s;
}

void Exchange::clear(size_t keepCapacity) {
  auto empty = [&](auto& buffer) {
    buffer.clear();
    if (buffer.capacity() * sizeof(buffer[0]) > keepCapacity) std::decay_t<decltype(buffer)>().swap(buffer);
  };
  empty(b.head);
  empty(b.ranges);
  empty(b.body);
  empty(b.out);
  empty(b.inflight);
  empty(b.pending);
  empty(b.resumed);
  empty(req.headers_);
  empty(res.headers_);
}

Connection::Connection(Server& server) : server_(server), slot_(server.handles().attach(this)) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
  tcp_.data = this;
}

Connection::~Connection() {
  releaseExchange();
  server_.handles().detach(slot_);
}

void Connection::recycle() {
  // Everything back to a new connection's state by running the constructor again; the
  // exchange (the buffers) goes back to the server's spares.
  Server& server = server_;
  this->~Connection();
  new (this) Connection(server);
}

void Connection::takeExchange() {
  if (x_) return;
  x_ = server_.takeExchange();
  x_->write.data = this;
}

void Connection::releaseExchange() {
  if (!x_) return;
  headBuilt_ = false;  // the request's views went with it
  server_.giveBack(x_);
  x_ = nullptr;
}

uint64_t Connection::now() const { return uv_now(server_.loop()); }

bool Connection::start(const ipc::Accepted& a) {
  uv_tcp_init(server_.loop(), &tcp_);
  if (server_.openStream(&tcp_, a.fd) != 0) {  // the fd is closed
    close();
    return false;
  }
  // TCP_NODELAY is set at the second write (see flush), not here: a connection that
  // writes once (one response, then close) never waits for Nagle.
  if (a.peerLen) setRemote(reinterpret_cast<const sockaddr*>(&a.peer));
  deadline_ = now() + server_.limits().header_timeout_s * 1000ull;
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

bool Connection::idle() const {
  return !inMessage_ && !responsePending_ && !writing_ && (!x_ || (x_->b.out.empty() && x_->b.pending.empty()));
}

void Connection::drain() {
  // Not closed at once: a request may already be on its way (a just-accepted connection
  // whose bytes were not read yet, or a keep-alive client sending its next request), and
  // a client descheduled or far away may take a while. Whatever arrives before the
  // connection's ordinary deadline (capped at the drain deadline) is answered with
  // Connection: close; the sweep closes it if nothing does, no sooner than it would have
  // without the drain. Busy connections close after their response.
  if (!idle()) return;
  if (deadline_ == 0 || deadline_ > server_.drainDeadline()) deadline_ = server_.drainDeadline();
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  stopReading();
  closeStream(&tcp_, [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    // A producer waiting for room learns the client is gone; it typically ends its
    // response right there, which must not free us yet (handleClosed_ still false).
    c->fireDrain(HOSTD_ECLOSED);
    c->handleClosed_ = true;
    c->finishIfDone();
  });
}

void Connection::finishIfDone() {
  // A deferred response still holds a handle to x_->res: wait for its end().
  if (handleClosed_ && !responsePending_) server_.removed(this);
}

void Connection::sweep(uint64_t nowMs) {
  if (closing_) return;
  if (writing_) {
    size_t queued = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&tcp_));
    if (queued < lastQueue_) {
      lastQueue_ = queued;
      sendProgressMs_ = nowMs;
    } else if (nowMs - sendProgressMs_ >= server_.limits().send_timeout_s * 1000ull) {
      server_.mutableStats().send_timeouts++;
      close();  // the client takes nothing: what it was sent is lost with it
      return;
    }
  }
  if (deadline_ && nowMs >= deadline_ && !responsePending_ && !writing_) {
    deadline_ = 0;
    if (inMessage_) fail(408);                  // a head or body that did not arrive in time
    else if (requestWaiting()) deadline_ = nowMs;  // it arrived in time; the loop reads it next
    else close();                               // idle keep-alive, or the drain grace is over
  }
}

bool Connection::requestWaiting() const {
  // Timers run before the loop polls for I/O: when the loop was busy (or descheduled) past
  // an idle deadline, a request that came in meanwhile is still unread here. Closing now
  // would answer it with a reset — on a keep-alive connection, a lost request — so the
  // read goes first (the sweep looks again). One ioctl per idle close, none per request.
  uv_os_fd_t fd;
  int n = 0;
  return reading_ && uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 &&
         n > 0;
}

void Connection::setRemote(const sockaddr* sa) {
  // "127.0.0.1:51234", "[::1]:51234" into the fixed buffer: no allocation.
  char* out = remote_;
  char* end = remote_ + sizeof remote_;
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    *out++ = '[';
    uv_ip6_name(a, out, size_t(end - out));
    out += std::strlen(out);
    *out++ = ']';
    port = ntohs(a->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    // By hand: glibc's inet_ntop formats IPv4 with sprintf, on every connection.
    const auto* octet = reinterpret_cast<const unsigned char*>(&a->sin_addr.s_addr);
    for (int i = 0; i < 4; ++i) {
      if (i) *out++ = '.';
      out = std::to_chars(out, end, unsigned(octet[i])).ptr;
    }
    port = ntohs(a->sin_port);
  } else {
    remoteLen_ = uint8_t(std::strlen(std::strcpy(remote_, "local")));
    return;
  }
  *out++ = ':';
  out = std::to_chars(out, end, port).ptr;
  remoteLen_ = uint8_t(out - remote_);
}

std::string_view Connection::remote() {
  if (remoteLen_ == 0) {
    // Not known from the accept (a connection whose hand-off carried no address).
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) setRemote(reinterpret_cast<sockaddr*>(&ss));
    else remoteLen_ = uint8_t(std::strlen(std::strcpy(remote_, "?")));
  }
  return std::string_view(remote_, remoteLen_);
}

// ---- reading and parsing ----

void Connection::onRead(ssize_t n, const uv_buf_t* buf) {
  if (n == 0 || closing_) return;
  if (n < 0) {
    close();  // EOF or error; a pending deferred response keeps the object alive
    return;
  }
  takeExchange();
  inRead_ = true;
  feed(buf->base, size_t(n));
  inRead_ = false;
  pump();
}

void Connection::feed(const char* data, size_t len) {
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED) {
    // A response is pending, this connection closes after it, or too much output waits:
    // keep the rest, in order, and read nothing more until parsing resumes.
    paused_ = true;
    const char* at = llhttp_get_error_pos(&parser_);
    if (!closeAfterWrite_ && at && at < data + len) x_->b.pending.append(at, size_t(data + len - at));
    stopReading();
    return;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    // No protocol upgrades here: the request was answered as plain HTTP; end the connection.
    closeAfterWrite_ = true;
    stopReading();
    return;
  }
  if (!errorStatus_ && err == HPE_INVALID_VERSION) errorStatus_ = 505;
  fail(errorStatus_ ? errorStatus_ : 400);
}

void Connection::reportCompleted(int status, uint64_t bodyBytes) {
  Server::Completed e;
  e.method = headBuilt_ ? x_->req.method_ : "-";
  e.target = headBuilt_ ? x_->req.target_ : "-";
  e.remote = remote();
  e.userAgent = headBuilt_ && !userAgent_.empty() ? userAgent_ : "-";
  e.referer = headBuilt_ && !referer_.empty() ? referer_ : "-";
  e.httpMinor = headBuilt_ ? x_->req.minor_ : 1;
  e.status = status;
  e.bodyBytes = bodyBytes;
  e.requestBytes = headBytes_ + x_->b.body.size();
  e.durationUs = startNs_ ? (uv_hrtime() - startNs_) / 1000 : 0;
  startNs_ = 0;
  server_.completed(e);
}

void Connection::fail(int status) {
  takeExchange();
  server_.mutableStats().bad_requests++;
  inMessage_ = false;
  inBody_ = false;
  const char* reason = reasonPhrase(status);
  std::string body = std::string(reason) + "\n";
  if (server_.wantsCompleted()) reportCompleted(status, body.size());
  x_->b.out += "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  server_.appendStandardHeaders(x_->b.out);
  x_->b.out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
  closeAfterWrite_ = true;
  x_->b.pending.clear();
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
  c->x_->b.head.clear();
  c->x_->b.ranges.clear();
  c->urlLen_ = 0;
  c->lastWasValue_ = false;
  c->headBytes_ = 0;
  c->extensionBytes_ = 0;
  c->x_->b.body.clear();
  c->errorStatus_ = 0;
  c->deadline_ = c->now() + c->server_.limits().header_timeout_s * 1000ull;
  c->headBuilt_ = false;
  if (c->server_.wantsCompleted()) c->startNs_ = uv_hrtime();
  return 0;
}

int Connection::onUrl(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  c->x_->b.head.append(at, len);
  c->urlLen_ += len;
  return c->limitHead(len);
}

int Connection::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->inBody_) return c->limitHead(len + 4);  // a trailer: counted, not kept
  if (c->x_->b.ranges.empty() || c->lastWasValue_) {
    c->x_->b.ranges.push_back(Exchange::Range{c->x_->b.head.size(), 0, 0, 0});
    c->lastWasValue_ = false;
    if (int rc = c->limitHead(4)) return rc;  // ": " and CRLF
  }
  c->x_->b.head.append(at, len);
  c->x_->b.ranges.back().nameLen += len;
  return c->limitHead(len);
}

int Connection::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->inBody_) return c->limitHead(len);
  Exchange::Range& r = c->x_->b.ranges.back();
  if (!c->lastWasValue_) {
    r.valueOff = c->x_->b.head.size();
    c->lastWasValue_ = true;
  }
  c->x_->b.head.append(at, len);
  r.valueLen += len;
  return c->limitHead(len);
}

int Connection::buildRequest() {
  // Views are built once the head is complete: nothing appends to x_->b.head after this.
  Request& r = x_->req;
  const char* base = x_->b.head.data();
  r.method_ = llhttp_method_name(llhttp_method_t(parser_.method));
  r.target_ = std::string_view(base, urlLen_);
  r.major_ = parser_.http_major;
  r.minor_ = parser_.http_minor;
  r.headers_.clear();
  for (const Exchange::Range& x : x_->b.ranges)
    r.headers_.push_back(Header{std::string_view(base + x.nameOff, x.nameLen),
                                std::string_view(base + x.valueOff, x.valueLen)});
  Head head{r.method_, r.major_, r.minor_, r.target_, r.headers_.data(), r.headers_.size()};
  Route route;
  if (int status = checkHead(head, &route)) return status;
  r.path_ = route.path;
  r.query_ = route.query;
  headBuilt_ = true;
  if (!route.authority.empty()) {  // absolute-form: the target's authority is the Host
    if (route.hostIndex < r.headers_.size()) r.headers_[route.hostIndex].value = route.authority;
    else r.headers_.push_back(Header{"Host", route.authority});
  }
  return 0;
}

int Connection::onHeadersComplete(llhttp_t* p) {
  Connection* c = self(p);
  const Limits& lim = c->server_.limits();
  if (int status = c->buildRequest()) {
    c->errorStatus_ = status;
    return HPE_USER;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > lim.max_body_bytes) {
    c->errorStatus_ = 413;
    return HPE_USER;
  }
  c->inBody_ = true;
  // The whole body gets body_timeout from here, however it trickles in.
  c->deadline_ = c->now() + lim.body_timeout_s * 1000ull;
  const bool bodyFollows = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  std::string_view expect;
  if (bodyFollows && p->http_minor >= 1 && c->x_->req.header("expect", &expect) &&
      equalsIgnoreCase(expect, "100-continue")) {
    c->x_->b.out += "HTTP/1.1 100 Continue\r\n\r\n";
    c->flushSoon();
  }
  return 0;
}

int Connection::onChunkExtension(llhttp_t* p, const char*, size_t len) {
  Connection* c = self(p);
  // Extensions are ignored, but they are bytes a client makes us parse: bound them.
  c->extensionBytes_ += len;
  if (c->extensionBytes_ > c->server_.limits().max_header_bytes) {
    c->errorStatus_ = 400;
    return HPE_USER;
  }
  return 0;
}

int Connection::onBody(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->x_->b.body.size() + len > c->server_.limits().max_body_bytes) {
    c->errorStatus_ = 413;
    return HPE_USER;
  }
  c->x_->b.body.append(at, len);
  return 0;
}

int Connection::onMessageComplete(llhttp_t* p) {
  Connection* c = self(p);
  Request& r = c->x_->req;
  r.body_ = c->x_->b.body;
  r.remote_ = c->remote();
  // Must be read here: llhttp resets the flags once this callback returns.
  bool keepAlive = llhttp_should_keep_alive(p) && !c->server_.draining();
  c->inMessage_ = false;
  c->inBody_ = false;
  c->deadline_ = 0;
  uint64_t responseToken = 0;
  c->server_.handles().begin(c->slot_, &r.token_, &responseToken);
  c->x_->res.reset(c, responseToken, p->method == HTTP_HEAD, p->http_minor, keepAlive);
  c->responsePending_ = true;
  if (c->server_.wantsCompleted()) {
    if (!r.header("user-agent", &c->userAgent_)) c->userAgent_ = {};
    if (!r.header("referer", &c->referer_)) c->referer_ = {};
  }
  c->server_.mutableStats().requests++;
  c->server_.handler()(r, c->x_->res);
  // The request's views die here (its token first); a deferred response keeps x_->res.
  c->server_.handles().endRequest(c->slot_);
  r.headers_.clear();
  if (c->responsePending_ || c->closeAfterWrite_ || c->unsent() > c->server_.limits().max_output_buffer)
    return HPE_PAUSED;
  return 0;
}

// ---- writing ----

void Connection::appendStandardHeaders() { server_.appendStandardHeaders(x_->b.out); }

size_t Connection::unsent() const {
  size_t queued = writing_ ? uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_)) : 0;
  return (x_ ? x_->b.out.size() : 0) + queued;
}

void Connection::responseWritten(bool keepAlive) {
  if (server_.wantsCompleted()) reportCompleted(x_->res.status_, x_->res.bodySent_);
  responsePending_ = false;
  server_.handles().endResponse(slot_);
  fireDrain(HOSTD_ESTATE);  // only releases the callback's argument
  if (!keepAlive) closeAfterWrite_ = true;
  if (handleClosed_) {
    finishIfDone();  // deletes this
    return;
  }
  if (closing_ || inRead_ || inPump_) return;  // parsing goes on by itself, then pump()s
  // Ended from plugin code (a timer, a completion): send it now, but parse what waited
  // behind it from the loop, so the plugin's next on_request never runs inside its res_end.
  flush();
  if (!closing_) server_.defer(this);
}

void Connection::pump() {
  // Writes what is assembled, then parses what waited behind a finished response, for as
  // long as nothing holds parsing back; then reads again. A loop, not recursion: a client
  // may have pipelined thousands of requests.
  if (inPump_) return;
  inPump_ = true;
  for (;;) {
    flush();
    if (closing_ || !paused_ || responsePending_ || closeAfterWrite_ ||
        unsent() > server_.limits().max_output_buffer)
      break;
    paused_ = false;
    llhttp_resume(&parser_);
    if (!x_ || x_->b.pending.empty()) break;
    x_->b.resumed.swap(x_->b.pending);
    inRead_ = true;
    feed(x_->b.resumed.data(), x_->b.resumed.size());
    inRead_ = false;
    x_->b.resumed.clear();
  }
  inPump_ = false;
  if (closing_ || paused_ || closeAfterWrite_ || responsePending_) return;
  if (!reading_) startReading();
  if (inMessage_ || writing_) return;
  // Idle again: nothing assembled, in flight or waiting. The exchange goes back to the
  // server, so an idle keep-alive connection holds no buffers (the next read takes one).
  if (idle() && !paused_) releaseExchange();
  if (deadline_ == 0) deadline_ = now() + server_.limits().keepalive_timeout_s * 1000ull;
  // Draining (its last response went out before the drain, without Connection: close):
  // no whole keep-alive, only until the drain deadline — or the grace period, if that
  // is later, since the client may be sending its next request right now.
  if (server_.draining()) deadline_ = std::min(deadline_, std::max(server_.drainDeadline(), now() + kDrainGraceMs));
}

void Connection::flushSoon() {
  if (!inRead_ && !inPump_) flush();
}

void Connection::flush() {
  if (closing_ || writing_) return;
  if (!x_ || x_->b.out.empty()) {
    if (closeAfterWrite_ && !responsePending_) close();
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  countWrite();
  uv_buf_t b = uv_buf_init(x_->b.out.data(), unsigned(x_->b.out.size()));
  int n = uv_try_write(stream, &b, 1);
  if (n == int(x_->b.out.size())) {
    x_->b.out.clear();
    if (closeAfterWrite_ && !responsePending_) close();
    else maybeDrain();
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    x_->b.out.clear();
    close();
    return;
  }
  // Partial write: hand the rest to libuv; x_->b.out collects what comes next.
  x_->b.inflight.swap(x_->b.out);
  x_->b.out.clear();
  if (n > 0) x_->b.inflight.erase(0, size_t(n));
  writing_ = true;
  sendProgressMs_ = now();
  lastQueue_ = x_->b.inflight.size();
  b = uv_buf_init(x_->b.inflight.data(), unsigned(x_->b.inflight.size()));
  if (uv_write(&x_->write, stream, &b, 1, [](uv_write_t* w, int status) {
        static_cast<Connection*>(w->data)->onWritten(status);
      }) != 0) {
    writing_ = false;
    close();
  }
}

void Connection::countWrite() {
  // From the second write on, what this connection sends may follow its own unacknowledged
  // small segment (the next keep-alive response, a streamed chunk): Nagle would hold it
  // for the client's delayed ACK. nginx sets it at the same point (keep-alive); a
  // connection that writes once never pays the setsockopt.
  if (++writes_ == 2) uv_tcp_nodelay(&tcp_, 1);
}

void Connection::sendBody(std::string_view prefix, std::string_view data, std::string_view suffix) {
  if (data.size() >= kDirectWriteBytes && !writing_ && !closing_) {
    // A large piece with nothing in flight before it: written from the caller's memory
    // (what is assembled first, then the piece, one writev), so a big or streamed body is
    // not copied into x_->b.out on its way. Only what the socket does not take is copied.
    // Inside a read's parsing too: x_->b.out goes first, so the order stays.
    uv_buf_t bufs[4];
    unsigned n = 0;
    if (!x_->b.out.empty()) bufs[n++] = uv_buf_init(x_->b.out.data(), unsigned(x_->b.out.size()));
    for (std::string_view part : {prefix, data, suffix})
      if (!part.empty()) bufs[n++] = uv_buf_init(const_cast<char*>(part.data()), unsigned(part.size()));
    countWrite();
    int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, n);
    // An error is left to flush(), which meets it again with what is copied below.
    size_t left = written > 0 ? size_t(written) : 0;
    size_t fromOut = std::min(left, x_->b.out.size());
    x_->b.out.erase(0, fromOut);
    left -= fromOut;
    for (std::string_view* part : {&prefix, &data, &suffix}) {
      size_t used = std::min(left, part->size());
      part->remove_prefix(used);
      left -= used;
    }
  }
  x_->b.out.append(prefix).append(data).append(suffix);
}

void Connection::onWritten(int status) {
  writing_ = false;
  x_->b.inflight.clear();
  if (status < 0) {
    close();
    return;
  }
  pump();
  maybeDrain();
}

int Connection::onDrain(void (*cb)(void*, int), void* arg) {
  if (closing_) return HOSTD_ECLOSED;
  if (drainCb_) return HOSTD_ESTATE;
  drainCb_ = cb;
  drainArg_ = arg;
  maybeDrain();
  return HOSTD_OK;
}

void Connection::maybeDrain() {
  // Told from the loop, never from inside a plugin's own write or on_drain call.
  if (drainCb_ && unsent() <= server_.limits().max_output_buffer / 2) server_.defer(this);
}

void Connection::deferred() {
  if (!responsePending_ && !closing_) pump();  // what waited behind a response ended by plugin code
  if (drainCb_ && unsent() <= server_.limits().max_output_buffer / 2) fireDrain(closing_ ? HOSTD_ECLOSED : HOSTD_OK);
}

void Connection::fireDrain(int status) {
  if (!drainCb_) return;
  auto cb = drainCb_;
  void* arg = drainArg_;
  drainCb_ = nullptr;
  drainArg_ = nullptr;
  cb(arg, status);
}

}  // namespace hostd::http
