// The out-of-tree story: plugins built with nothing but `pkg-config hostd-sdk` serve.
#include "harness.h"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string configFor(const TempDir& plugins, const std::string& handler, const std::string& extra = "") {
  return testConfig(handler, 2, extra, plugins.path());
}

const std::string kPkg = "export PKG_CONFIG_PATH=" HOSTD_SDK_PKGCONFIG_DIR "; ";
}  // namespace

TEST_CASE("the DESIGN.md minimal plugin compiles unchanged with the documented command and serves",
          "[e2e][examples]") {
  TempDir plugins;
  plugins.write("hello.cpp", R"(#include <hostd/plugin.hpp>

struct Hello : hostd::Handler {
  void on_request(hostd::Request& req, hostd::Response& res) override {
    res.status(200).header("Content-Type", "text/plain").send("Hello World\n");
  }
};
HOSTD_PLUGIN(Hello, "hello", "1.0.0")
)");
  REQUIRE(sh("cd " + plugins.path() + " && " + kPkg +
             "g++ -std=c++17 -O2 -shared -fPIC hello.cpp -o hello.so $(pkg-config --cflags --libs hostd-sdk)") == 0);
  HostdProcess h(configFor(plugins, "hello"));
  auto r = httpGet(h.port(), "/");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "Hello World\n");
}

TEST_CASE("examples/greeter (C++) and examples/c-hello (C99) build with their Makefiles and serve",
          "[e2e][examples]") {
  TempDir plugins;
  for (const char* ex : {"greeter", "c-hello"}) {
    INFO(ex);
    REQUIRE(sh(kPkg + "make -s -C " HOSTD_SOURCE_DIR "/examples/" + std::string(ex) + " OUT=" + plugins.path()) == 0);
  }
  {
    HostdProcess h(configFor(plugins, "greeter", "[plugin.greeter]\ngreeting = Hi\n"));
    uint16_t port = h.port();
    auto r = httpGet(port, "/?name=Ada");
    REQUIRE(r);
    CHECK(r->body == "Hi, Ada!\n");
    auto later = httpGet(port, "/later?ms=50");
    REQUIRE(later);
    CHECK(later->body == "sorry I'm late\n");
    auto echo = httpRequest(port, "POST", "/echo", "ping");
    REQUIRE(echo);
    CHECK(echo->body == "ping");
  }
  {
    HostdProcess h(configFor(plugins, "c_hello", "[plugin.c_hello]\ngreeting = Bonjour\n"));
    auto r = httpGet(h.port(), "/x");
    REQUIRE(r);
    CHECK_THAT(r->body, Catch::StartsWith("Bonjour (path /x, worker "));
  }
}

TEST_CASE("examples hit-counter, cache-invalidation and command-runner build and do what they say",
          "[e2e][examples]") {
  TempDir plugins;
  for (const char* ex : {"hit-counter", "cache-invalidation", "command-runner"}) {
    INFO(ex);
    REQUIRE(sh(kPkg + "make -s -C " HOSTD_SOURCE_DIR "/examples/" + std::string(ex) + " OUT=" + plugins.path()) == 0);
  }
  const std::string roundRobin = "[server]\nscheduling = round_robin\n";
  {
    HostdProcess h(configFor(plugins, "hit_counter", roundRobin));
    uint16_t port = h.port();
    REQUIRE(h.waitForLog("[H0105]"));
    for (int i = 1; i <= 5; ++i) {
      auto r = httpGet(port, "/home");
      REQUIRE(r);
      CHECK(r->body == "/home: " + std::to_string(i) + " hit(s)\n");
    }
    // Both workers' watches saw every hit (round_robin: two requests, two workers).
    for (int i = 0; i < 2; ++i)
      CHECK(waitUntil([&] {
        auto s = httpGet(port, "/stats");
        return s && s->body == "/home 5\n";
      }, 5s));
  }
  {
    HostdProcess h(configFor(plugins, "cache", roundRobin));
    uint16_t port = h.port();
    REQUIRE(h.waitForLog("[H0105]"));  // both workers take turns from here on
    auto cacheOf = [&] {
      auto r = httpGet(port, "/item?id=1");
      return r ? r->headers["x-cache"] : std::string("no answer");
    };
    CHECK(cacheOf() == "miss");  // worker 1
    CHECK(cacheOf() == "miss");  // worker 2
    CHECK(cacheOf() == "hit");
    CHECK(cacheOf() == "hit");
    auto inv = httpRequest(port, "POST", "/item?id=1");
    REQUIRE(inv);
    CHECK(inv->status == 202);
    CHECK(h.waitForLogCount("item 1 invalidated by worker", 2, 5s));
    CHECK(cacheOf() == "miss");
    CHECK(cacheOf() == "miss");
  }
  {
    HostdProcess h(configFor(plugins, "command_runner", "[plugin.command_runner]\ncommands = uname sleep\n"
                                                        "timeout_ms = 500\n"));
    uint16_t port = h.port();
    auto uname = httpGet(port, "/run/uname");
    REQUIRE(uname);
    CHECK(uname->body == "Linux\n");
    auto refused = httpGet(port, "/run/rm");
    REQUIRE(refused);
    CHECK(refused->status == 404);
    auto sleeping = httpGet(port, "/run/sleep");  // sleep without an operand fails at once
    REQUIRE(sleeping);
    CHECK(sleeping->status == 500);
    CHECK_THAT(sleeping->body, Catch::Contains("sleep failed: sleep: missing operand"));
  }
}

TEST_CASE("examples streamer and slow-lookup build and do what they say", "[e2e][examples]") {
  TempDir plugins;
  for (const char* ex : {"streamer", "slow-lookup"}) {
    INFO(ex);
    REQUIRE(sh(kPkg + "make -s -C " HOSTD_SOURCE_DIR "/examples/" + std::string(ex) + " OUT=" + plugins.path()) == 0);
  }
  {
    HostdProcess h(configFor(plugins, "streamer"));
    uint16_t port = h.port();
    REQUIRE(h.waitForLog("[H0105]"));
    // A slow client: 64 KiB every 2 ms, so 32 MiB take a second or more, far longer than
    // the worker needs to produce them; the stream has to wait for it, with bounded memory.
    int fd = connectLoopback(port);
    const std::string get = "GET /stream?mib=32 HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd, get.data(), get.size(), MSG_NOSIGNAL) == ssize_t(get.size()));
    std::string tail;
    size_t received = 0;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    static char buf[65536];
    while (std::chrono::steady_clock::now() < deadline) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      received += size_t(n);
      tail = (tail + std::string(buf, size_t(n))).substr(std::max<size_t>(tail.size() + size_t(n), 64) - 64);
      if (tail.size() >= 5 && tail.compare(tail.size() - 5, 5, "0\r\n\r\n") == 0) break;  // the last chunk
      std::this_thread::sleep_for(2ms);
    }
    ::close(fd);
    CHECK(received > (32u << 20));
    // 32 MiB of 18-byte lines: the last one cut after two bytes, then the last chunk.
    CHECK_THAT(tail, Catch::EndsWith("line 000001864134\nli\r\n0\r\n\r\n"));
    std::string line;
    REQUIRE(h.waitForLog("stream finished (complete)", 5s, &line));
    INFO(line);
    CHECK(line.find("waited for the client 0 time(s)") == std::string::npos);
    // A client that leaves mid-stream: the drain callback sees it gone and ends the response.
    int quitter = connectLoopback(port);
    REQUIRE(::send(quitter, get.data(), get.size(), MSG_NOSIGNAL) == ssize_t(get.size()));
    REQUIRE(::recv(quitter, buf, sizeof buf, MSG_WAITALL) > 0);
    ::close(quitter);
    CHECK(h.waitForLog("stream finished (client gone)", 20s));
  }
  {
    HostdProcess h(configFor(plugins, "slow_lookup", "[plugin.slow_lookup]\nwork_ms = 20\ndeadline_ms = 1000\n"));
    uint16_t port = h.port();
    auto ok = httpGet(port, "/lookup?key=abc");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(ok->body == "abc => cba\n");
    auto late = httpGet(port, "/lookup?key=abc&ms=3000", 5000ms);
    REQUIRE(late);
    CHECK(late->status == 504);
    CHECK(late->body == "lookup timed out\n");
    auto bad = httpGet(port, "/lookup");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(bad->body == "missing ?key=\n");
    std::vector<pid_t> before = h.workerPids();
    auto boom = httpGet(port, "/boom");
    REQUIRE(boom);
    CHECK(boom->status == 500);
    CHECK(h.waitForLog("the handler failed on purpose", 5s));
    auto again = httpGet(port, "/lookup?key=xy");
    REQUIRE(again);
    CHECK(again->body == "xy => yx\n");
    CHECK(h.workerPids() == before);  // nobody was replaced
  }
}

TEST_CASE("examples/greeter/test.sh, the documented way to test a plugin, passes against the real hostd",
          "[e2e][examples]") {
  TempDir plugins;
  REQUIRE(sh(kPkg + "make -s -C " HOSTD_SOURCE_DIR "/examples/greeter OUT=" + plugins.path()) == 0);
  std::string out = plugins.path() + "/test.out";
  int rc = sh("HOSTD=" HOSTD_BINARY " PLUGIN_SO=" + plugins.path() + "/greeter.so " HOSTD_SOURCE_DIR
              "/examples/greeter/test.sh >" + out + " 2>&1");
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(text);
  CHECK(rc == 0);
  CHECK(text.find("ok: greets by name\nok: answers later without blocking\nok: echoes a POST body\n") !=
        std::string::npos);
  // The script's checks can fail: a hostd answering something else is reported.
  int wrong = sh("HOSTD=" HOSTD_BINARY " PLUGIN_SO=" HOSTD_TEST_PLUGIN_DIR "/testplug.so " HOSTD_SOURCE_DIR
                 "/examples/greeter/test.sh >/dev/null 2>&1");
  CHECK(wrong != 0);
}
