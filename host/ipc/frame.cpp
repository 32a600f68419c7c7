#include "ipc/frame.h"

#include <stdexcept>

namespace hostd::ipc {
namespace {

bool knownType(uint8_t t) { return t >= uint8_t(MsgType::Ready) && t <= uint8_t(MsgType::State); }

void putU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(char((v >> shift) & 0xff));
}

uint64_t getU64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

void appendFrame(std::string& out, MsgType type, std::string_view payload) {
  if (payload.size() > kMaxPayload)
    throw std::length_error("control frame payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                            std::to_string(kMaxPayload));
  uint32_t n = uint32_t(payload.size());
  out.push_back(char(n >> 24));
  out.push_back(char((n >> 16) & 0xff));
  out.push_back(char((n >> 8) & 0xff));
  out.push_back(char(n & 0xff));
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
    uint32_t n = (uint32_t(h[0]) << 24) | (uint32_t(h[1]) << 16) | (uint32_t(h[2]) << 8) | h[3];
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

std::string encodeHeartbeat(const Heartbeat& hb) {
  std::string out;
  out.reserve(24);
  putU64(out, hb.requests);
  putU64(out, hb.accepted);
  putU64(out, hb.active);
  return out;
}

bool decodeHeartbeat(std::string_view payload, Heartbeat* out) {
  if (payload.size() != 24 || !out) return false;
  auto* p = reinterpret_cast<const unsigned char*>(payload.data());
  out->requests = getU64(p);
  out->accepted = getU64(p + 8);
  out->active = getU64(p + 16);
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
  }
  return "unknown";
}

}  // namespace hostd::ipc
