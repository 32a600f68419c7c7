#include "app/systemd.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace hostd::app {
namespace {

std::string notifySocket;
int listenFds = 0;  // sockets passed to this process (LISTEN_PID matched)

std::string take(const char* name) {
  const char* v = std::getenv(name);
  std::string out = v ? v : "";
  unsetenv(name);
  return out;
}

}  // namespace

void takeSystemdEnvironment() {
  notifySocket = take("NOTIFY_SOCKET");
  const std::string pid = take("LISTEN_PID"), fds = take("LISTEN_FDS");
  take("LISTEN_FDNAMES");
  if (!pid.empty() && std::strtol(pid.c_str(), nullptr, 10) == long(getpid())) listenFds = std::atoi(fds.c_str());
}

void sdNotify(const std::string& state) {
  if (notifySocket.empty()) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (notifySocket.size() >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, notifySocket.data(), notifySocket.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + notifySocket.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  (void)sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
}

int sdListenFd(std::string* error) {
  if (listenFds <= 0) return -1;
  if (listenFds > 1) {
    *error = "systemd passed " + std::to_string(listenFds) + " sockets (LISTEN_FDS); hostd serves one: give its "
             "socket unit one ListenStream=";
    return -2;
  }
  constexpr int kFirst = 3;  // SD_LISTEN_FDS_START
  fcntl(kFirst, F_SETFD, FD_CLOEXEC);
  return kFirst;
}

}  // namespace hostd::app
