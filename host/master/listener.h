// The listening socket the master owns and every worker inherits.
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

/// Binds [server] listen (SO_REUSEADDR, never SO_REUSEPORT: a port in use is an error,
/// not a silent second server), listens, marks the fd close-on-exec and non-blocking.
class Listener {
 public:
  /// Throws ListenError naming the address, the config file and key, and the cause.
  explicit Listener(const config::Config& cfg);
  int fd() const { return socket_.impl()->sockfd(); }
  /// The bound address, with the real port when port 0 was asked for.
  std::string address() const;

 private:
  Poco::Net::ServerSocket socket_;
};

}  // namespace hostd::master
