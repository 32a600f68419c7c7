#include "master/poison_tracker.h"

namespace hostd::master {

size_t PoisonTracker::hit(const std::string& route, uint64_t nowMs) {
  if (after_ == 0) return 0;
  std::deque<uint64_t>& h = hits_[route];
  h.push_back(nowMs);
  while (!h.empty() && nowMs - h.front() >= windowMs_) h.pop_front();
  auto it = until_.find(route);
  if (it != until_.end() && nowMs < it->second) return 0;  // already quarantined
  if (h.size() < after_) return 0;
  until_[route] = nowMs + windowMs_;
  return h.size();
}

std::vector<std::pair<std::string, uint64_t>> PoisonTracker::active(uint64_t nowMs) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (auto it = until_.begin(); it != until_.end();) {
    if (nowMs >= it->second) {
      it = until_.erase(it);
      continue;
    }
    out.emplace_back(it->first, it->second - nowMs);
    ++it;
  }
  return out;
}

void PoisonTracker::clear() {
  hits_.clear();
  until_.clear();
}

}  // namespace hostd::master
