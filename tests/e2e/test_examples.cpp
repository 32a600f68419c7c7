// The out-of-tree story: plugins built with nothing but `pkg-config hostd-sdk` serve.
#include "harness.h"

#include <catch2/catch.hpp>

#include <cstdlib>

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
