// Checked handles: what a plugin holds for a request or a response is a (slot,
// generation) token, never a pointer. A token outlives nothing: once its request has
// ended it resolves to nothing, so a stale copy can never reach the next request on the
// same connection, nor a freed one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hostd::http {

class Connection;

/// One slot per live connection, reused through a free list (no allocation per request).
/// Tokens are (generation << 32 | slot + 1): never 0, and a slot's generation moves on at
/// every request start and end, so an old token never matches again (for 2^31 requests on
/// one slot). Loop thread only.
class HandleTable {
 public:
  /// A slot for a new connection.
  uint32_t attach(Connection* c);
  /// The connection is gone: every token of the slot dies.
  void detach(uint32_t slot);
  /// A request starts on the slot: fresh request and response tokens.
  void begin(uint32_t slot, uint64_t* requestToken, uint64_t* responseToken);
  /// The handler returned: the request token dies.
  void endRequest(uint32_t slot) { ++slots_[slot].requestGen; }
  /// The response ended: its token dies.
  void endResponse(uint32_t slot) { ++slots_[slot].responseGen; }
  /// The connection a live request token belongs to, or nullptr.
  Connection* request(uint64_t token) const { return find(token, &Slot::requestGen); }
  /// The connection a live response token belongs to, or nullptr.
  Connection* response(uint64_t token) const { return find(token, &Slot::responseGen); }

 private:
  struct Slot {
    Connection* conn = nullptr;
    uint32_t requestGen = 1;
    uint32_t responseGen = 1;
    uint32_t nextFree = 0;
  };
  Connection* find(uint64_t token, uint32_t Slot::*gen) const {
    uint64_t index = (token & 0xffffffffu) - 1;
    if (index >= slots_.size()) return nullptr;
    const Slot& s = slots_[size_t(index)];
    return s.conn && s.*gen == uint32_t(token >> 32) ? s.conn : nullptr;
  }
  std::vector<Slot> slots_;
  uint32_t freeHead_ = 0;  // slot + 1 of the first free slot, 0 = none
};

}  // namespace hostd::http
