// The response to one request: fixed (end) or streamed (write ... end). The engine owns
// the framing: status line, Content-Length / chunked, Connection, and what may have a body.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hostd::http {

class Connection;

/// One per connection, reused for each of its requests. Valid from the Handler call until
/// end() returned; it may be ended later from another loop callback (pipelined requests
/// behind it wait). Results use the HOSTD_E* numbers of sdk/include/hostd/plugin.h.
class Response {
 public:
  enum Result { Ok = 0, Invalid = -2, BadState = -3, Closed = -5 };

  /// 200..999 (interim 1xx responses belong to the engine); BadState once the head was sent.
  Result setStatus(int code);
  /// Adds a header. Invalid: a name that is not an RFC 9110 token, a value holding a
  /// control byte other than HTAB; a Content-Length that is not a number or comes twice
  /// or next to a Transfer-Encoding; a Transfer-Encoding other than "chunked" or next to
  /// a Content-Length; a Connection other than "close"/"keep-alive". Content-Length,
  /// Transfer-Encoding and Connection are not copied: the engine writes the framing.
  /// BadState once the head was sent.
  Result addHeader(std::string_view name, std::string_view value);
  /// Streams a chunk; the first call sends the head (chunked for HTTP/1.1 unless a
  /// Content-Length was set; close-delimited for HTTP/1.0). Invalid (nothing sent): body
  /// bytes on a 204/304, or more bytes than the Content-Length. Closed: client gone.
  Result write(std::string_view chunk);
  /// Finishes the response. If nothing was written and no Content-Length was set,
  /// Content-Length = last.size(). Fewer bytes than a set Content-Length: the connection
  /// closes after the response. Invalid as for write() (and the response is not ended).
  /// BadState if already ended; Closed if the client is gone (the response is still
  /// finished and released).
  Result end(std::string_view last);
  /// The handler failed. Head not sent: the response becomes a plain 500. Head sent: the
  /// response is cut off and the connection closed, so the client sees it incomplete.
  void fail();
  /// Bytes of this connection's output the client has not taken yet.
  size_t buffered() const;
  /// True once the client is gone (writes are dropped).
  bool clientGone() const;
  /// See Connection::onDrain: cb(arg, status) once there is room for more output.
  int onDrain(void (*cb)(void*, int), void* arg);
  bool headSent() const { return headSent_; }
  bool ended() const { return ended_; }
  /// The checked handle a plugin gets for this response (see http/handles.h).
  uint64_t token() const { return token_; }

 private:
  friend class Connection;
  friend struct Exchange;
  void reset(Connection* c, uint64_t token, bool head, int minor, bool keepAlive);
  Result checkBody(size_t more) const;
  void sendHead(const std::string_view* wholeBody);
  void appendBody(std::string_view data);

  Connection* conn_ = nullptr;
  uint64_t token_ = 0;
  std::string headers_;          // "Name: value\r\n" lines set by the handler
  int64_t declaredLength_ = -1;  // the handler's Content-Length, -1 if none
  uint64_t bodySent_ = 0;        // body bytes accepted so far
  int status_ = 200;
  int minor_ = 1;
  bool isHead_ = false;
  bool keepAlive_ = true;
  bool wantChunked_ = false;  // the handler said Transfer-Encoding: chunked
  bool chunked_ = false;      // the body goes out chunked
  bool headSent_ = false;
  bool ended_ = false;
};

/// The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise).
const char* reasonPhrase(int status);

}  // namespace hostd::http
