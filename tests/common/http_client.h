// A small blocking HTTP/1.1 client for tests: raw sockets, bounded waits, no mocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace hostd::test {

using Ms = std::chrono::milliseconds;

/// Polls cond every step until it holds or timeout passes.
bool waitUntil(const std::function<bool()>& cond, Ms timeout, Ms step = Ms(20));

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

/// Parses a response head (status line and headers, without the blank line) into *out.
/// False if the status line is not HTTP/1.x.
bool parseResponseHead(const std::string& head, HttpResponse* out);

/// One request on a fresh connection with "Connection: close".
std::optional<HttpResponse> httpRequest(uint16_t port, const std::string& method, const std::string& target,
                                        const std::string& body = "", Ms timeout = Ms(5000));
std::optional<HttpResponse> httpGet(uint16_t port, const std::string& target, Ms timeout = Ms(5000));

/// A raw client connection to 127.0.0.1:port.
class RawConn {
 public:
  /// Connects to 127.0.0.1:port, or [::1]:port; throws std::runtime_error if it cannot.
  /// receiveBuffer > 0: SO_RCVBUF set before connecting (a small window: the server's
  /// writes come back partial).
  explicit RawConn(uint16_t port, bool ipv6 = false, int receiveBuffer = 0);
  ~RawConn();
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;
  bool send(const std::string& bytes);
  /// One full response (Content-Length, chunked - decoded - or until close; 1xx alone).
  std::optional<HttpResponse> readResponse(Ms timeout = Ms(5000));
  /// Everything until the peer closes (or the timeout); closed() tells which.
  std::string readUntilClose(Ms timeout = Ms(5000));
  bool closed() const { return eof_; }
  /// This end's port (the server sees the client as 127.0.0.1:localPort()).
  uint16_t localPort() const;

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace hostd::test
