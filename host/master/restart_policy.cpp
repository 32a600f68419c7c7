#include "master/restart_policy.h"

namespace hostd::master {

void RestartPolicy::expire(uint64_t nowMs) {
  while (!restarts_.empty() && nowMs - restarts_.front() >= windowMs_) restarts_.pop_front();
}

bool RestartPolicy::allow(uint64_t nowMs) {
  expire(nowMs);
  if (restarts_.size() >= limit_) return false;
  restarts_.push_back(nowMs);
  return true;
}

size_t RestartPolicy::recent(uint64_t nowMs) {
  expire(nowMs);
  return restarts_.size();
}

}  // namespace hostd::master
