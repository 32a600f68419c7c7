#include "master/spawner.h"

#include "ipc/fd_passing.h"
#include "app/fault_seam.h"
#include "app/self_exe.h"
#include "app/spawn.h"
#include "ipc/worker_contract.h"

#include <Poco/Exception.h>
#include <Poco/Pipe.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace hostd::master {
namespace {

void setCloexec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

std::vector<std::string> workerEnvironment(const SpawnSpec& spec, int slot, bool scoreboard) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "HOSTD_", 6) != 0) env.emplace_back(*e);
  }
  auto set = [&](const char* k, const std::string& v) { env.push_back(std::string(k) + "=" + v); };
  set(ipc::kEnvWorkerId, std::to_string(slot));
  set(ipc::kEnvListenFd, std::to_string(ipc::kWorkerListenFd));
  set(ipc::kEnvChannelFd, std::to_string(ipc::kWorkerChannelInFd) + "," + std::to_string(ipc::kWorkerChannelOutFd));
  set(ipc::kEnvMasterPid, std::to_string(spec.masterPid));
  set(ipc::kEnvPluginPath, spec.pluginPath);
  set(ipc::kEnvConfigFd, std::to_string(ipc::kWorkerConfigFd));
  set(ipc::kEnvScoreboardFd, scoreboard ? std::to_string(ipc::kWorkerScoreboardFd) : "-1");
  return env;
}

}  // namespace

int spawnWorker(uv_loop_t* loop, const SpawnSpec& spec, WorkerProcess& wp, WorkerExitFn onExit,
                std::string* error) {
  std::string title = "hostd: worker " + std::to_string(wp.slot);
  if (int e = app::injectedFault("pipe")) {
    *error = "pipe() failed while spawning worker " + std::to_string(wp.slot) + ": " + std::strerror(e);
    return -e;
  }
  try {
    Poco::Pipe toWorker, fromWorker;
    // Poco::Pipe is a plain pipe(): without this a worker inherits its siblings' ends and
    // the master never sees EOF when one of them dies.
    for (int fd : {toWorker.readHandle(), toWorker.writeHandle(), fromWorker.readHandle(), fromWorker.writeHandle()})
      setCloexec(fd);

    int handoff[2] = {-1, -1};
    if (spec.roundRobin) {
      int fault = app::injectedFault("socketpair");
      int rc = fault ? -fault : ipc::makeHandoffPair(handoff);
      if (rc != 0) {
        *error = "socketpair() failed while spawning worker " + std::to_string(wp.slot) + ": " + std::strerror(-rc);
        return rc;
      }
    }
    // stdio (0-2) is shared as it is; the rest at the numbers the worker contract names.
    app::SpawnSpec how;
    how.fds = {{spec.roundRobin ? handoff[1] : spec.listenFd, ipc::kWorkerListenFd},
               {toWorker.readHandle(), ipc::kWorkerChannelInFd},
               {fromWorker.writeHandle(), ipc::kWorkerChannelOutFd},
               {spec.configFd, ipc::kWorkerConfigFd}};
    wp.score = std::make_unique<ipc::ScoreBoardSlot>();
    const bool scoreboard = wp.score->fd() >= 0;
    if (scoreboard) how.fds.emplace_back(wp.score->fd(), ipc::kWorkerScoreboardFd);

    std::vector<std::string> envStrings = workerEnvironment(spec, wp.slot, scoreboard);
    std::vector<char*> envp;
    for (std::string& s : envStrings) envp.push_back(s.data());
    envp.push_back(nullptr);
    char* args[] = {title.data(), nullptr};
    how.file = app::kRunningBinary;  // spec.exe names it in messages
    how.argv = args;
    how.envp = envp.data();

    int rc = -app::injectedFault("spawn");  // as a failed posix_spawn reports it
    if (rc == 0) rc = app::spawnWithPidfd(how, &wp.pid, &wp.pidfd);
    wp.score->closeFd();    // the worker has its own; the master keeps the mapping
    if (handoff[1] >= 0) close(handoff[1]);  // the worker's end lives on in the worker only
    wp.handoffFd = handoff[0];
    if (rc != 0) {
      wp.pid = 0;
      *error = std::string("posix_spawn(") + spec.exe + ") failed: " + std::strerror(-rc);
      return rc;
    }
    wp.onExit = onExit;
    uv_poll_init(loop, &wp.exitPoll, wp.pidfd);
    wp.exitPoll.data = &wp;
    wp.exitPollOpen = true;
    uv_poll_start(&wp.exitPoll, UV_READABLE, [](uv_poll_t* p, int, int) {
      auto* w = static_cast<WorkerProcess*>(p->data);
      int exitStatus = 0, signal = 0;
      if (!app::reapPidfd(w->pidfd, &exitStatus, &signal)) return;
      uv_poll_stop(p);
      w->onExit(*w, exitStatus, signal);
    });

    // The master's ends, owned by libuv from here on; the Poco::Pipe objects close the
    // originals (including the child's ends) when they go out of scope.
    int in = fcntl(fromWorker.readHandle(), F_DUPFD_CLOEXEC, 0);
    int out = fcntl(toWorker.writeHandle(), F_DUPFD_CLOEXEC, 0);
    if (in < 0 || out < 0) {
      *error = std::string("dup() of the control channel of worker ") + std::to_string(wp.slot) +
               " failed: " + std::strerror(errno);
      if (in >= 0) close(in);
      if (out >= 0) close(out);
      return -EMFILE;
    }
    wp.channel = new ipc::Channel(loop);
    if (int rc = wp.channel->open(in, out); rc != 0) {
      *error = std::string("cannot open the control channel of worker ") + std::to_string(wp.slot) + ": " +
               uv_strerror(rc);
      return rc;
    }
    return 0;
  } catch (const Poco::Exception& e) {
    *error = "pipe() failed while spawning worker " + std::to_string(wp.slot) + ": " + e.displayText();
    return -EMFILE;
  }
}

}  // namespace hostd::master
