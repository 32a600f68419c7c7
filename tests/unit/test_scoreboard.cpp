// The scoreboard (ipc/scoreboard.h): what a worker writes, the master reads, through a memfd.
#include "ipc/scoreboard.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

using namespace hostd::ipc;

TEST_CASE("the master reads what the worker's plugin is serving, and idle after it", "[scoreboard]") {
  ScoreBoardSlot master;
  REQUIRE(master.fd() >= 0);
  ScoreWriter worker;
  worker.attach(fcntl(master.fd(), F_DUPFD_CLOEXEC, 0));  // as the worker gets it: its own fd
  master.closeFd();
  CHECK_FALSE(master.read().busy);
  worker.begin("GET", "/crash?x=1", "/crash", "127.0.0.1:5555");
  Score s = master.read();
  CHECK(s.busy);
  CHECK(s.method == "GET");
  CHECK(s.target == "/crash?x=1");
  CHECK(s.remote == "127.0.0.1:5555");
  CHECK(s.path == "/crash");
  CHECK(s.forMs < 1000);
  worker.end();
  CHECK_FALSE(master.read().busy);
}

TEST_CASE("long targets are truncated, never overflow the slot", "[scoreboard]") {
  ScoreBoardSlot master;
  ScoreWriter worker;
  worker.attach(fcntl(master.fd(), F_DUPFD_CLOEXEC, 0));
  std::string longPath = "/" + std::string(5000, 't');
  worker.begin(std::string(100, 'M'), longPath, longPath, std::string(100, 'r'));
  Score s = master.read();
  CHECK(s.method.size() == sizeof(ScoreSlot::method));
  CHECK(s.target.size() == sizeof(ScoreSlot::target));
  CHECK(s.remote.size() == sizeof(ScoreSlot::remote));
  CHECK(s.path.empty());  // a path that did not fit is no route key
}

TEST_CASE("a worker without a slot writes nothing and does not crash", "[scoreboard]") {
  ScoreWriter none;
  none.attach(-1);
  none.begin("GET", "/", "/", "x");
  none.end();
  SUCCEED();
}
