// The master's control socket: a Unix stream socket (mode 0600, peers checked with
// SO_PEERCRED) that hostctl talks to. One request line per connection ("status",
// "reload", "stop --now", "scale 4", ...); the answer is text, then the connection closes.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

namespace hostd::master {

/// The default control socket: <[plugins] cache_dir>/hostd.sock ("" = the default cache dir),
/// a directory that is ours alone (see PluginStore).
std::string defaultControlSocket(const std::string& cacheDir);

class ControlServer {
 public:
  /// Sends the answer and closes the connection; later calls do nothing. Safe to keep
  /// after the client went away.
  using Reply = std::function<void(const std::string& answer)>;
  using Handler = std::function<void(const std::string& line, Reply reply)>;

  explicit ControlServer(uv_loop_t* loop) : loop_(loop) {}
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Listens on `path` (a stale socket left by a dead master is replaced; one another live
  /// hostd answers on is not). Returns "" or why it cannot.
  std::string start(const std::string& path, Handler handler);
  /// Stops listening and removes the socket; open connections are closed.
  void close();
  const std::string& path() const { return path_; }

  static constexpr size_t kMaxLine = 256;      ///< a longer request is refused
  static constexpr uint64_t kReadTimeoutMs = 5000;  ///< a client that sends no line in time is dropped

 private:
  struct Conn;
  void onConnection();
  uv_loop_t* loop_;
  uv_pipe_t* server_ = nullptr;
  std::string path_;
  Handler handler_;
  std::set<Conn*> conns_;  ///< open connections, closed with the server
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hostd::master
