#include "redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace hostd::test {
namespace {
uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  close(fd);
  return ntohs(a.sin_port);
}
}  // namespace

RedisServer::RedisServer(std::string password) : port_(freePort()), password_(std::move(password)) {
  if (!start())
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) +
                             " (is it installed? ./dev.sh test installs it)");
}

RedisServer::~RedisServer() { stop(); }

bool RedisServer::start() {
  std::vector<std::string> args{"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", dir_.path(), "--protected-mode", "no"};
  if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
  pid_ = launch("redis-server", args, nullptr);
  return waitUntil([&] { return command({"PING"}) == "+PONG\r\n"; }, Ms(10000), Ms(20));
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

namespace {
std::string encode(const std::vector<std::string>& args) {
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return req;
}

/// Bytes of the first complete simple reply (+ - : or $ bulk) in buf, 0 if incomplete.
size_t replyLength(const std::string& buf) {
  size_t eol = buf.find("\r\n");
  if (eol == std::string::npos) return 0;
  if (buf[0] != '$') return eol + 2;
  long n = std::stol(buf.substr(1, eol - 1));
  if (n < 0) return eol + 2;
  size_t total = eol + 2 + size_t(n) + 2;
  return buf.size() >= total ? total : 0;
}
}  // namespace

std::string RedisServer::command(const std::vector<std::string>& args) const {
  std::string req = password_.empty() ? std::string() : encode({"AUTH", password_});
  req += encode(args);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buf;
  size_t skip = 0;  // the AUTH reply
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
    char chunk[4096];
    for (;;) {
      if (!password_.empty() && skip == 0) skip = replyLength(buf);
      bool authDone = password_.empty() || skip > 0;
      if (authDone && replyLength(buf.substr(skip)) > 0) break;
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buf.append(chunk, size_t(n));
    }
  }
  close(fd);
  return buf.size() > skip ? buf.substr(skip) : std::string();
}

std::string redisStateConfig(const RedisServer& r, const std::string& prefix) {
  return "[state]\nbackend = redis\nurl = " + r.url() + "\nprefix = " + prefix + "\ntimeout_ms = 1000\n";
}

}  // namespace hostd::test
