// The hardened HTTP engine, end to end: each test pins one finding of the review with raw
// loopback sockets against the real binary (stale handles, unbounded output, send timeout,
// response framing, exceptions, restart policy, log injection).
#include "harness.h"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
using Clock = std::chrono::steady_clock;

constexpr size_t kMiB = 1024 * 1024;
const std::string kGetRoot = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

long long msSince(Clock::time_point t) {
  return std::chrono::duration_cast<Ms>(Clock::now() - t).count();
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

/// The single worker of a `workers = 1` server, once it reported ready.
pid_t onlyWorker(HostdProcess& h) {
  REQUIRE(h.waitForLog("[H0105]"));
  REQUIRE(h.waitForWorkerCount(1, 5s));
  return h.workerPids().at(0);
}

/// Sockets a process holds (its listening socket and its client connections).
size_t socketCount(pid_t pid) {
  std::vector<std::string> fds = listFds(pid);
  return size_t(std::count_if(fds.begin(), fds.end(), [](const std::string& f) { return f.rfind("socket:", 0) == 0; }));
}

/// A raw client socket for what RawConn does not do: non-blocking sends, reads that are
/// counted instead of kept, a view of how the stream ended.
class Sock {
 public:
  explicit Sock(uint16_t port) : fd_(connectLoopback(port)) {}
  ~Sock() { ::close(fd_); }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;

  bool sendAll(const std::string& bytes) {
    for (size_t done = 0; done < bytes.size();) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += size_t(n);
    }
    return true;
  }
  /// What the socket takes now, without waiting: bytes taken (0 if its buffer is full), -1 on error.
  ssize_t sendSome(const char* p, size_t n) {
    ssize_t r = ::send(fd_, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return r;
  }
  bool waitWritable(Ms timeout) { return waitFor(POLLOUT, timeout); }
  bool waitReadable(Ms timeout) { return waitFor(POLLIN, timeout); }
  /// Up to max bytes within timeout: >0 bytes, 0 at EOF, -1 on timeout, -2 on an error
  /// (lastErrno() says which).
  ssize_t recvSome(char* buf, size_t max, Ms timeout) {
    if (!waitReadable(timeout)) return -1;
    ssize_t n = ::recv(fd_, buf, max, 0);
    if (n < 0) {
      errno_ = errno;
      return -2;
    }
    return n;
  }
  int lastErrno() const { return errno_; }

  /// One response with a Content-Length body (all that GET / needs), from buf_ and the socket.
  std::optional<HttpResponse> readResponse(Clock::time_point deadline) {
    size_t headEnd;
    while ((headEnd = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    HttpResponse r;
    if (buf_.compare(0, 9, "HTTP/1.1 ") != 0 || !parseResponseHead(buf_.substr(0, headEnd), &r)) return std::nullopt;
    buf_.erase(0, headEnd + 4);
    if (!r.headers.count("content-length")) return std::nullopt;
    size_t len = std::stoul(r.headers["content-length"]);
    while (buf_.size() < len)
      if (!fill(deadline)) return std::nullopt;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

 private:
  bool waitFor(short events, Ms timeout) {
    pollfd p{fd_, events, 0};
    return poll(&p, 1, int(timeout.count())) > 0;
  }
  bool fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    char tmp[16384];
    ssize_t n = recvSome(tmp, sizeof tmp, left);
    if (n <= 0) return false;
    buf_.append(tmp, size_t(n));
    return true;
  }
  int fd_;
  int errno_ = 0;
  std::string buf_;
};

/// Counts the body bytes of a chunked body fed to it in arbitrary pieces, without keeping them.
class ChunkedCounter {
 public:
  /// Feeds bytes; returns how many of them belonged to the message (the rest follows it).
  size_t feed(const char* p, size_t n) {
    size_t i = 0;
    while (i < n && state_ != Done && !bad_) {
      switch (state_) {
        case Size:
          line_ += p[i++];
          if (line_.size() > 40) bad_ = true;
          if (line_.size() >= 2 && line_.compare(line_.size() - 2, 2, "\r\n") == 0) {
            char* end = nullptr;
            left_ = std::strtoull(line_.c_str(), &end, 16);
            if (end == line_.c_str() || (*end != '\r' && *end != ';')) bad_ = true;
            line_.clear();
            state_ = left_ ? Data : Trailer;
          }
          break;
        case Data: {
          size_t take = size_t(std::min<uint64_t>(left_, n - i));
          body_ += take;
          left_ -= take;
          i += take;
          if (left_ == 0) state_ = DataEnd;
          break;
        }
        case DataEnd:
        case Trailer:
          line_ += p[i++];
          if (line_.size() == 2) {
            if (line_ != "\r\n") bad_ = true;  // no trailers expected either
            line_.clear();
            state_ = state_ == DataEnd ? Size : Done;
          }
          break;
        case Done:
          break;
      }
    }
    return i;
  }
  uint64_t body() const { return body_; }
  bool done() const { return state_ == Done; }
  bool bad() const { return bad_; }

 private:
  enum State { Size, Data, DataEnd, Trailer, Done } state_ = Size;
  std::string line_;
  uint64_t left_ = 0;
  uint64_t body_ = 0;
  bool bad_ = false;
};

/// Nothing the sanitizers (ASan/UBSan builds) reported in the server's output.
void checkNoSanitizerReport(const HostdProcess& h) {
  std::string out = h.output();
  CHECK(out.find("Sanitizer") == std::string::npos);
  CHECK(out.find("runtime error:") == std::string::npos);
}

std::string bodyOf(uint16_t port, const std::string& target) {
  auto r = httpGet(port, target);
  return r ? r->body : std::string("<no answer>");
}
}  // namespace

// Finding: a copy of a finished response handle reached the NEXT response on the same
// keep-alive connection (the plugin's stale res.send() answered someone else's request).
TEST_CASE("a stale response handle cannot answer the next request on a keep-alive connection",
          "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  onlyWorker(h);
  RawConn c(port);
  // Both at once: /slow is pending (400 ms) when the 100 ms timer uses the stale copy.
  REQUIRE(c.send("GET /stale-response HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto a = c.readResponse();
  REQUIRE(a);
  CHECK(a->status == 200);
  CHECK(a->body == "A");
  auto slow = c.readResponse();
  REQUIRE(slow);
  CHECK(slow->status == 200);
  CHECK(slow->body == "slow done\n");
  for (auto& [name, value] : slow->headers) CHECK(value.find("LEAK") == std::string::npos);
  REQUIRE(c.send("GET /stale-result HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto result = c.readResponse();
  REQUIRE(result);
  CHECK(result->body == "error -9");  // HOSTD_ESTALE
  // And nothing else arrived on the connection (no stray bytes of a leaked answer).
  std::string rest = c.readUntilClose(300ms);
  CHECK(rest.find("LEAK-from-a") == std::string::npos);
  CHECK(rest.empty());
  checkNoSanitizerReport(h);
}

// Finding: a response handle kept past a connection's end pointed into freed memory.
TEST_CASE("a stale response handle after the client left is refused without a crash", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  onlyWorker(h);
  std::string pidBefore = bodyOf(port, "/pid");
  {
    RawConn c(port);
    REQUIRE(c.send("GET /stale-response HTTP/1.1\r\nHost: x\r\n\r\n"));
  }  // closed at once: the connection is gone when the 100 ms timer fires
  std::string result;
  bool settled = waitUntil([&] {
    result = bodyOf(port, "/stale-result");
    return result != "none";
  }, 3s, 20ms);
  CHECK(settled);
  CHECK(result == "error -9");  // HOSTD_ESTALE
  CHECK(bodyOf(port, "/pid") == pidBefore);
  CHECK(h.countLog("[H0109]") == 0);
  checkNoSanitizerReport(h);
}

// Finding: a kept request handle read the headers (Authorization) of the next request on
// the same connection.
TEST_CASE("a stale request handle reads nothing of the next request", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  onlyWorker(h);
  RawConn c(port);
  REQUIRE(c.send("GET /stale-request HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\nAuthorization: secret-of-b\r\n\r\n"));
  auto kept = c.readResponse();
  REQUIRE(kept);
  CHECK(kept->body == "kept");
  auto slow = c.readResponse();
  REQUIRE(slow);
  CHECK(slow->body == "slow done\n");
  REQUIRE(c.send("GET /stale-result HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto result = c.readResponse();
  REQUIRE(result);
  CHECK(result->body.find("secret-of-b") == std::string::npos);
  CHECK(result->body == "authorization=[] path=[]");
  checkNoSanitizerReport(h);
}

// Finding: pipelined requests from a client that never reads were parsed and answered
// without bound: the unsent responses grew the worker's memory until it died.
TEST_CASE("a pipelining client that never reads is stopped by max_output_buffer", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1, "max_output_buffer = 65536\n"));
  uint16_t port = h.port();
  pid_t worker = onlyWorker(h);
  REQUIRE(bodyOf(port, "/") == "testplug v1\n");  // warm: first-request allocations done
  const long before = residentKb(worker);
  REQUIRE(before > 0);

  Sock s(port);
  std::string block;
  while (block.size() + kGetRoot.size() <= kMiB) block += kGetRoot;
  const size_t total = 21 * kMiB / kGetRoot.size() * kGetRoot.size();  // whole requests, ~21 MiB
  size_t pushed = 0;
  long maxRss = before;
  auto start = Clock::now();
  while (pushed < total && Clock::now() - start < 3s) {
    size_t off = pushed % block.size();
    ssize_t n = s.sendSome(block.data() + off, std::min(block.size() - off, total - pushed));
    REQUIRE(n >= 0);
    pushed += size_t(n);
    if (n == 0) {
      maxRss = std::max(maxRss, residentKb(worker));
      s.waitWritable(50ms);
    }
  }
  maxRss = std::max(maxRss, residentKb(worker));
  WARN("pushed " << pushed / 1024 << " KiB of " << total / 1024 << " KiB in " << msSince(start)
                 << " ms; worker RSS " << before << " KiB -> max " << maxRss << " KiB");
  CHECK(pushed < total);                  // the server stopped reading
  CHECK(maxRss - before < 16 * 1024);     // and did not buffer the answers

  // The answers it did produce are intact and in order.
  auto deadline = Clock::now() + 10s;
  for (int i = 0; i < 100; ++i) {
    INFO("response " << i);
    auto r = s.readResponse(deadline);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "testplug v1\n");
  }
  CHECK(processAlive(worker));
  checkNoSanitizerReport(h);
}

// Finding: a streamed response had no back-pressure: a large body to a slow reader was
// buffered whole in the worker.
TEST_CASE("streaming 1 GiB to a slow reader keeps the worker's memory bounded", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  pid_t worker = onlyWorker(h);
  REQUIRE(bodyOf(port, "/big-stream?chunks=4").size() == 4 * 65536);  // warm
  const long baseline = residentKb(worker);
  REQUIRE(baseline > 0);

  const uint64_t expected = uint64_t(16384) * 65536;  // 1 GiB
  auto start = Clock::now();
  auto deadline = start + 60s;
  Sock s(port);
  REQUIRE(s.sendAll("GET /big-stream?chunks=16384 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::vector<char> buf(64 * 1024);
  std::string head;
  ChunkedCounter body;
  long maxRss = baseline;
  uint64_t nextPause = 16 * kMiB, nextSample = 64 * kMiB;
  bool timedOut = false, stalled = false, ended = false;
  while (!body.done() && !body.bad()) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
    if (left.count() <= 0) {
      timedOut = true;
      break;
    }
    // 10 s without a byte is a stalled stream: fail now rather than at the deadline.
    ssize_t n = s.recvSome(buf.data(), buf.size(), std::min<Ms>(left, 10s));
    if (n == -1) {
      (Clock::now() >= deadline ? timedOut : stalled) = true;
      break;
    }
    if (n <= 0) {
      ended = true;
      break;
    }
    const char* p = buf.data();
    size_t len = size_t(n);
    if (head.find("\r\n\r\n") == std::string::npos) {
      size_t had = head.size();
      head.append(p, len);
      size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t used = end + 4 - had;
      head.resize(end + 4);
      p += used;
      len -= used;
    }
    body.feed(p, len);
    if (body.body() >= nextPause) {  // a bit slow: 1 ms every 16 MiB
      std::this_thread::sleep_for(1ms);
      nextPause += 16 * kMiB;
    }
    if (body.body() >= nextSample) {
      maxRss = std::max(maxRss, residentKb(worker));
      nextSample += 64 * kMiB;
    }
  }
  maxRss = std::max(maxRss, residentKb(worker));
  WARN("1 GiB stream: " << body.body() / kMiB << " MiB in " << msSince(start) << " ms; worker RSS baseline "
                        << baseline << " KiB, max " << maxRss << " KiB (+" << (maxRss - baseline) / 1024 << " MiB)");
  CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 200"));
  CHECK(lower(head).find("transfer-encoding: chunked") != std::string::npos);
  CHECK_FALSE(timedOut);
  CHECK_FALSE(stalled);
  CHECK_FALSE(ended);
  CHECK_FALSE(body.bad());
  CHECK(body.done());
  CHECK(body.body() == expected);
  CHECK(maxRss - baseline < 32 * 1024);
  checkNoSanitizerReport(h);
}

// Finding: a client that takes no output held its connection (and everything written to
// it) forever: nothing bounded how long a write may wait.
TEST_CASE("a client that never reads a flooded response is cut off by send_timeout", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1, "send_timeout = 2\n"));
  uint16_t port = h.port();
  pid_t worker = onlyWorker(h);
  const size_t idleSockets = socketCount(worker);  // the listening socket

  Sock s(port);
  REQUIRE(s.sendAll("GET /flood?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto start = Clock::now();
  REQUIRE(s.waitReadable(5s));  // the worker took it and answers (we read nothing yet)
  // The worker ends the connection on its own: its socket goes away.
  bool closed = waitUntil([&] { return socketCount(worker) <= idleSockets; }, 6s, 50ms);
  long long tookMs = msSince(start);
  WARN("flood connection closed by the worker after " << tookMs << " ms");
  CHECK(closed);
  CHECK(tookMs >= 1500);  // by send_timeout (2 s, swept once a second), not at once

  // Now read: what was already on its way, then the end of the stream.
  uint64_t received = 0;
  std::vector<char> buf(256 * 1024);
  ssize_t n = 0;
  auto readStart = Clock::now();
  while ((n = s.recvSome(buf.data(), buf.size(), 5s)) > 0 && Clock::now() - readStart < 20s) received += uint64_t(n);
  WARN("received " << received << " bytes before the end of the stream");
  CHECK(received > 0);
  CHECK(received < 64 * kMiB);
  bool eof = n == 0, reset = n == -2 && s.lastErrno() == ECONNRESET;
  CHECK((eof || reset));

  auto r = httpGet(port, "/");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "testplug v1\n");
  CHECK(h.workerPids() == std::vector<pid_t>{worker});
  checkNoSanitizerReport(h);
}

// Finding: the engine trusted the plugin's framing: a body on a 204/304, more bytes than
// the Content-Length, Transfer-Encoding next to Content-Length, bad header names and
// 1xx statuses went out as given and desynchronised the next response on the connection.
TEST_CASE("framing mistakes of a plugin are refused and never desync the connection", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  onlyWorker(h);
  struct Case {
    std::string name;
    int status;
    std::string body;
    std::string refused;
  };
  const std::vector<Case> cases = {
      {"204", 204, "", "-2;"},
      {"304", 304, "", "-2;"},
      {"long", 200, "ab", "-2;"},
      {"te-cl", 200, "hello", "-2;-2;"},
      {"name", 200, "names", "-2;-2;-2;"},
  };
  for (const Case& k : cases) {
    INFO("case=" << k.name);
    RawConn c(port);
    REQUIRE(c.send("GET /frame?case=" + k.name + " HTTP/1.1\r\nHost: x\r\n\r\n" + kGetRoot));
    auto r = c.readResponse();
    REQUIRE(r);
    CHECK(r->status == k.status);
    CHECK(r->body == k.body);
    CHECK(r->headers["x-refused"] == k.refused);
    if (k.status == 204) {
      CHECK(r->headers.count("content-length") == 0);
      CHECK(r->headers.count("transfer-encoding") == 0);
    }
    if (k.status == 304) CHECK(r->headers.count("transfer-encoding") == 0);
    if (k.name == "long") CHECK(r->headers["content-length"] == "2");
    if (k.name == "name") {
      CHECK(r->headers.count("bad name") == 0);
      CHECK(r->headers.count("x-ok") == 0);
    }
    auto next = c.readResponse();  // the pipelined GET /: framing intact
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(next->body == "testplug v1\n");
  }
  {
    INFO("case=short");
    RawConn c(port);
    REQUIRE(c.send("GET /frame?case=short HTTP/1.1\r\nHost: x\r\n\r\n" + kGetRoot));
    std::string all = c.readUntilClose(5s);
    CHECK(c.closed());
    size_t headEnd = all.find("\r\n\r\n");
    REQUIRE(headEnd != std::string::npos);
    CHECK_THAT(all, Catch::StartsWith("HTTP/1.1 200"));
    CHECK(lower(all.substr(0, headEnd + 2)).find("\r\ncontent-length: 10\r\n") != std::string::npos);
    CHECK(all.substr(headEnd + 4) == "abc");  // 3 of 10 bytes, then the close; the GET / not answered here
  }
  checkNoSanitizerReport(h);
}

// Finding: any exception from a handler made the worker replace itself, so one request
// could recycle a worker; an exception after the head ended the response as if complete;
// an exception from a timer was not contained.
TEST_CASE("exceptions are request errors by default and the worker keeps serving", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  pid_t worker = onlyWorker(h);
  const std::string pidBefore = bodyOf(port, "/pid");
  REQUIRE(pidBefore == std::to_string(worker));

  int got500 = 0;
  for (int i = 0; i < 300; ++i) {
    auto r = httpGet(port, "/throw");
    if (r && r->status == 500) ++got500;
  }
  CHECK(got500 == 300);
  CHECK(bodyOf(port, "/pid") == pidBefore);
  std::string line;
  REQUIRE(h.waitForLog("[H0203]", 5s, &line));
  CHECK(line.find("boom from /throw") != std::string::npos);
  CHECK(h.waitForLogCount("[H0203]", 300, 5s));

  {  // an exception after the head cuts the response off
    RawConn c(port);
    REQUIRE(c.send("GET /throw-after-head HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string all = c.readUntilClose(5s);
    CHECK(c.closed());
    CHECK_THAT(all, Catch::StartsWith("HTTP/1.1 200"));
    CHECK(all.find("partial ") != std::string::npos);
    CHECK(all.find("0\r\n\r\n") == std::string::npos);  // no terminating chunk: visibly incomplete
  }
  {  // an exception in a timer is logged and contained
    auto r = httpGet(port, "/timer-throws");
    REQUIRE(r);
    CHECK(r->body == "armed\n");
    std::string timerLine;
    REQUIRE(h.waitForLog("[H0210]", 5s, &timerLine));
    CHECK(timerLine.find("boom from a timer") != std::string::npos);
    CHECK(bodyOf(port, "/") == "testplug v1\n");
  }
  CHECK(bodyOf(port, "/pid") == pidBefore);
  CHECK(h.countLog("[H0106]") == 0);  // no suicide
  CHECK(h.countLog("[H0205]") == 0);
  CHECK(h.workerPids() == std::vector<pid_t>{worker});
  checkNoSanitizerReport(h);
}

// Finding: with on_exception = replace, every failing request spawned a replacement at
// once, outside the restart policy: a client could make the cluster respawn at will.
TEST_CASE("on_exception = replace goes through the restart policy", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1, "[cluster]\non_exception = replace\nrestart_limit = 3\nrestart_window = 60\n"));
  uint16_t port = h.port();
  pid_t first = onlyWorker(h);
  REQUIRE(bodyOf(port, "/pid") == std::to_string(first));

  auto r = httpGet(port, "/throw", 3s);
  REQUIRE(r);
  CHECK(r->status == 500);
  // A replacement (another pid) serves before the slot gives up.
  std::string seen;
  bool replaced = waitUntil([&] {
    auto p = httpGet(port, "/pid", 2s);
    if (p && p->status == 200) seen = p->body;
    return !seen.empty() && seen != std::to_string(first);
  }, 10s, 20ms);
  CHECK(replaced);
  CHECK(h.countLog("[H0114]") == 0);

  auto start = Clock::now();
  bool gaveUp = false;
  while (!gaveUp && Clock::now() - start < 20s) {
    httpGet(port, "/throw", 1s);  // failures are expected once workers drain
    gaveUp = h.countLog("[H0114]") > 0;
    if (!gaveUp) std::this_thread::sleep_for(10ms);
  }
  INFO(h.output());
  CHECK(gaveUp);
  CHECK(h.countLog("[H0103]") <= 1 + 3);
  CHECK(h.countLog("[H0103]") >= 2);
  WARN("gave up after " << msSince(start) << " ms; workers started: " << h.countLog("[H0103]"));
  checkNoSanitizerReport(h);
}

// Finding: a plugin's text with CR/LF forged whole log lines (e.g. a fake master line).
TEST_CASE("plugin text cannot forge log lines", "[e2e][contained]") {
  HostdProcess h(testConfig("testplug", 1));
  uint16_t port = h.port();
  onlyWorker(h);
  CHECK(bodyOf(port, "/log-inject") == "injected\n");
  REQUIRE(h.waitForLog("forged line", 5s));
  CHECK(bodyOf(port, "/fatal-inject") == "ok\n");
  REQUIRE(h.waitForLog("[H0204]", 5s));
  REQUIRE(h.waitForLog("[H0106]", 5s));
  CHECK(h.waitForLogCount("[H0104]", 2, 10s));  // the replacement is ready; the logging is done
  std::string out = h.output();
  std::istringstream lines(out);
  std::string line;
  size_t forged = 0;
  while (std::getline(lines, line)) {
    for (size_t at = line.find("[H0999]"); at != std::string::npos; at = line.find("[H0999]", at + 1)) {
      ++forged;
      INFO("line: " << line);
      size_t escaped = line.find("\\n");
      CHECK(escaped != std::string::npos);
      CHECK(escaped < at);
    }
  }
  CHECK(forged >= 3);  // the plugin log line, the fatal (H0204) and the suicide (H0106)
  checkNoSanitizerReport(h);
}
