// The strict HTTP/1.1 engine, end to end: exact raw bytes on fresh loopback connections,
// the status each one must get, and whether the connection is closed afterwards.
// Rules: RFC 9110 (semantics) and RFC 9112 (HTTP/1.1 message syntax).
#include "harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {

/// One hostd shared by every test in this file (started on first use, started again if it
/// died). keepalive_timeout is raised from the harness's 2 s so that "closed within 2 s"
/// can only mean the server ended the connection on purpose, not that it idled out.
uint16_t strictPort() {
  static std::unique_ptr<HostdProcess> h;
  if (!h || !processAlive(h->pid())) {
    h.reset();
    h = std::make_unique<HostdProcess>(testConfig("testplug", 1, "keepalive_timeout = 10\n"));
  }
  return h->port();
}

/// The bytes with CR, LF and anything not printable escaped, cut at `max` characters.
std::string printable(const std::string& s, size_t max = 300) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch == '\r') out += "\\r";
    else if (ch == '\n') out += "\\n";
    else if (ch == '\\') out += "\\\\";
    else if (std::isprint(ch)) out += char(ch);
    else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", ch);
      out += hex;
    }
  }
  if (s.size() > max) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

/// The status code at the start of raw response bytes ("HTTP/1.x NNN ..."), 0 if none.
int statusOf(const std::string& raw) {
  if (raw.size() < 12 || raw.compare(0, 7, "HTTP/1.") != 0 || raw[8] != ' ') return 0;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(raw[i]))) return 0;
    code = code * 10 + (raw[i] - '0');
  }
  return code;
}

/// Sends `request` on a fresh connection (in pieces of `piece` bytes if non-zero; a send
/// that fails because the server already gave up ends the sending, not the test) and
/// checks the server answers `status` and then closes the connection within 2 s.
void expectStatusAndClose(const std::string& request, int status, size_t piece = 0) {
  INFO("request: " << printable(request));
  RawConn c(strictPort());
  if (piece == 0) {
    c.send(request);
  } else {
    for (size_t at = 0; at < request.size(); at += piece)
      if (!c.send(request.substr(at, piece))) break;
  }
  std::string all = c.readUntilClose(2s);
  INFO("answer: " << printable(all));
  CHECK(statusOf(all) == status);
  CHECK(c.closed());
}

/// The connection is still usable: another request on it gets testplug's "/" answer.
void expectStillOpen(RawConn& c) {
  REQUIRE(c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto again = c.readResponse(2s);
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(again->body == "testplug v1\n");
  CHECK_FALSE(c.closed());
}

}  // namespace

// ---- Host (RFC 9112 3.2, RFC 9110 7.2) ----

TEST_CASE("strict: an HTTP/1.1 request without Host is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/1.1\r\n\r\n", 400);
}

TEST_CASE("strict: two Host headers are 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400);
}

TEST_CASE("strict: an empty Host value is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);
}

TEST_CASE("strict: a Host with user info is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", 400);
}

TEST_CASE("strict: a Host with a path is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/1.1\r\nHost: example.com/path\r\n\r\n", 400);
}

// ---- request-target forms (RFC 9112 3.2) ----

TEST_CASE("strict: the asterisk form with GET is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET * HTTP/1.1\r\nHost: localhost\r\n\r\n", 400);
}

TEST_CASE("strict: OPTIONS in the asterisk form reaches the handler and keeps the connection", "[e2e][http][strict]") {
  RawConn c(strictPort());
  REQUIRE(c.send("OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto r = c.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 404);  // testplug has no route "*": the handler was reached
  CHECK(r->body == "not found\n");
  expectStillOpen(c);
}

TEST_CASE("strict: CONNECT is 501 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501);
}

TEST_CASE("strict: raw non-ASCII bytes in the target are 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n", 400);
}

TEST_CASE("strict: the authority of an absolute-form target replaces Host", "[e2e][http][strict]") {
  RawConn c(strictPort());
  REQUIRE(c.send("GET http://example.com/header?name=host HTTP/1.1\r\nHost: other.example\r\n\r\n"));
  auto r = c.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "example.com");
  expectStillOpen(c);
}

TEST_CASE("strict: the absolute form with a scheme other than http or https is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
}

// ---- header fields (RFC 9112 5) ----

TEST_CASE("strict: a header line with an empty name is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/1.1\r\nHost: localhost\r\n: value\r\n\r\n", 400);
}

// ---- version (RFC 9110 6.2, 15.6.6) ----

TEST_CASE("strict: HTTP/2.0 in a request line is 505 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505);
}

// ---- Transfer-Encoding and framing (RFC 9112 6) ----

TEST_CASE("strict: an empty Transfer-Encoding is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: \r\n\r\n", 400);
}

TEST_CASE("strict: Transfer-Encoding in an HTTP/1.0 request is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose(
      "POST /echo HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400);
}

TEST_CASE("strict: Transfer-Encoding gzip then chunked is 501 and closed", "[e2e][http][strict]") {
  expectStatusAndClose(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      501);
}

TEST_CASE("strict: Transfer-Encoding gzip alone is 400 and closed since chunked is not last", "[e2e][http][strict]") {
  expectStatusAndClose("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nhello", 400);
}

TEST_CASE("strict: Transfer-Encoding with Content-Length is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n",
      400);
}

TEST_CASE("strict: chunk data not followed by CRLF is 400 and closed", "[e2e][http][strict]") {
  expectStatusAndClose(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400);
}

TEST_CASE("strict: a 64 KiB chunk extension is 400 and closed", "[e2e][http][strict]") {
  // Default limits (max_header_bytes 8192): a chunk header is bounded like a head.
  expectStatusAndClose("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
                           std::string(65536, 'a') + "\r\nhello\r\n0\r\n\r\n",
                       400, 1024);
}

TEST_CASE("strict: a body trickled past body_timeout is 408 and closed", "[e2e][http][strict]") {
  HostdProcess h(testConfig("testplug", 1, "body_timeout = 2\n"));
  RawConn c(h.port());
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n"));
  auto head = std::chrono::steady_clock::now();
  auto since = [&] { return std::chrono::steady_clock::now() - head; };
  // One body byte a second (each byte would reset an inactivity timer); the wait between
  // bytes is the read itself, which returns as soon as the server closes.
  std::string all;
  int sent = 0;
  while (!c.closed() && since() < 6s) {
    all += c.readUntilClose(std::min<Ms>(1s, std::chrono::duration_cast<Ms>(6s - since()) + 1ms));
    if (!c.closed() && sent < 10 && c.send("x")) ++sent;
  }
  auto took = std::chrono::duration_cast<Ms>(since()).count();
  INFO("answer after " << took << " ms and " << sent << " body bytes: " << printable(all));
  CHECK(statusOf(all) == 408);
  REQUIRE(c.closed());
  CHECK(took <= 5000);
}

// ---- trailers ----

TEST_CASE("strict: a request with a 3 KiB trailer is answered and the connection serves the next one",
          "[e2e][http][strict]") {
  // The trailer grows the head's buffer after the head's views were built: they must not
  // point into freed memory (ASan), and the next request must see its own Host.
  RawConn c(strictPort());
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\nX-Trailer: " +
                 std::string(3072, 'x') + "\r\n\r\n"));
  auto r = c.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  REQUIRE(c.send("GET /header?name=host HTTP/1.1\r\nHost: after-trailer.example\r\n\r\n"));
  auto next = c.readResponse(2s);
  REQUIRE(next);
  CHECK(next->status == 200);
  CHECK(next->body == "after-trailer.example");
}

// ---- controls: what must keep working ----

TEST_CASE("strict: control - a plain HTTP/1.1 GET is 200 and keeps the connection", "[e2e][http][strict]") {
  RawConn c(strictPort());
  REQUIRE(c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto r = c.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "testplug v1\n");
  expectStillOpen(c);
}

TEST_CASE("strict: control - HTTP/1.0 without Host is 200", "[e2e][http][strict]") {
  RawConn c(strictPort());
  REQUIRE(c.send("GET / HTTP/1.0\r\n\r\n"));
  auto r = c.readResponse(2s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "testplug v1\n");
}
