// Poison-request quarantine: which routes crashed or hung workers too often. Pure logic:
// the caller passes the time (like RestartPolicy), unit-tested without processes.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hostd::master {

class PoisonTracker {
 public:
  /// A route is quarantined for windowMs once `after` crashes or hangs happened on it
  /// within windowMs. after = 0: never.
  PoisonTracker(unsigned after, uint64_t windowMs) : after_(after), windowMs_(windowMs) {}

  /// A worker crashed or hung serving `route` at nowMs. Returns how many hits the route
  /// has in the window if this one quarantines it, else 0.
  size_t hit(const std::string& route, uint64_t nowMs);
  /// Routes quarantined at nowMs, with the ms left (expired ones are forgotten).
  std::vector<std::pair<std::string, uint64_t>> active(uint64_t nowMs);
  /// A reload: everything is forgiven.
  void clear();

 private:
  unsigned after_;
  uint64_t windowMs_;
  std::map<std::string, std::deque<uint64_t>> hits_;
  std::map<std::string, uint64_t> until_;
};

}  // namespace hostd::master
