// [server] scheduling = round_robin: the master accepts and hands connection i to ready
// worker (i + 1) mod n over a socketpair (SCM_RIGHTS).
#include "harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <thread>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
std::string rr(unsigned workers, const std::string& extra = "") {
  return testConfig("testplug", workers, "[server]\nscheduling = round_robin\n" + extra);
}
}  // namespace

TEST_CASE("round_robin: 60 sequential connections over 3 workers land 20/20/20", "[e2e][scheduling]") {
  HostdProcess h(rr(3));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::map<std::string, int> perPid;
  for (int i = 0; i < 60; ++i) {
    auto r = httpGet(port, "/pid");
    REQUIRE(r);
    ++perPid[r->body];
  }
  REQUIRE(perPid.size() == 3);
  for (auto& [pid, n] : perPid) {
    INFO("pid " << pid);
    CHECK(n >= 19);
    CHECK(n <= 21);
  }
}

TEST_CASE("round_robin serves keep-alive, Connection: close and pipelined requests", "[e2e][scheduling]") {
  HostdProcess h(rr(2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  RawConn c(port);
  c.send("GET /slow?ms=50 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.readResponse(), b = c.readResponse();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->body == "slow done\n");
  CHECK(b->body == "testplug v1\n");
  c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string rest = c.readUntilClose();
  CHECK(c.closed());
  CHECK_THAT(rest, Catch::EndsWith("testplug v1\n"));
}

TEST_CASE("round_robin: a worker killed under load costs only its own connections", "[e2e][scheduling]") {
  HostdProcess h(rr(2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  Load load(port, false, 6);
  REQUIRE(waitUntil([&] { return load.ok.load() > 300; }, 10s));
  pid_t victim = h.workerPids().at(0);
  REQUIRE(::kill(victim, SIGKILL) == 0);
  REQUIRE(h.waitForLogCount("[H0104]", 3, 5s));  // the replacement is ready
  long at = load.ok.load();
  REQUIRE(waitUntil([&] { return load.ok.load() > at + 300; }, 10s));
  load.finish();
  // Connection-per-request clients: at most the connections in the victim's hands (one
  // per client, plus what was queued on its hand-off socket) can fail.
  CHECK(load.failed.load() <= 12);
  CHECK(load.non2xx.load() == 0);
  CHECK(load.ok.load() > 600);
}

TEST_CASE("no fd leaks after 10 000 round_robin connections", "[e2e][scheduling]") {
  HostdProcess h(rr(2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  REQUIRE(httpGet(port, "/"));
  auto fdCounts = [&] {
    std::vector<size_t> n{listFds(h.pid()).size()};
    for (pid_t w : h.workerPids()) n.push_back(listFds(w).size());
    return n;
  };
  std::vector<size_t> before = fdCounts();
  std::atomic<int> done{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 2500; ++i) {
        auto r = httpGet(port, "/");
        (r && r->status == 200) ? ++done : ++failed;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(done.load() == 10000);
  CHECK(failed.load() == 0);
  // Workers close a connection right after answering "Connection: close": let them settle.
  CHECK(waitUntil([&] { return fdCounts() == before; }, 5s));
  INFO("before " << before.size());
  CHECK(fdCounts() == before);
}

TEST_CASE("switching scheduling by reload under load fails no request", "[e2e][scheduling]") {
  HostdProcess h(testConfig("testplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::string shared = testConfig("testplug", 2), roundRobin = rr(2);
  Load load(port, false, 4);
  for (int i = 1; i <= 2; ++i) {
    REQUIRE(waitUntil([&] { return load.ok.load() > 300L * i; }, 10s));
    h.dir().write("server.ini", i % 2 ? roundRobin : shared);
    REQUIRE(h.signal(SIGHUP) == 0);
    REQUIRE(h.waitForLogCount("[H0123] reload finished", size_t(i), 20s));
  }
  long at = load.ok.load();
  REQUIRE(waitUntil([&] { return load.ok.load() > at + 300; }, 10s));
  load.finish();
  CHECK(load.failed.load() == 0);
  CHECK(load.non2xx.load() == 0);
}
