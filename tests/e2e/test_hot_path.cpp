// The worker's request path costs what the budget says, measured on the real
// binary with the bundled hello plugin: no heap allocation per request once warm (an
// LD_PRELOAD allocation counter, tests/support/malloc_count.c), and five syscalls per
// connection besides epoll_wait, nginx's count (strace -c attached to the worker). Counts,
// not times.
#include "harness.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // ASan's allocator and interceptors come first
#else
constexpr bool kSanitized = false;
#endif

uint64_t allocations(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  return in ? n : ~uint64_t(0);
}

void keepAliveRequests(uint16_t port, int n) {
  RawConn c(port);
  for (int i = 0; i < n; ++i) {
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.readResponse();
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
}

void connectionPerRequest(uint16_t port, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = httpGet(port, "/");
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
}

std::string tracerPid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string l; std::getline(in, l);)
    if (l.rfind("TracerPid:", 0) == 0) return l.substr(l.find_first_not_of(" \t", 10));
  return "";
}

/// strace attached to pid with args (its output to a file), until stop() returns that output.
class Trace {
 public:
  Trace(pid_t pid, std::vector<std::string> args) : out_(dir_.path() + "/strace") {
    args.insert(args.end(), {"-o", out_, "-p", std::to_string(pid)});
    tracer_ = launch("strace", args, nullptr);
    REQUIRE(waitUntil([&] { return tracerPid(pid) == std::to_string(tracer_); }, 10s));
  }
  std::string stop() {
    kill(tracer_, SIGINT);
    int status = 0;
    REQUIRE(waitUntil([&] { return waitpid(tracer_, &status, WNOHANG) == tracer_; }, 10s));
    std::ifstream in(out_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  TempDir dir_;
  std::string out_;
  pid_t tracer_ = -1;
};

}  // namespace

TEST_CASE("the hello path allocates nothing per request once warm, keep-alive or connection per request",
          "[e2e][perf]") {
  if (kSanitized) {
    WARN("skipped under AddressSanitizer: its allocator cannot be counted by a preloaded one");
    return;
  }
  TempDir counts;
  HostdProcess h(testConfig("hello", 1, "", HOSTD_PLUGIN_DIR), {},
                 {"env", std::string("LD_PRELOAD=") + MALLOC_COUNT_LIBRARY, "TEST_MALLOC_COUNT_DIR=" + counts.path()});
  uint16_t port = h.port();
  REQUIRE(h.waitForWorkerCount(1, 10s));
  const std::string file = counts.path() + "/" + std::to_string(h.workerPids()[0]);
  // Warm: the connection pool, the handle table, the buffers' capacities.
  keepAliveRequests(port, 200);
  connectionPerRequest(port, 200);
  const uint64_t start = allocations(file);
  REQUIRE(start != ~uint64_t(0));
  REQUIRE(start > 0);  // the counter counts: the worker allocated while starting

  keepAliveRequests(port, 2000);
  const uint64_t afterKeepAlive = allocations(file);
  connectionPerRequest(port, 1000);
  const uint64_t afterClose = allocations(file);
  INFO("allocations: " << afterKeepAlive - start << " over 2000 keep-alive requests, " << afterClose - afterKeepAlive
                       << " over 1000 connections of one request");
  // What is left is per second, not per request: the heartbeat to the master.
  CHECK(afterKeepAlive - start < 20);
  CHECK(afterClose - afterKeepAlive < 10);
}

TEST_CASE("a connection per request costs the worker five syscalls besides epoll_wait", "[e2e][perf]") {
  HostdProcess h(testConfig("hello", 1, "", HOSTD_PLUGIN_DIR));
  uint16_t port = h.port();
  REQUIRE(h.waitForWorkerCount(1, 10s));
  const pid_t worker = h.workerPids()[0];
  connectionPerRequest(port, 50);
  Trace trace(worker, {"-c"});
  const int connections = 300;
  connectionPerRequest(port, connections);
  const std::string text = trace.stop();
  INFO("strace -c over " << connections << " connections:\n" << text);
  // "% time  seconds  usecs/call  calls  [errors]  syscall": calls is the 4th column.
  std::map<std::string, long> calls;
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    std::istringstream f(l);
    std::vector<std::string> w;
    for (std::string x; f >> x;) w.push_back(x);
    if (w.size() >= 5 && std::isdigit(static_cast<unsigned char>(w[0][0]))) calls[w.back()] = std::stol(w[3]);
  }
  REQUIRE(calls.count("accept4"));
  CHECK(calls["accept4"] >= connections);
  long besidesWait = 0;
  for (auto& [name, n] : calls)
    if (name != "epoll_wait" && name != "total") besidesWait += n;
  // accept4, epoll_ctl ADD, read, write, close; plus the re-registration that spreads
  // connections between workers (two calls per 16 or more accepts).
  CHECK(double(besidesWait) / connections <= 5.2);
  for (const char* gone : {"getpeername", "ioctl", "setsockopt", "sched_yield"}) CHECK(calls.count(gone) == 0);
}

TEST_CASE("the master starts a worker with a vfork-style posix_spawn and never forks", "[e2e][perf]") {
  // fork copies the master's mappings: ~1 ms more of its loop per spawn, and on a loaded
  // box it waited seconds on the kernel's mapping locks (reloads stalled that long).
  HostdProcess h(testConfig("hello", 1, "", HOSTD_PLUGIN_DIR));
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  Trace trace(h.pid(), {"-e", "trace=clone,clone3,fork,vfork"});
  REQUIRE(::kill(h.workerPids().at(0), SIGKILL) == 0);
  REQUIRE(h.waitForLogCount("[H0104]", 2, 30s));  // its replacement is ready
  const std::string text = trace.stop();
  INFO("strace of the master:\n" << text);
  int spawns = 0;
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    if (l.find("clone") == std::string::npos && l.find("fork") == std::string::npos) continue;
    ++spawns;
    CHECK_THAT(l, Catch::Contains("CLONE_VM") && Catch::Contains("CLONE_VFORK"));
  }
  CHECK(spawns >= 1);
}
