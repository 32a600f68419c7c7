// hostctl against a real hostd over its control socket: status, reload (and its exit codes),
// stop, scale; and the errors an operator sees when hostd is not there or not theirs.
#include "harness.h"

#include <catch2/catch.hpp>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {

/// testConfig plus a control socket in the config's own folder (relative path).
std::string ctlConfig(const std::string& handler, unsigned workers, const std::string& extra = "") {
  return testConfig(handler, workers, extra + "[control]\nsocket = control.sock\n");
}

RunResult hostctl(HostdProcess& h, std::vector<std::string> args, Ms timeout = Ms(30000)) {
  args.insert(args.begin(), {"-c", h.configPath()});
  return runProgram(HOSTCTL_BINARY, args, timeout);
}

Poco::JSON::Object::Ptr statusOf(HostdProcess& h) {
  RunResult r = hostctl(h, {"status", "--json"});
  INFO(r.output);
  REQUIRE(r.exitCode == 0);
  Poco::JSON::Parser parser;
  return parser.parse(r.output).extract<Poco::JSON::Object::Ptr>();
}

}  // namespace

TEST_CASE("hostctl status: the master and every worker, as a table and as JSON", "[e2e][hostctl]") {
  HostdProcess h(ctlConfig("testplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK(h.waitForLog("[H0144] control socket " + h.dir().path() + "/control.sock"));
  for (int i = 0; i < 30; ++i) REQUIRE(httpGet(port, "/"));
  // Counters come with the heartbeats (every second): poll until all 30 are counted.
  Poco::JSON::Object::Ptr s;
  REQUIRE(waitUntil([&] {
    s = statusOf(h);
    uint64_t sum = 0;
    auto ws = s->getArray("workers");
    for (size_t i = 0; i < ws->size(); ++i) sum += ws->getObject(unsigned(i))->getValue<uint64_t>("requests");
    return sum >= 30;
  }, 5s, 100ms));
  CHECK(s->getValue<int>("master_pid") == h.pid());
  CHECK(s->getValue<std::string>("state") == "serving");
  CHECK(s->getValue<std::string>("plugin") == "testplug");
  CHECK(s->getValue<uint64_t>("generation") == 1);
  auto ws = s->getArray("workers");
  REQUIRE(ws->size() == 2);
  std::vector<pid_t> pids = h.workerPids();
  for (size_t i = 0; i < ws->size(); ++i) {
    auto w = ws->getObject(unsigned(i));
    CHECK(w->getValue<int>("slot") == int(i + 1));
    CHECK(std::find(pids.begin(), pids.end(), w->getValue<int>("pid")) != pids.end());
    CHECK(w->getValue<std::string>("state") == "ready");
    CHECK(w->getValue<uint64_t>("rss_kb") > 0);
  }
  RunResult table = hostctl(h, {"status"});
  CHECK(table.exitCode == 0);
  CHECK_THAT(table.output, Catch::Contains("hostd pid " + std::to_string(h.pid())) &&
                               Catch::Contains("SLOT  PID") && Catch::Contains("ready"));
}

TEST_CASE("hostctl status names the request a worker is busy with", "[e2e][hostctl]") {
  HostdProcess h(ctlConfig("testplug", 1));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  auto busy = std::async(std::launch::async, [port] { return httpGet(port, "/burn?ms=3000", 10s); });
  std::string out;
  bool seen = waitUntil([&] {
    out = hostctl(h, {"status"}).output;
    return out.find("GET /burn?ms=3000 (") != std::string::npos;
  }, 5s, 50ms);
  INFO(out);
  CHECK(seen);
  busy.get();
}

TEST_CASE("hostctl reload waits and its exit code says finished, refused or rolled back", "[e2e][hostctl]") {
  TempDir markers;
  const std::string marker = markers.path() + "/crash";
  HostdProcess h(ctlConfig("testplug", 2, "[plugin.testplug]\ncrash_init_if_exists = " + marker + "\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));

  RunResult ok = hostctl(h, {"reload"});
  CHECK(ok.exitCode == 0);
  CHECK_THAT(ok.output, Catch::Contains("reload finished: serving: 2 worker(s), plugin testplug") &&
                            Catch::Contains("(generation 2)"));
  CHECK(h.countLog("[H0123]") == 1);  // it answered after the reload finished, not before

  markers.write("crash", "");  // new workers die in init: the reload rolls back
  RunResult back = hostctl(h, {"reload"});
  CHECK(back.exitCode == 3);
  CHECK_THAT(back.output, Catch::Contains("reload rolled back: worker 1 of the new build"));
  REQUIRE(httpGet(port, "/"));
  unlink(marker.c_str());

  std::ofstream(h.configPath(), std::ios::app) << "[server]\nworkers = many\n";
  RunResult refused = hostctl(h, {"reload"});
  CHECK(refused.exitCode == 2);
  CHECK_THAT(refused.output, Catch::Contains("reload refused: ") && Catch::Contains("[server] workers"));
  auto r = httpGet(port, "/");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("hostctl scale starts and drains slots, and stop ends hostd with code 0", "[e2e][hostctl]") {
  HostdProcess h(ctlConfig("testplug", 1));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  RunResult up = hostctl(h, {"scale", "3"});
  CHECK(up.exitCode == 0);
  CHECK(h.waitForLogCount("[H0104]", 3, 10s));
  CHECK(statusOf(h)->getArray("workers")->size() == 3);
  RunResult down = hostctl(h, {"scale", "1"});
  CHECK(down.exitCode == 0);
  CHECK(h.waitForWorkerCount(1, 10s));
  REQUIRE(httpGet(port, "/"));
  for (const char* n : {"zero", "4294967297"}) {  // (the second would wrap to 1 as a 32-bit count)
    RunResult bad = hostctl(h, {"scale", n});
    CHECK(bad.exitCode == 1);
    CHECK_THAT(bad.output, Catch::Contains("expected a worker count"));
  }

  RunResult stop = hostctl(h, {"stop"});
  CHECK(stop.exitCode == 0);
  CHECK_THAT(stop.output, Catch::Contains("draining"));
  auto code = h.waitExit(15s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(::access((h.dir().path() + "/control.sock").c_str(), F_OK) != 0);  // removed on exit
}

TEST_CASE("hostctl explains a hostd that is not running, a stale socket, and a socket that is not yours",
          "[e2e][hostctl]") {
  TempDir d;
  const std::string path = d.path() + "/control.sock";
  RunResult none = runProgram(HOSTCTL_BINARY, {"-s", path, "status"});
  CHECK(none.exitCode == 1);
  CHECK_THAT(none.output, Catch::Contains("no control socket at " + path) && Catch::Contains("not running"));

  {  // a socket file nobody listens on (a master that was SIGKILLed)
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    close(fd);
  }
  RunResult stale = runProgram(HOSTCTL_BINARY, {"-s", path, "status"});
  CHECK(stale.exitCode == 1);
  CHECK_THAT(stale.output, Catch::Contains("the socket is stale"));

  // A new hostd replaces the stale socket; it is 0600 and only root or its own user may talk.
  std::string cfg = d.write("server.ini", testConfig("testplug", 1, "[control]\nsocket = " + path + "\n"));
  HostdProcess h("", {"-c", cfg});
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  if (geteuid() != 0) {
    WARN("skipped the permission checks: they need root to run hostctl as another user (CI runs as root)");
    return;
  }
  RunResult denied = runProgram("setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups", HOSTCTL_BINARY,
                                            "-s", path, "status"});
  CHECK(denied.exitCode == 1);
  CHECK_THAT(denied.output, Catch::Contains("permission denied on " + path));
  REQUIRE(chmod(path.c_str(), 0666) == 0);  // loosened by hand: the peer check still refuses
  RunResult peer = runProgram("setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups", HOSTCTL_BINARY,
                                          "-s", path, "status"});
  CHECK(peer.exitCode == 1);
  CHECK_THAT(peer.output, Catch::Contains("permission denied (uid 65534)"));

  // A second hostd with the same socket keeps the first one's: it runs without one, and says so.
  HostdProcess second("", {"-c", cfg});
  second.port();
  CHECK(second.waitForLog("[H0144] no control socket at " + path + ": another hostd answers on it"));
  RunResult first = runProgram(HOSTCTL_BINARY, {"-s", path, "status", "--json"});
  CHECK_THAT(first.output, Catch::Contains("\"master_pid\":" + std::to_string(h.pid())));
}

TEST_CASE("hostctl usage errors exit 64", "[e2e][hostctl]") {
  RunResult r = runProgram(HOSTCTL_BINARY, {"restart-everything"});
  CHECK(r.exitCode == 64);
  CHECK_THAT(r.output, Catch::Contains("usage: hostctl"));
}
