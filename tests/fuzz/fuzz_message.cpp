// Plugin message payloads (ipc/message.h): decodePluginMessage on arbitrary bytes; whatever
// decodes must re-encode to the same bytes and decode to the same message again.
#include "ipc/message.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using hostd::ipc::PluginMessage;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_message: %s\n", what);
  std::abort();
}

bool same(const PluginMessage& a, const PluginMessage& b) {
  return a.kind == b.kind && a.includeSelf == b.includeSelf && a.target == b.target && a.from == b.from &&
         a.topic == b.topic && a.payload == b.payload;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  PluginMessage m;
  if (!hostd::ipc::decodePluginMessage(in, &m)) return 0;
  std::string enc = hostd::ipc::encodePluginMessage(m);
  PluginMessage again;
  if (!hostd::ipc::decodePluginMessage(enc, &again)) fail("re-encoded message does not decode");
  if (!same(m, again)) fail("round trip changed the message");
  if (enc != in) fail("re-encoding differs from the decoded bytes");
  return 0;
}
