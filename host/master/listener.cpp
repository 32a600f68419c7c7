#include "master/listener.h"

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>

#include <fcntl.h>

namespace hostd::master {

Listener::Listener(const config::Config& cfg) {
  const std::string where = cfg.listen.toString();
  try {
    Poco::Net::SocketAddress addr(cfg.listen.host, cfg.listen.port);
    if (cfg.listen.ipv6)
      socket_.bind6(addr, true, false, true);
    else
      socket_.bind(addr, true, false);
    socket_.listen(511);
  } catch (const Poco::Exception& e) {
    throw ListenError("cannot listen on " + where + " ([server] listen in " + cfg.file + "): " +
                      e.displayText() + "; is another server already using that port?");
  }
  int f = fd();
  fcntl(f, F_SETFD, fcntl(f, F_GETFD) | FD_CLOEXEC);
  // Shared by several accepting processes: must never block (see NOTES: a blocking
  // accept() in many processes can hang a stop).
  fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK);
}

std::string Listener::address() const {
  Poco::Net::SocketAddress a = socket_.address();
  if (a.family() == Poco::Net::SocketAddress::IPv6) return "[" + a.host().toString() + "]:" + std::to_string(a.port());
  return a.toString();
}

}  // namespace hostd::master
