#include "ipc/message.h"

#include <catch2/catch.hpp>

using namespace hostd::ipc;

TEST_CASE("plugin messages round-trip, including empty and binary parts", "[ipc]") {
  PluginMessage m;
  m.kind = PluginMessage::SendTo;
  m.includeSelf = false;
  m.target = 3;
  m.from = 1;
  m.topic = "cache.invalidate";
  m.payload = std::string("key\0with\0nul", 12);
  PluginMessage back;
  REQUIRE(decodePluginMessage(encodePluginMessage(m), &back));
  CHECK(back.kind == PluginMessage::SendTo);
  CHECK_FALSE(back.includeSelf);
  CHECK(back.target == 3);
  CHECK(back.from == 1);
  CHECK(back.topic == m.topic);
  CHECK(back.payload == m.payload);
  PluginMessage empty;
  REQUIRE(decodePluginMessage(encodePluginMessage(empty), &back));
  CHECK(back.topic.empty());
  CHECK(back.payload.empty());
}

TEST_CASE("malformed plugin messages are refused", "[ipc]") {
  PluginMessage back;
  CHECK_FALSE(decodePluginMessage("", &back));
  CHECK_FALSE(decodePluginMessage("short", &back));
  std::string bad = encodePluginMessage(PluginMessage{});
  bad[0] = 9;  // unknown kind
  CHECK_FALSE(decodePluginMessage(bad, &back));
  std::string cut = encodePluginMessage(PluginMessage{PluginMessage::Broadcast, true, 0, 1, "topic", "x"});
  cut[11] = 100;  // topic longer than the message
  CHECK_FALSE(decodePluginMessage(cut, &back));
}
