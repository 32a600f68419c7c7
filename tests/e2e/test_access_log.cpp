// [log] access and [log] file end to end: what a line holds in both formats, lines of
// several workers never interleave, nothing is lost at exit, and a reopen after logrotate
// moved the files (SIGUSR1 or hostctl reopen-logs) writes to new files owned by the
// workers' user.
#include "harness.h"

#include <catch2/catch.hpp>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> linesOf(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

/// Waits until `path` has at least n lines (the worker flushes at least once a second).
bool waitLines(const std::string& path, size_t n, Ms timeout = Ms(5000)) {
  return waitUntil([&] { return linesOf(path).size() >= n; }, timeout, 20ms);
}

/// Sends raw bytes on a fresh connection and reads until the server closes.
std::string raw(uint16_t port, const std::string& bytes) {
  RawConn c(port);
  c.send(bytes);
  return c.readUntilClose(3s);
}

std::string fileText(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// One combined line: 127.0.0.1 - - [01/Dec/2026:23:23:06 +0000] "GET /a HTTP/1.1" 200 12 "ref" "ua" 209 1
struct Combined {
  std::string request, status, bytes, referer, agent, micros, worker;
};

/// Splits a combined line into its fields; false if it does not have that shape. (No
/// std::regex: GCC 12 warns inside it under the sanitizer build.)
bool parseCombined(const std::string& l, Combined* out) {
  auto digits = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
  const std::string head = "127.0.0.1 - - [";
  if (l.rfind(head, 0) != 0) return false;
  size_t p = l.find("] \"", head.size());
  if (p == std::string::npos || p - head.size() != 26 || l.compare(p - 5, 5, "+0000") != 0) return false;
  auto quoted = [&](size_t& at, std::string* v) {  // at: on the opening quote
    size_t end = l.find('"', at + 1);
    if (l[at] != '"' || end == std::string::npos) return false;
    *v = l.substr(at + 1, end - at - 1);
    at = end + 1;
    return true;
  };
  auto word = [&](size_t& at, std::string* v) {  // at: on the space before it
    if (at >= l.size() || l[at] != ' ') return false;
    size_t end = l.find(' ', at + 1);
    *v = l.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
    at = end == std::string::npos ? l.size() : end;
    return true;
  };
  size_t at = p + 2;
  std::string space;
  if (!quoted(at, &out->request) || !word(at, &out->status) || !word(at, &out->bytes)) return false;
  if (++at >= l.size() || !quoted(at, &out->referer) || ++at >= l.size() || !quoted(at, &out->agent)) return false;
  if (!word(at, &out->micros) || !word(at, &out->worker) || at != l.size()) return false;
  return out->status.size() == 3 && digits(out->status) && digits(out->bytes) && digits(out->micros) &&
         (out->worker == "1" || out->worker == "2");
}

}  // namespace

TEST_CASE("the combined access log: request, status, bytes, referer, agent, time in us and worker", "[e2e][accesslog]") {
  TempDir logs;
  const std::string path = logs.path() + "/access.log";
  HostdProcess h(testConfig("testplug", 1, "[log]\naccess = " + path + "\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK_THAT(raw(port, "GET /echo?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: probe \"7\"\r\nReferer: http://r/\r\n"
                       "Connection: close\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 200"));
  REQUIRE(httpGet(port, "/nowhere"));
  CHECK_THAT(raw(port, "GET / HTTP/1.1\r\n\r\n"), Catch::StartsWith("HTTP/1.1 400"));  // no Host: refused by the engine
  REQUIRE(waitLines(path, 3));
  std::vector<std::string> lines = linesOf(path);
  REQUIRE(lines.size() == 3);
  Combined m;
  INFO(lines[0]);
  REQUIRE(parseCombined(lines[0], &m));
  CHECK(m.request == "GET /echo?x=1 HTTP/1.1");
  CHECK(m.status == "200");
  CHECK(m.referer == "http://r/");
  CHECK(m.agent == "probe \\x227\\x22");  // quotes escaped as nginx does
  CHECK(m.worker == "1");
  INFO(lines[1]);
  REQUIRE(parseCombined(lines[1], &m));
  CHECK(m.request == "GET /nowhere HTTP/1.1");
  CHECK(m.status == "404");
  CHECK(m.bytes == std::to_string(std::string("not found\n").size()));
  INFO(lines[2]);
  REQUIRE(parseCombined(lines[2], &m));
  CHECK(m.status == "400");
}

TEST_CASE("a request refused after a served one on the same connection is logged as itself", "[e2e][accesslog]") {
  TempDir logs;
  const std::string path = logs.path() + "/access.log";
  HostdProcess h(testConfig("testplug", 1, "[log]\naccess = " + path + "\n"));
  uint16_t port = h.port();
  RawConn c(port);
  REQUIRE(c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(c.readResponse());
  REQUIRE(c.send("NOT HTTP AT ALL\r\n\r\n"));  // garbage: the parser refuses it before a request line
  auto r = c.readResponse();
  REQUIRE(r);
  CHECK(r->status == 400);
  REQUIRE(waitLines(path, 2));
  std::vector<std::string> lines = linesOf(path);
  REQUIRE(lines.size() == 2);
  Combined m;
  INFO(lines[1]);
  REQUIRE(parseCombined(lines[1], &m));
  CHECK(m.status == "400");
  CHECK(m.request.find("/first") == std::string::npos);
}

TEST_CASE("the json access log: one object per line", "[e2e][accesslog]") {
  TempDir logs;
  const std::string path = logs.path() + "/access.json";
  HostdProcess h(testConfig("testplug", 1, "[log]\naccess = " + path + "\naccess_format = json\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  CHECK_THAT(raw(port, "POST /echo HTTP/1.1\r\nHost: t\r\nUser-Agent: a\"b\r\nContent-Length: 12\r\n"
                       "Connection: close\r\n\r\ntwelve bytes"),
             Catch::StartsWith("HTTP/1.1 200"));
  REQUIRE(waitLines(path, 1));
  const std::string line = linesOf(path).at(0);
  INFO(line);
  Poco::JSON::Parser parser;
  auto o = parser.parse(line).extract<Poco::JSON::Object::Ptr>();
  CHECK(o->getValue<std::string>("method") == "POST");
  CHECK(o->getValue<std::string>("target") == "/echo");
  CHECK(o->getValue<std::string>("protocol") == "HTTP/1.1");
  CHECK(o->getValue<int>("status") == 200);
  CHECK(o->getValue<uint64_t>("bytes") == 12);
  CHECK(o->getValue<uint64_t>("request_bytes") > 12);
  CHECK(o->getValue<int>("worker") == 1);
  CHECK(o->getValue<std::string>("user_agent") == "a\"b");  // escaped in the line: valid JSON
  CHECK(o->has("request_time_us"));
  CHECK_THAT(o->getValue<std::string>("time"), Catch::EndsWith("Z"));
}

TEST_CASE("access log lines of several workers never interleave, and none is lost at exit", "[e2e][accesslog]") {
  TempDir logs;
  const std::string path = logs.path() + "/access.log";
  // round_robin: connections alternate between the workers, so both write (with shared
  // accept one worker may take every connection, e.g. under the sanitizers).
  HostdProcess h(testConfig("testplug", 2, "[server]\nscheduling = round_robin\n[log]\naccess = " + path + "\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  std::vector<std::string> bodies = requestMany(port, "/", 8, 250);
  REQUIRE(bodies.size() == 2000);
  REQUIRE(h.signal(SIGTERM) == 0);  // at once: the last lines are still buffered
  auto code = h.waitExit(15s);
  REQUIRE(code);
  CHECK(*code == 0);
  std::vector<std::string> lines = linesOf(path);
  CHECK(lines.size() == 2000);
  size_t bad = 0;
  std::set<std::string> workers;
  for (const std::string& l : lines) {
    Combined m;
    if (!parseCombined(l, &m)) ++bad;
    else workers.insert(m.worker);
  }
  CHECK(bad == 0);
  CHECK(workers.size() == 2);
}

TEST_CASE("SIGUSR1 and hostctl reopen-logs reopen the access log and the server log after logrotate moved them",
          "[e2e][accesslog]") {
  TempDir logs;
  const std::string access = logs.path() + "/access.log", server = logs.path() + "/hostd.log";
  HostdProcess h(testConfig("testplug", 2, "[log]\naccess = " + access + "\nfile = " + server +
                                               "\n[control]\nsocket = control.sock\n"));
  // The server log is the file now, not stderr: the port is in there.
  std::string listening;
  REQUIRE(waitUntil([&] {
    for (const std::string& l : linesOf(server))
      if (l.find("listening on 127.0.0.1:") != std::string::npos && l.find("[H0101]") != std::string::npos) listening = l;
    return !listening.empty();
  }, 10s, 20ms));
  const size_t at = listening.find("listening on 127.0.0.1:") + 23;
  const uint16_t port = uint16_t(std::stoi(listening.substr(at)));
  REQUIRE(waitUntil([&] { return fileText(server).find("[H0105]") != std::string::npos; }, 10s, 20ms));
  CHECK(h.output().find("[H0105]") == std::string::npos);  // nothing on stderr any more
  REQUIRE(httpGet(port, "/before"));
  REQUIRE(waitLines(access, 1));

  for (const char* how : {"SIGUSR1", "hostctl"}) {
    INFO(how);
    std::string rotated = access + "." + how, rotatedServer = server + "." + how;
    REQUIRE(::rename(access.c_str(), rotated.c_str()) == 0);
    REQUIRE(::rename(server.c_str(), rotatedServer.c_str()) == 0);
    if (std::string(how) == "SIGUSR1") {
      REQUIRE(h.signal(SIGUSR1) == 0);
    } else {
      RunResult r = runProgram(HOSTCTL_BINARY, {"-c", h.configPath(), "reopen-logs"});
      CHECK(r.exitCode == 0);
    }
    REQUIRE(waitUntil([&] { return fileText(server).find("[H0147]") != std::string::npos; }, 5s, 20ms));
    // Both workers reopen when they read the frame: requests until each wrote to the new file.
    REQUIRE(waitUntil([&] {
      httpGet(port, std::string("/after-") + how);
      std::set<std::string> workers;
      for (const std::string& l : linesOf(access)) {
        Combined m;
        if (parseCombined(l, &m)) workers.insert(m.worker);
      }
      return workers.size() == 2;
    }, 10s, 20ms));
    for (const std::string& l : linesOf(rotated)) CHECK_THAT(l, !Catch::Contains("/after-" + std::string(how)));
    if (geteuid() == 0) {  // handed to the workers' user, who reopened them
      struct stat st {};
      REQUIRE(stat(access.c_str(), &st) == 0);
      CHECK(st.st_uid == 65534);
      REQUIRE(stat(server.c_str(), &st) == 0);
      CHECK(st.st_uid == 65534);
    }
  }
}
