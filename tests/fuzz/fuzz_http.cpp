// The HTTP/1.1 engine (http/server.h) in-process, single-threaded: one uv loop and one
// Server on a loopback listening socket for the whole run; per input one client connection
// that sends the input in pieces, half-closes, reads whatever comes back and closes.
//
// Input: [mode][n][n piece lengths][request bytes]
//   mode % 4: 0 answers at once with a body, 1 ends the response from a 0 ms timer,
//             2 streams three writes then ends, 3 streams from a 0 ms timer.
//   n % 8 piece lengths (0 counts as 1) cut the start of the request bytes into writes;
//   the rest goes in one write. The loop runs between writes, so the server sees the pieces
//   in separate reads.
// HOSTD_FUZZ_VERBOSE=1 echoes the responses to stderr.
// Aborts if a connection is still open well after its client left and every response ended.
#include "http/server.h"

#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace hostd;

namespace {

int g_mode = 0;
int g_timers = 0;  // deferred responses whose timer has not been closed yet

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_http: %s\n", what);
  std::abort();
}

/// Reads every view the request hands out (ASan checks them).
size_t digest(http::Request& req) {
  size_t h = 0;
  auto mix = [&h](std::string_view s) {
    for (char c : s) h = h * 31 + uint8_t(c);
    h ^= s.size();
  };
  mix(req.method());
  mix(req.target());
  mix(req.path());
  mix(req.query());
  for (size_t i = 0; i < req.headerCount(); ++i) {
    mix(req.headerAt(i).name);
    mix(req.headerAt(i).value);
  }
  std::string_view v;
  if (req.header("host", &v)) mix(v);
  mix(req.body());
  mix(req.remoteAddr());
  return h + size_t(req.httpMajor()) * 10 + size_t(req.httpMinor());
}

/// Runs fn(res) from a 0 ms timer.
void later(uv_loop_t* loop, http::Response* res, void (*fn)(http::Response*)) {
  struct Later {
    uv_timer_t t;
    http::Response* res;
    void (*fn)(http::Response*);
  };
  auto* l = new Later{{}, res, fn};
  ++g_timers;
  uv_timer_init(loop, &l->t);
  l->t.data = l;
  uv_timer_start(&l->t, [](uv_timer_t* t) {
    auto* l = static_cast<Later*>(t->data);
    l->fn(l->res);
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
      delete static_cast<Later*>(h->data);
      --g_timers;
    });
  }, 0, 0);
}

void stream(http::Response* res) {
  res->write("a");
  res->write("bb");
  res->write("ccc");
  res->end("");
}

struct Env {
  uv_loop_t loop{};
  http::Server* server = nullptr;
  sockaddr_in addr{};
};

Env& env() {
  static Env* e = [] {
    std::signal(SIGPIPE, SIG_IGN);
    auto* e = new Env;
    uv_loop_init(&e->loop);
    http::Limits limits;
    limits.max_header_bytes = 2048;
    limits.max_body_bytes = 4096;
    uv_loop_t* loop = &e->loop;
    e->server = new http::Server(loop, limits, [loop](http::Request& req, http::Response& res) {
      size_t h = digest(req);
      switch (g_mode) {
        case 0:
          res.setStatus(req.path() == "/404" ? 404 : 200);
          res.addHeader("X-Digest", std::to_string(h));
          res.end("hello " + std::string(req.path()));
          break;
        case 1:
          later(loop, &res, [](http::Response* r) { r->end("deferred"); });
          break;
        case 2:
          stream(&res);
          break;
        default:
          later(loop, &res, stream);
          break;
      }
    });
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    e->addr.sin_family = AF_INET;
    e->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof e->addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&e->addr), sizeof e->addr) != 0 || ::listen(fd, 128) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&e->addr), &len) != 0)
      fail("cannot set up the loopback listening socket");
    if (e->server->listen(fd) != 0) fail("Server::listen failed");
    return e;
  }();
  return *e;
}

/// One loop iteration, then waits up to 1 ms for the loop or the client to have something.
void step(Env& e, int client) {
  uv_run(&e.loop, UV_RUN_NOWAIT);
  pollfd p[2] = {{uv_backend_fd(&e.loop), POLLIN, 0}, {client, POLLIN, 0}};
  poll(p, client >= 0 ? 2 : 1, 1);
}

/// HOSTD_FUZZ_VERBOSE=1: echo what the server sends to stderr (to check a seed by hand).
bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("HOSTD_FUZZ_VERBOSE");
    return e && *e == '1';
  }();
  return v;
}

/// Reads what the server sent; false once the server closed (EOF or error).
bool drain(int client) {
  char buf[4096];
  for (;;) {
    ssize_t n = recv(client, buf, sizeof buf, 0);
    if (n > 0 && verbose()) fwrite(buf, 1, size_t(n), stderr);
    if (n > 0) continue;
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

/// Sends all of [p, p+n) unless the server closes; false if it did.
bool sendAll(Env& e, int client, const uint8_t* p, size_t n) {
  for (int spins = 0; n > 0 && spins < 200; ++spins) {
    ssize_t w = send(client, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= size_t(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    step(e, client);
    if (!drain(client)) return false;
  }
  return n == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Env& e = env();
  g_mode = data[0] % 4;
  size_t nPieces = data[1] % 8;
  size_t pos = 2;
  std::vector<size_t> pieces;
  for (size_t i = 0; i < nPieces && pos < size; ++i, ++pos) pieces.push_back(data[pos] ? data[pos] : 1);
  const uint8_t* req = data + pos;
  size_t left = size - pos;

  int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (client < 0) fail("socket() failed");
  if (connect(client, reinterpret_cast<sockaddr*>(&e.addr), sizeof e.addr) != 0 && errno != EINPROGRESS) {
    std::perror("fuzz_http: connect");  // e.g. ephemeral ports exhausted: skip this input
    close(client);
    return 0;
  }
  pollfd w{client, POLLOUT, 0};
  poll(&w, 1, 1000);

  bool open = true;
  for (size_t n : pieces) {
    if (!open || left == 0) break;
    n = std::min(n, left);
    open = sendAll(e, client, req, n);
    req += n;
    left -= n;
    for (int i = 0; i < 2; ++i) uv_run(&e.loop, UV_RUN_NOWAIT);
    if (open) open = drain(client);
  }
  if (open && left > 0) open = sendAll(e, client, req, left);
  shutdown(client, SHUT_WR);
  for (int i = 0; i < 200 && open; ++i) {
    step(e, client);
    open = drain(client);
  }
  close(client);

  for (int i = 0; i < 2000 && (e.server->connectionCount() > 0 || g_timers > 0); ++i) step(e, -1);
  if (e.server->connectionCount() > 0 || g_timers > 0) {
    std::fprintf(stderr, "fuzz_http: %zu connection(s), %d timer(s) left after the client closed\n",
                 e.server->connectionCount(), g_timers);
    fail("connection not closed after its client left");
  }
  return 0;
}
