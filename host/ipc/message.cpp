#include "ipc/message.h"

#include "ipc/bytes.h"

namespace hostd::ipc {
namespace {
constexpr size_t kHeader = 1 + 1 + 4 + 4 + 2;
}  // namespace

std::string encodePluginMessage(const PluginMessage& m) {
  std::string out;
  out.reserve(kHeader + m.topic.size() + m.payload.size());
  out.push_back(char(m.kind));
  out.push_back(char(m.includeSelf ? 1 : 0));
  appendBE(out, m.target, 4);
  appendBE(out, m.from, 4);
  appendBE(out, m.topic.size(), 2);
  out += m.topic;
  out += m.payload;
  return out;
}

bool decodePluginMessage(std::string_view bytes, PluginMessage* out) {
  if (bytes.size() < kHeader || !out) return false;
  auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] < PluginMessage::Broadcast || p[0] > PluginMessage::Deliver || p[1] > 1) return false;
  size_t topicLen = size_t(readBE(p + 10, 2));
  if (kHeader + topicLen > bytes.size()) return false;
  out->kind = PluginMessage::Kind(p[0]);
  out->includeSelf = p[1] == 1;
  out->target = uint32_t(readBE(p + 2, 4));
  out->from = uint32_t(readBE(p + 6, 4));
  out->topic.assign(bytes.substr(kHeader, topicLen));
  out->payload.assign(bytes.substr(kHeader + topicLen));
  return true;
}

}  // namespace hostd::ipc
