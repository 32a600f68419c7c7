// Small request/answer servers on the master's loop, one request per connection: the
// control socket (a Unix stream socket, mode 0600, peers checked with SO_PEERCRED; one
// line such as "status" or "reload") that hostctl talks to, and the [metrics] endpoint (TCP;
// an HTTP request head). The answer is written, then the connection closes.
#pragma once

#include "config/config.h"

#include <uv.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

namespace hostd::master {

/// The default control socket: <[plugins] cache_dir>/hostd.sock ("" = the default cache dir),
/// a directory that is ours alone (see PluginStore).
std::string defaultControlSocket(const std::string& cacheDir);

class RequestServer {
 public:
  /// Sends the answer and closes the connection; later calls do nothing. Safe to keep
  /// after the client went away.
  using Reply = std::function<void(const std::string& answer)>;
  /// The request: the first line (control socket), or the request head (HTTP).
  using Handler = std::function<void(const std::string& request, Reply reply)>;

  explicit RequestServer(uv_loop_t* loop) : loop_(loop) {}
  ~RequestServer();
  RequestServer(const RequestServer&) = delete;
  RequestServer& operator=(const RequestServer&) = delete;

  /// The control socket at `path` (a stale socket left by a dead master is replaced; one
  /// another live hostd answers on is not). Returns "" or why it cannot.
  std::string listenUnix(const std::string& path, Handler handler);
  /// An HTTP endpoint at `at` (port 0: any; address() tells). Returns "" or why it cannot.
  std::string listenTcp(const config::ListenAddress& at, Handler handler);
  /// Stops listening (a Unix socket is removed); open connections are closed.
  void close();
  /// "host:port" (TCP) or the socket path.
  const std::string& address() const { return address_; }

  static constexpr uint64_t kReadTimeoutMs = 5000;  ///< a client that sends no request in time is dropped

 private:
  struct Conn;
  std::string listen(Handler handler);
  void onConnection();
  uv_loop_t* loop_;
  bool tcp_ = false;
  uv_stream_t* server_ = nullptr;
  std::string address_;
  Handler handler_;
  std::set<Conn*> conns_;  ///< open connections, closed with the server
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hostd::master
