// The embedded shared-state store: the master's key/value map and the rules of each
// write. Pure (no I/O): the master feeds it writes and pushes the changes it returns.
#pragma once

#include "ipc/state_wire.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace hostd::master {

/// How a write ended, as the writing worker's completion sees it.
struct StateResult {
  int status = 0;      ///< HOSTD_OK or a HOSTD_E* code
  int64_t value = 0;   ///< incr: the new value
  std::string error;   ///< empty on success
};

class StateStore {
 public:
  /// Applies a Write. On success *change is the Change to push to every worker.
  StateResult apply(const ipc::StateMsg& write, ipc::StateMsg* change);
  /// Applies a Change made elsewhere (Redis). False if it changed nothing.
  bool applyChange(const ipc::StateMsg& change);
  /// Replaces everything (a resync from Redis).
  void reset(std::map<std::string, std::string> all) { data_ = std::move(all); }
  const std::map<std::string, std::string>& data() const { return data_; }

 private:
  std::map<std::string, std::string> data_;
};

/// Parses a stored value as an incr operand: "" (absent) is 0; otherwise an optional '-'
/// and decimal digits that fit int64. nullopt if it is anything else.
std::optional<int64_t> parseCounter(const std::string& text);

/// The Change that sets `key` to `value` (or deletes it).
ipc::StateMsg makeChange(const std::string& key, const std::string* value);

}  // namespace hostd::master
