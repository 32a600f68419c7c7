// The master's record of one worker process (nginx's ngx_process_t, in spirit).
#pragma once

#include "ipc/channel.h"
#include "ipc/frame.h"
#include "ipc/scoreboard.h"

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

namespace hostd::master {

class Master;

/// The OS side of a worker (process handle, channel, timers); its lifecycle state is
/// ClusterCore::Worker, under the same serial.
struct WorkerProcess {
  Master* master = nullptr;
  int slot = 0;            ///< 1..workers; the id the plugin sees
  uint64_t serial = 0;     ///< unique per spawn, never reused
  uint64_t generation = 0; ///< the Generation (config + plugin build) it runs
  int pid = 0;
  bool stateStale = false;          ///< state changes were held back while it was starting
  uint64_t droppedMessages = 0;     ///< plugin messages dropped while it was starting
  ipc::Heartbeat counters;

  std::unique_ptr<ipc::ScoreBoardSlot> score;  ///< what its plugin is doing (for forensics)
  int pidfd = -1;                ///< the process (app/spawn.h); closed once exitPoll is
  uv_poll_t exitPoll{};          ///< pidfd readable: it ended (reaped, then Master::onExit)
  bool exitPollOpen = false;     ///< exitPoll must be uv_close'd
  void (*onExit)(WorkerProcess&, int64_t exitStatus, int signal) = nullptr;
  uv_timer_t killTimer{};        ///< SIGKILL past graceful_timeout once Stopping
  ipc::Channel* channel = nullptr;
  int handoffFd = -1;            ///< round_robin: the master's end of the hand-off socketpair
  int listenFd = -1;             ///< the listening socket it inherited (-1 in round_robin)
  uint64_t handedOff = 0;        ///< round_robin: connections given to it
  int pendingCloses = 0;         ///< handles still closing before the record is freed
};

}  // namespace hostd::master
