// Messages between workers: hostd::broadcast / hostd::send_to, relayed by the master,
// delivered to Handler::on_message on each worker's loop.
#include "harness.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <map>

using namespace hostd::test;
using namespace std::chrono_literals;

namespace {
std::map<std::string, std::string> inboxes(uint16_t port) { return askEachWorker(port, "/inbox", 3); }

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("broadcast reaches every worker exactly once, send_to exactly one", "[e2e][messages]") {
  HostdProcess h(testConfig("testplug", 3, "[server]\nscheduling = round_robin\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));

  auto sent = httpGet(port, "/broadcast?topic=cache&payload=flush");
  REQUIRE(sent);
  REQUIRE(sent->body == "sent\n");
  std::map<std::string, std::string> boxes;
  REQUIRE(waitUntil([&] {
    boxes = inboxes(port);
    if (boxes.size() != 3) return false;
    for (auto& [w, box] : boxes)
      if (box.find("cache=flush") == std::string::npos) return false;
    return true;
  }, 5s, 50ms));
  for (auto& [w, box] : boxes) {
    INFO("worker " << w << " inbox " << box);
    CHECK(count(box, "cache=flush") == 1);
  }

  // Without include_self the sender is skipped.
  auto quiet = httpGet(port, "/broadcast?topic=others&payload=only&self=no");
  REQUIRE(quiet);
  REQUIRE(waitUntil([&] {
    boxes = inboxes(port);
    size_t got = 0;
    for (auto& [w, box] : boxes) got += count(box, "others=only");
    return boxes.size() == 3 && got == 2;
  }, 5s, 50ms));
  for (auto& [w, box] : boxes) {
    bool isSender = box.find(w + ":others=only") != std::string::npos;
    CHECK_FALSE(isSender);
  }

  // send_to: worker 2 only.
  REQUIRE(httpGet(port, "/send?to=2&topic=direct&payload=hi"));
  REQUIRE(waitUntil([&] {
    boxes = inboxes(port);
    return boxes.size() == 3 && boxes["2"].find("direct=hi") != std::string::npos;
  }, 5s, 50ms));
  CHECK(count(boxes["1"] + boxes["3"], "direct=hi") == 0);
  CHECK(count(boxes["2"], "direct=hi") == 1);
}

TEST_CASE("a message over the documented size, or to no such worker, is refused clearly", "[e2e][messages]") {
  HostdProcess h(testConfig("testplug", 2));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]"));
  auto big = httpGet(port, "/broadcast?topic=t&size=70000");
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK_THAT(big->body, Catch::Contains("HOSTD_MAX_MESSAGE") && Catch::Contains("61440"));
  auto fits = httpGet(port, "/broadcast?topic=t&size=60000");
  REQUIRE(fits);
  CHECK(fits->status == 200);
  auto nobody = httpGet(port, "/send?to=9&topic=t&payload=x");
  REQUIRE(nobody);
  CHECK(nobody->status == 413);
  CHECK_THAT(nobody->body, Catch::Contains("hostd::send_to"));
  CHECK(h.workerPids().size() == 2);
}

TEST_CASE("a worker that is starting gets a broadcast sent meanwhile, after its init", "[e2e][messages]") {
  HostdProcess h(testConfig("testplug", 2, "[server]\nscheduling = round_robin\n"
                                           "[plugin.testplug]\ninit_delay_ms = 1500\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]", 10s));
  std::vector<pid_t> pids = h.workerPids();
  REQUIRE(pids.size() == 2);
  ::kill(pids[0], SIGKILL);
  REQUIRE(h.waitForLogCount("[H0103]", 3, 5s));  // its replacement is started, in its slow init
  REQUIRE(h.countLog("[H0104]") == 2);
  auto sent = httpGet(port, "/broadcast?topic=early&payload=bird");  // only the survivor serves
  REQUIRE(sent);
  REQUIRE(sent->status == 200);
  REQUIRE(h.waitForLogCount("[H0104]", 3, 10s));
  std::map<std::string, std::string> boxes;
  REQUIRE(waitUntil([&] {
    boxes = askEachWorker(port, "/inbox", 2);
    return boxes.size() == 2;
  }, 5s));
  for (auto& [w, box] : boxes) {
    INFO("worker " << w << " inbox " << box);
    CHECK(count(box, "early=bird") == 1);
  }
}

TEST_CASE("a message held during startup may end the worker cleanly (fatal), never crash it", "[e2e][messages]") {
  HostdProcess h(testConfig("testplug", 2, "[plugin.testplug]\ninit_delay_ms = 1000\n"));
  uint16_t port = h.port();
  REQUIRE(h.waitForLog("[H0105]", 10s));
  std::vector<pid_t> pids = h.workerPids();
  REQUIRE(pids.size() == 2);
  ::kill(pids[0], SIGKILL);
  REQUIRE(h.waitForLogCount("[H0103]", 3, 5s));  // the replacement is in its slow init
  auto sent = httpGet(port, "/broadcast?topic=fatal&payload=x");
  REQUIRE(sent);
  // Both the serving worker and the one starting ask for a replacement (suicide)...
  CHECK(h.waitForLogCount("fatal from on_message", 2, 10s));
  CHECK(h.waitForLogCount("[H0205]", 2, 10s));
  // ...none crashes, and the server goes on serving.
  CHECK(h.countLog("signal 11") == 0);
  CHECK(waitUntil([&] {
    auto r = httpGet(port, "/");
    return r && r->status == 200;
  }, 10s));
}
