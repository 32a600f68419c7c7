// When a crashed worker may be respawned. Pure logic: no clock, no syscalls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace hostd::master {

/// Cluster-wide crash-loop guard: at most `limit` restarts within `windowMs`. Beyond
/// that a slot is given up (left empty) instead of spinning.
class RestartPolicy {
 public:
  RestartPolicy(unsigned limit, uint64_t windowMs) : limit_(limit), windowMs_(windowMs) {}
  /// Asks for one more restart at nowMs (monotonic). True = respawn now (and it is
  /// counted); false = the limit is reached: give up.
  bool allow(uint64_t nowMs);
  /// Restarts counted in the window ending at nowMs.
  size_t recent(uint64_t nowMs);

 private:
  void expire(uint64_t nowMs);
  unsigned limit_;
  uint64_t windowMs_;
  std::deque<uint64_t> restarts_;
};

}  // namespace hostd::master
