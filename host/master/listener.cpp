#include "master/listener.h"

#include <Poco/Exception.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/SocketAddress.h>

#include <cerrno>
#include <fcntl.h>
#include <linux/filter.h>
#include <sys/socket.h>

namespace hostd::master {

void Listener::bindAndListen(const Poco::Net::SocketAddress& addr, bool ipv6, bool reusePort,
                             const config::Config& cfg) {
  try {
    if (ipv6) socket_.bind6(addr, true, reusePort, true);
    else socket_.bind(addr, true, reusePort);
    socket_.listen(511);
  } catch (const Poco::Exception& e) {
    throw ListenError("cannot listen on " + cfg.listen.toString() + " ([server] listen in " + cfg.file + "): " +
                      e.displayText() + "; is another server already using that port?");
  }
  int f = fd();
  fcntl(f, F_SETFD, fcntl(f, F_GETFD) | FD_CLOEXEC);
  // Shared by several accepting processes: must never block (see NOTES: a blocking
  // accept() in many processes can hang a stop).
  fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK);
}

Listener::Listener(const config::Config& cfg) {
  Poco::Net::SocketAddress addr;
  try {
    addr = Poco::Net::SocketAddress(cfg.listen.host, cfg.listen.port);
  } catch (const Poco::Exception& e) {
    throw ListenError("cannot resolve " + cfg.listen.toString() + " ([server] listen in " + cfg.file +
                      "): " + e.displayText());
  }
  // SO_REUSEPORT would join another server's group silently: check the port with a plain
  // bind first (and learn the real port for port 0), then bind the group on it.
  Listener probe;
  probe.bindAndListen(addr, cfg.listen.ipv6, false, cfg);
  addr = Poco::Net::SocketAddress(addr.host(), probe.socket_.address().port());
  probe.socket_.close();
  bindAndListen(addr, cfg.listen.ipv6, true, cfg);
}

namespace {
// Poco has no public way to wrap a socket it did not create.
struct AdoptedImpl : Poco::Net::ServerSocketImpl {
  explicit AdoptedImpl(int fd) { reset(fd); }
};
struct AdoptedSocket : Poco::Net::ServerSocket {
  explicit AdoptedSocket(int fd) : Poco::Net::ServerSocket(new AdoptedImpl(fd), false) {}
};
}  // namespace

Listener Listener::adopt(int fd) {
  int type = 0, listening = 0, family = 0;
  socklen_t len = sizeof type;
  getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  len = sizeof listening;
  getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  len = sizeof family;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
  if (type != SOCK_STREAM || !listening || (family != AF_INET && family != AF_INET6))
    throw ListenError("the socket systemd passed (fd " + std::to_string(fd) +
                      ") is not a listening TCP socket: use ListenStream= with an address in the socket unit");
  Listener l;
  l.socket_ = AdoptedSocket(fd);
  fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return l;
}

Listener Listener::join(const Listener& first, const config::Config& cfg) {
  Listener l;
  l.bindAndListen(first.socket_.address(), cfg.listen.ipv6, true, cfg);
  return l;
}

int Listener::steerGroupToSelf(bool on) const {
  if (!on) {
    int unused = 0;  // SOL_SOCKET options must carry an int, even this one
    return setsockopt(fd(), SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof unused) == 0 || errno == ENOENT
               ? 0
               : -errno;
  }
  // Classic BPF for the group's socket selection: "return 0", i.e. the group's first
  // socket, which is this one (it is never closed, so it keeps index 0).
  sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  sock_fprog prog{1, code};
  return setsockopt(fd(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0 ? 0 : -errno;
}

std::string Listener::address() const {
  Poco::Net::SocketAddress a = socket_.address();
  if (a.family() == Poco::Net::SocketAddress::IPv6) return "[" + a.host().toString() + "]:" + std::to_string(a.port());
  return a.toString();
}

}  // namespace hostd::master
