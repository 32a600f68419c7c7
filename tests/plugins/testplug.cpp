// The test plugin: one route per behaviour the end-to-end tests need.
// Built twice: testplug.so (TESTPLUG_VERSION "v1") and testplug_v2.so ("v2").
#include <hostd/plugin.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

#ifndef TESTPLUG_VERSION
#define TESTPLUG_VERSION "v1"
#endif

struct TestPlug : hostd::Handler {
  std::vector<std::string> hoard;  // /grow keeps memory here
  std::string inbox;               // every message received: "from:topic=payload;"

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
