// hostctl: talks to a running hostd over its control socket ([control] socket).
//   hostctl [-c CONFIG | -s SOCKET] status [--json] | reload | stop [--now] | scale N | reopen-logs
// Exit codes: 0 done; 1 hostd unreachable or the command failed; 64 usage; reload: 2 refused,
// 3 rolled back.
#include "config/config.h"
#include "master/request_server.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef HOSTD_DEFAULT_CONFIG
#define HOSTD_DEFAULT_CONFIG "/usr/local/etc/hostd/server.ini"
#endif

namespace {

constexpr int kUsage = 64;

int usage(const std::string& why) {
  if (!why.empty()) std::cerr << "hostctl: " << why << "\n";
  std::cerr << "usage: hostctl [-c CONFIG | -s SOCKET] COMMAND\n"
               "  status [--json]   master, generation, plugin and every worker (pid, state, requests,\n"
               "                    connections, memory, restarts, the request it is serving)\n"
               "  reload            reload and wait: exit 0 finished, 2 refused, 3 rolled back\n"
               "  stop [--now]      graceful stop (drain), or immediate\n"
               "  scale N           run N workers (until the next reload)\n"
               "  reopen-logs       reopen [log] file and [log] access (after logrotate moved them)\n"
               "The socket is [control] socket of CONFIG (default " HOSTD_DEFAULT_CONFIG
               "), or its default: hostd.sock in [plugins] cache_dir (" << hostd::master::defaultControlSocket("")
            << " when unset).\n";
  return kUsage;
}

/// [control] socket from a config that does not parse as a whole, else the default.
std::string lenientControlSocket(const std::string& text, const std::string& file) {
  std::istringstream in(text);
  std::string section;
  for (std::string line; std::getline(in, line);) {
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    line = line.substr(b);
    if (line[0] == '[') {
      section = line.substr(0, line.find(']') + 1);
      continue;
    }
    if (section != "[control]" || line.rfind("socket", 0) != 0) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string v = line.substr(eq + 1);
    for (const char* c : {" ;", " #"}) v = v.substr(0, v.find(c));
    v.erase(0, v.find_first_not_of(" \t"));
    v.erase(v.find_last_not_of(" \t\r") + 1);
    if (v.empty() || v == "off") break;
    return v[0] == '/' ? v : (std::filesystem::path(file).parent_path() / v).string();
  }
  return hostd::master::defaultControlSocket("");
}

/// The socket to talk to: -s, else the config's [control] socket, else the default.
bool socketPath(const std::string& socketArg, const std::string& configArg, std::string* path) {
  if (!socketArg.empty()) {
    *path = socketArg;
    return true;
  }
  // Absolute, as hostd makes it: relative paths in the config are relative to its folder.
  const std::string file = std::filesystem::absolute(configArg.empty() ? HOSTD_DEFAULT_CONFIG : configArg).string();
  std::ifstream in(file);
  if (!in) {
    if (!configArg.empty()) {
      std::cerr << "hostctl: cannot read " << file << "\n";
      return false;
    }
    *path = hostd::master::defaultControlSocket("");
    return true;
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    hostd::config::Config cfg = hostd::config::parseConfig(text.str(), file, 1);
    if (cfg.control_socket == "off") {
      std::cerr << "hostctl: " << file << " turns the control socket off ([control] socket = off)\n";
      return false;
    }
    *path = cfg.control_socket.empty() ? hostd::master::defaultControlSocket(cfg.cache_dir) : cfg.control_socket;
    return true;
  } catch (const hostd::config::ConfigError&) {
    // Being edited (and about to be reloaded, which will say what is wrong): all hostctl
    // needs is [control] socket.
    *path = lenientControlSocket(text.str(), file);
    return true;
  }
}

/// Sends one request line, returns the whole answer; "" and a message on stderr if hostd
/// cannot be reached or does not answer within timeoutMs.
bool ask(const std::string& path, const std::string& line, int timeoutMs, std::string* answer) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof a.sun_path) {
    std::cerr << "hostctl: bad socket path " << path << "\n";
    return false;
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  // Non-blocking: a hostd whose loop is stuck (its backlog full) gets the same deadline.
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int e = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  if (e == EAGAIN || e == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    socklen_t len = sizeof e;
    e = poll(&p, 1, 10000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 ? e : ETIMEDOUT;
  }
  if (e != 0) {
    if (e == ENOENT)
      std::cerr << "hostctl: no control socket at " << path
                << ": hostd is not running (or uses another [control] socket: try -c CONFIG or -s SOCKET)\n";
    else if (e == ECONNREFUSED)
      std::cerr << "hostctl: nothing answers on " << path << ": hostd is not running (the socket is stale)\n";
    else if (e == EACCES || e == EPERM)
      std::cerr << "hostctl: permission denied on " << path
                << ": run hostctl as root or as the user hostd runs as\n";
    else if (e == ETIMEDOUT)
      std::cerr << "hostctl: hostd does not accept on " << path << " (busy or stuck?)\n";
    else
      std::cerr << "hostctl: cannot connect to " << path << ": " << std::strerror(e) << "\n";
    close(fd);
    return false;
  }
  const std::string req = line + "\n";
  // hostd may have answered (and closed) already, e.g. permission denied: read that first.
  const int sendErr = send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size()) ? 0 : errno;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::cerr << "hostctl: no answer from hostd within " << timeoutMs / 1000 << " s\n";
      close(fd);
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer->append(buf, size_t(n));
  }
  close(fd);
  if (answer->empty()) {
    if (sendErr) std::cerr << "hostctl: cannot send to " << path << ": " << std::strerror(sendErr) << "\n";
    else std::cerr << "hostctl: hostd closed the connection without an answer (stopping?)\n";
    return false;
  }
  return true;
}

std::string duration(uint64_t s) {
  std::ostringstream out;
  if (s >= 86400) out << s / 86400 << "d";
  if (s >= 3600) out << (s % 86400) / 3600 << "h";
  if (s >= 60) out << (s % 3600) / 60 << "m";
  out << s % 60 << "s";
  return out.str();
}

int printStatus(const std::string& json) {
  Poco::JSON::Parser parser;
  auto o = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
  auto workers = o->getArray("workers");
  std::cout << "hostd pid " << o->getValue<int>("master_pid") << ", up " << duration(o->getValue<uint64_t>("uptime_s"))
            << ", " << o->getValue<std::string>("state") << ", generation " << o->getValue<uint64_t>("generation")
            << ", plugin " << o->getValue<std::string>("plugin") << " " << o->getValue<std::string>("plugin_version")
            << ", " << o->getValue<unsigned>("workers_configured") << " worker(s)\n";
  std::cout << std::left << std::setw(6) << "SLOT" << std::setw(9) << "PID" << std::setw(10) << "STATE"
            << std::setw(11) << "REQUESTS" << std::setw(7) << "CONNS" << std::setw(10) << "RSS" << std::setw(10)
            << "RESTARTS" << "SERVING\n";
  for (size_t i = 0; i < workers->size(); ++i) {
    auto w = workers->getObject(unsigned(i));
    std::string serving = "-";
    if (auto s = w->getObject("serving")) {
      serving = s->getValue<std::string>("method") + " " + s->getValue<std::string>("target") + " (" +
                std::to_string(s->getValue<uint64_t>("for_ms")) + " ms, " + s->getValue<std::string>("remote") + ")";
    }
    std::ostringstream rss;
    rss << std::fixed << std::setprecision(1) << double(w->getValue<uint64_t>("rss_kb")) / 1024 << " MB";
    std::cout << std::left << std::setw(6) << w->getValue<int>("slot") << std::setw(9) << w->getValue<int>("pid")
              << std::setw(10) << w->getValue<std::string>("state") << std::setw(11)
              << w->getValue<uint64_t>("requests") << std::setw(7) << w->getValue<uint64_t>("connections")
              << std::setw(10) << rss.str() << std::setw(10) << w->getValue<uint64_t>("restarts") << serving << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socketArg, configArg;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-s" || a == "-c") && i + 1 < argc) (a == "-s" ? socketArg : configArg) = argv[++i];
    else if (a == "-h" || a == "--help") return usage(""), 0;
    else if (a == "-s" || a == "-c") return usage(a + " needs an argument");
    else words.push_back(a);
  }
  if (words.empty()) return usage("no command");
  const std::string& cmd = words[0];
  const bool json = words.size() == 2 && words[1] == "--json";
  std::string line;
  int timeoutMs = 10000;
  if (cmd == "status" && (words.size() == 1 || json)) line = "status";
  else if (cmd == "reload" && words.size() == 1) line = "reload", timeoutMs = 600000;  // probe + every slot's start
  else if (cmd == "stop" && (words.size() == 1 || (words.size() == 2 && words[1] == "--now"))) line = words.size() == 1 ? "stop" : "stop --now";
  else if (cmd == "scale" && words.size() == 2) line = "scale " + words[1];
  else if (cmd == "reopen-logs" && words.size() == 1) line = "reopen-logs";
  else return usage("unknown command or arguments: " + cmd);

  std::string path, answer;
  if (!socketPath(socketArg, configArg, &path)) return 1;
  if (!ask(path, line, timeoutMs, &answer)) return 1;
  while (!answer.empty() && answer.back() == '\n') answer.pop_back();
  if (answer.rfind("error: ", 0) == 0) {
    std::cerr << "hostctl: " << answer.substr(7) << "\n";
    return 1;
  }
  if (cmd == "status") {
    const std::string body = answer.substr(answer.find('\n') + 1);
    if (json) {
      std::cout << body << "\n";
      return 0;
    }
    try {
      return printStatus(body);
    } catch (const Poco::Exception& e) {
      std::cerr << "hostctl: unexpected status answer (" << e.displayText() << "): " << body << "\n";
      return 1;
    }
  }
  if (cmd == "reload") {
    std::cout << "reload " << answer << "\n";
    if (answer.rfind("finished", 0) == 0) return 0;
    return answer.rfind("rolled back", 0) == 0 ? 3 : 2;
  }
  std::cout << answer.substr(answer.rfind("ok: ", 0) == 0 ? 4 : 0) << "\n";
  return 0;
}
