#include "app/hostd_app.h"

#include "app/log_files.h"
#include "app/logging.h"
#include "app/self_exe.h"
#include "app/systemd.h"
#include "config/config.h"
#include "master/listener.h"
#include "master/master.h"
#include "master/plugin_probe.h"
#include "master/plugin_store.h"
#include "master/plugin_trust.h"

#include <hostd/plugin.h>

#include <Poco/Logger.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>

#include <csignal>
#include <iostream>
#include <unistd.h>
#include <uv.h>

#ifndef HOSTD_DEFAULT_CONFIG
#define HOSTD_DEFAULT_CONFIG "/usr/local/etc/hostd/server.ini"
#endif

namespace hostd::app {

std::string defaultConfigPath() { return HOSTD_DEFAULT_CONFIG; }

void HostdApp::defineOptions(Poco::Util::OptionSet& options) {
  using Poco::Util::Option;
  options.addOption(Option("config", "c", "configuration file (default " + defaultConfigPath() + ")")
                        .required(false).repeatable(false).argument("FILE"));
  options.addOption(Option("test", "t", "check the configuration and the plugin, print the result, exit 0 or 1")
                        .required(false).repeatable(false));
  options.addOption(Option("version", "v", "print the version and the plugin ABI, then exit").required(false));
  options.addOption(Option("help", "h", "print this help, then exit").required(false));
}

void HostdApp::printHelp(std::ostream& out) {
  // By hand: Poco's HelpFormatter glues an option's argument to it ("-cFILE").
  out << "usage: hostd [-c FILE] [-t]\n"
         "hostd: pre-fork, plugin-based HTTP server. Signals to the master: TERM/INT graceful stop,\n"
         "QUIT immediate stop, HUP reload, USR1 reopen logs, USR2 log per-worker counters.\n\n";
  for (const Poco::Util::Option& o : options()) {
    std::string left = "  -" + o.shortName();
    if (o.takesArgument()) left += " " + o.argumentName();
    left += ", --" + o.fullName();
    if (o.takesArgument()) left += "=" + o.argumentName();
    out << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << o.description() << "\n";
  }
}

void HostdApp::handleOption(const std::string& name, const std::string& value) {
  if (name == "config") configPath_ = value;
  else if (name == "test") test_ = true;
  else if (name == "help") { help_ = true; stopOptionsProcessing(); }
  else if (name == "version") { version_ = true; stopOptionsProcessing(); }
}

int HostdApp::main(const std::vector<std::string>& args) {
  if (help_) {
    printHelp(std::cout);
    return EXIT_OK;
  }
  if (version_) {
    std::cout << "hostd " << HOSTD_VERSION << " (plugin ABI " << HOSTD_ABI_MAJOR << "." << HOSTD_ABI_MINOR << ")\n";
    return EXIT_OK;
  }
  if (!args.empty()) {
    std::cerr << "hostd: unexpected argument \"" << args.front() << "\"; try 'hostd --help'\n";
    return EXIT_USAGE;
  }
  const std::string path = configPath_.empty() ? defaultConfigPath() : configPath_;
  takeSystemdEnvironment();  // before anything is spawned: workers never see NOTIFY_SOCKET or LISTEN_*

  config::Config cfg;
  try {
    cfg = config::loadConfig(path);
  } catch (const config::ConfigError& e) {
    std::cerr << "hostd: configuration error: " << e.what() << "\n";
    if (test_) std::cerr << "hostd: configuration file " << path << " test failed\n";
    return 1;
  }
  if (!test_ && !cfg.log_file.empty()) {  // from here on the server log is stderr, for workers too
    if (std::string why = redirectStderr(cfg.log_file, cfg.run_as); !why.empty()) {
      std::cerr << "hostd: [log] file in " << cfg.file << ": " << why << "\n";
      return 1;
    }
  }
  if (!test_ && !cfg.access_log.empty()) {  // created now, owned by the workers' user (see reopen)
    std::string why;
    int fd = prepareLogFile(cfg.access_log, cfg.run_as, &why);
    if (fd < 0) {
      std::cerr << "hostd: [log] access in " << cfg.file << ": " << why << "\n";
      return 1;
    }
    close(fd);
  }
  setupLogging(cfg.log_level);

  const std::string self = selfExecutable();
  if (self.empty()) {
    std::cerr << "hostd: cannot find my own executable (uv_exepath failed)\n";
    return 1;
  }
  auto refused = [&](const std::string& why) {
    std::cerr << "hostd: plugin refused ([plugins] handler = " << cfg.handler << " in " << cfg.file << "): " << why
              << "\n";
    if (test_) std::cerr << "hostd: configuration file " << path << " test failed\n";
    return 1;
  };
  if (test_) {
    // As at start: a checked private copy, probed as the workers' user (never as root).
    master::PluginStore::Prepared probe;
    try {
      master::PluginStore store(self, cfg.cache_dir);
      probe = store.prepare(cfg.pluginPath(), cfg.plugins_dir, 0, cfg.run_as, cfg.load_timeout * 1000);
      if (probe.ok) store.discard(probe.path);
    } catch (const std::runtime_error& e) {
      return refused(e.what());
    }
    if (!probe.ok) return refused(probe.message);
    std::cout << "hostd: configuration file " << cfg.file << " syntax is ok\n"
              << "hostd: plugin " << probe.name << " " << probe.version << " (" << cfg.pluginPath()
              << ") loads with ABI " << HOSTD_ABI_MAJOR << "." << HOSTD_ABI_MINOR << "\n"
              << "hostd: configuration file " << cfg.file << " test is successful\n";
    return 0;
  }

  Poco::Logger& log = Poco::Logger::get("master");
  // A worker that dies leaves a broken pipe behind: the write must fail, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    master::PluginStore store(self, cfg.cache_dir);
    log.information("[H0141] plugin copies in " + store.dir() +
                    (store.removedStale() ? " (removed " + std::to_string(store.removedStale()) +
                                                " left behind by masters that were killed)"
                                          : ""));
    std::string why;
    // Validated before anything is bound; the listening fd is filled in below.
    std::shared_ptr<master::Generation> first = master::Master::prepare(cfg, 1, -1, store, &why);
    if (!first) return refused(why);
    // Socket activation: serve on the socket systemd passed instead of binding [server] listen.
    std::string passedWhy;
    const int passed = sdListenFd(&passedWhy);
    if (passed == -2) throw std::runtime_error(passedWhy);
    if (passed >= 0 && cfg.scheduling == config::Scheduling::ReusePort)
      throw std::runtime_error("socket activation passes one socket; scheduling = reuseport needs one per worker: "
                               "use shared or round_robin with a systemd socket (" + cfg.file + ")");
    master::Listener listener = passed >= 0 ? master::Listener::adopt(passed) : master::Listener(cfg);
    first->spec.listenFd = listener.fd();
    log.information("[H0101] hostd " HOSTD_VERSION " master pid " + std::to_string(getpid()) + " listening on " +
                    listener.address() + (passed >= 0 ? " (socket activation: the socket systemd passed)" : "") +
                    " (config " + cfg.file + ", plugin " + first->pluginName + " " + first->pluginVersion + ")");
    master::Master m(first, listener, store);
    return m.run();
  } catch (const master::ListenError& e) {
    log.fatal(std::string("[H0100] ") + e.what());
    return 1;
  } catch (const std::runtime_error& e) {
    log.fatal(std::string("[H0100] ") + e.what());
    return 1;
  }
}

}  // namespace hostd::app
