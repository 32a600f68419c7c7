#include "http/connection.h"

#include "http/request_rules.h"
#include "http/server.h"

#include <hostd/plugin.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>
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

Connection::Connection(Server& server) : server_(server), slot_(server.handles().attach(this)) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
  tcp_.data = this;
  writeReq_.data = this;
}

Connection::Connection(Server& server, Buffers&& spare) : Connection(server) {
  b_ = std::move(spare);
  req_.headers_.swap(b_.requestHeaders);
  res_.headers_.swap(b_.responseHeaders);
}

Connection::~Connection() { server_.handles().detach(slot_); }

void Connection::recycle() {
  // Everything back to a new connection's state by running the constructor again, but
  // keeping the buffers' memory (emptied; one that grew past kKeptCapacity is let go,
  // so one huge response does not stay resident in every spare connection).
  b_.requestHeaders.swap(req_.headers_);
  b_.responseHeaders.swap(res_.headers_);
  Buffers kept;
  auto keep = [](auto& from, auto& to) {
    from.clear();
    if (from.capacity() * sizeof(from[0]) <= kKeptCapacity) std::swap(from, to);
  };
  keep(b_.head, kept.head);
  keep(b_.ranges, kept.ranges);
  keep(b_.body, kept.body);
  keep(b_.out, kept.out);
  keep(b_.inflight, kept.inflight);
  keep(b_.pending, kept.pending);
  keep(b_.resumed, kept.resumed);
  keep(b_.requestHeaders, kept.requestHeaders);
  keep(b_.responseHeaders, kept.responseHeaders);
  Server& server = server_;
  this->~Connection();
  new (this) Connection(server, std::move(kept));
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
  return !inMessage_ && !responsePending_ && !writing_ && b_.out.empty() && b_.pending.empty();
}

void Connection::drain() {
  // Not closed at once: a request may already be on its way (a just-accepted connection
  // whose bytes were not read yet, or a keep-alive client sending its next request).
  // What arrives within the grace period is answered with Connection: close; the sweep
  // closes the connection if nothing does. Busy connections close after their response.
  if (!idle()) return;
  uint64_t grace = now() + kDrainGraceMs;
  if (deadline_ == 0 || deadline_ > grace) deadline_ = grace;
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  stopReading();
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    // A producer waiting for room learns the client is gone; it typically ends its
    // response right there, which must not free us yet (handleClosed_ still false).
    c->fireDrain(HOSTD_ECLOSED);
    c->handleClosed_ = true;
    c->finishIfDone();
  });
}

void Connection::finishIfDone() {
  // A deferred response still holds a handle to res_: wait for its end().
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
    if (inMessage_) fail(408);  // a head or body that did not arrive in time
    else close();               // idle keep-alive, or the drain grace is over
  }
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
    if (!closeAfterWrite_ && at && at < data + len) b_.pending.append(at, size_t(data + len - at));
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
  e.method = headBuilt_ ? req_.method_ : "-";
  e.target = headBuilt_ ? req_.target_ : "-";
  e.remote = remote();
  e.userAgent = headBuilt_ && !userAgent_.empty() ? userAgent_ : "-";
  e.referer = headBuilt_ && !referer_.empty() ? referer_ : "-";
  e.httpMinor = headBuilt_ ? req_.minor_ : 1;
  e.status = status;
  e.bodyBytes = bodyBytes;
  e.requestBytes = headBytes_ + b_.body.size();
  e.durationUs = startNs_ ? (uv_hrtime() - startNs_) / 1000 : 0;
  startNs_ = 0;
  server_.completed(e);
}

void Connection::fail(int status) {
  server_.mutableStats().bad_requests++;
  inMessage_ = false;
  inBody_ = false;
  const char* reason = reasonPhrase(status);
  std::string body = std::string(reason) + "\n";
  if (server_.wantsCompleted()) reportCompleted(status, body.size());
  b_.out += "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  server_.appendStandardHeaders(b_.out);
  b_.out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
  closeAfterWrite_ = true;
  b_.pending.clear();
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
  c->b_.head.clear();
  c->b_.ranges.clear();
  c->urlLen_ = 0;
  c->lastWasValue_ = false;
  c->headBytes_ = 0;
  c->extensionBytes_ = 0;
  c->b_.body.clear();
  c->errorStatus_ = 0;
  c->deadline_ = c->now() + c->server_.limits().header_timeout_s * 1000ull;
  c->headBuilt_ = false;
  if (c->server_.wantsCompleted()) c->startNs_ = uv_hrtime();
  return 0;
}

int Connection::onUrl(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  c->b_.head.append(at, len);
  c->urlLen_ += len;
  return c->limitHead(len);
}

int Connection::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->inBody_) return c->limitHead(len + 4);  // a trailer: counted, not kept
  if (c->b_.ranges.empty() || c->lastWasValue_) {
    c->b_.ranges.push_back(Range{c->b_.head.size(), 0, 0, 0});
    c->lastWasValue_ = false;
    if (int rc = c->limitHead(4)) return rc;  // ": " and CRLF
  }
  c->b_.head.append(at, len);
  c->b_.ranges.back().nameLen += len;
  return c->limitHead(len);
}

int Connection::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  Connection* c = self(p);
  if (c->inBody_) return c->limitHead(len);
  Range& r = c->b_.ranges.back();
  if (!c->lastWasValue_) {
    r.valueOff = c->b_.head.size();
    c->lastWasValue_ = true;
  }
  c->b_.head.append(at, len);
  r.valueLen += len;
  return c->limitHead(len);
}

int Connection::buildRequest() {
  // Views are built once the head is complete: nothing appends to b_.head after this.
  Request& r = req_;
  const char* base = b_.head.data();
  r.method_ = llhttp_method_name(llhttp_method_t(parser_.method));
  r.target_ = std::string_view(base, urlLen_);
  r.major_ = parser_.http_major;
  r.minor_ = parser_.http_minor;
  r.headers_.clear();
  for (const Range& x : b_.ranges)
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
  if (bodyFollows && p->http_minor >= 1 && c->req_.header("expect", &expect) &&
      equalsIgnoreCase(expect, "100-continue")) {
    c->b_.out += "HTTP/1.1 100 Continue\r\n\r\n";
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
  if (c->b_.body.size() + len > c->server_.limits().max_body_bytes) {
    c->errorStatus_ = 413;
    return HPE_USER;
  }
  c->b_.body.append(at, len);
  return 0;
}

int Connection::onMessageComplete(llhttp_t* p) {
  Connection* c = self(p);
  Request& r = c->req_;
  r.body_ = c->b_.body;
  r.remote_ = c->remote();
  // Must be read here: llhttp resets the flags once this callback returns.
  bool keepAlive = llhttp_should_keep_alive(p) && !c->server_.draining();
  c->inMessage_ = false;
  c->inBody_ = false;
  c->deadline_ = 0;
  uint64_t responseToken = 0;
  c->server_.handles().begin(c->slot_, &r.token_, &responseToken);
  c->res_.reset(c, responseToken, p->method == HTTP_HEAD, p->http_minor, keepAlive);
  c->responsePending_ = true;
  if (c->server_.wantsCompleted()) {
    if (!r.header("user-agent", &c->userAgent_)) c->userAgent_ = {};
    if (!r.header("referer", &c->referer_)) c->referer_ = {};
  }
  c->server_.mutableStats().requests++;
  c->server_.handler()(r, c->res_);
  // The request's views die here (its token first); a deferred response keeps res_.
  c->server_.handles().endRequest(c->slot_);
  r.headers_.clear();
  if (c->responsePending_ || c->closeAfterWrite_ || c->unsent() > c->server_.limits().max_output_buffer)
    return HPE_PAUSED;
  return 0;
}

// ---- writing ----

void Connection::appendStandardHeaders() { server_.appendStandardHeaders(b_.out); }

size_t Connection::unsent() const {
  size_t queued = writing_ ? uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_)) : 0;
  return b_.out.size() + queued;
}

void Connection::responseWritten(bool keepAlive) {
  if (server_.wantsCompleted()) reportCompleted(res_.status_, res_.bodySent_);
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
    if (b_.pending.empty()) break;
    b_.resumed.swap(b_.pending);
    inRead_ = true;
    feed(b_.resumed.data(), b_.resumed.size());
    inRead_ = false;
    b_.resumed.clear();
  }
  inPump_ = false;
  if (closing_ || paused_ || closeAfterWrite_ || responsePending_) return;
  if (!reading_) startReading();
  if (inMessage_ || writing_) return;
  // Idle again: a draining server gives it the grace period, not a whole keep-alive.
  uint64_t idleFor = server_.draining() ? kDrainGraceMs : server_.limits().keepalive_timeout_s * 1000ull;
  if (deadline_ == 0 || (server_.draining() && deadline_ > now() + idleFor)) deadline_ = now() + idleFor;
}

void Connection::flushSoon() {
  if (!inRead_ && !inPump_) flush();
}

void Connection::flush() {
  if (closing_ || writing_) return;
  if (b_.out.empty()) {
    if (closeAfterWrite_ && !responsePending_) close();
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  countWrite();
  uv_buf_t b = uv_buf_init(b_.out.data(), unsigned(b_.out.size()));
  int n = uv_try_write(stream, &b, 1);
  if (n == int(b_.out.size())) {
    b_.out.clear();
    if (closeAfterWrite_ && !responsePending_) close();
    else maybeDrain();
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    b_.out.clear();
    close();
    return;
  }
  // Partial write: hand the rest to libuv; b_.out collects what comes next.
  b_.inflight.swap(b_.out);
  b_.out.clear();
  if (n > 0) b_.inflight.erase(0, size_t(n));
  writing_ = true;
  sendProgressMs_ = now();
  lastQueue_ = b_.inflight.size();
  b = uv_buf_init(b_.inflight.data(), unsigned(b_.inflight.size()));
  if (uv_write(&writeReq_, stream, &b, 1, [](uv_write_t* w, int status) {
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
    // not copied into b_.out on its way. Only what the socket does not take is copied.
    // Inside a read's parsing too: b_.out goes first, so the order stays.
    uv_buf_t bufs[4];
    unsigned n = 0;
    if (!b_.out.empty()) bufs[n++] = uv_buf_init(b_.out.data(), unsigned(b_.out.size()));
    for (std::string_view part : {prefix, data, suffix})
      if (!part.empty()) bufs[n++] = uv_buf_init(const_cast<char*>(part.data()), unsigned(part.size()));
    countWrite();
    int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, n);
    // An error is left to flush(), which meets it again with what is copied below.
    size_t left = written > 0 ? size_t(written) : 0;
    size_t fromOut = std::min(left, b_.out.size());
    b_.out.erase(0, fromOut);
    left -= fromOut;
    for (std::string_view* part : {&prefix, &data, &suffix}) {
      size_t used = std::min(left, part->size());
      part->remove_prefix(used);
      left -= used;
    }
  }
  b_.out.append(prefix).append(data).append(suffix);
}

void Connection::onWritten(int status) {
  writing_ = false;
  b_.inflight.clear();
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
