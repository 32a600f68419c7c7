// [metrics] end to end: GET /metrics from the master, checked by Prometheus' own promtool
// (Debian package prometheus), and counters that add up to what the test did.
#include "harness.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {

/// The metrics port from the [H0148] line.
uint16_t metricsPort(HostdProcess& h) {
  std::string line;
  REQUIRE(h.waitForLog("[H0148] metrics on http://127.0.0.1:", 10s, &line));
  const size_t at = line.find("127.0.0.1:") + 10;
  return uint16_t(std::stoi(line.substr(at)));
}

/// "name{labels}" -> value, summed over the lines that start with `prefix`.
double sumOf(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  double sum = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
  return sum;
}

std::string scrape(uint16_t port) {
  auto r = httpGet(port, "/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return r->body;
}

}  // namespace

TEST_CASE("GET /metrics passes promtool and its counters add up to the requests, restarts and reloads",
          "[e2e][metrics]") {
  HostdProcess h(testConfig("testplug", 2, "[metrics]\nlisten = 127.0.0.1:0\n"));
  uint16_t port = h.port();
  uint16_t mport = metricsPort(h);
  REQUIRE(h.waitForLog("[H0105]"));
  for (int i = 0; i < 25; ++i) REQUIRE(httpGet(port, "/"));
  for (int i = 0; i < 5; ++i) REQUIRE(httpGet(port, "/nowhere"));
  // Counters travel with the heartbeats (every second).
  std::string text;
  REQUIRE(waitUntil([&] {
    text = scrape(mport);
    return sumOf(text, "hostd_request_duration_seconds_count") == 30;
  }, 5s, 100ms));
  INFO(text);
  CHECK(sumOf(text, "hostd_requests_total{") == 30);
  CHECK(sumOf(text, "hostd_requests_total{worker=\"1\",code=\"2xx\"}") +
            sumOf(text, "hostd_requests_total{worker=\"2\",code=\"2xx\"}") == 25);
  CHECK(sumOf(text, "hostd_requests_total{worker=\"1\",code=\"4xx\"}") +
            sumOf(text, "hostd_requests_total{worker=\"2\",code=\"4xx\"}") == 5);
  CHECK(sumOf(text, "hostd_request_duration_seconds_bucket{le=\"+Inf\"}") == 30);
  CHECK(sumOf(text, "hostd_workers{state=\"ready\"}") == 2);
  CHECK(sumOf(text, "hostd_sent_bytes_total") > 0);

  TempDir d;
  std::string file = d.write("metrics.txt", text);
  RunResult lint = runProgram("sh", {"-c", "promtool check metrics < " + file});
  INFO(lint.output);
  CHECK(lint.exitCode == 0);
  CHECK(lint.output.empty());  // not even a lint warning

  // A crash: counted as a restart, and what the dead worker served stays counted.
  pid_t victim = h.workerPids().at(0);
  REQUIRE(::kill(victim, SIGKILL) == 0);
  REQUIRE(h.waitReplaced(victim, 2, 10s));
  REQUIRE(h.waitForLogCount("[H0104]", 3, 10s));
  text = scrape(mport);
  CHECK(sumOf(text, "hostd_worker_restarts_total{reason=\"crash\"}") == 1);
  CHECK(sumOf(text, "hostd_requests_total{") == 30);

  REQUIRE(h.signal(SIGHUP) == 0);
  REQUIRE(h.waitForLog("[H0123]", 15s));
  text = scrape(mport);
  CHECK(sumOf(text, "hostd_reloads_total{result=\"finished\"}") == 1);
  CHECK(sumOf(text, "hostd_worker_restarts_total{reason=\"reload\"}") == 2);
  CHECK(sumOf(text, "hostd_generation") == 2);
  CHECK(sumOf(text, "hostd_requests_total{") == 30);

  auto other = httpGet(mport, "/");
  REQUIRE(other);
  CHECK(other->status == 404);
}

TEST_CASE("a [metrics] address in use stops hostd with a clear error", "[e2e][metrics]") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  RunResult r = runHostd({"-c", TempDir().write("server.ini", testConfig("testplug", 1, "[metrics]\nlisten = " + taken + "\n"))});
  close(fd);
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.output, Catch::Contains("[H0148] cannot serve metrics on " + taken) &&
                           Catch::Contains("[metrics] listen"));
}
