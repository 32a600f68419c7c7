#include "ipc/frame.h"

#include <catch2/catch.hpp>

using namespace hostd::ipc;

TEST_CASE("every frame type round-trips", "[ipc]") {
  for (MsgType t : {MsgType::Ready, MsgType::Restart, MsgType::Suicide, MsgType::Heartbeat, MsgType::Message,
                    MsgType::InitFailed}) {
    std::string wire = encodeFrame(t, "payload of " + std::string(msgTypeName(t)));
    FrameDecoder d;
    std::vector<Frame> out;
    REQUIRE(d.feed(wire.data(), wire.size(), out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == t);
    CHECK(out[0].payload == "payload of " + std::string(msgTypeName(t)));
    CHECK(d.buffered() == 0);
  }
}

TEST_CASE("a frame fed one byte at a time", "[ipc]") {
  std::string wire = encodeFrame(MsgType::Suicide, "handler error: boom");
  FrameDecoder d;
  std::vector<Frame> out;
  for (size_t i = 0; i < wire.size(); ++i) {
    REQUIRE(d.feed(&wire[i], 1, out));
    CHECK(out.size() == (i + 1 == wire.size() ? 1u : 0u));
  }
  CHECK(out[0].payload == "handler error: boom");
}

TEST_CASE("several frames in one feed, the last one partial", "[ipc]") {
  std::string wire = encodeFrame(MsgType::Ready, "hello 1.0") + encodeFrame(MsgType::Heartbeat, "") +
                     encodeFrame(MsgType::Restart, "");
  std::string partial = encodeFrame(MsgType::InitFailed, "init failed: no db");
  wire += partial.substr(0, 3);  // not even a whole header
  FrameDecoder d;
  std::vector<Frame> out;
  REQUIRE(d.feed(wire.data(), wire.size(), out));
  REQUIRE(out.size() == 3);
  CHECK(out[1].type == MsgType::Heartbeat);
  CHECK(out[1].payload.empty());
  CHECK(d.buffered() == 3);
  REQUIRE(d.feed(partial.data() + 3, partial.size() - 3, out));
  REQUIRE(out.size() == 4);
  CHECK(out[3].payload == "init failed: no db");
}

TEST_CASE("maximum payload passes, one byte more is refused", "[ipc]") {
  std::string big(kMaxPayload, 'x');
  std::string wire = encodeFrame(MsgType::Message, big);
  FrameDecoder d;
  std::vector<Frame> out;
  REQUIRE(d.feed(wire.data(), wire.size(), out));
  CHECK(out.at(0).payload.size() == kMaxPayload);

  CHECK_THROWS_AS(encodeFrame(MsgType::Message, std::string(kMaxPayload + 1, 'x')), std::length_error);
  std::string header = {0, 1, 0, 1, 5};  // 65537 bytes announced
  FrameDecoder d2;
  CHECK_FALSE(d2.feed(header.data(), header.size(), out));
  CHECK_THAT(d2.error(), Catch::Contains("65537"));
}

TEST_CASE("an unknown type is a protocol error that sticks", "[ipc]") {
  std::string wire = encodeFrame(MsgType::Ready, "x");
  wire[4] = char(42);
  FrameDecoder d;
  std::vector<Frame> out;
  CHECK_FALSE(d.feed(wire.data(), wire.size(), out));
  CHECK_THAT(d.error(), Catch::Contains("42"));
  std::string good = encodeFrame(MsgType::Ready, "x");
  CHECK_FALSE(d.feed(good.data(), good.size(), out));
  CHECK(out.empty());
}

TEST_CASE("garbage bytes are refused", "[ipc]") {
  std::string garbage = "GET / HTTP/1.1\r\n";
  FrameDecoder d;
  std::vector<Frame> out;
  CHECK_FALSE(d.feed(garbage.data(), garbage.size(), out));
  CHECK_FALSE(d.error().empty());
}

TEST_CASE("heartbeat payload round-trips and checks its size", "[ipc]") {
  Heartbeat hb;
  hb.requests = 1234567890123ull;
  hb.accepted = 42;
  hb.active = 7;
  Heartbeat back;
  REQUIRE(decodeHeartbeat(encodeHeartbeat(hb), &back));
  CHECK(back.requests == hb.requests);
  CHECK(back.accepted == 42);
  CHECK(back.active == 7);
  CHECK_FALSE(decodeHeartbeat("short", &back));
}

TEST_CASE("heartbeat metrics: status classes, bytes and the duration histogram round-trip", "[ipc]") {
  Heartbeat hb;
  hb.children = 3;
  hb.countRequest(200, 100, 12, 400);      // <= 500 us: bucket 0
  hb.countRequest(404, 80, 10, 501);       // bucket 1 (<= 1 ms)
  hb.countRequest(503, 80, 10, 7000000);   // slower than the last bound: the overflow bucket
  Heartbeat back;
  REQUIRE(decodeHeartbeat(encodeHeartbeat(hb), &back));
  CHECK(back.children == 3);
  CHECK(back.statusClass[1] == 1);
  CHECK(back.statusClass[3] == 1);
  CHECK(back.statusClass[4] == 1);
  CHECK(back.bytesIn == 260);
  CHECK(back.bytesOut == 32);
  CHECK(back.durationSumUs == 7000901);
  CHECK(back.durationBuckets[0] == 1);
  CHECK(back.durationBuckets[1] == 1);
  CHECK(back.durationBuckets[Heartbeat::kBuckets - 1] == 1);
  CHECK(encodeHeartbeat(hb).size() == kHeartbeatSize);
}
