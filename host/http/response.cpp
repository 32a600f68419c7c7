#include "http/response.h"

#include "http/connection.h"

#include <charconv>

namespace hostd::http {
namespace {

bool clean(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void appendHex(std::string& out, size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n, 16);
  out.append(buf, size_t(r.ptr - buf)).append("\r\n");
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

void Response::reset(Connection* c, bool head, int minor, bool keepAlive) {
  conn_ = c;
  headers_.clear();
  status_ = 200;
  minor_ = minor;
  isHead_ = head;
  keepAlive_ = keepAlive;
  hasLength_ = chunked_ = headSent_ = ended_ = false;
}

Response::Result Response::setStatus(int code) {
  if (headSent_ || ended_) return BadState;
  if (code < 100 || code > 999) return Invalid;
  status_ = code;
  return Ok;
}

Response::Result Response::addHeader(std::string_view name, std::string_view value) {
  if (headSent_ || ended_) return BadState;
  if (name.empty() || !clean(name) || !clean(value) || name.find(':') != std::string_view::npos) return Invalid;
  if (equalsIgnoreCase(name, "content-length")) hasLength_ = true;
  if (equalsIgnoreCase(name, "connection") && equalsIgnoreCase(value, "close")) keepAlive_ = false;
  headers_.append(name).append(": ").append(value).append("\r\n");
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
  bool bodyless = status_ == 204 || status_ == 304 || status_ < 200;
  if (!hasLength_ && !bodyless) {
    if (wholeBody) {
      out += "Content-Length: ";
      appendDecimal(out, wholeBody->size());
      out += "\r\n";
    } else if (minor_ >= 1) {
      out += "Transfer-Encoding: chunked\r\n";
      chunked_ = true;
    } else {
      keepAlive_ = false;  // HTTP/1.0 without a length: the close delimits the body
    }
  }
  if (!keepAlive_) out += "Connection: close\r\n";
  else if (minor_ == 0) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  headSent_ = true;
}

Response::Result Response::write(std::string_view chunk) {
  if (ended_) return BadState;
  if (conn_->gone()) return Closed;
  if (!headSent_) sendHead(nullptr);
  if (isHead_ || chunk.empty()) return Ok;
  std::string& out = conn_->out();
  if (chunked_) {
    appendHex(out, chunk.size());
    out.append(chunk).append("\r\n");
  } else {
    out.append(chunk);
  }
  conn_->flushSoon();
  return Ok;
}

Response::Result Response::end(std::string_view last) {
  if (ended_ || !conn_) return BadState;
  ended_ = true;
  Connection* c = conn_;
  if (c->gone()) {
    c->responseWritten(false);  // may free the connection (and this response)
    return Closed;
  }
  if (!headSent_) {
    sendHead(&last);
    if (!isHead_) c->out().append(last);
  } else if (!isHead_) {
    std::string& out = c->out();
    if (chunked_) {
      if (!last.empty()) {
        appendHex(out, last.size());
        out.append(last).append("\r\n");
      }
      out += "0\r\n\r\n";
    } else {
      out.append(last);
    }
  }
  c->responseWritten(keepAlive_);
  return Ok;
}

}  // namespace hostd::http
