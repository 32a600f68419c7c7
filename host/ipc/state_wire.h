// Payload of a `state` control frame: shared-state writes, their acks, the changes the
// master pushes, and the snapshot a starting worker receives before it runs init.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hostd::ipc {

struct StateMsg {
  enum Kind : uint8_t {
    Write = 1,          ///< worker -> master: apply op (id = the worker's request id)
    Ack = 2,            ///< master -> worker: write `id` done (status, number, value = error text)
    Change = 3,         ///< master -> worker: key now holds value (op Set) or is gone (op Del)
    SnapshotChunk = 4,  ///< master -> worker: some entries of the full state (entries)
    SnapshotEnd = 5,    ///< master -> worker: the chunks since the last end are the whole state
  };
  enum Op : uint8_t { Set = 1, Del = 2, Incr = 3 };

  Kind kind = Change;
  Op op = Set;
  uint64_t id = 0;
  int32_t status = 0;
  int64_t number = 0;  ///< Write/Incr: the delta; Ack: the new value of an incr
  std::string key, value;
  std::vector<std::pair<std::string, std::string>> entries;  ///< SnapshotChunk
};

std::string encodeStateMsg(const StateMsg& m);
/// False if the bytes are not a well-formed state message.
bool decodeStateMsg(std::string_view bytes, StateMsg* out);

/// The whole store as SnapshotChunk payloads of at most `maxPayload` bytes each, then one
/// SnapshotEnd. An entry larger than a chunk gets a chunk of its own (the caller bounds
/// key + value size, so it still fits a frame).
std::vector<std::string> encodeSnapshot(const std::map<std::string, std::string>& all, size_t maxPayload);

}  // namespace hostd::ipc
