#include "ipc/fd_passing.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

using namespace hostd::ipc;

TEST_CASE("fds cross the hand-off pair close-on-exec, in order, and EOF is reported", "[ipc]") {
  int pair[2];
  REQUIRE(makeHandoffPair(pair) == 0);
  int p1[2], p2[2];
  REQUIRE(pipe(p1) == 0);
  REQUIRE(pipe(p2) == 0);
  Accepted a1, a2;
  a1.fd = p1[1];
  a2.fd = p2[1];
  auto* sin = reinterpret_cast<sockaddr_in*>(&a2.peer);  // the second one comes with an address
  sin->sin_family = AF_INET;
  sin->sin_port = htons(4321);
  sin->sin_addr.s_addr = htonl(0x7f000001);
  a2.peerLen = sizeof(sockaddr_in);
  REQUIRE(sendFd(pair[0], a1) == 0);
  REQUIRE(sendFd(pair[0], a2) == 0);
  close(p1[1]);
  close(p2[1]);
  std::vector<Accepted> got;
  REQUIRE(receiveFds(pair[1], got) == 0);
  REQUIRE(got.size() == 2);
  for (const Accepted& a : got) CHECK((fcntl(a.fd, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(got[0].peerLen == 0);
  REQUIRE(got[1].peerLen == sizeof(sockaddr_in));
  const auto* back = reinterpret_cast<const sockaddr_in*>(&got[1].peer);
  CHECK(back->sin_family == AF_INET);
  CHECK(ntohs(back->sin_port) == 4321);
  CHECK(ntohl(back->sin_addr.s_addr) == 0x7f000001u);
  // The received fds are the pipes' write ends, in the order sent.
  REQUIRE(write(got[0].fd, "a", 1) == 1);
  REQUIRE(write(got[1].fd, "b", 1) == 1);
  char c;
  REQUIRE(read(p1[0], &c, 1) == 1);
  CHECK(c == 'a');
  REQUIRE(read(p2[0], &c, 1) == 1);
  CHECK(c == 'b');
  for (const Accepted& a : got) close(a.fd);
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
  Accepted a;
  a.fd = p[0];
  CHECK(sendFd(pair[0], a) < 0);
  close(p[0]);
  close(p[1]);
  close(pair[0]);
}
