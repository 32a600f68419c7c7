// Control-channel framing (ipc/frame.h): FrameDecoder::feed is the whole decoder (ipc::Channel
// only hands it what it read), plus decodeHeartbeat.
//
// Input: [step byte][stream bytes]. The stream is fed once whole and once in pieces of
// (step % 64) + 1 bytes; both decoders must produce the same frames and the same verdict,
// and every frame must re-encode to exactly the bytes it was decoded from.
#include "ipc/frame.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace hostd::ipc;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_frame: %s\n", what);
  std::abort();
}

void checkHeartbeat(std::string_view payload) {
  Heartbeat hb;
  bool ok = decodeHeartbeat(payload, &hb);
  if (ok != (payload.size() == kHeartbeatSize)) fail("decodeHeartbeat accepted/refused the wrong size");
  if (!ok) return;
  if (encodeHeartbeat(hb) != payload) fail("heartbeat round trip differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = size_t(data[0] % 64) + 1;
  const char* stream = reinterpret_cast<const char*>(data + 1);
  const size_t len = size - 1;

  FrameDecoder whole;
  std::vector<Frame> a;
  bool okWhole = whole.feed(stream, len, a);
  if (!okWhole && whole.error().empty()) fail("feed() failed without an error()");
  if (okWhole && !whole.error().empty()) fail("feed() succeeded with an error()");

  FrameDecoder pieces;
  std::vector<Frame> b;
  bool okPieces = true;
  for (size_t off = 0; off < len; off += step) {
    size_t n = std::min(step, len - off);
    if (!pieces.feed(stream + off, n, b)) okPieces = false;
  }
  if (len == 0) okPieces = pieces.feed(stream, 0, b);
  if (okWhole != okPieces) fail("whole and split feeding disagree on the verdict");
  if (a.size() != b.size()) fail("whole and split feeding produced a different number of frames");

  size_t consumed = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type || a[i].payload != b[i].payload) fail("whole and split feeding produced different frames");
    if (a[i].payload.size() > kMaxPayload) fail("frame over kMaxPayload");
    std::string again = encodeFrame(a[i].type, a[i].payload);
    if (consumed + again.size() > len) fail("frames longer than the input");
    if (std::string_view(stream + consumed, again.size()) != again) fail("frame does not re-encode to its bytes");
    consumed += again.size();
    if (a[i].type == MsgType::Heartbeat) checkHeartbeat(a[i].payload);
    (void)msgTypeName(a[i].type);
  }
  if (okWhole) {
    if (whole.buffered() != len - consumed) fail("buffered() != unconsumed bytes");
    if (pieces.buffered() != whole.buffered()) fail("split decoder buffers a different amount");
  } else {
    // A failed decoder stays failed.
    std::vector<Frame> more;
    if (whole.feed("\0\0\0\0\1", 5, more) || !more.empty()) fail("a failed decoder accepted more bytes");
  }

  // The whole stream as a heartbeat payload too (exercises the size check).
  checkHeartbeat(std::string_view(stream, len));
  return 0;
}
