#include "master/restart_policy.h"

#include <catch2/catch.hpp>

using hostd::master::RestartPolicy;

namespace {
RestartPolicy::Params params(unsigned limit, uint64_t windowMs) {
  RestartPolicy::Params p;
  p.limit = limit;
  p.windowMs = windowMs;
  return p;
}
}  // namespace

TEST_CASE("restarts are allowed up to the limit within the window, then the slot is given up", "[restart]") {
  RestartPolicy p(params(3, 60000));
  CHECK(p.onCrash(0, 10, "a").respawn);
  CHECK(p.onCrash(10, 10, "b").respawn);
  CHECK(p.onCrash(20, 10, "c").respawn);
  CHECK_FALSE(p.onCrash(30, 10, "d").respawn);
  CHECK(p.recent(30) == 3);
  CHECK(p.lastReasons() == "b; c; d");
}

TEST_CASE("quick crashes back off exponentially up to the cap", "[restart]") {
  RestartPolicy::Params pp = params(100, 600000);
  pp.firstDelayMs = 100;
  pp.maxDelayMs = 1000;
  RestartPolicy p(pp);
  std::vector<uint64_t> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(p.onCrash(uint64_t(i) * 10, 5, "crash").delayMs);
  CHECK(delays == std::vector<uint64_t>{100, 200, 400, 800, 1000, 1000});
}

TEST_CASE("a worker that ran for the stable period resets the backoff", "[restart]") {
  RestartPolicy::Params pp = params(100, 600000);
  pp.stableMs = 10000;
  RestartPolicy p(pp);
  CHECK(p.onCrash(0, 5, "x").delayMs == 100);
  CHECK(p.onCrash(10, 5, "x").delayMs == 200);
  CHECK(p.onCrash(30000, 20000, "x").delayMs == 100);
}

TEST_CASE("old restarts leave the window", "[restart]") {
  RestartPolicy p(params(2, 1000));
  CHECK(p.onCrash(0, 1, "").respawn);
  CHECK(p.onCrash(500, 1, "").respawn);
  CHECK_FALSE(p.onCrash(900, 1, "").respawn);
  CHECK(p.onCrash(1000, 1, "").respawn);  // the restart at 0 expired
  CHECK(p.recent(2600) == 0);
}

TEST_CASE("a limit of zero never restarts", "[restart]") {
  RestartPolicy p(params(0, 1000));
  CHECK_FALSE(p.onCrash(0, 1, "boom").respawn);
  CHECK(p.lastReasons() == "boom");
}
