// Worker lifecycle end to end: crash, suicide, hung, recycling, shutdown, orphans.
#include "harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <unistd.h>
#include <future>
#include <set>
#include <thread>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
bool contains(const std::vector<pid_t>& v, pid_t p) { return std::find(v.begin(), v.end(), p) != v.end(); }

/// Position of the first log line containing needle, npos if none.
size_t logPos(const std::string& out, const std::string& needle) { return out.find(needle); }
}  // namespace

TEST_CASE("kill -9 of a worker: replaced within 2 s, requests keep succeeding", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<pid_t> before = h.workerPids();
  REQUIRE(before.size() == 2);
  pid_t victim = before[0];
  REQUIRE(::kill(victim, SIGKILL) == 0);

  auto killedAt = std::chrono::steady_clock::now();
  CHECK(h.waitReplaced(victim, 2, 2s));
  CHECK(std::chrono::steady_clock::now() - killedAt < 2s);
  CHECK(h.waitForLog("signal 9", 2s));
  CHECK(h.waitForLogCount("[H0104]", 3, 2s));  // the replacement reported ready
  for (int i = 0; i < 20; ++i) {
    auto r = httpGet(port, "/");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("on_exception = replace: 500, replacement started before the old worker exits",
          "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 1, "[cluster]\non_exception = replace\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  pid_t old = h.workerPids().at(0);

  auto r = httpGet(port, "/throw");
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(h.waitForLog("boom from /throw"));
  REQUIRE(h.waitForLog("[H0109] worker 1 (pid " + std::to_string(old) + ")", 10s));
  std::string out = h.output();
  size_t suicide = logPos(out, "[H0106]");
  size_t secondStart = out.find("[H0103]", logPos(out, "[H0103]") + 1);
  size_t replacementReady = out.find("[H0104]", logPos(out, "[H0104]") + 1);
  size_t oldExit = logPos(out, "[H0109] worker 1 (pid " + std::to_string(old) + ")");
  INFO(out);
  REQUIRE(suicide != std::string::npos);
  REQUIRE(secondStart != std::string::npos);
  REQUIRE(replacementReady != std::string::npos);
  CHECK(suicide < secondStart);
  CHECK(secondStart < oldExit);
  CHECK(replacementReady < oldExit);
  CHECK_FALSE(processAlive(old));
  auto after = httpGet(port, "/pid");
  REQUIRE(after);
  CHECK(after->status == 200);
  CHECK(after->body != std::to_string(old));
}

TEST_CASE("SIGTERM with a slow request in flight: it completes, the master exits 0", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  auto slow = std::async(std::launch::async, [port] { return httpGet(port, "/slow?ms=1500", 10s); });
  REQUIRE(h.waitForLog("slow request started", 5s));  // it is in a handler now
  REQUIRE(h.signal(SIGTERM) == 0);
  auto r = slow.get();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "slow done\n");
  auto code = h.waitExit(10s);
  INFO(h.output());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(h.waitForLog("[H0119]", 1s));
}

TEST_CASE("SIGQUIT stops at once", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 2));
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<pid_t> workers = h.workerPids();
  REQUIRE(h.signal(SIGQUIT) == 0);
  auto code = h.waitExit(3s);
  REQUIRE(code);
  CHECK(*code == 0);
  for (pid_t w : workers) CHECK(waitUntil([&] { return !processAlive(w); }, 2s));
}

TEST_CASE("master killed with SIGKILL: no worker is left after 2 s", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 2));
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<pid_t> workers = h.workerPids();
  REQUIRE(workers.size() == 2);
  REQUIRE(h.signal(SIGKILL) == 0);
  h.waitExit(2s);
  bool allGone = waitUntil([&] {
    return std::none_of(workers.begin(), workers.end(), [](pid_t w) { return processAlive(w); });
  }, 2s);
  CHECK(allGone);
}

TEST_CASE("a hung worker is killed after heartbeat_timeout and replaced while others keep serving",
          "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 2, "[cluster]\nheartbeat_timeout = 2\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  auto start = std::chrono::steady_clock::now();
  // One connection spins its worker forever; the client gives up quickly.
  auto spin = std::async(std::launch::async, [port] { return httpGet(port, "/spin", 1s); });
  REQUIRE(h.waitForLog("spinning forever", 2s));
  // Meanwhile the other worker answers, until the hung one is replaced.
  int served = 0, failed = 0;
  bool replaced = waitUntil([&] {
    auto r = httpGet(port, "/", 2s);
    (r && r->status == 200) ? ++served : ++failed;
    return h.countLog("hung: no heartbeat") == 1 && h.countLog("[H0104]") == 3;
  }, 6s, 50ms);
  auto took = std::chrono::steady_clock::now() - start;
  INFO(h.output());
  CHECK(replaced);
  CHECK(took < 4s);  // heartbeat_timeout + 2 s
  CHECK(served > 0);
  CHECK(failed == 0);
  spin.wait();
}

TEST_CASE("a master that was stopped longer than heartbeat_timeout kills none of its healthy workers",
          "[e2e][lifecycle]") {
  // The master's loop can be late (a starved or stalled machine, a debugger, SIGSTOP); the
  // workers' heartbeats then wait in their pipes. Found in the reload test: resumed, the
  // master judged the workers by heartbeats it had not read yet and killed them all.
  HostdProcess h(testConfig("testplug", 2, "[cluster]\nheartbeat_timeout = 2\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<pid_t> workers = h.workerPids();
  std::sort(workers.begin(), workers.end());
  REQUIRE(::kill(h.pid(), SIGSTOP) == 0);
  std::this_thread::sleep_for(3500ms);  // the stall itself: heartbeat_timeout + 1.5 s
  REQUIRE(::kill(h.pid(), SIGCONT) == 0);
  // Two watchdog ticks after the resume (once a second) judge them; none may kill.
  CHECK_FALSE(h.waitForLog("hung: no heartbeat", 2500ms));
  INFO(h.output());
  std::vector<pid_t> after = h.workerPids();
  std::sort(after.begin(), after.end());
  CHECK(after == workers);
  auto r = httpGet(port, "/");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("max_requests recycles a worker without failing a request", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 1, "[cluster]\nmax_requests = 5\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::string first = httpGet(port, "/pid").value().body;
  // Keep requesting through the whole handover: replacement ready, old worker drained.
  std::set<std::string> pids{first};
  const std::string oldExit = "[H0109] worker 1 (pid " + first + ") exited with code 0";
  int served = 1;
  bool recycled = waitUntil([&] {
    auto r = httpGet(port, "/pid");
    REQUIRE(r);
    CHECK(r->status == 200);
    pids.insert(r->body);
    ++served;
    return h.countLog(oldExit) == 1 && pids.size() >= 2;
  }, 10s, 1ms);
  INFO(h.output());
  CHECK(recycled);
  CHECK(served >= 6);
  CHECK(h.countLog("(max_requests = 5 + jitter)") >= 1);
  CHECK_FALSE(processAlive(pid_t(std::stoi(first))));
}

TEST_CASE("recycling is routine: max_requests replacements are not counted as restarts", "[e2e][lifecycle]") {
  // A suicide goes through the restart policy; a planned recycle must not, or a busy
  // server with max_requests would give up its slots.
  HostdProcess h(testConfig("testplug", 1, "[cluster]\nmax_requests = 2\nrestart_limit = 1\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::set<std::string> pids;
  bool many = waitUntil([&] {
    if (auto r = httpGet(port, "/pid"); r && r->status == 200) pids.insert(r->body);
    return pids.size() >= 5;
  }, 20s, 1ms);
  INFO(h.output());
  CHECK(many);
  CHECK(h.countLog("[H0114]") == 0);
  CHECK(h.countLog("(recycling)") >= 4);
}

TEST_CASE("a crash loop is bounded by restart_limit and with no slot left hostd refuses clients and exits 3",
          "[e2e][lifecycle]") {
  // Finding: once every slot had given up, the listening socket stayed open with no worker
  // behind it: clients connected and hung until their own timeout.
  HostdProcess h(testConfig("testplug", 1, "[cluster]\nrestart_limit = 2\nrestart_window = 60\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  for (int crash = 1; crash <= 3; ++crash) {
    REQUIRE(waitUntil([&] { return h.workerPids().size() == 1; }, 3s));
    REQUIRE(h.waitForLogCount("[H0104]", size_t(crash), 5s));
    httpGet(port, "/crash", 2s);
    // "killed by signal 11", or "exited with code 1" under AddressSanitizer, which
    // catches the SIGSEGV itself.
    REQUIRE(h.waitForLogCount("[H0109] worker 1 ", size_t(crash), 5s));
  }
  CHECK(h.waitForLog("[H0114] giving up on worker slot 1", 3s));
  CHECK(h.waitForLog("[H0140] no worker can serve", 3s));
  CHECK(h.countLog("[H0103]") == 3);
  auto code = h.waitExit(5s);
  REQUIRE(code);
  CHECK(*code == 3);
  CHECK_THROWS(RawConn(port));  // refused, not accepted and left hanging
}

TEST_CASE("garbage on a worker's control channel replaces that worker only", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<pid_t> before = h.workerPids();
  REQUIRE(before.size() == 2);
  pid_t victim = before[0], bystander = before[1];
  // fd 5 of a worker is its worker->master pipe: write a frame header the master must refuse.
  std::string path = "/proc/" + std::to_string(victim) + "/fd/5";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const char garbage[] = "GARBAGE, not a frame";
  REQUIRE(write(fd, garbage, sizeof garbage - 1) == ssize_t(sizeof garbage - 1));
  close(fd);
  CHECK(h.waitForLog("[H0111] worker", 3s));
  CHECK(h.waitForLog("protocol error", 1s));
  REQUIRE(h.waitReplaced(victim, 2, 3s));
  CHECK(contains(h.workerPids(), bystander));
  CHECK(processAlive(h.pid()));
  auto r = httpGet(port, "/");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("max_memory_mb recycles a worker whose resident memory grew past it", "[e2e][lifecycle]") {
  HostdProcess h(testConfig("testplug", 1, "[cluster]\nmax_memory_mb = 200\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::string first = httpGet(port, "/pid").value().body;
  auto grew = httpGet(port, "/grow?mb=300");
  REQUIRE(grew);
  CHECK(grew->status == 200);
  REQUIRE(h.waitForLog("exceeds max_memory_mb = 200", 5s));
  REQUIRE(h.waitForLog("[H0109] worker 1 (pid " + first + ") exited with code 0", 10s));
  auto r = httpGet(port, "/pid");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body != first);
}
