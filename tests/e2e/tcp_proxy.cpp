#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace hostd::test {
namespace {
sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
}  // namespace

TcpProxy::TcpProxy(uint16_t targetPort) : target_(targetPort) {
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listenFd_, 16) != 0 ||
      getsockname(listenFd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 || pipe(wake_) != 0)
    throw std::runtime_error("tcp proxy: cannot listen");
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  char c = 0;
  ssize_t ignored = write(wake_[1], &c, 1);
  (void)ignored;
  thread_.join();
  for (Pair& p : pairs_) {
    close(p.client);
    close(p.server);
  }
  close(listenFd_);
  close(wake_[0]);
  close(wake_[1]);
}

void TcpProxy::freeze() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Pair& p : pairs_) p.frozen = true;
}

void TcpProxy::run() {
  char buf[65536];
  while (!stop_) {
    std::vector<pollfd> fds{{listenFd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    std::vector<Pair> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      live = pairs_;
    }
    for (const Pair& p : live) {
      // A frozen pair is not read: its bytes stay in the kernel, nobody gets them.
      fds.push_back({p.client, short(p.frozen ? 0 : POLLIN), 0});
      fds.push_back({p.server, short(p.frozen ? 0 : POLLIN), 0});
    }
    if (poll(fds.data(), fds.size(), 200) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int c = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a = loopback(target_);
      if (c >= 0 && connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::lock_guard<std::mutex> lock(mu_);
        pairs_.push_back({c, s, false});
        ++accepted_;
      } else {
        if (c >= 0) close(c);
        close(s);
      }
    }
    for (size_t i = 0; i < live.size(); ++i) {
      for (int side = 0; side < 2; ++side) {
        const pollfd& pf = fds[2 + 2 * i + size_t(side)];
        if (!(pf.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int from = side ? live[i].server : live[i].client, to = side ? live[i].client : live[i].server;
        ssize_t n = read(from, buf, sizeof buf);
        if (n > 0) {
          ssize_t ignored = send(to, buf, size_t(n), MSG_NOSIGNAL);
          (void)ignored;
        } else {  // one end closed: close the other (the pair stays listed, dead, until the end)
          shutdown(to, SHUT_RDWR);
          std::lock_guard<std::mutex> lock(mu_);
          for (Pair& p : pairs_)
            if (p.client == live[i].client) p.frozen = true;
        }
      }
    }
  }
}

}  // namespace hostd::test
