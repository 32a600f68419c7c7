#include "worker/access_log.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace hostd::worker {
namespace {

/// Bytes a log line must not carry raw: '"', '\', control bytes and non-ASCII become
/// \xHH (combined, as nginx does) or \u00HH (JSON).
void appendEscaped(std::string& out, std::string_view s, bool json) {
  static const char hex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += char(c);
    } else if (json && (c == '"' || c == '\\')) {
      out += '\\';
      out += char(c);
    } else {
      out += json ? "\\u00" : "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

void appendNumber(std::string& out, uint64_t n) {
  char b[24];
  int len = std::snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(n));
  out.append(b, size_t(len));
}

}  // namespace

std::string AccessLog::open(const std::string& path, Format format, int workerSlot) {
  path_ = path;
  format_ = format;
  slot_ = workerSlot;
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) return std::string("cannot open the access log ") + path + ": " + std::strerror(errno);
  buf_.reserve(kFlushAt * 2);
  return "";
}

void AccessLog::start(uv_loop_t* loop) {
  if (fd_ < 0 || timerStarted_) return;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<AccessLog*>(t->data)->flush(); }, 1000, 1000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  timerStarted_ = true;
}

void AccessLog::appendTime(bool iso) {
  const time_t now = time(nullptr);
  if (now != cachedSecond_) {
    cachedSecond_ = now;
    tm t{};
    gmtime_r(&now, &t);
    char b[64];
    strftime(b, sizeof b, "%d/%b/%Y:%H:%M:%S +0000", &t);
    cachedClf_ = b;
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &t);
    cachedIso_ = b;
  }
  buf_ += iso ? cachedIso_ : cachedClf_;
}

void AccessLog::record(const http::Server::Completed& e) {
  if (fd_ < 0) return;
  const bool json = format_ == Format::Json;
  if (json) {
    buf_ += "{\"time\":\"";
    appendTime(true);
    buf_ += "\",\"remote\":\"";
    appendEscaped(buf_, e.remote, true);
    buf_ += "\",\"method\":\"";
    appendEscaped(buf_, e.method, true);
    buf_ += "\",\"target\":\"";
    appendEscaped(buf_, e.target, true);
    buf_ += e.httpMinor == 0 ? "\",\"protocol\":\"HTTP/1.0\",\"status\":" : "\",\"protocol\":\"HTTP/1.1\",\"status\":";
    appendNumber(buf_, uint64_t(e.status));
    buf_ += ",\"bytes\":";
    appendNumber(buf_, e.bodyBytes);
    buf_ += ",\"request_bytes\":";
    appendNumber(buf_, e.requestBytes);
    buf_ += ",\"request_time_us\":";
    appendNumber(buf_, e.durationUs);
    buf_ += ",\"worker\":";
    appendNumber(buf_, uint64_t(slot_));
    buf_ += ",\"referer\":\"";
    appendEscaped(buf_, e.referer, true);
    buf_ += "\",\"user_agent\":\"";
    appendEscaped(buf_, e.userAgent, true);
    buf_ += "\"}\n";
  } else {
    // nginx's combined format, then the request time in µs and the worker slot.
    std::string_view host = e.remote;
    if (size_t colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    appendEscaped(buf_, host, false);
    buf_ += " - - [";
    appendTime(false);
    buf_ += "] \"";
    appendEscaped(buf_, e.method, false);
    buf_ += ' ';
    appendEscaped(buf_, e.target, false);
    buf_ += e.httpMinor == 0 ? " HTTP/1.0\" " : " HTTP/1.1\" ";
    appendNumber(buf_, uint64_t(e.status));
    buf_ += ' ';
    appendNumber(buf_, e.bodyBytes);
    buf_ += " \"";
    appendEscaped(buf_, e.referer, false);
    buf_ += "\" \"";
    appendEscaped(buf_, e.userAgent, false);
    buf_ += "\" ";
    appendNumber(buf_, e.durationUs);
    buf_ += ' ';
    appendNumber(buf_, uint64_t(slot_));
    buf_ += '\n';
  }
  if (buf_.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  if (fd_ < 0 || buf_.empty()) return;
  // Whole lines in one write (O_APPEND): lines of several workers never interleave. A disk
  // that is full loses those lines, never the worker.
  const char* p = buf_.data();
  size_t left = buf_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= size_t(n);
  }
  buf_.clear();
}

std::string AccessLog::reopen() {
  if (fd_ < 0) return "";
  flush();
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return std::string("cannot reopen the access log ") + path_ + ": " + std::strerror(errno);
  ::close(fd_);
  fd_ = fd;
  return "";
}

}  // namespace hostd::worker
