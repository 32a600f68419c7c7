#include "master/request_server.h"

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

/// One client: its stream, what it sent so far, a timer bounding how long it may take.
struct RequestServer::Conn {
  union {
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  };
  uv_timer_t timer{};
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&pipe); }  // (both start as a uv_stream_t)
  std::string line;
  bool answered = false;
  bool closing = false;
  int open = 2;  // handles not yet closed
  RequestServer* server = nullptr;

  void close() {
    if (closing) return;
    closing = true;
    server->conns_.erase(this);
    auto done = [](uv_handle_t* h) {
      auto* c = static_cast<Conn*>(h->data);
      if (--c->open == 0) delete c;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(stream()), done);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
  }
  /// Writes the answer, then closes (after the write completed).
  void answer(const std::string& text) {
    if (answered || closing) return;
    answered = true;
    uv_read_stop(stream());
    auto* req = new uv_write_t;
    auto* copy = new std::string(text);
    req->data = copy;
    uv_buf_t b = uv_buf_init(copy->data(), unsigned(copy->size()));
    if (uv_write(req, stream(), &b, 1, [](uv_write_t* r, int) {
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

RequestServer::~RequestServer() { close(); }

std::string RequestServer::listenUnix(const std::string& path, Handler handler) {
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
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(loop_, pipe, 0);
  server_ = reinterpret_cast<uv_stream_t*>(pipe);
  const mode_t old = umask(0177);  // 0600 from the start: no window where others can connect
  int rc = uv_pipe_bind(pipe, path.c_str());
  umask(old);
  address_ = path;
  return rc != 0 ? (close(), std::string(uv_strerror(rc))) : listen(std::move(handler));
}

std::string RequestServer::listenTcp(const config::ListenAddress& at, Handler handler) {
  tcp_ = true;
  sockaddr_storage addr{};
  int rc = at.ipv6 ? uv_ip6_addr(at.host.c_str(), at.port, reinterpret_cast<sockaddr_in6*>(&addr))
                   : uv_ip4_addr(at.host.c_str(), at.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return "not a numeric address: " + at.host;
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop_, tcp);
  server_ = reinterpret_cast<uv_stream_t*>(tcp);
  rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {  // the real port, when 0 was asked for
    int len = sizeof addr;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len);
    char host[64] = "";
    if (at.ipv6) uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&addr), host, sizeof host);
    else uv_ip4_name(reinterpret_cast<sockaddr_in*>(&addr), host, sizeof host);
    const int port = ntohs(at.ipv6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                   : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    address_ = (at.ipv6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
  }
  return rc != 0 ? (close(), std::string(uv_strerror(rc))) : listen(std::move(handler));
}

std::string RequestServer::listen(Handler handler) {
  handler_ = std::move(handler);
  server_->data = this;
  int rc = uv_listen(server_, 16, [](uv_stream_t* s, int status) {
    if (status == 0) static_cast<RequestServer*>(s->data)->onConnection();
  });
  if (rc != 0) {
    close();
    return uv_strerror(rc);
  }
  return "";
}

void RequestServer::close() {
  *alive_ = false;
  while (!conns_.empty()) (*conns_.begin())->close();
  if (!server_) return;
  if (tcp_) uv_close(reinterpret_cast<uv_handle_t*>(server_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  else uv_close(reinterpret_cast<uv_handle_t*>(server_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  server_ = nullptr;
  if (!tcp_ && !address_.empty()) unlink(address_.c_str());
}

void RequestServer::onConnection() {
  auto* c = new Conn;
  c->server = this;
  conns_.insert(c);
  if (tcp_) uv_tcp_init(loop_, &c->tcp);
  else uv_pipe_init(loop_, &c->pipe, 0);
  uv_timer_init(loop_, &c->timer);
  c->stream()->data = c->timer.data = c;
  if (uv_accept(server_, c->stream()) != 0) {
    c->close();
    return;
  }
  // The control socket: only root and the user hostd runs as may control it (the socket's
  // 0600 says the same; this also holds if someone loosened its mode).
  uv_os_fd_t fd = -1;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (!tcp_ && (uv_fileno(reinterpret_cast<uv_handle_t*>(c->stream()), &fd) != 0 ||
                getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
                (cred.uid != 0 && cred.uid != geteuid()))) {
    c->answer("error: permission denied (uid " + std::to_string(cred.uid) + ")\n");
    return;
  }
  uv_timer_start(&c->timer, [](uv_timer_t* t) { static_cast<Conn*>(t->data)->close(); }, kReadTimeoutMs, 0);
  uv_read_start(
      c->stream(),
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
        // A control line ends at '\n'; an HTTP request head at an empty line.
        const bool http = c->server->tcp_;
        const size_t end = c->line.find(http ? "\r\n\r\n" : "\n");
        if (end == std::string::npos) {
          if (c->line.size() > (http ? 8192u : 256u))
            c->answer(http ? "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
                           : "error: request line too long\n");
          return;
        }
        c->line.resize(end);
        uv_timer_stop(&c->timer);  // answered when the command is done (a reload waits for its end)
        uv_read_stop(s);
        RequestServer* server = c->server;
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
