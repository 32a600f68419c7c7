// Control-channel framing: [4-byte big-endian payload length][1-byte type][payload].
// Pure codec, no I/O: unit-tested without processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hostd::ipc {

enum class MsgType : uint8_t {
  Ready = 1,       ///< worker -> master: plugin init succeeded, serving (payload: "name version")
  Restart = 2,     ///< master -> worker: stop accepting, drain, exit
  Suicide = 3,     ///< worker -> master: start my replacement, I will drain when told (payload: reason)
  Heartbeat = 4,   ///< worker -> master, every second (payload: encodeHeartbeat)
  Message = 5,     ///< plugin-level payloads (reserved)
  InitFailed = 6,  ///< worker -> master: cannot start (payload: the reason, shown to the user)
  State = 7,       ///< shared state, both directions (payload: ipc/state_wire.h)
  Recycle = 8,     ///< worker -> master: as Suicide, but planned (max_requests, max_memory_mb):
                   ///< replaced at once, not counted by the restart policy (payload: reason)
  Quarantine = 9,  ///< master -> worker: "<seconds> <METHOD> <path>": answer that route 503
                   ///< for that long without running the plugin; "0" alone clears them all
  Reopen = 10,     ///< master -> worker: reopen the log files (the master recreated them)
};

constexpr size_t kMaxPayload = 64 * 1024;
constexpr size_t kHeaderSize = 5;

struct Frame {
  MsgType type;
  std::string payload;
};

/// Appends one encoded frame to out. Throws std::length_error if payload > kMaxPayload.
void appendFrame(std::string& out, MsgType type, std::string_view payload);
std::string encodeFrame(MsgType type, std::string_view payload);

/// Incremental decoder: bytes may arrive split anywhere, or several frames at once.
class FrameDecoder {
 public:
  /// Feeds bytes; complete frames are appended to out. Returns false on a protocol error
  /// (unknown type, length > kMaxPayload); error() says what, and the decoder stays
  /// failed: every later feed() returns false.
  bool feed(const char* data, size_t len, std::vector<Frame>& out);
  const std::string& error() const { return error_; }
  /// Bytes held back waiting for the rest of a frame.
  size_t buffered() const { return buf_.size(); }

 private:
  std::string buf_;
  std::string error_;
};

/// Counters a worker reports in every heartbeat.
struct Heartbeat {
  uint64_t requests = 0;  ///< requests served
  uint64_t accepted = 0;  ///< connections accepted
  uint64_t active = 0;    ///< connections open now
  uint64_t children = 0;  ///< child processes running now
  uint64_t childrenQueued = 0;   ///< exec/spawn calls waiting for a free slot ([children])
  uint64_t childrenRefused = 0;  ///< calls refused at once: the queue was full (since start)
  uint64_t childrenExpired = 0;  ///< calls that waited queue_timeout_ms in vain (since start)
  // Counted only with [metrics] listen (otherwise 0): answers by status class 1xx..5xx,
  // request/response bytes, and the request-duration histogram: kDurationBoundsUs[i] is
  // bucket i's upper bound, the last bucket is everything slower.
  static constexpr size_t kBuckets = 12;
  static constexpr uint64_t kDurationBoundsUs[kBuckets - 1] = {500,    1000,   2500,   5000,    10000,  25000,
                                                               100000, 250000, 500000, 1000000, 5000000};
  uint64_t statusClass[5] = {};
  uint64_t bytesIn = 0, bytesOut = 0;
  uint64_t durationSumUs = 0;
  uint64_t durationBuckets[kBuckets] = {};
  /// Adds one finished request.
  void countRequest(int status, uint64_t in, uint64_t out, uint64_t durationUs);
};
constexpr size_t kHeartbeatSize = 8 * (7 + 5 + 3 + Heartbeat::kBuckets);
std::string encodeHeartbeat(const Heartbeat& hb);
/// False if the payload has the wrong size.
bool decodeHeartbeat(std::string_view payload, Heartbeat* out);

/// "ready", "restart", ...; "unknown" for anything else.
const char* msgTypeName(MsgType type);

}  // namespace hostd::ipc
