#include "ipc/frame.h"

#include "ipc/bytes.h"

#include <stdexcept>

namespace hostd::ipc {
namespace {

bool knownType(uint8_t t) { return t >= uint8_t(MsgType::Ready) && t <= uint8_t(MsgType::Reopen); }

}  // namespace

void appendFrame(std::string& out, MsgType type, std::string_view payload) {
  if (payload.size() > kMaxPayload)
    throw std::length_error("control frame payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                            std::to_string(kMaxPayload));
  appendBE(out, payload.size(), 4);
  out.push_back(char(type));
  out.append(payload);
}

std::string encodeFrame(MsgType type, std::string_view payload) {
  std::string out;
  appendFrame(out, type, payload);
  return out;
}

bool FrameDecoder::feed(const char* data, size_t len, std::vector<Frame>& out) {
  if (!error_.empty()) return false;
  buf_.append(data, len);
  size_t pos = 0;
  while (buf_.size() - pos >= kHeaderSize) {
    auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + pos);
    uint32_t n = uint32_t(readBE(h, 4));
    uint8_t type = h[4];
    if (n > kMaxPayload) {
      error_ = "frame length " + std::to_string(n) + " exceeds the maximum of " + std::to_string(kMaxPayload);
      break;
    }
    if (!knownType(type)) {
      error_ = "unknown frame type byte " + std::to_string(type);
      break;
    }
    if (buf_.size() - pos < kHeaderSize + n) break;
    out.push_back(Frame{MsgType(type), buf_.substr(pos + kHeaderSize, n)});
    pos += kHeaderSize + n;
  }
  if (!error_.empty()) {
    buf_.clear();
    return false;
  }
  buf_.erase(0, pos);
  return true;
}

void Heartbeat::countRequest(int status, uint64_t in, uint64_t out, uint64_t durationUs) {
  if (status >= 100 && status < 600) ++statusClass[status / 100 - 1];
  bytesIn += in;
  bytesOut += out;
  durationSumUs += durationUs;
  size_t b = 0;
  while (b < kBuckets - 1 && durationUs > kDurationBoundsUs[b]) ++b;
  ++durationBuckets[b];
}

namespace {
// Every field in wire order (the heartbeat is fixed-size: kHeartbeatSize).
template <typename HB, typename F>
void eachField(HB& hb, F f) {
  f(hb.requests);
  f(hb.accepted);
  f(hb.active);
  f(hb.children);
  f(hb.childrenQueued);
  f(hb.childrenRefused);
  f(hb.childrenExpired);
  for (auto& v : hb.statusClass) f(v);
  f(hb.bytesIn);
  f(hb.bytesOut);
  f(hb.durationSumUs);
  for (auto& v : hb.durationBuckets) f(v);
}
}  // namespace

std::string encodeHeartbeat(const Heartbeat& hb) {
  std::string out;
  out.reserve(kHeartbeatSize);
  eachField(hb, [&](uint64_t v) { appendBE(out, v, 8); });
  return out;
}

bool decodeHeartbeat(std::string_view payload, Heartbeat* out) {
  if (payload.size() != kHeartbeatSize || !out) return false;
  auto* p = reinterpret_cast<const unsigned char*>(payload.data());
  eachField(*out, [&](uint64_t& v) {
    v = readBE(p, 8);
    p += 8;
  });
  return true;
}

const char* msgTypeName(MsgType type) {
  switch (type) {
    case MsgType::Ready: return "ready";
    case MsgType::Restart: return "restart";
    case MsgType::Suicide: return "suicide";
    case MsgType::Heartbeat: return "heartbeat";
    case MsgType::Message: return "message";
    case MsgType::InitFailed: return "init_failed";
    case MsgType::State: return "state";
    case MsgType::Recycle: return "recycle";
    case MsgType::Quarantine: return "quarantine";
    case MsgType::Reopen: return "reopen";
  }
  return "unknown";
}

}  // namespace hostd::ipc
