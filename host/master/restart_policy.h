// When a crashed worker may be respawned, and after how long. Pure logic: the caller
// passes the time; no clock, no syscalls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace hostd::master {

/// One slot's crash-loop guard (nginx's respawn flag and Apache's fork-rate slowdown in
/// one): restarts back off exponentially while crashes come quickly, and more than
/// `limit` restarts within `windowMs` means giving up on the slot until a reload.
class RestartPolicy {
 public:
  struct Params {
    unsigned limit = 10;
    uint64_t windowMs = 60000;
    uint64_t firstDelayMs = 100;   ///< delay before the first respawn after a crash
    uint64_t maxDelayMs = 15000;   ///< the backoff never grows past this
    uint64_t stableMs = 10000;     ///< a worker that ran this long resets the backoff
  };
  struct Decision {
    bool respawn;      ///< false: give up on the slot
    uint64_t delayMs;  ///< wait this long before respawning
  };

  explicit RestartPolicy(Params p) : p_(p) {}
  /// A worker of this slot exited unexpectedly at nowMs after running ranMs; `why` is
  /// kept for the give-up message.
  Decision onCrash(uint64_t nowMs, uint64_t ranMs, const std::string& why);
  /// Restarts counted in the window ending at nowMs.
  size_t recent(uint64_t nowMs);
  /// The last few exit reasons, oldest first, "; "-separated.
  std::string lastReasons() const;

 private:
  void expire(uint64_t nowMs);
  Params p_;
  std::deque<uint64_t> restarts_;
  std::deque<std::string> reasons_;
  uint64_t delayMs_ = 0;
};

}  // namespace hostd::master
