// Poison-request quarantine (master/poison_tracker.h): counted per route, within a window.
#include "master/poison_tracker.h"

#include <catch2/catch.hpp>

using namespace hostd::master;

TEST_CASE("a route is quarantined at the Nth crash within the window, for the window", "[poison]") {
  PoisonTracker p(3, 60000);
  CHECK(p.hit("GET /crash", 0) == 0);
  CHECK(p.hit("GET /other", 100) == 0);
  CHECK(p.hit("GET /crash", 1000) == 0);
  CHECK(p.hit("GET /crash", 2000) == 3);
  auto a = p.active(2500);
  REQUIRE(a.size() == 1);
  CHECK(a[0].first == "GET /crash");
  CHECK(a[0].second == 59500);
  CHECK(p.hit("GET /crash", 3000) == 0);  // already quarantined: not announced twice
  CHECK(p.active(62000).empty());         // cooled down
}

TEST_CASE("hits older than the window do not count", "[poison]") {
  PoisonTracker p(3, 10000);
  p.hit("GET /x", 0);
  p.hit("GET /x", 5000);
  CHECK(p.hit("GET /x", 10001) == 0);  // the first one expired
  CHECK(p.hit("GET /x", 11000) == 3);
}

TEST_CASE("quarantine_after = 0 never quarantines, and clear() forgives everything", "[poison]") {
  PoisonTracker off(0, 60000);
  for (int i = 0; i < 10; ++i) CHECK(off.hit("GET /x", uint64_t(i)) == 0);
  PoisonTracker p(1, 60000);
  CHECK(p.hit("GET /x", 0) == 1);
  p.clear();
  CHECK(p.active(1).empty());
}
