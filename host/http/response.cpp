#include "http/response.h"

#include "http/connection.h"

#include <charconv>

namespace hostd::http {
namespace {

// token = 1*tchar (RFC 9110 §5.6.2)
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    switch (c) {
      case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
      case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        continue;
    }
    return false;
  }
  return true;
}

// field-value: visible characters, obs-text, SP and HTAB; no other control byte.
bool isFieldValue(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

void appendDecimal(std::string& out, size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, size_t(r.ptr - buf));
}

}  // namespace

const char* reasonPhrase(int s) {
  switch (s) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

void Response::reset(Connection* c, uint64_t token, bool head, int minor, bool keepAlive) {
  conn_ = c;
  token_ = token;
  headers_.clear();
  declaredLength_ = -1;
  bodySent_ = 0;
  status_ = 200;
  minor_ = minor;
  isHead_ = head;
  keepAlive_ = keepAlive;
  wantChunked_ = chunked_ = headSent_ = ended_ = false;
}

Response::Result Response::setStatus(int code) {
  if (headSent_ || ended_) return BadState;
  if (code < 200 || code > 999) return Invalid;
  status_ = code;
  return Ok;
}

Response::Result Response::addHeader(std::string_view name, std::string_view value) {
  if (headSent_ || ended_) return BadState;
  if (!isToken(name) || !isFieldValue(value)) return Invalid;
  if (equalsIgnoreCase(name, "content-length")) {
    uint64_t n = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || n > (uint64_t(1) << 62) ||
        declaredLength_ >= 0 || wantChunked_)
      return Invalid;
    declaredLength_ = int64_t(n);
    return Ok;
  }
  if (equalsIgnoreCase(name, "transfer-encoding")) {
    if (!equalsIgnoreCase(value, "chunked") || declaredLength_ >= 0) return Invalid;
    wantChunked_ = true;
    return Ok;
  }
  if (equalsIgnoreCase(name, "connection")) {
    if (equalsIgnoreCase(value, "close")) keepAlive_ = false;
    else if (!equalsIgnoreCase(value, "keep-alive")) return Invalid;
    return Ok;
  }
  headers_.append(name).append(": ").append(value).append("\r\n");
  return Ok;
}

Response::Result Response::checkBody(size_t more) const {
  if (more == 0) return Ok;
  if (status_ == 204 || status_ == 304) return Invalid;
  if (declaredLength_ >= 0 && bodySent_ + more > uint64_t(declaredLength_)) return Invalid;
  return Ok;
}

void Response::sendHead(const std::string_view* wholeBody) {
  std::string& out = conn_->out();
  if (conn_->draining()) keepAlive_ = false;
  out += "HTTP/1.1 ";
  appendDecimal(out, size_t(status_));
  out += ' ';
  out += reasonPhrase(status_);
  out += "\r\n";
  conn_->appendStandardHeaders();
  out += headers_;
  const bool bodyless = status_ == 204 || status_ == 304;  // no body, no chunking (RFC 9110 §8.6)
  if (declaredLength_ >= 0 && status_ != 204) {
    out += "Content-Length: ";  // on a 304: the length a 200 would have had
    appendDecimal(out, size_t(declaredLength_));
    out += "\r\n";
  } else if (bodyless) {
  } else if (wholeBody && !wantChunked_) {
    out += "Content-Length: ";
    appendDecimal(out, wholeBody->size());
    out += "\r\n";
  } else if (minor_ >= 1) {
    out += "Transfer-Encoding: chunked\r\n";
    chunked_ = true;
  } else {
    keepAlive_ = false;  // HTTP/1.0 without a length: the close delimits the body
  }
  if (!keepAlive_) out += "Connection: close\r\n";
  else if (minor_ == 0) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  headSent_ = true;
}

void Response::appendBody(std::string_view data) {
  bodySent_ += data.size();
  if (isHead_ || data.empty()) return;
  if (chunked_) {
    char size[24];
    auto r = std::to_chars(size, size + sizeof size - 2, data.size(), 16);
    *r.ptr++ = '\r';
    *r.ptr++ = '\n';
    conn_->sendBody(std::string_view(size, size_t(r.ptr - size)), data, "\r\n");
  } else {
    conn_->sendBody({}, data, {});
  }
}

Response::Result Response::write(std::string_view chunk) {
  if (ended_) return BadState;
  if (conn_->gone()) return Closed;
  if (Result r = checkBody(chunk.size())) return r;
  if (!headSent_) sendHead(nullptr);
  appendBody(chunk);
  conn_->flushSoon();  // also a bare head: write("") commits it (long polls, SSE)
  return Ok;
}

Response::Result Response::end(std::string_view last) {
  if (ended_ || !conn_) return BadState;
  Connection* c = conn_;
  if (c->gone()) {
    ended_ = true;
    c->responseWritten(false);  // may free the connection (and this response)
    return Closed;
  }
  if (Result r = checkBody(last.size())) return r;
  ended_ = true;
  if (!headSent_) sendHead(&last);
  appendBody(last);
  if (chunked_ && !isHead_) c->out() += "0\r\n\r\n";
  // Fewer bytes than announced: the client would wait for the rest, or read the next
  // response as this one's body. End the connection after it instead.
  if (declaredLength_ >= 0 && !isHead_ && status_ != 204 && status_ != 304 &&
      bodySent_ < uint64_t(declaredLength_))
    keepAlive_ = false;
  c->responseWritten(keepAlive_);
  return Ok;
}

void Response::fail() {
  if (ended_ || !conn_) return;
  if (!headSent_) {
    std::string_view body = "Internal Server Error\n";
    reset(conn_, token_, isHead_, minor_, keepAlive_);
    status_ = 500;
    headers_ = "Content-Type: text/plain\r\n";
    end(body);
    return;
  }
  ended_ = true;  // no terminating chunk: the close tells the client it is incomplete
  conn_->responseWritten(false);
}

size_t Response::buffered() const { return conn_ ? conn_->unsent() : 0; }

bool Response::clientGone() const { return !conn_ || conn_->gone(); }

int Response::onDrain(void (*cb)(void*, int), void* arg) { return conn_ ? conn_->onDrain(cb, arg) : BadState; }

}  // namespace hostd::http
