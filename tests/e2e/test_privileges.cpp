// [server] user / group and plugin trust, end to end. The suite runs as root (CI does): the
// workers, their children and the plugin probe really switch users.
#include "harness.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace hostd::test;

// Switching users needs root: elsewhere these say so and pass (CI runs as root, so they run there).
#define SKIP_UNLESS_ROOT()                                                         \
  if (geteuid() != 0) {                                                           \
    WARN("skipped: needs root to switch users (run the suite as root, as CI does)"); \
    return;                                                                       \
  }
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// "Uid:" -> "65534 65534 65534 65534" (real, effective, saved, filesystem), from /proc.
std::string statusField(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream ss(line.substr(field.size() + 1));
    std::string out;
    for (std::string v; ss >> v;) out += (out.empty() ? "" : " ") + v;
    return out;
  }
  return "<none>";
}

/// A plugins directory of our own holding testplug as app.so.
struct Plugins {
  TempDir dir;
  std::string so = dir.path() + "/app.so";
  Plugins() { fs::copy_file(std::string(HOSTD_TEST_PLUGIN_DIR) + "/testplug.so", so); }
  std::string config(const std::string& extra = "") const {
    return testConfig("app", 1, extra, dir.path());
  }
};

struct Env {
  const char* name;
  Env(const char* n, const std::string& v) : name(n) { setenv(n, v.c_str(), 1); }
  ~Env() { unsetenv(name); }
};

}  // namespace

TEST_CASE("as root without [server] user, workers and their children run as nobody and the master stays root",
          "[e2e][privileges]") {
  SKIP_UNLESS_ROOT();
  HostdProcess h(testConfig("shareplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK_THAT(h.output(), Catch::Contains("as nobody:nogroup (uid 65534)"));
  CHECK(statusField(h.pid(), "Uid") == "0 0 0 0");
  for (pid_t w : h.workerPids()) {
    INFO("worker " << w);
    CHECK(statusField(w, "Uid") == "65534 65534 65534 65534");
    CHECK(statusField(w, "Gid") == "65534 65534 65534 65534");
    CHECK(statusField(w, "Groups") == "65534");  // nobody's own group only: root's are gone
  }
  auto r = httpGet(port, "/exec?cmd=id%20-u%3B%20id%20-g", 5s);
  REQUIRE(r);
  CHECK_THAT(r->body, Catch::Contains("out=65534\n65534\n"));
}

TEST_CASE("[server] user = root is written explicitly to run workers as root", "[e2e][privileges]") {
  SKIP_UNLESS_ROOT();
  HostdProcess h(testConfig("testplug", 1, "[server]\nuser = root\n"));
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK(statusField(h.workerPids().at(0), "Uid") == "0 0 0 0");
}

TEST_CASE("user and group by name or number, with the user's supplementary groups", "[e2e][privileges]") {
  SKIP_UNLESS_ROOT();
  HostdProcess h(testConfig("testplug", 1, "[server]\nuser = 65534\ngroup = daemon\n"));
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK_THAT(h.output(), Catch::Contains("as nobody:daemon (uid 65534)"));
  pid_t w = h.workerPids().at(0);
  CHECK(statusField(w, "Uid") == "65534 65534 65534 65534");
  CHECK(statusField(w, "Gid") == "1 1 1 1");
  CHECK(statusField(w, "Groups") == "1");
}

TEST_CASE("the plugin probe runs the plugin's static initialisers as the workers' user", "[e2e][privileges]") {
  SKIP_UNLESS_ROOT();
  TempDir out;
  std::string record = out.write("who", "");
  REQUIRE(::chmod(record.c_str(), 0666) == 0);
  Env env("STATIC_UID_FILE", record);
  HostdProcess h(testConfig("static_uid", 2));
  h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::ifstream f(record);
  int lines = 0;
  for (std::string pid, uid, gid; f >> pid >> uid >> gid; ++lines) {
    INFO("pid " << pid);
    CHECK(uid == "65534");
    CHECK(gid == "65534");
  }
  CHECK(lines == 3);  // the start-up probe and two workers
  // hostd -t probes a private copy the same way: never the plugin's code as root.
  std::ofstream(record, std::ios::trunc).close();
  RunResult t = runHostd({"-t", "-c", TempDir().write("server.ini", testConfig("static_uid", 1))});
  CHECK(t.exitCode == 0);
  std::ifstream again(record);
  std::string pid, uid, gid;
  REQUIRE(again >> pid >> uid >> gid);
  CHECK(uid == "65534");
}

TEST_CASE("an unknown user or group is a config error naming file and key, before binding", "[e2e][privileges]") {
  for (const std::string& bad : {std::string("user = no-such-user-xq"), std::string("group = no-such-group-xq")}) {
    INFO(bad);
    TempDir d;
    std::string path = d.write("server.ini", testConfig("testplug", 1, "[server]\n" + bad + "\n"));
    RunResult t = runHostd({"-t", "-c", path});
    CHECK(t.exitCode == 1);
    CHECK_THAT(t.output, Catch::Contains(path + ": [server] " + bad.substr(0, bad.find(' '))) &&
                             Catch::Contains("expected an existing"));
    RunResult r = runHostd({"-c", path});
    CHECK(r.exitCode == 1);
    CHECK_THAT(r.output, !Catch::Contains("[H0101]"));  // never listened
  }
}

TEST_CASE("a plugin others could replace is refused at -t, at start and at reload", "[e2e][privileges]") {
  Plugins p;
  TempDir d;
  std::string path = d.write("server.ini", p.config());
  REQUIRE(::chmod(p.so.c_str(), 0666) == 0);
  RunResult t = runHostd({"-t", "-c", path});
  CHECK(t.exitCode == 1);
  CHECK_THAT(t.output, Catch::Contains("plugin " + p.so + " is writable by group or others") &&
                           Catch::Contains("mode 0666") && Catch::Contains("chmod go-w " + p.so));
  RunResult r = runHostd({"-c", path});
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.output, Catch::Contains("writable by group or others"));

  REQUIRE(::chmod(p.so.c_str(), 0644) == 0);
  HostdProcess h(p.config());
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<pid_t> before = h.workerPids();
  REQUIRE(::chmod(p.so.c_str(), 0666) == 0);
  REQUIRE(h.signal(SIGHUP) == 0);
  REQUIRE(h.waitForLog("[H0121]", 10s));
  CHECK_THAT(h.output(), Catch::Contains("writable by group or others"));
  auto served = httpGet(port, "/");
  REQUIRE(served);
  CHECK(served->status == 200);
  CHECK(h.workerPids() == before);
  REQUIRE(::chmod(p.so.c_str(), 0644) == 0);
  REQUIRE(h.signal(SIGHUP) == 0);
  CHECK(h.waitForLog("[H0123] reload finished", 15s));
}

TEST_CASE("a plugins directory others can write to, or a plugin owned by another user, is refused",
          "[e2e][privileges]") {
  SKIP_UNLESS_ROOT();
  {
    Plugins p;
    REQUIRE(::chmod(p.dir.path().c_str(), 0777) == 0);
    RunResult t = runHostd({"-t", "-c", TempDir().write("server.ini", p.config())});
    CHECK(t.exitCode == 1);
    CHECK_THAT(t.output, Catch::Contains("plugins directory " + p.dir.path() + " is writable by group or others"));
  }
  {
    Plugins p;
    REQUIRE(::chown(p.so.c_str(), 65534, 65534) == 0);
    RunResult t = runHostd({"-t", "-c", TempDir().write("server.ini", p.config())});
    CHECK(t.exitCode == 1);
    CHECK_THAT(t.output, Catch::Contains("is owned by another user (owner uid 65534 (nobody)") &&
                             Catch::Contains("chown root " + p.so));
  }
  {  // a directory above the plugins directory that anyone can write to (it could be swapped)
    TempDir open;
    REQUIRE(::chmod(open.path().c_str(), 0777) == 0);
    const std::string inner = open.path() + "/inner";
    fs::create_directory(inner);
    REQUIRE(::chmod(inner.c_str(), 0755) == 0);
    fs::copy_file(std::string(HOSTD_TEST_PLUGIN_DIR) + "/testplug.so", inner + "/app.so");
    RunResult t = runHostd({"-t", "-c", TempDir().write("server.ini", testConfig("app", 1, "", inner))});
    CHECK(t.exitCode == 1);
    CHECK_THAT(t.output, Catch::Contains("plugins directory " + open.path() + " is writable by group or others"));
  }
  {  // a symlink to a plugin in a directory anyone can write to
    Plugins p;
    TempDir open;
    REQUIRE(::chmod(open.path().c_str(), 0777) == 0);
    fs::rename(p.so, open.path() + "/real.so");
    fs::create_symlink(open.path() + "/real.so", p.so);
    RunResult t = runHostd({"-t", "-c", TempDir().write("server.ini", p.config())});
    CHECK(t.exitCode == 1);
    CHECK_THAT(t.output, Catch::Contains("plugins directory " + open.path() + " is writable by group or others"));
  }
}
