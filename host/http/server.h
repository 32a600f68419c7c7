// The HTTP/1.1 server of one worker: a listening handle and its connections, one loop.
#pragma once

#include "http/accept_path.h"
#include "http/handles.h"
#include "http/request.h"
#include "http/response.h"
#include "ipc/fd_passing.h"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hostd::http {

class Connection;
struct Exchange;

struct Limits {
  size_t max_header_bytes = 8192;      ///< request line + headers (+ trailers) larger -> 431, close;
                                       ///< chunk extensions of one request larger -> 400, close
  size_t max_body_bytes = 1048576;     ///< body larger -> 413, close
  unsigned header_timeout_s = 10;      ///< head not complete in time -> 408, close
  unsigned body_timeout_s = 60;        ///< whole body not arrived in time -> 408, close
  unsigned keepalive_timeout_s = 5;    ///< idle keep-alive connection -> close
  unsigned send_timeout_s = 30;        ///< client takes no output for this long -> close
  size_t max_output_buffer = 1048576;  ///< unsent output past this stops reading/parsing
  /// Draining: an idle connection stays open until its ordinary deadline (keep-alive or
  /// header timeout) but no longer than this after the drain began, so a request already on
  /// its way is answered (with Connection: close) rather than reset. The worker derives it
  /// from graceful_timeout (one second less), so it closes its idle connections itself
  /// before the master's SIGKILL would. Never less than Connection::kDrainGraceMs.
  uint64_t drain_idle_ms = 4000;
};

/// Serves HTTP/1.1 on an adopted listening socket: keep-alive, pipelining (answered in
/// order), chunked/Content-Length bodies, HEAD, Expect: 100-continue. Loop thread only.
class Server {
 public:
  struct Stats {
    uint64_t accepted = 0;      ///< connections accepted
    uint64_t requests = 0;      ///< requests handed to the handler
    uint64_t bad_requests = 0;  ///< 4xx/5xx answered by the engine itself
    uint64_t send_timeouts = 0; ///< connections closed because the client took no output
  };
  /// Called for every complete request; must end `res` now or later.
  using Handler = std::function<void(Request&, Response&)>;

  Server(uv_loop_t* loop, const Limits& limits, Handler handler);
  /// Only once the loop no longer runs this server's callbacks (process exit, tests).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Adopts a bound, listening socket fd and starts accepting. 0 or a negative uv error.
  /// `ownSocket`: no sibling accepts on it (reuseport), so whatever is queued on it when
  /// accepting stops is taken and served rather than left behind.
  int listen(int fd, bool ownSocket = false);
  /// round_robin scheduling: connections arrive as fds from the master over a hand-off
  /// socket (ipc/fd_passing.h) instead of being accepted here. 0 or a negative uv error.
  int receiveFrom(int handoffFd);
  /// Closes the listening handle (idempotent).
  void stopAccepting();
  /// stopAccepting(); idle connections close now, busy ones after their current response
  /// (sent with Connection: close). onDrained runs once when no connection is left —
  /// possibly before drain() returns.
  void drain(std::function<void()> onDrained);
  /// Closes every connection and the listener now.
  void closeAll();
  /// After closeAll(), for a server that is going away while its loop still runs: closes
  /// the server's own timers. Once the loop ran their close callbacks (uv_run until it
  /// returns), the Server may be destroyed without libuv touching freed memory.
  void closeHandles();
  size_t connectionCount() const { return count_; }
  const Stats& stats() const { return stats_; }
  void setServerHeader(std::string value) { serverLine_ = "Server: " + value + "\r\n"; }

  /// One finished exchange (a response ended, or the engine refused a request), for an
  /// access log. The views are valid during the call only.
  struct Completed {
    std::string_view method, target, remote, referer, userAgent;  ///< "-" when unknown
    int httpMinor = 1;
    int status = 0;
    uint64_t bodyBytes = 0;     ///< response body bytes
    uint64_t requestBytes = 0;  ///< request head and body bytes
    uint64_t durationUs = 0;    ///< from the request's first byte to the end of the response
  };
  using CompletedFn = void (*)(void* ctx, const Completed&);
  /// Off (nullptr) by default: then nothing is measured or copied per request.
  void onCompleted(CompletedFn fn, void* ctx) {
    completedFn_ = fn;
    completedCtx_ = ctx;
  }
  bool wantsCompleted() const { return completedFn_ != nullptr; }
  void completed(const Completed& c) const { completedFn_(completedCtx_, c); }

  // ---- used by Connection ----
  uv_loop_t* loop() const { return loop_; }
  const Limits& limits() const { return limits_; }
  const Handler& handler() const { return handler_; }
  Stats& mutableStats() { return stats_; }
  bool draining() const { return draining_; }
  /// Draining: when idle connections close at the latest (see Limits::drain_idle_ms).
  uint64_t drainDeadline() const { return drainDeadline_; }
  /// "Server: ...\r\nDate: ...\r\n", the Date refreshed at most once a second.
  void appendStandardHeaders(std::string& out);
  char* readBuffer() { return readBuf_; }
  size_t readBufferSize() const { return sizeof readBuf_; }
  void removed(Connection* c);
  HandleTable& handles() { return handles_; }
  /// A spare Exchange (see http/connection.h) for a connection that got busy, and back.
  Exchange* takeExchange();
  void giveBack(Exchange* x);
  /// Opens a connection's stream on an accepted fd (http/accept_path.h).
  int openStream(uv_tcp_t* tcp, int fd) { return opener_.open(tcp, fd); }
  /// Runs c->deferred() from the loop soon, once however often asked (not from inside the
  /// caller's stack, which may be plugin code).
  void defer(Connection* c);
  /// The connection behind a live request / response token (see http/handles.h), or null.
  Request* requestFor(uint64_t token);
  Response* responseFor(uint64_t token);

 private:
  CompletedFn completedFn_ = nullptr;
  void* completedCtx_ = nullptr;
  static void onAcceptable(uv_poll_t* h, int status, int events);
  int watchSource(int fd);
  int watch();
  bool acceptOne();
  void receiveHandedOff();
  void adopt(const ipc::Accepted& a);
  void notifyIfDrained();
  void sweep();

  uv_loop_t* loop_;
  Limits limits_;
  Handler handler_;
  uv_poll_t listener_{};   // readiness of the shared listening socket
  int listenFd_ = -1;        // the listening socket, or the hand-off socket (round_robin)
  bool handoff_ = false;
  bool ownSocket_ = false;
  static constexpr unsigned kRotateAccepts = 16;
  static constexpr uint64_t kRotateMs = 50;
  unsigned acceptedSinceRotate_ = 0;
  uint64_t rotatedAt_ = 0;
  bool listening_ = false;
  uv_timer_t acceptPause_{};  // EMFILE back-off
  uv_timer_t sweep_{};
  uv_timer_t deferTimer_{};
  std::vector<Connection*> deferred_;
  StreamOpener opener_;
  std::vector<ipc::Accepted> received_;  // reused by every hand-off receive
  // Closed connections kept for reuse (see removed()); up to this many.
  static constexpr size_t kSpareConnections = 256;
  std::vector<Connection*> spare_;
  // Exchanges of connections gone idle, kept up to this many (each with buffers of at most
  // kKeptCapacity bytes).
  static constexpr size_t kSpareExchanges = 256;
  static constexpr size_t kKeptCapacity = 64 * 1024;
  std::vector<Exchange*> spareExchanges_;
  HandleTable handles_;
  Connection* head_ = nullptr;
  size_t count_ = 0;
  Stats stats_;
  bool draining_ = false;
  uint64_t drainDeadline_ = 0;
  std::function<void()> onDrained_;
  std::string serverLine_ = "Server: hostd\r\n";
  std::string dateLine_;
  uint64_t dateSecond_ = ~uint64_t(0);
  char readBuf_[64 * 1024];
};

}  // namespace hostd::http
