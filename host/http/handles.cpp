#include "http/handles.h"

namespace hostd::http {

uint32_t HandleTable::attach(Connection* c) {
  uint32_t slot;
  if (freeHead_) {
    slot = freeHead_ - 1;
    freeHead_ = slots_[slot].nextFree;
  } else {
    slot = uint32_t(slots_.size());
    slots_.emplace_back();
  }
  slots_[slot].conn = c;
  return slot;
}

void HandleTable::detach(uint32_t slot) {
  Slot& s = slots_[slot];
  s.conn = nullptr;
  ++s.requestGen;
  ++s.responseGen;
  s.nextFree = freeHead_;
  freeHead_ = slot + 1;
}

void HandleTable::begin(uint32_t slot, uint64_t* requestToken, uint64_t* responseToken) {
  Slot& s = slots_[slot];
  ++s.requestGen;
  ++s.responseGen;
  *requestToken = uint64_t(s.requestGen) << 32 | (slot + 1);
  *responseToken = uint64_t(s.responseGen) << 32 | (slot + 1);
}

}  // namespace hostd::http
