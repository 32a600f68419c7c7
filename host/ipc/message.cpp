#include "ipc/message.h"

namespace hostd::ipc {
namespace {
constexpr size_t kHeader = 1 + 1 + 4 + 4 + 2;

void putU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((v >> shift) & 0xff));
}
uint32_t getU32(const unsigned char* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
}  // namespace

std::string encodePluginMessage(const PluginMessage& m) {
  std::string out;
  out.reserve(kHeader + m.topic.size() + m.payload.size());
  out.push_back(char(m.kind));
  out.push_back(char(m.includeSelf ? 1 : 0));
  putU32(out, m.target);
  putU32(out, m.from);
  out.push_back(char((m.topic.size() >> 8) & 0xff));
  out.push_back(char(m.topic.size() & 0xff));
  out += m.topic;
  out += m.payload;
  return out;
}

bool decodePluginMessage(std::string_view bytes, PluginMessage* out) {
  if (bytes.size() < kHeader || !out) return false;
  auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] < PluginMessage::Broadcast || p[0] > PluginMessage::Deliver || p[1] > 1) return false;
  size_t topicLen = (size_t(p[10]) << 8) | p[11];
  if (kHeader + topicLen > bytes.size()) return false;
  out->kind = PluginMessage::Kind(p[0]);
  out->includeSelf = p[1] == 1;
  out->target = getU32(p + 2);
  out->from = getU32(p + 6);
  out->topic.assign(bytes.substr(kHeader, topicLen));
  out->payload.assign(bytes.substr(kHeader + topicLen));
  return true;
}

}  // namespace hostd::ipc
