// The worker process: one event loop serving HTTP with the plugin, driven by the master.
#pragma once

#include "config/config.h"
#include "http/server.h"
#include "ipc/channel.h"
#include "ipc/scoreboard.h"
#include "plugin/plugin_loader.h"
#include "worker/access_log.h"
#include "worker/child_processes.h"
#include "worker/host_api.h"
#include "worker/state_replica.h"

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hostd::worker {

/// Everything a worker gets from its master at exec time (see ipc/worker_contract.h).
struct WorkerEnv {
  int id = 0;
  int listenFd = -1;
  int channelIn = -1;
  int channelOut = -1;
  long masterPid = 0;
  std::string pluginPath;
  config::Config config;
  int scoreboardFd = -1;
};

/// Reads the environment set by the master. Throws std::runtime_error naming the variable.
WorkerEnv readWorkerEnv();

/// Lifecycle: load + init the plugin, listen, send `ready`, serve; on `restart`, SIGTERM,
/// suicide confirmation or master loss: stop accepting, drain, shutdown the plugin, exit.
/// Startup failures send `init_failed` with the reason and exit with ipc::kExitFatal.
class Worker {
 public:
  explicit Worker(WorkerEnv env);
  /// Runs until the worker is done; returns the process exit code.
  int run();

 private:
  [[noreturn]] void failStartup(const std::string& why);
  void handle(http::Request& req, http::Response& res);
  /// A quarantined route (set by the master): 503 with Retry-After, no plugin. True if answered.
  bool answerQuarantined(http::Request& req, http::Response& res);
  void onQuarantine(const std::string& payload);
  /// MsgType::Reopen: the access log and [log] file, by name again (logrotate moved them).
  void reopenLogs();
  void onFrame(ipc::Frame& f);
  void deliver(const std::string& frame);
  void onMasterGone(const std::string& reason);
  /// Asks the master for a replacement; `planned` (recycling) is not a failure.
  void requestReplacement(const std::string& reason, bool planned = false);
  void beginDrain(const std::string& why);
  [[noreturn]] void finish();
  void sendHeartbeat();

  WorkerEnv env_;
  uv_loop_t* loop_;
  ipc::Channel* channel_ = nullptr;  // destroyed with the process
  plugin::LoadedPlugin plugin_;
  void* pluginState_ = nullptr;
  HostServices services_;
  StateReplica state_;
  std::unique_ptr<ChildProcesses> children_;
  std::unique_ptr<http::Server> server_;
  AccessLog accessLog_;  ///< [log] access (off unless configured)
  bool countRequests_ = false;  ///< [metrics] listen is set: status classes, bytes, durations
  ipc::Heartbeat metrics_;      ///< those counts, sent with every heartbeat
  uv_timer_t heartbeat_{};
  uv_timer_t deadline_{};
  uv_timer_t finishing_{};  ///< runs finish() from the loop once drained
  uv_signal_t sigterm_{};
  uv_signal_t sigquit_{};
  bool pluginReady_ = false;                 ///< init succeeded: messages can be delivered
  std::vector<std::string> earlyMessages_;   ///< messages that arrived before that
  bool replacementAsked_ = false;
  bool draining_ = false;
  uint64_t handled_ = 0;
  ipc::ScoreWriter score_;                           ///< what the plugin is serving now
  std::map<std::string, uint64_t> quarantine_;       ///< "METHOD /path" -> until (monotonic ms)
  uint64_t recycleAfter_ = 0;
};

/// The request count after which a worker recycles itself: max + a share of jitter
/// picked by `seed`, so workers started together do not all recycle at once. 0 = never.
uint64_t recycleAfter(uint64_t maxRequests, uint64_t jitter, uint64_t seed);

/// This process's resident set size in MiB (from /proc/self/statm), 0 if unknown.
uint64_t residentMb();

/// main() for a process started as a worker. Never returns to the caller's logic.
int runWorker();

}  // namespace hostd::worker
