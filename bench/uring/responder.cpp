// The io_uring experiment of issue 13 (see bench/README.md): the same minimal HTTP/1.1
// responder on two I/O paths, so the difference between them is the I/O mechanism alone.
//   epoll: accept4 one connection per event, epoll_ctl, read, write, close.
//   uring: multishot accept, multishot recv into a provided buffer ring, sends and closes
//          queued and submitted in one io_uring_enter per loop turn.
// Every request (a head ending in CRLF CRLF; no bodies) gets "Hello World\n"; a request
// carrying "Connection: close" gets that back, then a FIN (shutdown), and the connection
// is closed at the client's EOF (both paths alike: closing at once made wrk see resets).
// usage: responder epoll|uring PORT WORKERS   (one SO_REUSEPORT socket per worker process)
// Build: g++ -O2 -std=c++17 responder.cpp -o responder -luring   (not part of hostd)
#include <liburing.h>

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const std::string kOk = "HTTP/1.1 200 OK\r\nServer: r\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello World\n";
const std::string kOkClose =
    "HTTP/1.1 200 OK\r\nServer: r\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nHello World\n";
constexpr int kMaxBatch = 64;  // pipelined requests answered per read
std::string okMany;            // kMaxBatch copies of kOk: sends point into it

// Per connection: how much of "\r\n\r\n" the last bytes matched, and whether a
// "Connection: close" was seen (wrk sends exactly that header).
struct Conn {
  int matched = 0;
  bool close = false;
  bool closing = false;
};

// Counts complete request heads in data; sets c.close on "Connection: close".
int scan(Conn& c, std::string_view data) {
  static const char kEnd[] = "\r\n\r\n";
  int heads = 0;
  for (char ch : data) {
    if (ch == kEnd[c.matched]) {
      if (++c.matched == 4) {
        ++heads;
        c.matched = 0;
      }
    } else {
      c.matched = ch == '\r' ? 1 : 0;
    }
  }
  if (data.find("Connection: close") != std::string_view::npos) c.close = true;
  return heads;
}

int listenOn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0) {
    perror("bind/listen");
    exit(1);
  }
  return fd;
}

[[noreturn]] void runEpoll(int lfd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
  std::vector<Conn> conns(65536);
  static char buf[64 * 1024];
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) continue;
        conns[size_t(c)] = Conn{};
        epoll_event ce{};
        ce.events = EPOLLIN;
        ce.data.fd = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(fd);
        continue;
      }
      Conn& c = conns[size_t(fd)];
      int heads = scan(c, std::string_view(buf, size_t(r)));
      if (c.close) {  // as the uring path: FIN after the response, close at the client's EOF
        if (!c.closing && write(fd, kOkClose.data(), kOkClose.size()) > 0) shutdown(fd, SHUT_WR);
        c.closing = true;
        continue;
      }
      while (heads > 0) {
        int k = heads < kMaxBatch ? heads : kMaxBatch;
        if (write(fd, okMany.data(), kOk.size() * size_t(k)) < 0) break;
        heads -= k;
      }
    }
  }
}

enum Op : uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kClose = 4, kShutdown = 5 };
uint64_t tag(Op op, int fd) { return uint64_t(fd) << 8 | op; }

[[noreturn]] void runUring(int lfd) {
  io_uring ring;
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
    p = io_uring_params{};
    if (int rc = io_uring_queue_init_params(4096, &ring, &p); rc < 0) {
      fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc));
      exit(1);
    }
  }
  // Provided buffers: the kernel picks one per multishot recv completion.
  constexpr unsigned kBufs = 1024, kBufSize = 4096;
  size_t ringBytes = kBufs * sizeof(io_uring_buf);
  auto* br = static_cast<io_uring_buf_ring*>(
      mmap(nullptr, ringBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = kBufs;
  reg.bgid = 0;
  if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-rc));
    exit(1);
  }
  io_uring_buf_ring_init(br);
  std::vector<char> bufs(size_t(kBufs) * kBufSize);
  for (unsigned i = 0; i < kBufs; ++i)
    io_uring_buf_ring_add(br, &bufs[size_t(i) * kBufSize], kBufSize, uint16_t(i), io_uring_buf_ring_mask(kBufs), int(i));
  io_uring_buf_ring_advance(br, int(kBufs));

  auto sqe = [&] {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (!s) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  };
  auto armAccept = [&] {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, tag(kAccept, lfd));
  };
  auto armRecv = [&](int fd) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, tag(kRecv, fd));
  };
  auto send = [&](int fd, const char* data, size_t len, Op after) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, fd, data, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, tag(kSend, fd));
    if (after == kShutdown) {  // FIN after the response; the recv ends at the client's EOF
      s->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe* t = sqe();
      io_uring_prep_shutdown(t, fd, SHUT_WR);
      io_uring_sqe_set_data64(t, tag(kShutdown, fd));
      t->flags |= IOSQE_CQE_SKIP_SUCCESS;
    } else {
      s->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }
  };
  auto closeFd = [&](int fd) {
    io_uring_sqe* s = sqe();
    io_uring_prep_close(s, fd);
    io_uring_sqe_set_data64(s, tag(kClose, fd));
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  };
  std::vector<Conn> conns(65536);
  armAccept();
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    int recycled = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      uint64_t d = io_uring_cqe_get_data64(cqe);
      int fd = int(d >> 8);
      switch (Op(d & 0xff)) {
        case kAccept:
          if (cqe->res >= 0) {
            conns[size_t(cqe->res)] = Conn{};
            armRecv(cqe->res);
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) armAccept();
          break;
        case kRecv: {
          Conn& c = conns[size_t(fd)];
          if (cqe->res <= 0) {
            // EOF, an error, or the multishot ended (no buffer left): re-arm unless done.
            if (cqe->res == -ENOBUFS && !c.closing) armRecv(fd);
            else if (!(cqe->flags & IORING_CQE_F_MORE)) closeFd(fd);
            break;
          }
          unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
          char* data = &bufs[size_t(id) * kBufSize];
          int heads = c.closing ? 0 : scan(c, std::string_view(data, size_t(cqe->res)));
          io_uring_buf_ring_add(br, data, kBufSize, uint16_t(id), io_uring_buf_ring_mask(kBufs), recycled++);
          if (heads > 0 && c.close) {
            c.closing = true;
            send(fd, kOkClose.data(), kOkClose.size(), kShutdown);
          } else if (heads > 0) {
            while (heads > 0) {
              int k = heads < kMaxBatch ? heads : kMaxBatch;
              send(fd, okMany.data(), kOk.size() * size_t(k), kSend);
              heads -= k;
            }
          }
          if (!(cqe->flags & IORING_CQE_F_MORE) && !c.closing) armRecv(fd);
          break;
        }
        default:  // failed sends, shutdowns, closes: the recv's end closes the connection
          break;
      }
    }
    io_uring_cq_advance(&ring, seen);
    if (recycled) io_uring_buf_ring_advance(br, recycled);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s epoll|uring PORT WORKERS\n", argv[0]);
    return 64;
  }
  std::string mode = argv[1];
  int port = atoi(argv[2]), workers = atoi(argv[3]);
  for (int i = 0; i < kMaxBatch; ++i) okMany += kOk;
  signal(SIGPIPE, SIG_IGN);
  std::vector<pid_t> kids;
  for (int i = 0; i < workers; ++i) {
    int lfd = listenOn(port);
    pid_t pid = fork();
    if (pid == 0) {
      if (mode == "uring") runUring(lfd);
      runEpoll(lfd);
    }
    close(lfd);
    kids.push_back(pid);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig;
  sigwait(&set, &sig);
  for (pid_t k : kids) kill(k, SIGKILL);
  for (pid_t k : kids) waitpid(k, nullptr, 0);
  return 0;
}
