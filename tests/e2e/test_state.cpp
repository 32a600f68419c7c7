// Shared state, embedded store (the master's): exact counters, watches in every worker,
// a restarted worker's full state before ready.
#include "harness.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <set>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
const std::string kRoundRobin = "[server]\nscheduling = round_robin\n";

/// kill -9 of a one-worker hostd's worker; returns once its replacement is ready.
void killAndWaitForReplacement(HostdProcess& h) {
  std::vector<pid_t> pids = h.workerPids();
  REQUIRE(pids.size() == 1);
  ::kill(pids[0], SIGKILL);
  REQUIRE(h.waitReplaced(pids[0], 1, 5s));
  REQUIRE(h.waitForLogCount("[H0104]", 2, 5s));
}

/// The body of a GET that must be answered.
std::string body(uint16_t port, const std::string& target) {
  auto r = httpGet(port, target);
  REQUIRE(r);
  return r->body;
}
}  // namespace

TEST_CASE("10 000 incr spread over every worker end at exactly 10 000", "[e2e][state]") {
  HostdProcess h(testConfig("shareplug", 3, kRoundRobin));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  // round_robin hands the 10 connections to workers 1,2,3,1,...: all three write.
  std::vector<std::string> answers = requestMany(port, "/incr?key=hits", 10, 1000);
  REQUIRE(answers.size() == 10000);
  // Every incr got its own new value: 1..10000, each exactly once.
  std::set<long> values;
  for (const std::string& a : answers) values.insert(std::stol(a));
  CHECK(values.size() == 10000);
  CHECK(*values.begin() == 1);
  CHECK(*values.rbegin() == 10000);
  // A write's completion runs once the writer's replica shows it.
  auto ryw = httpGet(port, "/set-get?key=ryw&value=mine");
  REQUIRE(ryw);
  CHECK(ryw->body == "mine");
  // And every replica holds the total.
  for (int i = 0; i < 3; ++i) {
    auto r = httpGet(port, "/get?key=hits");
    REQUIRE(r);
    CHECK(r->body == "10000");
  }
}

TEST_CASE("a watch fires in every worker within 100 ms of a change, deletes too", "[e2e][state]") {
  HostdProcess h(testConfig("shareplug", 3, kRoundRobin));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  auto set = httpGet(port, "/set?key=w/color&value=blue");
  REQUIRE(set);
  REQUIRE(set->status == 200);
  const long long madeAt = std::stoll(set->body);

  std::map<std::string, std::string> seen;
  REQUIRE(waitUntil([&] {
    seen = askEachWorker(port, "/seen", 3);
    if (seen.size() != 3) return false;
    for (auto& [w, log] : seen)
      if (log.find("w/color=blue@") == std::string::npos) return false;
    return true;
  }, 5s, 20ms));
  for (auto& [w, log] : seen) {
    size_t at = log.find("w/color=blue@") + 13;
    long long firedAt = std::stoll(log.substr(at, log.find(';', at) - at));
    INFO("worker " << w << ": the watch fired " << (firedAt - madeAt) << " us after the write");
    CHECK(firedAt - madeAt <= 100000);
    CHECK(firedAt >= madeAt);
  }

  // A key outside the watched prefix fires nothing; a delete reports the key as gone.
  REQUIRE(httpGet(port, "/set?key=other&value=1"));
  auto del = httpGet(port, "/del?key=w/color");
  REQUIRE(del);
  REQUIRE(del->status == 200);
  REQUIRE(waitUntil([&] {
    seen = askEachWorker(port, "/seen", 3);
    size_t n = 0;
    for (auto& [w, log] : seen) n += log.find("w/color=<deleted>@") != std::string::npos;
    return seen.size() == 3 && n == 3;
  }, 5s, 20ms));
  for (auto& [w, log] : seen) CHECK(log.find("other") == std::string::npos);
  auto gone = httpGet(port, "/get?key=w/color");
  REQUIRE(gone);
  CHECK(gone->status == 404);
}

TEST_CASE("a worker restarted after kill -9 has the full state before it serves", "[e2e][state]") {
  HostdProcess h(testConfig("shareplug", 1));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  REQUIRE(httpGet(port, "/set?key=full/a=&value=x"));  // a key with odd bytes
  for (const char* t : {"/set?key=full/a&value=alpha", "/set?key=full/b&value=beta"}) {
    auto r = httpGet(port, t);
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  for (int i = 0; i < 7; ++i) REQUIRE(httpGet(port, "/incr?key=count"));
  auto before = httpGet(port, "/init");
  REQUIRE(before);
  CHECK(before->body == "keys:-,-,count=0\n");  // the first worker started empty

  killAndWaitForReplacement(h);
  auto after = httpGet(port, "/init");
  REQUIRE(after);
  // What its init saw: everything written before the crash.
  CHECK(after->body == "keys:alpha,beta,count=7\n");
  auto odd = httpGet(port, "/get?key=full/a=");
  REQUIRE(odd);
  CHECK(odd->body == "x");
}

TEST_CASE("a watch fires for changes after it was made, before the writer's done, not for the state it started with",
          "[e2e][state]") {
  HostdProcess h(testConfig("shareplug", 1));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK(body(port, "/set-order?key=w/a&value=1") == "watch-before-done");
  // A worker started after the write: its init's watch on "w/" is not called for w/a,
  // which its replica holds from the start.
  killAndWaitForReplacement(h);
  CHECK(body(port, "/get?key=w/a") == "1");
  CHECK(body(port, "/seen") == "1|");
  CHECK(body(port, "/set-order?key=w/b&value=2") == "watch-before-done");
}

TEST_CASE("incr of a value that is not a number fails with a clear error, the worker keeps serving",
          "[e2e][state]") {
  HostdProcess h(testConfig("shareplug", 1));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  REQUIRE(httpGet(port, "/set?key=name&value=bob"));
  auto r = httpGet(port, "/incr?key=name");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK_THAT(r->body, Catch::Contains("not an integer") && Catch::Contains("name"));
  auto ok = httpGet(port, "/incr?key=n&by=-5");
  REQUIRE(ok);
  CHECK(ok->body == "-5\n");
  CHECK(h.countLog("[H0111]") == 0);
}

TEST_CASE("a reload keeps the shared state and its backend", "[e2e][state]") {
  const std::string base = testConfig("shareplug", 2);
  HostdProcess h(base);
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  for (int i = 0; i < 3; ++i) REQUIRE(httpGet(port, "/incr?key=count"));
  REQUIRE(httpGet(port, "/set?key=full/a&value=kept"));
  // The new config asks for Redis: the reload goes on, on the store it has.
  h.dir().write("server.ini", base + "[state]\nbackend = redis\nurl = redis://127.0.0.1:1\n");
  REQUIRE(h.signal(SIGHUP) == 0);
  REQUIRE(h.waitForLog("[H0138]", 5s));
  REQUIRE(h.waitForLog("[H0123]", 10s));
  // Every worker now is a new one, and its init saw the state.
  for (int i = 0; i < 4; ++i) {
    auto r = httpGet(port, "/init");
    REQUIRE(r);
    CHECK(r->body == "keys:kept,-,count=3\n");
  }
  CHECK(h.countLog("[H0136]") == 0);
}

TEST_CASE("a write still waiting when the master dies completes with an error, not never", "[e2e][state]") {
  HostdProcess h(testConfig("shareplug", 1));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  REQUIRE(h.signal(SIGSTOP) == 0);  // the master stops answering (SIGSTOP reaches only the master)
  RawConn c(port);
  REQUIRE(c.send("GET /set?key=k&value=v HTTP/1.1\r\nHost: t\r\n\r\n"));
  CHECK_FALSE(c.readResponse(300ms));  // pending: the write waits for the master
  ::kill(h.pid(), SIGKILL);
  auto r = c.readResponse(5s);
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK_THAT(r->body, Catch::Contains("error -7") && Catch::Contains("the master is gone"));
}
