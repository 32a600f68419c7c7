// hostd's entry point: the same binary is the master, a worker (exec'ed by the master
// with HOSTD_WORKER_ID set, like Node's NODE_UNIQUE_ID) and the plugin probe.
#include "app/hostd_app.h"
#include "ipc/worker_contract.h"
#include "master/plugin_probe.h"
#include "worker/child_processes.h"
#include "worker/worker.h"

#include <Poco/Exception.h>

#include <sys/prctl.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  // Workers and probes are exec'd through /proc/self/exe (app/self_exe.h), which would make
  // their name "exe" in top, pgrep and killall: name every hostd process "hostd".
  prctl(PR_SET_NAME, "hostd", 0, 0, 0);
  // A worker's child process on its way to exec (see worker/child_processes.h).
  if (argc >= 4 && std::strcmp(argv[1], "--child-exec") == 0) return hostd::worker::runChildExec(argc, argv);
  if (std::getenv(hostd::ipc::kEnvWorkerId)) return hostd::worker::runWorker();
  if (argc == 3 && std::strcmp(argv[1], "--probe-plugin") == 0) return hostd::master::runPluginProbe(argv[2]);

  hostd::app::HostdApp app;
  try {
    app.init(argc, argv);
  } catch (const Poco::Exception& e) {
    std::cerr << "hostd: " << e.displayText() << "; try 'hostd --help'\n";
    return Poco::Util::Application::EXIT_USAGE;
  }
  return app.run();
}
