// Child processes of a worker: exec (shell), exec_file (no shell), spawn (streaming),
// timeouts, output caps, and no orphans when the worker dies.
#include "harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <memory>
#include <thread>
#include <sys/stat.h>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
struct Server {
  HostdProcess h;
  uint16_t port;
  pid_t worker;
  /// One shareplug worker, ready; `extra` is more config (a [children] section, say).
  explicit Server(const std::string& extra = "") : h(testConfig("shareplug", 1, extra)), port(h.port()) {
    REQUIRE(h.waitForLog("[H0105]"));
    worker = h.workerPids().at(0);
  }
  std::string get(const std::string& target, int status = 200) {
    auto r = httpGet(port, target, 15s);
    REQUIRE(r);
    INFO(target << " -> " << r->body);
    CHECK(r->status == status);
    return r->body;
  }
};
}  // namespace

TEST_CASE("exec runs a shell command and returns its output", "[e2e][children]") {
  Server s;
  CHECK(s.get("/exec?cmd=echo+hi") == "status=0\ncode=0\nsignal=0\nout=hi\n\nerr=\nmessage=\n");
  // Exit code and stderr come back as they were.
  CHECK(s.get("/exec?cmd=echo+oops+1>%262;+exit+3") == "status=0\ncode=3\nsignal=0\nout=\nerr=oops\n\nmessage=\n");
}

TEST_CASE("children run under the small static hostd-supervise, not the hostd binary", "[e2e][children]") {
  Server s;
  // The shell's parent is its supervisor.
  CHECK(s.get("/exec?cmd=cat+/proc/$PPID/comm") == "status=0\ncode=0\nsignal=0\nout=hostd-supervise\n\nerr=\nmessage=\n");
}

TEST_CASE("children run in cwd, without the worker's HOSTD_* environment, killable by id", "[e2e][children]") {
  Server s;
  CHECK(s.get("/exec?cmd=pwd&cwd=/tmp") == "status=0\ncode=0\nsignal=0\nout=/tmp\n\nerr=\nmessage=\n");
  std::string env = s.get("/exec?cmd=env");
  CHECK_THAT(env, Catch::Contains("PATH="));
  CHECK_THAT(env, !Catch::Contains("HOSTD_"));
  CHECK_THAT(env, !Catch::Contains("UV_THREADPOOL_SIZE"));  // set only while the pool starts
  // Signals 1-31 at their default and none blocked (the worker ignores SIGPIPE; the program
  // must not). (glibc's posix_spawn leaves its own internal signals 32 and 33 ignored.)
  std::string sig = s.get("/exec?cmd=grep+-E+%27SigBlk|SigIgn%27+/proc/self/status");
  auto mask = [&](const std::string& name) {
    size_t at = sig.find(name + ":\t");
    return at == std::string::npos ? ~0ull : std::stoull(sig.substr(at + name.size() + 2, 16), nullptr, 16);
  };
  CHECK(mask("SigBlk") == 0);
  CHECK((mask("SigIgn") & 0x7fffffffull) == 0);
  CHECK(s.get("/spawn-kill") == "exit status=0 code=-1 signal=15\n");
}

TEST_CASE("child_kill right after spawn is never lost", "[e2e][children]") {
  Server s;
  for (int i = 0; i < 100; ++i) {
    auto r = httpGet(s.port, "/spawn-kill", 5s);
    REQUIRE(r);
    REQUIRE(r->body == "exit status=0 code=-1 signal=15\n");
  }
}

namespace {
/// The first line of an exec result's stdout, as a pid.
pid_t outPid(const std::string& body) {
  size_t out = body.find("out=") + 4;
  return pid_t(std::stol(body.substr(out, body.find('\n', out) - out)));
}
}  // namespace

TEST_CASE("a daemon that leaves the child's group does not hold up exec, and still dies with the worker",
          "[e2e][children]") {
  Server s;
  auto started = std::chrono::steady_clock::now();
  std::string body = s.get("/exec?cmd=setsid+sleep+30+>/dev/null+2>%261+%26+echo+$!");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK_THAT(body, Catch::StartsWith("status=0\ncode=0\n"));
  pid_t daemon = outPid(body);
  REQUIRE(processAlive(daemon));
  s.h.signal(SIGTERM);
  REQUIRE(s.h.waitExit(10s));
  CHECK(waitUntil([&] { return !processAlive(daemon); }, 5s));
  ::kill(daemon, SIGKILL);  // (only if the check above failed)
}

TEST_CASE("a timeout reaches a program that made its own process group", "[e2e][children]") {
  Server s;
  // timeout(1) puts itself in a group of its own; the sleep inside prints its pid first.
  auto started = std::chrono::steady_clock::now();
  std::string body = s.get("/exec?cmd=timeout+30+sh+-c+%27echo+$$%3B+exec+sleep+100%27&timeout=500");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK_THAT(body, Catch::StartsWith("status=-8\n"));
  pid_t sleeper = outPid(body);
  CHECK(waitUntil([&] { return !processAlive(sleeper); }, 5s));
  ::kill(sleeper, SIGKILL);
}

TEST_CASE("a program that stops its own group is still killed at its timeout", "[e2e][children]") {
  Server s;
  auto started = std::chrono::steady_clock::now();
  std::string body = s.get("/exec?cmd=echo+$$%3B+kill+-STOP+0%3B+echo+never&timeout=500");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK_THAT(body, Catch::StartsWith("status=-8\n") && !Catch::Contains("never"));
  pid_t stopped = outPid(body);
  CHECK(waitUntil([&] { return !processAlive(stopped); }, 5s));
}

TEST_CASE("child_kill passes any signal on to the program, and refuses the reserved ones", "[e2e][children]") {
  Server s;
  CHECK(s.get("/spawn-kill?sig=27") == "exit status=0 code=-1 signal=27\n");  // SIGPROF
  CHECK(s.get("/spawn-kill?sig=9") == "exit status=0 code=-1 signal=9\n");
  CHECK(s.get("/spawn-kill?sig=19", 500) == "kill_child failed\n");  // SIGSTOP would stop the supervisor
}

TEST_CASE("programs are looked up from cwd, and a cwd that is not a directory is a clear error", "[e2e][children]") {
  Server s;
  TempDir dir;
  std::string script = dir.write("hi.sh", "#!/bin/sh\necho from $(pwd) $1\n");
  ::chmod(script.c_str(), 0755);
  CHECK(s.get("/exec-file?file=./hi.sh&arg=x&cwd=" + dir.path()) ==
        "status=0\ncode=0\nsignal=0\nout=from " + dir.path() + " x\n\nerr=\nmessage=\n");
  CHECK_THAT(s.get("/exec?cmd=pwd&cwd=/nonexistent-dir", 400), Catch::Contains("is cwd a directory"));
}

TEST_CASE("exec past its timeout is killed and reported", "[e2e][children]") {
  Server s;
  auto started = std::chrono::steady_clock::now();
  std::string body = s.get("/exec?cmd=sleep+10&timeout=1000");
  auto took = std::chrono::steady_clock::now() - started;
  CHECK_THAT(body, Catch::StartsWith("status=-8\ncode=-1\nsignal=9\n") &&
                       Catch::Contains("killed (SIGKILL) at its timeout of 1000 ms"));
  CHECK(took < 5s);  // not the 10 s the command asked for
  // The worker still serves, and runs the next command normally.
  CHECK(s.get("/exec?cmd=echo+again") == "status=0\ncode=0\nsignal=0\nout=again\n\nerr=\nmessage=\n");
}

TEST_CASE("the timeout also covers what a command left running in the background", "[e2e][children]") {
  Server s;
  auto started = std::chrono::steady_clock::now();
  std::string body = s.get("/exec?cmd=sleep+30+%26+echo+$!&timeout=500");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK_THAT(body, Catch::StartsWith("status=-8\n") && Catch::Contains("timeout of 500 ms"));
  size_t out = body.find("out=") + 4;
  pid_t sleeper = pid_t(std::stol(body.substr(out, body.find('\n', out) - out)));
  CHECK(waitUntil([&] { return !processAlive(sleeper); }, 5s));
}

TEST_CASE("a child inherits stdio only: not the listening socket nor the control channel", "[e2e][children]") {
  Server s;
  CHECK(s.get("/exec?cmd=ls+/proc/$$/fd+|+tr+-s+%27\\n%27+%27+%27") == "status=0\ncode=0\nsignal=0\nout=0 1 2 \nerr=\nmessage=\n");
}

TEST_CASE("exec output over max_output kills the child and keeps the first bytes", "[e2e][children]") {
  Server s;
  std::string body = s.get("/exec?cmd=yes&cap=1000");
  CHECK_THAT(body, Catch::StartsWith("status=-6\ncode=-1\nsignal=9\n") &&
                       Catch::Contains("stdout exceeded max_output = 1000 bytes"));
  size_t out = body.find("out=") + 4;
  CHECK(body.find("\nerr=", out) - out == 1000);
}

TEST_CASE("exec_file runs a program without a shell, a missing one is refused", "[e2e][children]") {
  Server s;
  // No shell: $HOME reaches echo as written.
  CHECK(s.get("/exec-file?file=echo&arg=$HOME") == "status=0\ncode=0\nsignal=0\nout=$HOME\n\nerr=\nmessage=\n");
  CHECK_THAT(s.get("/exec-file?file=no-such-program-hostd&arg=x", 404),
             Catch::Contains("program not found: no-such-program-hostd"));
}

TEST_CASE("spawn streams output as it comes, then reports the exit", "[e2e][children]") {
  Server s;
  RawConn c(s.port);
  REQUIRE(c.send("GET /spawn?cmd=echo+first;sleep+0.3;echo+second HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.readResponse(10s);
  REQUIRE(r);
  CHECK(r->headers["transfer-encoding"] == "chunked");
  CHECK(r->body == "first\nsecond\nexit status=0 code=0 signal=0\n");
}

namespace {
/// "/orphan" -> the pids of a running child and of the grandchild it put in the background.
std::vector<pid_t> orphanPids(Server& s) {
  std::string body = s.get("/orphan");
  size_t space = body.find(' ');
  std::vector<pid_t> pids{pid_t(std::stol(body.substr(0, space))), pid_t(std::stol(body.substr(space + 1)))};
  for (pid_t p : pids) REQUIRE(processAlive(p));
  return pids;
}
bool allGone(const std::vector<pid_t>& pids) {
  for (pid_t p : pids)
    if (processAlive(p)) return false;
  return true;
}
}  // namespace

TEST_CASE("children and what they started die with their worker, even by kill -9", "[e2e][children]") {
  Server s;
  std::vector<pid_t> first = orphanPids(s);
  std::vector<pid_t> workers = s.h.workerPids();
  REQUIRE(workers.size() == 1);
  ::kill(workers[0], SIGKILL);
  CHECK(waitUntil([&] { return allGone(first); }, 5s));
  // And on a graceful stop of the whole server.
  REQUIRE(s.h.waitReplaced(workers[0], 1, 5s));
  REQUIRE(s.h.waitForLogCount("[H0104]", 2, 5s));
  std::vector<pid_t> second = orphanPids(s);
  s.h.signal(SIGTERM);
  REQUIRE(s.h.waitExit(10s));
  CHECK(waitUntil([&] { return allGone(second); }, 5s));
}

TEST_CASE("a flood of exec calls never runs more than max_per_worker children, the rest wait in order",
          "[e2e][children]") {
  Server s("[children]\nmax_per_worker = 3\nmax_queued = 5\nqueue_timeout_ms = 20000\n");
  HostdProcess& h = s.h;
  const uint16_t port = s.port;
  const pid_t worker = s.worker;
  // 8 at once: 3 run, 5 wait; a 9th finds the queue full and is refused at once.
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < 8; ++i) {
    conns.push_back(std::make_unique<RawConn>(port));
    REQUIRE(conns.back()->send("GET /exec?cmd=sleep+0.3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  REQUIRE(waitUntil([&] { return childrenOf(worker).size() == 3; }, 5s));
  auto refused = httpGet(port, "/exec?cmd=true", 5s);
  REQUIRE(refused);
  CHECK(refused->status == 400);
  CHECK_THAT(refused->body, Catch::Contains("max_per_worker"));
  size_t most = 0;
  std::atomic<int> answered{0};
  std::thread reader([&] {
    for (auto& c : conns) {
      auto r = c->readResponse(20s);
      if (r && r->body == "status=0\ncode=0\nsignal=0\nout=\nerr=\nmessage=\n") ++answered;
    }
  });
  // While they run, never more than 3 supervisors below the worker.
  auto until = std::chrono::steady_clock::now() + 20s;
  while (answered < 8 && std::chrono::steady_clock::now() < until) {
    most = std::max(most, childrenOf(worker).size());
    std::this_thread::sleep_for(5ms);
  }
  reader.join();
  CHECK(answered == 8);  // every waiting call ran, none was lost
  CHECK(most <= 3);
  // The SIGUSR2 line counts it (from the worker's heartbeat, once a second).
  CHECK(waitUntil([&] {
    h.signal(SIGUSR2);
    return h.waitForLog("children=0 children_queued=0 children_refused=1 children_timed_out=0", 300ms);
  }, 5s));
}

TEST_CASE("a call waiting longer than queue_timeout_ms for a child slot ends with HOSTD_ETIMEDOUT, never started",
          "[e2e][children]") {
  Server s("[children]\nmax_per_worker = 1\nqueue_timeout_ms = 300\n");
  RawConn busy(s.port);
  REQUIRE(busy.send("GET /exec?cmd=sleep+2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(waitUntil([&] { return childrenOf(s.worker).size() == 1; }, 5s));
  CHECK(s.get("/exec?cmd=true") == "status=-8\ncode=-1\nsignal=0\nout=\nerr=\nmessage=not started: no free child slot "
                                   "within 300 ms ([children] max_per_worker = 1)\n");
  // child_kill of a call still waiting ends it unstarted, with the signal, like a started one.
  CHECK(s.get("/spawn-kill") == "exit status=0 code=-1 signal=15\n");
  auto first = busy.readResponse(5s);
  REQUIRE(first);
  CHECK_THAT(first->body, Catch::StartsWith("status=0\ncode=0\n"));
}
