#include "master/control_server.h"

#include "master/plugin_store.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace hostd::master {

std::string defaultControlSocket(const std::string& cacheDir) {
  return (cacheDir.empty() ? PluginStore::defaultCacheDir() : cacheDir) + "/hostd.sock";
}

/// One client: its pipe, what it sent so far, a timer bounding how long it may take.
struct ControlServer::Conn {
  uv_pipe_t pipe{};
  uv_timer_t timer{};
  std::string line;
  bool answered = false;
  bool closing = false;
  int open = 2;  // handles not yet closed
  ControlServer* server = nullptr;

  void close() {
    if (closing) return;
    closing = true;
    server->conns_.erase(this);
    auto done = [](uv_handle_t* h) {
      auto* c = static_cast<Conn*>(h->data);
      if (--c->open == 0) delete c;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), done);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
  }
  /// Writes the answer, then closes (after the write completed).
  void answer(const std::string& text) {
    if (answered || closing) return;
    answered = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe));
    auto* req = new uv_write_t;
    auto* copy = new std::string(text);
    req->data = copy;
    uv_buf_t b = uv_buf_init(copy->data(), unsigned(copy->size()));
    if (uv_write(req, reinterpret_cast<uv_stream_t*>(&pipe), &b, 1, [](uv_write_t* r, int) {
          auto* c = static_cast<Conn*>(r->handle->data);
          delete static_cast<std::string*>(r->data);
          delete r;
          c->close();
        }) != 0) {
      delete copy;
      delete req;
      close();
    }
  }
};

ControlServer::~ControlServer() { close(); }

std::string ControlServer::start(const std::string& path, Handler handler) {
  handler_ = std::move(handler);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) return "the path is too long for a Unix socket";
  // A socket someone answers on belongs to a running hostd: never take it over.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return "it exists and is not a socket";
    // Non-blocking: a live hostd with a full backlog must not hang this one.
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return std::string("cannot check it: ") + std::strerror(errno);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    const int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
    ::close(fd);
    if (rc == 0 || rc == EAGAIN || rc == EINPROGRESS) return "another hostd answers on it";
    if (rc != ECONNREFUSED) return std::string("cannot check it: ") + std::strerror(rc);
    unlink(path.c_str());  // nobody listens: left behind by a master that was killed
  }
  server_ = new uv_pipe_t;
  uv_pipe_init(loop_, server_, 0);
  server_->data = this;
  const mode_t old = umask(0177);  // 0600 from the start: no window where others can connect
  int rc = uv_pipe_bind(server_, path.c_str());
  umask(old);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_), 16, [](uv_stream_t* s, int status) {
    if (status == 0) static_cast<ControlServer*>(s->data)->onConnection();
  });
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(server_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    server_ = nullptr;
    return uv_strerror(rc);
  }
  path_ = path;
  return "";
}

void ControlServer::close() {
  *alive_ = false;
  while (!conns_.empty()) (*conns_.begin())->close();
  if (!server_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(server_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  server_ = nullptr;
  unlink(path_.c_str());
}

void ControlServer::onConnection() {
  auto* c = new Conn;
  c->server = this;
  conns_.insert(c);
  uv_pipe_init(loop_, &c->pipe, 0);
  uv_timer_init(loop_, &c->timer);
  c->pipe.data = c->timer.data = c;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(server_), reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    c->close();
    return;
  }
  // Only root and the user hostd runs as may control it (the socket's 0600 says the same;
  // this also holds if someone loosened its mode).
  uv_os_fd_t fd = -1;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != 0 && cred.uid != geteuid())) {
    c->answer("error: permission denied (uid " + std::to_string(cred.uid) + ")\n");
    return;
  }
  uv_timer_start(&c->timer, [](uv_timer_t* t) { static_cast<Conn*>(t->data)->close(); }, kReadTimeoutMs, 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char chunk[512];  // loop thread only; copied out before the next read
        *buf = uv_buf_init(chunk, sizeof chunk);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(s->data);
        if (n < 0) {
          c->close();
          return;
        }
        c->line.append(buf->base, size_t(n));
        const size_t nl = c->line.find('\n');
        if (nl == std::string::npos) {
          if (c->line.size() > kMaxLine) c->answer("error: request line too long\n");
          return;
        }
        c->line.resize(nl);
        uv_timer_stop(&c->timer);  // answered when the command is done (a reload waits for its end)
        uv_read_stop(s);
        ControlServer* server = c->server;
        std::weak_ptr<bool> alive = server->alive_;
        // The connection outlives neither its answer nor the server: a reply after either is dropped.
        auto closed = std::make_shared<bool>(false);
        server->handler_(c->line, [c, alive, closed](const std::string& text) {
          if (*closed || alive.expired() || !*alive.lock()) return;
          *closed = true;
          c->answer(text);
        });
      });
}

}  // namespace hostd::master
