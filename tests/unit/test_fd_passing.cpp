#include "ipc/fd_passing.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

using namespace hostd::ipc;

TEST_CASE("fds cross the hand-off pair close-on-exec, in order, and EOF is reported", "[ipc]") {
  int pair[2];
  REQUIRE(makeHandoffPair(pair) == 0);
  int p1[2], p2[2];
  REQUIRE(pipe(p1) == 0);
  REQUIRE(pipe(p2) == 0);
  REQUIRE(sendFd(pair[0], p1[1]) == 0);
  REQUIRE(sendFd(pair[0], p2[1]) == 0);
  close(p1[1]);
  close(p2[1]);
  std::vector<int> got;
  REQUIRE(receiveFds(pair[1], got) == 0);
  REQUIRE(got.size() == 2);
  for (int fd : got) CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  // The received fds are the pipes' write ends, in the order sent.
  REQUIRE(write(got[0], "a", 1) == 1);
  REQUIRE(write(got[1], "b", 1) == 1);
  char c;
  REQUIRE(read(p1[0], &c, 1) == 1);
  CHECK(c == 'a');
  REQUIRE(read(p2[0], &c, 1) == 1);
  CHECK(c == 'b');
  for (int fd : got) close(fd);
  close(p1[0]);
  close(p2[0]);
  close(pair[0]);
  CHECK(receiveFds(pair[1], got) == 1);
  close(pair[1]);
}

TEST_CASE("sending to a worker that is gone fails instead of blocking", "[ipc]") {
  int pair[2];
  REQUIRE(makeHandoffPair(pair) == 0);
  close(pair[1]);
  int p[2];
  REQUIRE(pipe(p) == 0);
  CHECK(sendFd(pair[0], p[0]) < 0);
  close(p[0]);
  close(p[1]);
  close(pair[0]);
}
