#include "master/restart_policy.h"

#include <catch2/catch.hpp>

using hostd::master::RestartPolicy;

TEST_CASE("restarts are allowed up to the limit within the window", "[restart]") {
  RestartPolicy p(3, 60000);
  CHECK(p.allow(0));
  CHECK(p.allow(10));
  CHECK(p.allow(20));
  CHECK_FALSE(p.allow(30));
  CHECK(p.recent(30) == 3);
}

TEST_CASE("old restarts leave the window", "[restart]") {
  RestartPolicy p(2, 1000);
  CHECK(p.allow(0));
  CHECK(p.allow(500));
  CHECK_FALSE(p.allow(900));
  CHECK(p.allow(1000));  // the restart at 0 expired
  CHECK(p.recent(1499) == 2);
  CHECK(p.recent(2600) == 0);
}

TEST_CASE("a limit of zero never restarts", "[restart]") {
  RestartPolicy p(0, 1000);
  CHECK_FALSE(p.allow(0));
}
