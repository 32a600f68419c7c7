// The response to one request: fixed (end) or streamed (write ... end).
#pragma once

#include <string>
#include <string_view>

namespace hostd::http {

class Connection;

/// One per request, reused by its connection. Valid from the Handler call until end()
/// returned; it may be ended later from another loop callback (pipelined requests behind
/// it wait). Results use the HOSTD_E* numbers of sdk/include/hostd/plugin.h.
class Response {
 public:
  enum Result { Ok = 0, Invalid = -2, BadState = -3, Closed = -5 };

  /// 100..999; BadState once the head was sent.
  Result setStatus(int code);
  /// Invalid on CR/LF/NUL or an empty name; BadState once the head was sent. A
  /// "Connection: close" closes the connection after this response; a Content-Length is
  /// trusted (no chunking).
  Result addHeader(std::string_view name, std::string_view value);
  /// Streams a chunk; the first call sends the head (chunked for HTTP/1.1 unless a
  /// Content-Length was set; close-delimited for HTTP/1.0). Closed: client gone, dropped.
  Result write(std::string_view chunk);
  /// Finishes the response. If nothing was written and no Content-Length was set,
  /// Content-Length = last.size(). BadState if already ended; Closed if the client is
  /// gone (the response is still finished and released).
  Result end(std::string_view last);
  bool headSent() const { return headSent_; }
  bool ended() const { return ended_; }

 private:
  friend class Connection;
  void reset(Connection* c, bool head, int minor, bool keepAlive);
  void sendHead(const std::string_view* wholeBody);

  Connection* conn_ = nullptr;
  std::string headers_;  // "Name: value\r\n" lines set by the handler
  int status_ = 200;
  int minor_ = 1;
  bool isHead_ = false;
  bool keepAlive_ = true;
  bool hasLength_ = false;
  bool chunked_ = false;
  bool headSent_ = false;
  bool ended_ = false;
};

/// The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise).
const char* reasonPhrase(int status);

}  // namespace hostd::http
