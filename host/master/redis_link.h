// Shared state in Redis, for the master (Poco::Redis). Two threads, so the master's loop
// never blocks on the network:
//  - the command thread runs workers' writes, one at a time in arrival order, as Lua
//    scripts that write and PUBLISH the change atomically (so the change stream is in
//    write order for every hostd);
//  - the subscriber thread SUBSCRIBEs to <prefix>changes, loads every <prefix>* key
//    (SCAN + MGET) and hands it over as a reset, then streams changes. Poco's
//    AsyncReader is too slow (it sleeps after every reply): it reads replies itself.
// Both reconnect with backoff (100 ms doubling to 5 s) while Redis is down; writes meanwhile
// fail at once with HOSTD_EUNAVAILABLE. Results and events reach the loop via uv_async.
#pragma once

#include "config/config.h"
#include "ipc/state_wire.h"
#include "master/state_store.h"

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hostd::master {

class RedisLink {
 public:
  struct Events {
    /// (Re)connected: the whole state under the prefix, replacing what the master held.
    /// Every write of ours up to seq `through` is reflected in it.
    std::function<void(std::map<std::string, std::string>, uint64_t through)> reset;
    /// A change published by any hostd, in the order Redis applied the writes; ownSeq is
    /// the seq write() gave it if this hostd made it, else 0.
    std::function<void(const ipc::StateMsg& change, uint64_t ownSeq)> change;
    /// The subscriber connected (after its reset) or lost Redis; repeats are not reported.
    std::function<void(bool up)> status;
  };
  /// seq numbers this hostd's writes (1, 2, ...); a successful write's change comes back
  /// through Events::change with the same seq.
  using WriteDone = std::function<void(const StateResult&, uint64_t seq)>;

  RedisLink(uv_loop_t* loop, const config::StateConfig& cfg, Events events);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();
  void write(const ipc::StateMsg& w, WriteDone done);
  /// Stops both threads (joins them) and closes the async handle. Idempotent.
  void close();

 private:
  struct Job {
    ipc::StateMsg write;
    WriteDone done;
    uint64_t seq = 0;
    StateResult result;
  };

  void commandThread();
  void subscriberThread();
  /// SCAN + MGET of every key under the prefix (keys without it); entries too large for a
  /// worker are left out and named in *oversized.
  std::map<std::string, std::string> loadAll(std::vector<std::string>* oversized);
  void reportOversized(const std::vector<std::string>& keys);
  /// The watchdog of the subscription (see redis_link.cpp).
  void checkSubscription();
  /// The command thread published something that must come back through the subscription.
  void published(uint64_t* lastPublishMs);
  /// Queues fn for the loop thread.
  void post(std::function<void()> fn);
  void drainPosted();
  /// Sleeps up to ms, or until close(). False if closing.
  bool pause(unsigned ms);
  /// Logged (on the loop) when the link goes down or comes back; repeats are not logged.
  void setUp(bool up, const std::string& why);

  uv_loop_t* loop_;
  config::StateConfig cfg_;
  Events events_;
  uv_async_t async_{};
  bool started_ = false;
  bool closed_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<Job> jobs_;                        // command thread input
  std::deque<std::function<void()>> posted_;    // loop input
  int subscriberFd_ = -1;                       // shut down by close() / the watchdog to wake the reader
  bool streaming_ = false;                      // the subscriber is reading changes
  uint64_t unechoedSince_ = 0;                  // oldest publish of ours not seen back yet (0: none)
  std::atomic<uint64_t> completedSeq_{0};       // the last seq the command thread finished
  std::atomic<int> up_{-1};                     // -1 unknown, 0 down, 1 up (logging only)
  const std::string origin_;                    // this hostd in published changes
  const std::string channel_;                   // where changes are published
  uint64_t nextSeq_ = 1;                        // loop thread
  std::thread commands_;
  std::thread subscriber_;
};

/// What a hostd publishes for a write: who made it, and the change.
struct RedisChange {
  std::string origin;  ///< 16 hex digits, random per master
  uint64_t seq = 0;
  ipc::StateMsg change;
  bool ping = false;   ///< no change: a liveness probe of the subscription
};
/// "<origin> <seq> s<key length>:<key><value>", "... d<key length>:<key>", or
/// "<origin> 0 p" (a ping).
std::string encodeRedisChange(const RedisChange& rc);
/// False if it is not such a message.
bool decodeRedisChange(const std::string& text, RedisChange* rc);

}  // namespace hostd::master
