// A real redis-server for a test: on a free loopback port, no persistence, in its own
// process group; stop() and start() again on the same port to simulate an outage.
#pragma once

#include "harness.h"

namespace hostd::test {

class RedisServer {
 public:
  /// Picks a free port and starts; with a password, clients must AUTH (requirepass).
  explicit RedisServer(std::string password = "");
  ~RedisServer();  ///< SIGKILLs and reaps it
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  /// Starts it (again) on port(); false if it does not accept connections within 10 s.
  bool start();
  /// SIGKILL (an outage, not a shutdown): connections drop at once.
  void stop();
  /// One command over a raw connection (after AUTH if there is a password); its raw RESP
  /// reply ("" on failure). Replies that are arrays are not supported.
  std::string command(const std::vector<std::string>& args) const;

 private:
  uint16_t port_ = 0;
  std::string password_;
  pid_t pid_ = -1;
  TempDir dir_;
};

/// A [state] section for a hostd using this server.
std::string redisStateConfig(const RedisServer& r, const std::string& prefix);

}  // namespace hostd::test
