// Checked handles (http/handles.h): a token dies with its request, its response, its connection.
#include "http/handles.h"

#include <catch2/catch.hpp>

using namespace hostd::http;

TEST_CASE("a response token resolves until its response ends, then never again", "[handles]") {
  HandleTable t;
  auto* conn = reinterpret_cast<Connection*>(0x1000);
  uint32_t slot = t.attach(conn);
  uint64_t req = 0, res = 0;
  t.begin(slot, &req, &res);
  CHECK(req != 0);
  CHECK(t.request(req) == conn);
  CHECK(t.response(res) == conn);
  t.endRequest(slot);
  CHECK(t.request(req) == nullptr);
  CHECK(t.response(res) == conn);  // a deferred response outlives its handler call
  t.endResponse(slot);
  CHECK(t.response(res) == nullptr);
  uint64_t req2 = 0, res2 = 0;
  t.begin(slot, &req2, &res2);  // the next request on the same connection
  CHECK(t.response(res) == nullptr);
  CHECK(t.request(req) == nullptr);
  CHECK(t.response(res2) == conn);
  CHECK(res2 != res);
}

TEST_CASE("a slot reused by another connection does not revive old tokens", "[handles]") {
  HandleTable t;
  auto* a = reinterpret_cast<Connection*>(0x1000);
  auto* b = reinterpret_cast<Connection*>(0x2000);
  uint32_t slot = t.attach(a);
  uint64_t req = 0, res = 0;
  t.begin(slot, &req, &res);
  t.detach(slot);
  CHECK(t.response(res) == nullptr);
  uint32_t again = t.attach(b);
  CHECK(again == slot);  // reused: no growth per connection
  CHECK(t.response(res) == nullptr);
  CHECK(t.request(req) == nullptr);
}

TEST_CASE("tokens that were never issued resolve to nothing", "[handles]") {
  HandleTable t;
  uint32_t slot = t.attach(reinterpret_cast<Connection*>(0x1000));
  (void)slot;
  CHECK(t.response(0) == nullptr);
  CHECK(t.response(~uint64_t(0)) == nullptr);
  CHECK(t.request(uint64_t(1) << 32 | 7) == nullptr);
}
