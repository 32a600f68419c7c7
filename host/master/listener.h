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

/// A bound, listening, close-on-exec, non-blocking socket. The first socket checks the
/// port with a plain bind (released at once: a port in use is an error, never a silent
/// second server), then binds with SO_REUSEPORT, so that reuseport scheduling can add one
/// socket per worker slot with join() — also when a reload switches to it.
class Listener {
 public:
  /// Throws ListenError naming the address, the config file and key, and the cause.
  explicit Listener(const config::Config& cfg);
  /// A listening socket handed over by systemd (socket activation), made close-on-exec and
  /// non-blocking. Throws ListenError if `fd` is not a listening TCP socket.
  static Listener adopt(int fd);
  /// Another SO_REUSEPORT socket on first's address (reuseport scheduling, one per slot).
  static Listener join(const Listener& first, const config::Config& cfg);
  int fd() const { return socket_.impl()->sockfd(); }
  /// Steers every new connection of the SO_REUSEPORT group to this (the first) socket,
  /// or back to the kernel's hash. Used while reuseport slots retire. Returns 0 or -errno.
  int steerGroupToSelf(bool on) const;
  /// The bound address, with the real port when port 0 was asked for.
  std::string address() const;

 private:
  Listener() = default;
  void bindAndListen(const Poco::Net::SocketAddress& addr, bool ipv6, bool reusePort, const config::Config& cfg);
  Poco::Net::ServerSocket socket_;
};

}  // namespace hostd::master
