// The listening sockets the master owns and workers inherit.
#pragma once

#include "config/config.h"

#include <Poco/Net/ServerSocket.h>

#include <stdexcept>
#include <string>

namespace hostd::master {

class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bound, listening, close-on-exec, non-blocking socket.
///  - shared / round_robin: one socket, SO_REUSEADDR but never SO_REUSEPORT, so a port in
///    use is an error, not a silent second server;
///  - reuseport: the first socket checks the port the same way (a plain bind, released at
///    once), then binds with SO_REUSEPORT; join() adds one more socket per worker slot.
class Listener {
 public:
  /// Throws ListenError naming the address, the config file and key, and the cause.
  Listener(const config::Config& cfg, bool reusePort);
  /// Another SO_REUSEPORT socket on first's address (reuseport scheduling, one per slot).
  static Listener join(const Listener& first, const config::Config& cfg);
  int fd() const { return socket_.impl()->sockfd(); }
  /// The bound address, with the real port when port 0 was asked for.
  std::string address() const;

 private:
  Listener() = default;
  void bindAndListen(const Poco::Net::SocketAddress& addr, bool ipv6, bool reusePort, const config::Config& cfg);
  Poco::Net::ServerSocket socket_;
};

}  // namespace hostd::master
