// systemd integration without systemd as PID 1: the notify protocol against a datagram
// socket the test reads (as systemd would), and socket activation through
// systemd-socket-activate (Debian package systemd).
#include "harness.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {

/// What systemd listens on for sd_notify: a datagram socket; messages() drains it.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = dir_.path() + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind notify socket");
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }
  /// Waits for the next datagram that starts with `prefix`; every datagram seen is kept.
  bool waitFor(const std::string& prefix, std::string* got = nullptr, Ms timeout = Ms(10000)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string m(buf, size_t(n));
      seen_.push_back(m);
      if (m.rfind(prefix, 0) == 0) {
        if (got) *got = m;
        return true;
      }
    }
    return false;
  }
  const std::vector<std::string>& seen() const { return seen_; }

 private:
  TempDir dir_;
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> seen_;
};

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string environOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/environ");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (char& c : all)
    if (c == '\0') c = '\n';
  return all;
}

}  // namespace

TEST_CASE("Type=notify: READY once every worker is ready, RELOADING and READY around a reload, STOPPING",
          "[e2e][systemd]") {
  NotifySocket sd;
  HostdProcess h(testConfig("testplug", 2));
  h.port();
  std::string ready;
  REQUIRE(sd.waitFor("READY=1", &ready));
  CHECK(h.waitForLog("[H0105]", 2s));  // logged before READY=1 is sent (the harness reads the log asynchronously)
  CHECK_THAT(ready, Catch::Contains("STATUS=serving: 2 worker(s), plugin testplug"));
  for (pid_t w : h.workerPids()) CHECK_THAT(environOf(w), !Catch::Contains("NOTIFY_SOCKET"));

  REQUIRE(h.signal(SIGHUP) == 0);
  std::string reloading;
  REQUIRE(sd.waitFor("RELOADING=1", &reloading));
  CHECK_THAT(reloading, Catch::Contains("MONOTONIC_USEC="));
  REQUIRE(sd.waitFor("READY=1", &ready));
  CHECK_THAT(ready, Catch::Contains("(generation 2)"));
  CHECK(h.waitForLog("[H0123]", 2s));

  REQUIRE(h.signal(SIGTERM) == 0);
  CHECK(sd.waitFor("STOPPING=1"));
  auto code = h.waitExit(15s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("Type=notify: a refused reload reports READY again with the reason", "[e2e][systemd]") {
  NotifySocket sd;
  HostdProcess h(testConfig("testplug", 1));
  h.port();
  REQUIRE(sd.waitFor("READY=1"));
  // A config that no longer parses: the reload is refused, the service is still up.
  std::ofstream(h.configPath(), std::ios::app) << "[server]\nworkers = many\n";
  REQUIRE(h.signal(SIGHUP) == 0);
  REQUIRE(sd.waitFor("RELOADING=1"));
  std::string ready;
  REQUIRE(sd.waitFor("READY=1", &ready));
  CHECK_THAT(ready, Catch::Contains("STATUS=reload refused: ") && Catch::Contains("[server] workers"));
}

TEST_CASE("socket activation: hostd serves on the socket systemd passed instead of binding", "[e2e][systemd]") {
  const uint16_t port = freePort();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  // listen = port 0 in the config: had hostd bound it, it would be another port.
  HostdProcess h(testConfig("testplug", 2), {}, {"systemd-socket-activate", "-l", addr});
  // systemd-socket-activate starts hostd on the first connection, which waits in the backlog.
  std::optional<HttpResponse> r;
  REQUIRE(waitUntil([&] { return (r = httpGet(port, "/", 10s)).has_value(); }, 15s, 20ms));
  CHECK(r->status == 200);
  INFO(h.output());
  CHECK(h.waitForLog("listening on " + addr + " (socket activation"));
  for (pid_t w : h.workerPids()) CHECK_THAT(environOf(w), !Catch::Contains("LISTEN_FDS"));
  for (int i = 0; i < 20; ++i) {
    auto again = httpGet(port, "/");
    REQUIRE(again);
    CHECK(again->status == 200);
  }
  REQUIRE(h.signal(SIGTERM) == 0);
  auto code = h.waitExit(15s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("socket activation with scheduling = reuseport is refused with the reason", "[e2e][systemd]") {
  const uint16_t port = freePort();
  HostdProcess h(testConfig("testplug", 2, "[server]\nscheduling = reuseport\n"), {},
                 {"systemd-socket-activate", "-l", "127.0.0.1:" + std::to_string(port)});
  // The first connection starts it (once systemd-socket-activate listens).
  waitUntil([&] { return httpGet(port, "/", 5s).has_value() || h.countLog("reuseport") > 0; }, 15s, 20ms);
  auto code = h.waitExit(15s);
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_THAT(h.output(), Catch::Contains("scheduling = reuseport needs one per worker"));
}

TEST_CASE("the installed hostd.service and hostd.socket are units systemd accepts", "[e2e][systemd]") {
  std::ifstream in(HOSTD_SERVICE_UNIT);
  std::string unit((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!unit.empty());
  CHECK_THAT(unit, Catch::Contains("Type=notify") && Catch::Contains("ExecReload=/bin/kill -HUP $MAINPID") &&
                       Catch::Contains("ExecStart=" HOSTD_INSTALLED_BINARY " -c "));
  // systemd-analyze checks that ExecStart's program exists: point it at this build's.
  const std::string installed = HOSTD_INSTALLED_BINARY;
  for (size_t at; (at = unit.find(installed)) != std::string::npos;) unit.replace(at, installed.size(), HOSTD_BINARY);
  TempDir d;
  std::string service = d.write("hostd.service", unit);
  std::ifstream sock(std::string(HOSTD_SOURCE_DIR) + "/conf/systemd/hostd.socket");
  std::string socket = d.write("hostd.socket", std::string((std::istreambuf_iterator<char>(sock)),
                                                           std::istreambuf_iterator<char>()));
  RunResult r = runProgram("systemd-analyze", {"verify", service, socket});
  INFO(r.output);
  CHECK(r.exitCode == 0);
  CHECK(r.output.empty());  // not even a warning (an unknown key is only a warning)
}
