#include "master/plugin_probe.h"

#include "plugin/plugin_loader.h"

#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <Poco/StreamCopier.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

namespace hostd::master {

int runPluginProbe(const std::string& path) {
  try {
    plugin::LoadedPlugin p = plugin::loadPlugin(path);
    std::cout << "OK " << p.desc->name << " " << (p.desc->version ? p.desc->version : "") << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cout << e.what() << std::endl;
    return 1;
  }
}

ProbeResult probePlugin(const std::string& exe, const std::string& path, unsigned timeoutMs) {
  ProbeResult r;
  Poco::Pipe out;
  // Poco::Process::launch closes every other fd in the child: nothing of ours leaks in.
  Poco::ProcessHandle ph = Poco::Process::launch(exe, {"--probe-plugin", path}, nullptr, &out, &out);
  int status = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while ((status = ph.tryWait()) == -1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool timedOut = status == -1;
  if (timedOut) {
    Poco::Process::kill(ph);
    status = ph.wait();
  }
  out.close(Poco::Pipe::CLOSE_WRITE);
  Poco::PipeInputStream in(out);
  std::string text;
  Poco::StreamCopier::copyToString(in, text);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();

  if (timedOut) {
    r.message = "plugin " + path + " did not finish loading within " + std::to_string(timeoutMs / 1000) +
                " s (its static initialisers hang?); refusing it";
  } else if (status > 256) {
    int sig = status - 256;
    r.message = "plugin " + path + " crashed while loading (signal " + std::to_string(sig) + ", " +
                strsignal(sig) + ") — its static initialisers or a library it needs crash; the master "
                "is unaffected. Run it under gdb, or check `ldd " + path + "`";
  } else if (status == 0 && text.rfind("OK ", 0) == 0) {
    std::istringstream ss(text.substr(3));
    ss >> r.name;
    std::getline(ss >> std::ws, r.version);
    r.ok = true;
  } else {
    r.message = text.empty() ? "plugin " + path + " was refused (probe exit code " + std::to_string(status) + ")" : text;
  }
  return r;
}

}  // namespace hostd::master
