#include "master/restart_policy.h"

#include <algorithm>

namespace hostd::master {

void RestartPolicy::expire(uint64_t nowMs) {
  while (!restarts_.empty() && nowMs - restarts_.front() >= p_.windowMs) restarts_.pop_front();
}

RestartPolicy::Decision RestartPolicy::onCrash(uint64_t nowMs, uint64_t ranMs, const std::string& why) {
  reasons_.push_back(why);
  if (reasons_.size() > 3) reasons_.pop_front();
  expire(nowMs);
  if (restarts_.size() >= p_.limit) return {false, 0};
  restarts_.push_back(nowMs);
  if (ranMs >= p_.stableMs || delayMs_ == 0) delayMs_ = p_.firstDelayMs;
  else delayMs_ = std::min(delayMs_ * 2, p_.maxDelayMs);
  return {true, delayMs_};
}

size_t RestartPolicy::recent(uint64_t nowMs) {
  expire(nowMs);
  return restarts_.size();
}

std::string RestartPolicy::lastReasons() const {
  std::string out;
  for (const std::string& r : reasons_) out += (out.empty() ? "" : "; ") + r;
  return out;
}

}  // namespace hostd::master
