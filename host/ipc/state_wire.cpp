#include "ipc/state_wire.h"

#include "ipc/bytes.h"

namespace hostd::ipc {
namespace {

void putBytes(std::string& out, std::string_view s) {
  appendBE(out, s.size(), 4);
  out.append(s);
}

/// A cursor over a payload; every read fails (and stays failed) past the end.
struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t u(int bytes) {
    if (!ok || in.size() < size_t(bytes)) return ok = false, 0;
    uint64_t v = readBE(reinterpret_cast<const unsigned char*>(in.data()), bytes);
    in.remove_prefix(size_t(bytes));
    return v;
  }
  std::string bytes() {
    uint64_t n = u(4);
    if (!ok || in.size() < n) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

constexpr size_t kEntryOverhead = 8;

}  // namespace

std::string encodeStateMsg(const StateMsg& m) {
  std::string out;
  out.push_back(char(m.kind));
  switch (m.kind) {
    case StateMsg::Write:
    case StateMsg::Ack:
    case StateMsg::Change:
      out.push_back(char(m.op));
      appendBE(out, m.id, 8);
      appendBE(out, uint32_t(m.status), 4);
      appendBE(out, uint64_t(m.number), 8);
      putBytes(out, m.key);
      putBytes(out, m.value);
      break;
    case StateMsg::SnapshotChunk:
      appendBE(out, m.entries.size(), 4);
      for (const auto& [k, v] : m.entries) {
        putBytes(out, k);
        putBytes(out, v);
      }
      break;
    case StateMsg::SnapshotEnd:
      break;
  }
  return out;
}

bool decodeStateMsg(std::string_view bytes, StateMsg* out) {
  Reader r{bytes};
  uint64_t kind = r.u(1);
  if (!r.ok || kind < StateMsg::Write || kind > StateMsg::SnapshotEnd) return false;
  StateMsg m;
  m.kind = StateMsg::Kind(kind);
  if (m.kind == StateMsg::SnapshotChunk) {
    uint64_t n = r.u(4);
    for (uint64_t i = 0; r.ok && i < n; ++i) {
      std::string k = r.bytes();
      std::string v = r.bytes();
      if (r.ok) m.entries.emplace_back(std::move(k), std::move(v));
    }
  } else if (m.kind != StateMsg::SnapshotEnd) {
    uint64_t op = r.u(1);
    if (op < StateMsg::Set || op > StateMsg::Incr) return false;
    m.op = StateMsg::Op(op);
    m.id = r.u(8);
    m.status = int32_t(uint32_t(r.u(4)));
    m.number = int64_t(r.u(8));
    m.key = r.bytes();
    m.value = r.bytes();
  }
  if (!r.ok || !r.in.empty()) return false;
  *out = std::move(m);
  return true;
}

std::vector<std::string> encodeSnapshot(const std::map<std::string, std::string>& all, size_t maxPayload) {
  std::vector<std::string> frames;
  StateMsg chunk;
  chunk.kind = StateMsg::SnapshotChunk;
  size_t size = 5;
  auto flush = [&] {
    if (chunk.entries.empty()) return;
    frames.push_back(encodeStateMsg(chunk));
    chunk.entries.clear();
    size = 5;
  };
  for (const auto& [k, v] : all) {
    size_t entry = kEntryOverhead + k.size() + v.size();
    if (size + entry > maxPayload) flush();
    chunk.entries.emplace_back(k, v);
    size += entry;
  }
  flush();
  StateMsg end;
  end.kind = StateMsg::SnapshotEnd;
  frames.push_back(encodeStateMsg(end));
  return frames;
}

}  // namespace hostd::ipc
