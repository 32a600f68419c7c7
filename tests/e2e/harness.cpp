#include "harness.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hostd::test {
namespace {
using Clock = std::chrono::steady_clock;

int decodeStatus(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

/// "pid (comm) S ppid ..." -> state and ppid; false if the process is gone.
bool readStat(pid_t pid, char* state, pid_t* ppid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return false;
  size_t close = s.rfind(')');
  if (close == std::string::npos || close + 4 > s.size()) return false;
  std::istringstream rest(s.substr(close + 2));
  rest >> *state >> *ppid;
  return true;
}
}  // namespace

pid_t launch(const std::string& program, const std::vector<std::string>& args, int* outFd) {
  int p[2] = {-1, -1};
  if (outFd && pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    int out = outFd ? p[1] : open("/dev/null", O_WRONLY);
    dup2(out, 1);
    dup2(out, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(program.c_str(), argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // both sides: no race with the first kill(-pid)
  if (outFd) {
    close(p[1]);
    *outFd = p[0];
  }
  return pid;
}

// ---- TempDir ----

TempDir::TempDir() {
  char tmpl[] = "/tmp/hostd-e2e-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  // Workers run as "nobody" when the suite runs as root ([server] user): plugins read the
  // marker files and scripts tests put here.
  chmod(tmpl, 0755);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) {
  std::string p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  return p;
}

std::string testConfig(const std::string& handler, unsigned workers, const std::string& extra,
                       const std::string& pluginsDir) {
  return "[server]\nlisten = 127.0.0.1:0\nworkers = " + std::to_string(workers) +
         "\ngraceful_timeout = 3\n"
         // load_timeout: exec and plugin loading stalled 12 s at times on a loaded test box;
         // tests of the limit itself set it low.
         "[plugins]\ndir = " + pluginsDir + "\nhandler = " + handler + "\nload_timeout = 60" +
         "\n[limits]\nheader_timeout = 2\nkeepalive_timeout = 2\n" + extra;
}

// ---- HostdProcess ----

HostdProcess::HostdProcess(const std::string& ini, std::vector<std::string> extraArgs,
                           std::vector<std::string> wrapper, const std::string& binary) {
  std::vector<std::string> args = std::move(extraArgs);
  if (std::find(args.begin(), args.end(), "-c") == args.end()) {
    configPath_ = dir_.write("server.ini", ini);
    args.insert(args.begin(), {"-c", configPath_});
  }
  std::string program = binary;
  if (!wrapper.empty()) {
    args.insert(args.begin(), program);
    args.insert(args.begin(), wrapper.begin() + 1, wrapper.end());
    program = wrapper.front();
  }
  int fd = -1;
  pid_ = launch(program, args, &fd);
  reader_ = std::thread([this, fd] { readLoop(fd); });
}

void HostdProcess::readLoop(int fd) {
  char buf[4096];
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    out_.append(buf, size_t(n));
    cv_.notify_all();
  }
  close(fd);
}

HostdProcess::~HostdProcess() {
  kill(-pid_, SIGKILL);  // master and every worker: one process group
  if (!exit_) {
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  reader_.join();
}

bool HostdProcess::waitForLog(const std::string& needle, Ms timeout, std::string* line) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t pos = std::string::npos;
  bool found = cv_.wait_for(lock, timeout, [&] { return (pos = out_.find(needle)) != std::string::npos; });
  if (found && line) {
    size_t b = out_.rfind('\n', pos);
    b = b == std::string::npos ? 0 : b + 1;
    *line = out_.substr(b, out_.find('\n', pos) - b);
  }
  return found;
}

bool HostdProcess::waitForLogCount(const std::string& needle, size_t n, Ms timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    size_t count = 0;
    for (size_t p = out_.find(needle); p != std::string::npos; p = out_.find(needle, p + 1)) ++count;
    return count >= n;
  });
}

size_t HostdProcess::countLog(const std::string& needle) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t count = 0;
  for (size_t p = out_.find(needle); p != std::string::npos; p = out_.find(needle, p + 1)) ++count;
  return count;
}

std::string HostdProcess::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_;
}

uint16_t HostdProcess::port() {
  std::string line;
  if (!waitForLog(" listening on ", Ms(60000), &line))  // start-up probes the plugin: load_timeout
    throw std::runtime_error("hostd did not report its port; output:\n" + output());
  size_t at = line.find(" listening on ") + 14;
  std::string addr = line.substr(at, line.find(' ', at) - at);
  return uint16_t(std::stoi(addr.substr(addr.rfind(':') + 1)));
}

std::vector<pid_t> childrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = pid_t(std::atoi(e->d_name));
    if (pid <= 0) continue;
    char state = 0;
    pid_t ppid = 0;
    if (readStat(pid, &state, &ppid) && ppid == parent && state != 'Z') out.push_back(pid);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<pid_t> HostdProcess::workerPids() const { return childrenOf(pid_); }

bool HostdProcess::waitForWorkerCount(size_t n, Ms timeout) {
  return waitUntil([&] { return workerPids().size() == n; }, timeout);
}

bool HostdProcess::waitReplaced(pid_t gone, size_t count, Ms timeout) const {
  return waitUntil([&] {
    std::vector<pid_t> now = workerPids();
    return now.size() == count && std::find(now.begin(), now.end(), gone) == now.end();
  }, timeout);
}

int HostdProcess::signal(int sig) { return kill(pid_, sig); }

std::optional<int> HostdProcess::waitExit(Ms timeout) {
  if (exit_) return exit_;
  waitUntil([&] {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) exit_ = decodeStatus(status);
    return exit_.has_value();
  }, timeout, Ms(10));
  return exit_;
}

// ---- one-shot runs ----

RunResult runHostd(const std::vector<std::string>& args, Ms timeout) { return runProgram(HOSTD_BINARY, args, timeout); }

RunResult runProgram(const std::string& program, const std::vector<std::string>& args, Ms timeout) {
  int fd = -1;
  pid_t pid = launch(program, args, &fd);
  std::string out;
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  bool timedOut = false;
  for (;;) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, int(std::min<long long>(left, 100))) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;  // every writer (hostd and anything it started) is gone
    out.append(buf, size_t(n));
  }
  close(fd);
  if (timedOut) kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  kill(-pid, SIGKILL);  // nothing of it may outlive the run
  return RunResult{timedOut ? -1 : decodeStatus(status), out};
}

std::map<std::string, std::string> askEachWorker(uint16_t port, const std::string& target, int workers) {
  std::map<std::string, std::string> byWorker;
  for (int i = 0; i < workers; ++i) {
    auto r = httpGet(port, target);
    if (!r) continue;
    size_t bar = r->body.find('|');
    byWorker[r->body.substr(0, bar)] = r->body.substr(bar + 1);
  }
  return byWorker;
}

std::vector<std::string> requestMany(uint16_t port, const std::string& target, int clients, int each) {
  std::vector<std::vector<std::string>> bodies(size_t(clients), std::vector<std::string>{});
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        RawConn conn(port);
        for (int i = 0; i < each; ++i) {
          if (!conn.send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n")) return;
          auto r = conn.readResponse(Ms(10000));
          if (!r || r->status != 200) return;
          bodies[size_t(c)].push_back(r->body);
        }
      } catch (const std::exception&) {  // could not connect: counted as missing answers
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> all;
  for (auto& b : bodies) all.insert(all.end(), b.begin(), b.end());
  return all;
}

bool processAlive(pid_t pid) {
  char state = 0;
  pid_t ppid = 0;
  return readStat(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return -1;
  std::istringstream rest(s.substr(s.rfind(')') + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {  // fields 14 and 15 of stat(5): utime, stime
    rest >> field;
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

std::vector<std::string> listFds(pid_t pid) {
  std::vector<std::string> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char buf[256];
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), buf, sizeof buf - 1);
    if (n > 0) out.emplace_back(buf, size_t(n));
  }
  closedir(d);
  return out;
}

long residentKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

int connectLoopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot connect to port " + std::to_string(port) + ": " + std::strerror(err));
  }
  return fd;
}

// ---- load ----

Load::Load(uint16_t port, bool keepAlive, int clients, std::string watchBody) : watch_(std::move(watchBody)) {
  for (int i = 0; i < clients; ++i) threads_.emplace_back([this, port, keepAlive] { run(port, keepAlive); });
}

Load::~Load() { finish(); }

void Load::finish() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Load::count(const std::optional<HttpResponse>& r) {
  if (!r) ++failed;
  else if (r->status < 200 || r->status > 299) ++non2xx;
  else {
    ++ok;
    if (!watch_.empty() && r->body == watch_) ++watched;
  }
}

void Load::fail(const std::string& what) {
  ++failed;
  std::lock_guard<std::mutex> lock(failuresMutex_);
  if (failures_.size() < 10) failures_.push_back(what);
}

std::string Load::failures() const {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  std::string out;
  for (const std::string& f : failures_) out += f + "\n";
  return out;
}

void Load::run(uint16_t port, bool keepAlive) {
  using Clock = std::chrono::steady_clock;
  auto msSince = [](Clock::time_point t) {
    return std::to_string(std::chrono::duration_cast<Ms>(Clock::now() - t).count()) + " ms";
  };
  while (!stop_) {
    if (!keepAlive) {
      auto t0 = Clock::now();
      auto r = httpGet(port, "/", Ms(3000));
      if (r) count(r);
      else fail("connection per request: no response after " + msSince(t0) + " (errno " + std::strerror(errno) + ")");
      continue;
    }
    try {
      RawConn c(port);
      for (long served = 0; !stop_; ++served) {
        auto t0 = Clock::now();
        if (!c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) {
          fail("keep-alive: send failed after " + std::to_string(served) + " responses on the connection: " +
               std::strerror(errno));
          break;
        }
        auto r = c.readResponse();
        if (!r) {
          fail("keep-alive: no response after " + std::to_string(served) + " responses on the connection, " +
               (c.closed() ? "closed by the server" : "still open") + " after " + msSince(t0) + " (errno " +
               std::strerror(errno) + ")");
          break;
        }
        count(r);
        // The server says when it closes (draining worker): then reconnect.
        if (r->headers["connection"] == "close") break;
      }
    } catch (const std::exception& e) {
      fail(std::string("keep-alive: ") + e.what());
    }
  }
}

}  // namespace hostd::test
