// The test plugin: one route per behaviour the end-to-end tests need.
// Built twice: testplug.so (TESTPLUG_VERSION "v1") and testplug_v2.so ("v2").
#include <hostd/plugin.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

#ifndef TESTPLUG_VERSION
#define TESTPLUG_VERSION "v1"
#endif

// Streams `left` chunks of 64 KiB to res, honouring back-pressure (/big-stream).
void pump(hostd::Response res, std::shared_ptr<size_t> left) {
  static const std::string chunk(64 * 1024, 'z');
  while (*left > 0 && res.writable() && !res.client_gone()) {
    res.write(chunk);
    --*left;
  }
  if (*left == 0 || res.client_gone()) return res.end();
  res.on_drain([res, left]() mutable { pump(res, left); });
}

struct TestPlug : hostd::Handler {
  std::vector<std::string> hoard;  // /grow keeps memory here
  std::string inbox;               // every message received: "from:topic=payload;"
  std::string staleResult = "none";  // what the last stale handle use did (/stale-*)

  void on_message(std::string_view topic, std::string_view payload, int from) override {
    inbox += std::to_string(from) + ":" + std::string(topic) + "=" + std::string(payload) + ";";
    if (topic == "fatal") hostd::fatal("fatal from on_message");
  }

  void init() override {
    std::string fail = hostd::config("fail_init");
    if (!fail.empty()) throw std::runtime_error(fail);
    if (hostd::config("crash_init") == "true") std::abort();
    if (hostd::config("fatal_init") == "true") hostd::fatal("cannot go on without its database");
    // A slow start (a cache warming up): messages sent meanwhile must still arrive.
    if (std::string ms = hostd::config("init_delay_ms"); !ms.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoul(ms)));
    // Crash in init only while this file exists: turns a healthy cluster into a crash loop.
    std::string marker = hostd::config("crash_init_if_exists");
    if (!marker.empty() && access(marker.c_str(), F_OK) == 0) std::abort();
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    std::string_view path = req.path();
    if (path == "/") {
      res.send("testplug " TESTPLUG_VERSION "\n");
    } else if (path == "/remote") {
      res.send(req.remote_addr());
    } else if (path == "/pid") {
      res.send(std::to_string(getpid()));
    } else if (path == "/worker") {
      res.send(std::to_string(hostd::worker_id()));
    } else if (path == "/throw") {
      throw std::runtime_error("boom from /throw");
    } else if (path == "/slow") {
      unsigned ms = unsigned(std::stoul(std::string(req.query_param("ms").empty() ? "100" : req.query_param("ms"))));
      hostd::log_info("slow request started (" + std::to_string(ms) + " ms)");
      hostd::set_timeout(ms, [res]() mutable { res.send("slow done\n"); });
    } else if (path == "/echo") {
      if (req.has_header("content-type")) res.header("Content-Type", req.header("content-type"));
      res.send(req.body());
    } else if (path == "/stream") {
      int n = std::stoi(std::string(req.query_param("n").empty() ? "3" : req.query_param("n")));
      for (int i = 0; i < n; ++i) res.write("chunk " + std::to_string(i) + "\n");
      res.end();
    } else if (path == "/config") {
      res.send(hostd::config(req.query_param("key"), "<unset>"));
    } else if (path == "/header") {
      res.send(req.header(req.query_param("name")));
    } else if (path == "/fatal") {
      hostd::fatal("fatal from /fatal");
      res.send("ok\n");
    } else if (path == "/block") {
      // A blocking call (sleep) on the host's thread pool; the loop stays free.
      unsigned ms = unsigned(std::stoul(std::string(req.query_param("ms").empty() ? "100" : req.query_param("ms"))));
      hostd::queue_work([ms] { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); },
                        [res, ms](std::exception_ptr err) mutable {
                          res.send(err ? "failed\n" : "blocked " + std::to_string(ms) + " ms off the loop\n");
                        });
    } else if (path == "/work-throws") {
      hostd::queue_work([] { throw std::runtime_error("disk on fire"); },
                        [res](std::exception_ptr err) mutable {
                          try {
                            if (err) std::rethrow_exception(err);
                            res.send("no error?\n");
                          } catch (const std::exception& e) {
                            res.status(503).send(std::string("work failed: ") + e.what() + "\n");
                          }
                        });
    } else if (path == "/broadcast" || path == "/send") {
      try {
        std::string payload(req.query_param("payload"));
        if (!req.query_param("size").empty()) payload.assign(std::stoul(std::string(req.query_param("size"))), 'p');
        if (path == "/broadcast") hostd::broadcast(req.query_param("topic"), payload, req.query_param("self") != "no");
        else hostd::send_to(std::stoi(std::string(req.query_param("to"))), req.query_param("topic"), payload);
        res.send("sent\n");
      } catch (const hostd::Error& e) {
        res.status(413).send(std::string(e.what()) + "\n");
      }
    } else if (path == "/inbox") {
      res.send(std::to_string(hostd::worker_id()) + "|" + inbox);
    } else if (path == "/burn") {
      // CPU-heavy request (bench fairness): spin for ms milliseconds on the loop.
      unsigned ms = unsigned(std::stoul(std::string(req.query_param("ms").empty() ? "5" : req.query_param("ms"))));
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      while (std::chrono::steady_clock::now() < until) {
      }
      res.send("burnt\n");
    } else if (path == "/grow") {
      size_t mb = std::stoul(std::string(req.query_param("mb").empty() ? "10" : req.query_param("mb")));
      hoard.emplace_back(mb * 1024 * 1024, 'x');  // touched: resident
      res.send("grew " + std::to_string(mb) + " MB\n");
    } else if (path == "/stale-response") {
      // Answers now, then uses a kept copy of the handle 100 ms later: it must hit nothing.
      res.send("A");
      hostd::set_timeout(100, [this, res]() mutable {
        try {
          res.send("LEAK-from-a");
          staleResult = "sent";
        } catch (const hostd::Error& e) {
          staleResult = "error " + std::to_string(e.code());
        }
      });
    } else if (path == "/stale-request") {
      // Keeps the request handle and reads another request's header through it later.
      hostd::Request kept = req;
      res.send("kept");
      hostd::set_timeout(100, [this, kept]() {
        staleResult = "authorization=[" + std::string(kept.header("authorization")) + "] path=[" +
                      std::string(kept.path()) + "]";
      });
    } else if (path == "/stale-result") {
      res.send(staleResult);
    } else if (path == "/big-stream") {
      // ?chunks=N x 64 KiB, streamed with back-pressure (bounded memory for any client).
      size_t chunks = std::stoul(std::string(req.query_param("chunks").empty() ? "16" : req.query_param("chunks")));
      res.header("Content-Type", "application/octet-stream");
      pump(res, std::make_shared<size_t>(chunks));
    } else if (path == "/flood") {
      // ?mb=N written at once, ignoring back-pressure: only send_timeout bounds it.
      size_t mb = std::stoul(std::string(req.query_param("mb").empty() ? "64" : req.query_param("mb")));
      std::string mib(1024 * 1024, 'f');
      for (size_t i = 0; i < mb; ++i) res.write(mib);
      res.end();
    } else if (path == "/frame") {
      // Framing mistakes: the engine refuses them; the body says what it refused.
      std::string_view c = req.query_param("case");
      std::string refused;
      auto attempt = [&](auto&& f) {
        try {
          f();
        } catch (const hostd::Error& e) {
          refused += std::to_string(e.code()) + ";";
        }
      };
      if (c == "204" || c == "304") {
        res.status(c == "204" ? 204 : 304);
        attempt([&] { res.write("body after a " + std::string(c)); });
        res.header("X-Refused", refused).end();
      } else if (c == "long") {  // Content-Length 2, 8 bytes offered
        attempt([&] { res.header("Content-Length", "2").write("12345678"); });
        res.header("X-Refused", refused);
        res.end("ab");
      } else if (c == "short") {  // Content-Length 10, 3 bytes sent
        res.header("Content-Length", "10").end("abc");
      } else if (c == "te-cl") {
        attempt([&] { res.header("Transfer-Encoding", "chunked").header("Content-Length", "5"); });
        attempt([&] { res.header("Transfer-Encoding", "gzip"); });
        res.header("X-Refused", refused).send("hello");
      } else if (c == "name") {
        attempt([&] { res.header("Bad Name", "x"); });
        attempt([&] { res.header("X-Ok", "a\x01b"); });
        attempt([&] { res.status(101); });
        res.header("X-Refused", refused).send("names");
      }
    } else if (path == "/throw-after-head") {
      res.write("partial ");
      throw std::runtime_error("boom after the head");
    } else if (path == "/timer-throws") {
      hostd::set_timeout(10, [] { throw std::runtime_error("boom from a timer"); });
      res.send("armed\n");
    } else if (path == "/log-inject") {
      // Plugin text with newlines must not forge log lines.
      std::string forged = "innocent\n2026-01-01 00:00:00.000 F [1 master] [H0999] forged line";
      hostd::log_info(forged);
      res.send("injected\n");
    } else if (path == "/fatal-inject") {
      hostd::fatal("bad\r\n[H0999] forged fatal");
      res.send("ok\n");
    } else if (path == "/crash") {
      std::raise(SIGSEGV);
    } else if (path == "/spin") {
      hostd::log_info("spinning forever");
      for (volatile unsigned long i = 0;; i = i + 1) {
      }
    } else {
      res.status(404).send("not found\n");
    }
  }
};

HOSTD_PLUGIN(TestPlug, "testplug", TESTPLUG_VERSION)
