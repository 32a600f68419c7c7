// One client connection: read -> llhttp -> handler -> ordered, batched, bounded writes.
#pragma once

#include "http/request.h"
#include "http/response.h"
#include "ipc/fd_passing.h"

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hostd::http {

class Server;

/// What a connection needs only while a request or response is in progress: its buffers,
/// the Request and Response, the write request. The server keeps spares and lends one to
/// a connection from its first read until it is idle again, so an idle keep-alive
/// connection holds only its socket, parser and state (about 600 bytes), and a busy one
/// reuses buffers that already have their capacity: no allocation per request.
struct Exchange {
  struct Range { size_t nameOff, nameLen, valueOff, valueLen; };
  struct Buffers {
    // The request being parsed: url and header bytes, offsets into head. Trailers and
    // chunk extensions are counted against the limits, never stored: nothing appends to
    // head once views into it were handed out.
    std::string head;
    std::vector<Range> ranges;
    std::string body;
    std::string out;       // responses being assembled
    std::string inflight;  // bytes handed to uv_write
    std::string pending;   // unparsed bytes held while parsing is paused
    std::string resumed;   // pending's bytes being parsed again (swapped, not reallocated)
  };
  Buffers b;
  Request req;
  Response res;
  uv_write_t write{};
  /// Back to a spare's state: buffers emptied, and let go if one grew past keepCapacity
  /// (so one huge response does not stay resident in every spare).
  void clear(size_t keepCapacity);
};

/// Owned by its Server; frees itself once its handle is closed and no response is
/// pending (a deferred response keeps it alive until end(), even if the client left).
///
/// Bounds: the request head (and trailers, and chunk extensions) within max_header_bytes,
/// the body within max_body_bytes and body_timeout; unsent output past max_output_buffer
/// stops reading and parsing (pipelined requests wait) until the client takes it; a client
/// that takes nothing for send_timeout is closed.
class Connection {
 public:
  explicit Connection(Server& server);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Adopts an accepted socket (and its peer's address, if known) and starts reading.
  /// False if it cannot be used (the connection is then already closing).
  bool start(const ipc::Accepted& a);
  /// Back to a new connection's state, its exchange returned to the server (Server keeps
  /// the Connection as a spare). Only once removed (its handle closed, no response pending).
  void recycle();
  /// Closes the connection (hard). Safe to call more than once.
  void close();
  /// True when nothing is being received, handled or written (drain closes these).
  bool idle() const;
  /// Drain: an idle connection keeps its deadline, at most until the server's drain
  /// deadline, for a request already on its way; a busy one closes after its current
  /// response.
  void drain();
  /// A connection that turns idle while draining after a response that kept it alive gets
  /// at least this long for the client's next request, even past the drain deadline.
  static constexpr uint64_t kDrainGraceMs = 500;
  /// Once a second: header/body/keep-alive deadlines and the send timeout.
  void sweep(uint64_t nowMs);
  /// Bytes from the client wait in the kernel, unread, while reading is on.
  bool requestWaiting() const;

  // ---- used by Response and the host API ----
  std::string& out() { return x_->b.out; }
  /// Appends prefix + data + suffix to the output, in order after everything before it;
  /// a large `data` may go to the socket at once instead of being copied (see the .cpp).
  void sendBody(std::string_view prefix, std::string_view data, std::string_view suffix);
  bool gone() const { return closing_; }
  bool draining() const;
  void appendStandardHeaders();
  void responseWritten(bool keepAlive);
  void flushSoon();
  /// Output bytes not yet taken by the client (assembled and in flight).
  size_t unsent() const;
  /// Runs cb(arg, status) once: HOSTD_OK when unsent() fell to half of max_output_buffer
  /// or less, HOSTD_ECLOSED when the connection closed first (both from the loop), or
  /// HOSTD_ESTATE when the response ended first (from inside that end: it only releases
  /// arg). HOSTD_ESTATE (cb not kept) if one is already waiting; HOSTD_ECLOSED (cb not
  /// kept) if the client is gone.
  int onDrain(void (*cb)(void*, int), void* arg);
  /// From the server's deferred-work timer (see Server::defer): parses what waited behind
  /// a response that plugin code ended, and runs a due drain callback.
  void deferred();

  Connection* prev = nullptr;  ///< Server's intrusive list
  Connection* next = nullptr;

 private:
  friend class Server;
  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t len);
  static int onHeaderField(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int onHeadersComplete(llhttp_t* p);
  static int onChunkExtension(llhttp_t* p, const char* at, size_t len);
  static int onBody(llhttp_t* p, const char* at, size_t len);
  static int onMessageComplete(llhttp_t* p);
  static const llhttp_settings_t& settings();

  void startReading();
  void stopReading();
  void onRead(ssize_t n, const uv_buf_t* buf);
  void feed(const char* data, size_t len);
  void fail(int status);
  void pump();
  void flush();
  void onWritten(int status);
  void countWrite();
  static constexpr size_t kDirectWriteBytes = 16 * 1024;
  void finishIfDone();
  void fireDrain(int status);
  void maybeDrain();
  int limitHead(size_t more);
  int buildRequest();
  std::string_view remote();
  void setRemote(const sockaddr* sa);
  uint64_t now() const;

  void takeExchange();
  void releaseExchange();

  Server& server_;
  uint32_t slot_;  // in the server's HandleTable
  uv_tcp_t tcp_{};
  llhttp_t parser_{};
  Exchange* x_ = nullptr;  // while a request or response is in progress (see Exchange)

  size_t urlLen_ = 0;
  bool lastWasValue_ = false;
  size_t headBytes_ = 0;
  // Access log (only when the server wants Completed): when the request began, its
  // User-Agent and Referer (views into x_->b.head, valid until the response ended).
  uint64_t startNs_ = 0;
  std::string_view userAgent_, referer_;
  bool headBuilt_ = false;  // req_'s method and target are this request's
  void reportCompleted(int status, uint64_t bodyBytes);
  size_t extensionBytes_ = 0;
  char remote_[56];  // "[v6 address]:port", INET6_ADDRSTRLEN + 9
  uint8_t remoteLen_ = 0;
  int errorStatus_ = 0;

  uint64_t deadline_ = 0; // loop ms after which the sweep ends the connection (0 = none)
  uint64_t sendProgressMs_ = 0;  // last time the client took output (while writing_)
  size_t lastQueue_ = 0;         // in-flight bytes seen then
  void (*drainCb_)(void*, int) = nullptr;
  void* drainArg_ = nullptr;

  bool reading_ = false;
  bool inRead_ = false;          // parsing: writes are batched until it returns
  bool inPump_ = false;
  bool paused_ = false;          // llhttp paused: pending_ holds what follows
  bool inMessage_ = false;       // bytes of a request seen, response not started
  bool inBody_ = false;          // head complete, body (and trailers) still arriving
  bool responsePending_ = false; // handler returned without ending its response
  bool writing_ = false;
  unsigned writes_ = 0;          // flushes that wrote (TCP_NODELAY from the second on)
  bool closeAfterWrite_ = false;
  bool closing_ = false;
  bool handleClosed_ = false;
};

}  // namespace hostd::http
