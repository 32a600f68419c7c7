// A loopback TCP proxy for tests that need a connection to go silent: freeze() makes
// every connection open at that moment stop carrying bytes in both directions without
// closing (what a NAT that forgot a mapping, or a partition, looks like to both ends);
// connections made afterwards work normally.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace hostd::test {

class TcpProxy {
 public:
  explicit TcpProxy(uint16_t targetPort);  ///< listens on a free 127.0.0.1 port
  ~TcpProxy();                             ///< stops its thread, closes everything
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  void freeze();
  /// Connections accepted so far.
  int accepted() const { return accepted_; }

 private:
  struct Pair {
    int client, server;
    bool frozen;
  };
  void run();

  uint16_t target_;
  uint16_t port_ = 0;
  int listenFd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<Pair> pairs_;
  std::thread thread_;
};

}  // namespace hostd::test
