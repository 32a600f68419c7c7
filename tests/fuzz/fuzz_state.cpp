// State-message payloads (ipc/state_wire.h): decodeStateMsg on arbitrary bytes, with a
// round trip through encodeStateMsg; then the worker-side consumer of those payloads.
//
// There is no pure snapshot decoder: a worker assembles snapshots in
// worker::StateReplica::onFrame (SnapshotChunk entries are collected, SnapshotEnd swaps
// them in, Change applies one key). It does no I/O, so it is fed here directly: the input
// as a frame, a SnapshotEnd (first sync), the input again, another SnapshotEnd (the
// resync path that diffs old and new state), with a prefix watch on every key.
#include "ipc/state_wire.h"
#include "worker/state_replica.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

using hostd::ipc::StateMsg;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_state: %s\n", what);
  std::abort();
}

bool same(const StateMsg& a, const StateMsg& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case StateMsg::Write:
    case StateMsg::Ack:
    case StateMsg::Change:
      return a.op == b.op && a.id == b.id && a.status == b.status && a.number == b.number && a.key == b.key &&
             a.value == b.value;
    case StateMsg::SnapshotChunk:
      return a.entries == b.entries;
    case StateMsg::SnapshotEnd:
      return true;
  }
  return false;
}

void feedReplica(const std::string& payload) {
  hostd::worker::StateReplica replica([](const std::string&) { return true; });
  size_t notified = 0;
  replica.watch(
      "", true,
      [](void* arg, const char* key, size_t klen, const char* value, size_t vlen, int deleted) {
        // Touch what the replica hands out: ASan checks the views.
        size_t sum = 0;
        for (size_t i = 0; i < klen; ++i) sum += uint8_t(key[i]);
        if (!deleted)
          for (size_t i = 0; i < vlen; ++i) sum += uint8_t(value[i]);
        *static_cast<size_t*>(arg) += 1 + (sum & 1);
      },
      &notified, nullptr);
  // A write waiting for its ack (id 1), so an Ack input reaches the completion path.
  replica.write(
      StateMsg::Set, "k", "v", 0,
      [](void* arg, int, int64_t, const char* error, size_t len) {
        size_t sum = 0;
        for (size_t i = 0; i < len; ++i) sum += uint8_t(error[i]);
        *static_cast<size_t*>(arg) += 1 + (sum & 1);
      },
      &notified);
  StateMsg end;
  end.kind = StateMsg::SnapshotEnd;
  const std::string endFrame = hostd::ipc::encodeStateMsg(end);
  replica.onFrame(payload);
  if (!replica.onFrame(endFrame)) fail("replica refused a SnapshotEnd");
  if (!replica.synced()) fail("replica not synced after a SnapshotEnd");
  replica.onFrame(payload);
  replica.onFrame(endFrame);
  for (const char* k : {"", "a", "k"}) (void)replica.get(k);
  replica.failPending(-1, "gone");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  StateMsg m;
  if (hostd::ipc::decodeStateMsg(in, &m)) {
    std::string enc = hostd::ipc::encodeStateMsg(m);
    StateMsg again;
    if (!hostd::ipc::decodeStateMsg(enc, &again)) fail("re-encoded state message does not decode");
    if (!same(m, again)) fail("round trip changed the state message");
    if (enc != in) fail("re-encoding differs from the decoded bytes");
    if (m.kind == StateMsg::SnapshotChunk) {
      // The master's chunker must give back the same entries (last value of a key wins).
      std::map<std::string, std::string> all;
      for (const auto& [k, v] : m.entries) all[k] = v;
      std::map<std::string, std::string> back;
      for (const std::string& part : hostd::ipc::encodeSnapshot(all, 64 * 1024)) {
        StateMsg p;
        if (!hostd::ipc::decodeStateMsg(part, &p)) fail("encodeSnapshot produced an undecodable part");
        for (auto& [k, v] : p.entries) back[k] = v;
      }
      if (back != all) fail("encodeSnapshot lost or changed entries");
    }
  }
  feedReplica(in);
  return 0;
}
