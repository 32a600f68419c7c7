// The scoreboard: one small shared-memory slot per worker (Apache's scoreboard, in
// spirit). The worker writes what its plugin is doing; the master reads it when the worker
// crashes or is killed as hung, to name the request that did it. The master creates the
// slot (a memfd) and hands it over at spawn as fd kWorkerScoreboardFd; both map it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hostd::ipc {

/// The shared layout. Written by one thread (the worker's loop) under a sequence lock.
struct ScoreSlot {
  std::atomic<uint32_t> seq;  ///< odd while the worker writes
  uint32_t busy;              ///< 1 while the plugin's on_request runs
  uint64_t startedMs;         ///< CLOCK_MONOTONIC ms when it started
  uint8_t methodLen, remoteLen;
  uint16_t targetLen;
  uint16_t pathLen;           ///< kPathTooLong: the path did not fit (never quarantined)
  char method[16];
  char target[256];           ///< truncated: for the log line
  char path[256];             ///< the parsed path (no query, origin-form): the route's key
  char remote[48];
};
constexpr uint16_t kPathTooLong = 0xffff;
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the scoreboard needs lock-free atomics");

/// What a reader saw.
struct Score {
  bool busy = false;
  std::string method, target, remote;
  std::string path;          ///< empty if it did not fit the slot
  uint64_t forMs = 0;  ///< how long it had been running
};

/// Milliseconds of CLOCK_MONOTONIC (shared by both processes).
uint64_t monotonicMs();

/// The worker side: marks a request as being in the plugin, then idle again.
class ScoreWriter {
 public:
  /// Maps fd (and closes it). A writer without a slot (fd < 0, or mmap failed) does nothing.
  void attach(int fd);
  void begin(std::string_view method, std::string_view target, std::string_view path, std::string_view remote);
  void end();

 private:
  ScoreSlot* slot_ = nullptr;
};

/// The master side: creates a slot (memfd + mapping); the fd goes to the worker.
class ScoreBoardSlot {
 public:
  /// fd() < 0 if it could not be made (the worker then runs without one).
  ScoreBoardSlot();
  ~ScoreBoardSlot();
  ScoreBoardSlot(const ScoreBoardSlot&) = delete;
  ScoreBoardSlot& operator=(const ScoreBoardSlot&) = delete;
  int fd() const { return fd_; }
  /// Closes the master's fd once the worker has its own copy (the mapping stays).
  void closeFd();
  /// A consistent copy of what the worker last wrote.
  Score read() const;

 private:
  int fd_ = -1;
  ScoreSlot* slot_ = nullptr;
};

}  // namespace hostd::ipc
