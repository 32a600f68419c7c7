// Shared state without processes: the wire codec, the embedded store's rules, a worker's
// replica (snapshot, changes, acks, watches) and the Redis change message.
#include "ipc/frame.h"
#include "ipc/state_wire.h"
#include "master/redis_link.h"
#include "master/state_store.h"
#include "worker/state_replica.h"

#include <catch2/catch.hpp>

using namespace hostd;
using ipc::StateMsg;

namespace {
StateMsg write(StateMsg::Op op, const std::string& key, const std::string& value = "", int64_t delta = 0) {
  StateMsg m;
  m.kind = StateMsg::Write;
  m.op = op;
  m.key = key;
  m.value = value;
  m.number = delta;
  return m;
}

std::string change(const std::string& key, const std::string* value) {
  return ipc::encodeStateMsg(master::makeChange(key, value));
}
}  // namespace

TEST_CASE("state messages round-trip with binary keys and values", "[state]") {
  StateMsg m = write(StateMsg::Incr, std::string("k\0y", 3), std::string("v\0\xff", 3), -42);
  m.id = 7;
  m.status = HOSTD_EUNAVAILABLE;
  StateMsg back;
  REQUIRE(ipc::decodeStateMsg(ipc::encodeStateMsg(m), &back));
  CHECK(back.kind == StateMsg::Write);
  CHECK(back.op == StateMsg::Incr);
  CHECK(back.id == 7);
  CHECK(back.status == HOSTD_EUNAVAILABLE);
  CHECK(back.number == -42);
  CHECK(back.key == m.key);
  CHECK(back.value == m.value);
  std::string bytes = ipc::encodeStateMsg(m);
  CHECK_FALSE(ipc::decodeStateMsg(bytes.substr(0, bytes.size() - 1), &back));
  CHECK_FALSE(ipc::decodeStateMsg(bytes + "x", &back));
  CHECK_FALSE(ipc::decodeStateMsg("\x09", &back));
  CHECK_FALSE(ipc::decodeStateMsg("", &back));
}

TEST_CASE("a snapshot is split into frames that fit and ends with an end marker", "[state]") {
  std::map<std::string, std::string> all;
  for (int i = 0; i < 100; ++i) all["key" + std::to_string(i)] = std::string(2000, char('a' + i % 26));
  all["big"] = std::string(60000, 'b');
  std::vector<std::string> frames = ipc::encodeSnapshot(all, ipc::kMaxPayload);
  REQUIRE(frames.size() > 3);
  std::map<std::string, std::string> back;
  for (size_t i = 0; i < frames.size(); ++i) {
    CHECK(frames[i].size() <= ipc::kMaxPayload);
    StateMsg m;
    REQUIRE(ipc::decodeStateMsg(frames[i], &m));
    CHECK(m.kind == (i + 1 == frames.size() ? StateMsg::SnapshotEnd : StateMsg::SnapshotChunk));
    for (auto& [k, v] : m.entries) back[k] = v;
  }
  CHECK(back == all);
  CHECK(ipc::encodeSnapshot({}, ipc::kMaxPayload).size() == 1);
}

TEST_CASE("the embedded store: set, del, exact incr, refusals", "[state]") {
  master::StateStore s;
  StateMsg c;
  CHECK(s.apply(write(StateMsg::Incr, "n", "", 5), &c).value == 5);
  CHECK(c.op == StateMsg::Set);
  CHECK(c.value == "5");
  CHECK(s.apply(write(StateMsg::Incr, "n", "", -7), &c).value == -2);
  CHECK(s.apply(write(StateMsg::Set, "name", "bob"), &c).status == HOSTD_OK);
  master::StateResult bad = s.apply(write(StateMsg::Incr, "name", "", 1), &c);
  CHECK(bad.status == HOSTD_EINVAL);
  CHECK_THAT(bad.error, Catch::Contains("not an integer"));
  s.apply(write(StateMsg::Set, "big", "9223372036854775807"), &c);
  CHECK_THAT(s.apply(write(StateMsg::Incr, "big", "", 1), &c).error, Catch::Contains("overflow"));
  CHECK(s.data().at("big") == "9223372036854775807");
  s.apply(write(StateMsg::Del, "name"), &c);
  CHECK(c.op == StateMsg::Del);
  CHECK(s.data().count("name") == 0);
  CHECK(master::parseCounter(" 1") == std::nullopt);
  CHECK(master::parseCounter("-12") == -12);
}

TEST_CASE("a replica waits for its snapshot, applies changes and runs completions", "[state]") {
  std::vector<std::string> sent;
  worker::StateReplica r([&](const std::string& f) { return sent.push_back(f), true; });
  CHECK_FALSE(r.synced());
  std::map<std::string, std::string> all{{"a", "1"}, {"b", "2"}};
  for (const std::string& f : ipc::encodeSnapshot(all, ipc::kMaxPayload)) REQUIRE(r.onFrame(f));
  REQUIRE(r.synced());
  CHECK(*r.get("a") == "1");
  CHECK(r.get("zzz") == nullptr);

  struct Got {
    int calls = 0, status = 0;
    int64_t value = 0;
    std::string error;
  } got;
  auto done = [](void* arg, int status, int64_t value, const char* err, size_t len) {
    auto* g = static_cast<Got*>(arg);
    ++g->calls;
    g->status = status;
    g->value = value;
    g->error.assign(err, len);
  };
  REQUIRE(r.write(StateMsg::Incr, "a", {}, 4, done, &got) == HOSTD_OK);
  REQUIRE(sent.size() == 1);
  StateMsg w;
  REQUIRE(ipc::decodeStateMsg(sent[0], &w));
  CHECK(w.kind == StateMsg::Write);
  CHECK(w.number == 4);
  std::string five = "5";
  REQUIRE(r.onFrame(change("a", &five)));
  StateMsg ack;
  ack.kind = StateMsg::Ack;
  ack.id = w.id;
  ack.number = 5;
  REQUIRE(r.onFrame(ipc::encodeStateMsg(ack)));
  CHECK(got.calls == 1);
  CHECK(got.value == 5);
  CHECK(*r.get("a") == "5");
  CHECK_FALSE(r.onFrame(ipc::encodeStateMsg(ack)));  // acked once only

  CHECK(r.write(StateMsg::Set, "", "x", 0, nullptr, nullptr) == HOSTD_EINVAL);
  CHECK(r.write(StateMsg::Set, "k", std::string(HOSTD_MAX_MESSAGE, 'x'), 0, nullptr, nullptr) == HOSTD_ETOOBIG);
  worker::StateReplica closed([](const std::string&) { return false; });
  CHECK(closed.write(StateMsg::Set, "k", "v", 0, nullptr, nullptr) == HOSTD_EUNAVAILABLE);
}

TEST_CASE("watches see exact keys or prefixes, and may remove themselves", "[state]") {
  worker::StateReplica r([](const std::string&) { return true; });
  for (const std::string& f : ipc::encodeSnapshot({{"user/1", "ann"}}, ipc::kMaxPayload)) r.onFrame(f);
  struct Log {
    std::string text;
    uint64_t self = 0;
    worker::StateReplica* replica = nullptr;
    int freed = 0;
  };
  Log exact, prefix;
  auto record = [](void* arg, const char* k, size_t kl, const char* v, size_t vl, int deleted) {
    auto* log = static_cast<Log*>(arg);
    log->text += std::string(k, kl) + (deleted ? "-" : "=" + std::string(v, vl)) + ";";
    if (log->replica && log->text.size() > 20) log->replica->unwatch(log->self);
  };
  auto freed = [](void* arg) { ++static_cast<Log*>(arg)->freed; };
  uint64_t e = r.watch("user/1", false, record, &exact, freed);
  prefix.self = r.watch("user/", true, record, &prefix, freed);
  prefix.replica = &r;
  REQUIRE(e > 0);
  std::string bob = "bob", cid = "cid";
  r.onFrame(change("user/1", &bob));
  r.onFrame(change("user/2", &cid));
  r.onFrame(change("other", &cid));
  r.onFrame(change("user/1", nullptr));
  CHECK(exact.text == "user/1=bob;user/1-;");
  // The prefix watch unwatched itself from its callback once its log passed 20 bytes.
  CHECK(prefix.text == "user/1=bob;user/2=cid;");
  CHECK(prefix.freed == 1);
  CHECK(r.unwatch(prefix.self) == HOSTD_ENOTFOUND);
  CHECK(r.unwatch(e) == HOSTD_OK);
  CHECK(exact.freed == 1);
  CHECK(r.watch("", false, record, &exact, freed) == 0);  // an empty exact key is refused
  CHECK(exact.freed == 2);
}

TEST_CASE("a later snapshot (Redis resync) reports the differences as changes", "[state]") {
  worker::StateReplica r([](const std::string&) { return true; });
  for (const std::string& f : ipc::encodeSnapshot({{"a", "1"}, {"b", "2"}, {"c", "3"}}, ipc::kMaxPayload)) r.onFrame(f);
  std::string log;
  r.watch("", true,
          [](void* arg, const char* k, size_t kl, const char* v, size_t vl, int deleted) {
            *static_cast<std::string*>(arg) += std::string(k, kl) + (deleted ? "-" : "=" + std::string(v, vl)) + ";";
          },
          &log, nullptr);
  for (const std::string& f : ipc::encodeSnapshot({{"a", "1"}, {"b", "20"}, {"d", "4"}}, ipc::kMaxPayload)) r.onFrame(f);
  CHECK(log == "c-;b=20;d=4;");
  CHECK(r.size() == 3);
}

TEST_CASE("the Redis change message round-trips keys that hold the separators", "[state]") {
  std::string v = "va:l ue";
  master::RedisChange set{"0123456789abcdef", 42, master::makeChange("k:1: x", &v)}, back;
  REQUIRE(master::decodeRedisChange(master::encodeRedisChange(set), &back));
  CHECK(back.origin == "0123456789abcdef");
  CHECK(back.seq == 42);
  CHECK(back.change.op == StateMsg::Set);
  CHECK(back.change.key == "k:1: x");
  CHECK(back.change.value == "va:l ue");
  master::RedisChange del{"o", 7, master::makeChange("gone", nullptr)};
  REQUIRE(master::decodeRedisChange(master::encodeRedisChange(del), &back));
  CHECK(back.change.op == StateMsg::Del);
  CHECK(back.change.key == "gone");
  CHECK(back.seq == 7);
  CHECK_FALSE(master::decodeRedisChange("o 1 x3:abc", &back));
  CHECK_FALSE(master::decodeRedisChange("o 1 s9:abc", &back));
  CHECK_FALSE(master::decodeRedisChange("o 1 s:abc", &back));
  CHECK_FALSE(master::decodeRedisChange("o 1 d1:ab", &back));
  CHECK_FALSE(master::decodeRedisChange("o x s1:a", &back));
  CHECK_FALSE(master::decodeRedisChange("s1:a", &back));
  master::RedisChange ping{"abc", 0, {}, true};
  REQUIRE(master::decodeRedisChange(master::encodeRedisChange(ping), &back));
  CHECK(back.ping);
  CHECK(back.origin == "abc");
  REQUIRE(master::decodeRedisChange(master::encodeRedisChange(set), &back));
  CHECK_FALSE(back.ping);
}
