// The hostd_host_api function table a worker hands its plugin (sdk/include/hostd/plugin.h).
#pragma once

#include <hostd/plugin.h>
#include <uv.h>

#include <functional>
#include <map>
#include <string>

namespace hostd::worker {

class StateReplica;
class ChildProcesses;
}  // namespace hostd::worker
namespace hostd::http {
class Server;
}  // namespace hostd::http
namespace hostd::worker {

/// What the context-free functions of the table act on. One per worker process (the C
/// ABI's log/config/timer calls carry no context pointer, like SQLite's extension API).
struct HostServices {
  uv_loop_t* loop = nullptr;
  int workerId = 0;
  std::string pluginName;
  const std::map<std::string, std::string>* pluginConfig = nullptr;  ///< keys lower-case
  std::function<void(const std::string&)> fatal;                      ///< suicide path
  unsigned workers = 0;                                               ///< for send_to's range check
  std::function<void(const std::string& encoded)> sendMessage;       ///< a `message` frame to the master
  StateReplica* state = nullptr;                                      ///< shared state (1.2)
  ChildProcesses* children = nullptr;                                 ///< child processes (1.2)
  http::Server* server = nullptr;  ///< resolves request/response handles; set before serving
  /// An exception escaped a plugin callback (1.3): log it, apply [cluster] on_exception.
  std::function<void(const std::string&)> pluginError;
};

/// Binds the table to `services` (must outlive every plugin call) and returns it.
const hostd_host_api* makeHostApi(HostServices* services);

}  // namespace hostd::worker
