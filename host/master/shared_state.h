// The master's side of shared state: takes workers' writes, applies them to the backend
// (the embedded StateStore, or Redis through RedisLink) and pushes every change to every
// worker. Loop thread only.
#pragma once

#include "config/config.h"
#include "ipc/state_wire.h"
#include "master/state_store.h"

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hostd::master {

class RedisLink;

class SharedState {
 public:
  struct Sinks {
    /// An encoded Change for every live worker.
    std::function<void(const std::string& change)> change;
    /// The whole state was replaced (Redis resync): send every live worker a snapshot.
    std::function<void()> reset;
  };
  using DoneFn = std::function<void(const StateResult&)>;

  SharedState(uv_loop_t* loop, const config::StateConfig& cfg, Sinks sinks);
  ~SharedState();
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  /// Applies a worker's Write; done runs on the loop (at once for the embedded store).
  /// The Change is pushed before done runs, so the writer's replica shows the write
  /// by the time its completion fires (with Redis: once the write's own published change
  /// came back, so every replica applies changes in the one order Redis applied them).
  void write(const ipc::StateMsg& w, DoneFn done);
  /// Runs fn once the store can hand out a full state: at once for the embedded store;
  /// for Redis after the first load, or after the first failure to reach it (workers
  /// then start empty and get the state when Redis comes) — unless [state]
  /// wait_for_redis is set: then only after a load, and giveUp runs instead if none
  /// happened within that many seconds.
  void whenReady(std::function<void()> fn, std::function<void()> giveUp);
  /// The encoded frames that give a worker the full state.
  std::vector<std::string> snapshot() const;
  /// "embedded" or "redis redis://host:port (prefix "hostd:")".
  std::string describe() const;
  /// Stops the Redis threads (if any) and closes loop handles.
  void close();

 private:
  void push(const ipc::StateMsg& change);
  /// Redis: runs the completions of this hostd's writes up to seq.
  void ackUpTo(uint64_t seq);

  config::StateConfig cfg_;
  Sinks sinks_;
  StateStore store_;  ///< the store itself (embedded), or the cache of Redis
  std::unique_ptr<RedisLink> redis_;
  void becomeReady();

  bool ready_ = false;
  std::function<void()> onReady_, onGiveUp_;
  uint64_t waitUntilMs_ = 0;  ///< wait_for_redis: uv_now past which start-up gives up
  // Redis: successful writes whose change has not come back yet, in seq order.
  struct PendingAck {
    uint64_t seq;
    uint64_t parkedAt;  ///< uv_now
    DoneFn done;
    StateResult result;
  };
  std::deque<PendingAck> acks_;
  uint64_t echoed_ = 0;  ///< the highest seq of ours seen on the subscription
  uv_timer_t ackTimer_{};  ///< runs the completions whose change did not come back in time
  bool timerOpen_ = false;
};

}  // namespace hostd::master
