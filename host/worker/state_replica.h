// A worker's replica of the shared state: the full map (a snapshot from the master before
// init, then every change it pushes), writes forwarded to the master with their
// completions, and the plugin's watches. Loop thread only.
#pragma once

#include "ipc/state_wire.h"

#include <hostd/plugin.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hostd::worker {

class StateReplica {
 public:
  /// send: one encoded `state` frame to the master; false if the channel is closed.
  using SendFn = std::function<bool(const std::string&)>;
  explicit StateReplica(SendFn send) : send_(std::move(send)) {}

  /// A `state` frame from the master. False if it is malformed or unexpected.
  bool onFrame(const std::string& payload);
  /// True once the first full snapshot arrived.
  bool synced() const { return synced_; }

  const std::string* get(std::string_view key) const;
  /// Forwards a write; done(arg, ...) runs when the master acknowledges it.
  int write(ipc::StateMsg::Op op, std::string_view key, std::string_view value, int64_t delta,
            hostd_state_done_fn done, void* arg);
  uint64_t watch(std::string_view key, bool prefix, hostd_state_watch_fn cb, void* arg, void (*dtor)(void*));
  int unwatch(uint64_t id);
  /// Completes every write still waiting for its ack with `status` (the master is gone).
  void failPending(int status, const std::string& why);
  size_t size() const { return data_.size(); }

 private:
  struct Pending {
    hostd_state_done_fn done;
    void* arg;
  };
  struct Watch {
    std::string key;
    bool prefix = false;
    hostd_state_watch_fn cb = nullptr;
    void* arg = nullptr;
    void (*dtor)(void*) = nullptr;
    bool calling = false;
    bool removed = false;
  };

  /// Sets (value != null) or erases key, then runs the watches that match it.
  void apply(const std::string& key, const std::string* value);
  void notify(const std::string& key, const std::string* value);
  void finishSnapshot();
  static void release(Watch& w);

  SendFn send_;
  std::map<std::string, std::string, std::less<>> data_;
  std::map<std::string, std::string> incoming_;  ///< snapshot being received
  bool synced_ = false;
  std::unordered_map<uint64_t, Pending> pending_;
  uint64_t nextWriteId_ = 1;
  std::map<uint64_t, Watch> watches_;
  uint64_t nextWatchId_ = 1;
};

}  // namespace hostd::worker
