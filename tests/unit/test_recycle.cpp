#include "worker/worker.h"

#include <catch2/catch.hpp>

#include <set>

using hostd::worker::recycleAfter;

TEST_CASE("max_requests without jitter recycles exactly there, 0 never", "[recycle]") {
  CHECK(recycleAfter(0, 100, 12345) == 0);
  CHECK(recycleAfter(1000, 0, 12345) == 1000);
}

TEST_CASE("jitter spreads workers over [max, max + jitter]", "[recycle]") {
  std::set<uint64_t> seen;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    uint64_t n = recycleAfter(1000, 50, seed * 2654435761u);
    CHECK(n >= 1000);
    CHECK(n <= 1050);
    seen.insert(n);
  }
  CHECK(seen.size() > 40);  // not all the same: workers do not recycle in lockstep
}

TEST_CASE("resident memory of this process is readable", "[recycle]") {
  CHECK(hostd::worker::residentMb() > 0);
}
