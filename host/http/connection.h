// One client connection: read -> llhttp -> handler -> ordered, batched writes.
#pragma once

#include "http/request.h"
#include "http/response.h"

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hostd::http {

class Server;

/// Owned by its Server; frees itself once its handle is closed and no response is
/// pending (a deferred response keeps it alive until end(), even if the client left).
class Connection {
 public:
  explicit Connection(Server& server);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Adopts an accepted socket and starts reading. False if it cannot be used (the
  /// connection is then already closing).
  bool start(int fd);
  /// Closes the connection (hard). Safe to call more than once.
  void close();
  /// True when nothing is being received, handled or written (drain closes these).
  bool idle() const;
  /// Drain: an idle connection gets kDrainGraceMs for a request already on its way,
  /// a busy one closes after its current response.
  void drain();
  static constexpr uint64_t kDrainGraceMs = 500;
  uint64_t deadline() const { return deadline_; }
  bool busy() const { return responsePending_; }

  // ---- used by Response ----
  std::string& out() { return out_; }
  bool gone() const { return closing_; }
  bool draining() const;
  void appendStandardHeaders();
  void responseWritten(bool keepAlive);
  void flushSoon();

  Connection* prev = nullptr;  ///< Server's intrusive list
  Connection* next = nullptr;

 private:
  friend class Server;
  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t len);
  static int onHeaderField(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t len);
  static int onMessageComplete(llhttp_t* p);
  static const llhttp_settings_t& settings();

  void startReading();
  void stopReading();
  void onRead(ssize_t n, const uv_buf_t* buf);
  void feed(const char* data, size_t len);
  void fail(int status);
  void flush();
  void onWritten(int status);
  void resume();
  void finishIfDone();
  int limitHead(size_t more);
  std::string_view remote();

  Server& server_;
  uv_tcp_t tcp_{};
  llhttp_t parser_{};
  uv_write_t writeReq_{};

  // The request being parsed: url and header bytes, offsets into headBuf_.
  std::string headBuf_;
  struct Range { size_t nameOff, nameLen, valueOff, valueLen; };
  std::vector<Range> ranges_;
  size_t urlLen_ = 0;
  bool lastWasValue_ = false;
  size_t headBytes_ = 0;
  std::string body_;
  std::string remote_;
  int errorStatus_ = 0;

  Request req_;
  Response res_;

  std::string out_;       // responses being assembled
  std::string inflight_;  // bytes handed to uv_write
  std::string pending_;   // unparsed bytes held while a deferred response is pending
  uint64_t deadline_ = 0; // loop ms after which the sweep closes us (0 = none)

  bool reading_ = false;
  bool inRead_ = false;          // inside onRead: writes are batched until it returns
  bool inMessage_ = false;       // bytes of a request seen, response not started
  bool inBody_ = false;          // head complete, body still arriving
  bool responsePending_ = false; // handler returned without ending its response
  bool writing_ = false;
  bool closeAfterWrite_ = false;
  bool closing_ = false;
  bool handleClosed_ = false;
};

}  // namespace hostd::http
