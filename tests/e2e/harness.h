// End-to-end test harness: a real hostd process on loopback, its log, raw HTTP clients.
// Every wait is bounded; every process started here is killed and reaped by its owner.
#pragma once

#include "http_client.h"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hostd::test {

/// fork + exec(vp) of program in its own process group, stdin /dev/null; stdout+stderr
/// into a pipe whose read end goes to *outFd, or to /dev/null if outFd is null.
pid_t launch(const std::string& program, const std::vector<std::string>& args, int* outFd);

/// A fresh directory under /tmp (0755), removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  /// Writes a file in the directory; returns its full path.
  std::string write(const std::string& name, const std::string& content);

 private:
  std::string path_;
};

/// Usual test settings: 127.0.0.1 port 0, the plugins in `pluginsDir` (the test plugins by
/// default), short timeouts; `extra` is appended verbatim (more sections).
std::string testConfig(const std::string& handler = "testplug", unsigned workers = 2, const std::string& extra = "",
                       const std::string& pluginsDir = HOSTD_TEST_PLUGIN_DIR);

/// A running `hostd -c <tmp>/server.ini` in its own process group, output captured.
class HostdProcess {
 public:
  /// `wrapper`: a command that runs hostd (e.g. {"systemd-socket-activate", "-l", ADDR}):
  /// the hostd binary and its arguments follow it. `binary`: which hostd (an installed one).
  explicit HostdProcess(const std::string& ini, std::vector<std::string> extraArgs = {},
                        std::vector<std::string> wrapper = {}, const std::string& binary = HOSTD_BINARY);
  ~HostdProcess();  ///< SIGKILLs the whole process group (master and workers), reaps
  HostdProcess(const HostdProcess&) = delete;
  HostdProcess& operator=(const HostdProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& configPath() const { return configPath_; }
  TempDir& dir() { return dir_; }
  /// Waits until a line of output contains needle.
  /// (30 s by default: exec and plugin loading stalled over 10 s at times on a loaded box.)
  bool waitForLog(const std::string& needle, Ms timeout = Ms(30000), std::string* line = nullptr);
  /// Waits until needle occurred at least n times.
  bool waitForLogCount(const std::string& needle, size_t n, Ms timeout);
  size_t countLog(const std::string& needle) const;
  std::string output() const;
  /// The port of the "listening on HOST:PORT" line (waits up to 10 s; throws on timeout).
  uint16_t port();
  /// Live (non-zombie) direct children of the master.
  std::vector<pid_t> workerPids() const;
  bool waitForWorkerCount(size_t n, Ms timeout);
  /// Waits until the master runs `count` workers again, `gone` not among them.
  bool waitReplaced(pid_t gone, size_t count, Ms timeout) const;
  int signal(int sig);
  /// Exit code, or 128+signal; nullopt on timeout.
  std::optional<int> waitExit(Ms timeout);

 private:
  void readLoop(int fd);
  TempDir dir_;
  std::string configPath_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;
  bool stop_ = false;
  std::thread reader_;
};

struct RunResult {
  int exitCode;  ///< exit code or 128+signal; -1 if it had to be killed on timeout
  std::string output;
};
/// Runs HOSTD_BINARY with args to completion, bounded.
RunResult runHostd(const std::vector<std::string>& args, Ms timeout = Ms(20000));
/// The same for any program (stdout and stderr together), bounded, its process group killed after.
RunResult runProgram(const std::string& program, const std::vector<std::string>& args, Ms timeout = Ms(20000));

/// For a round_robin server with `workers` workers, whose target answers "<worker id>|<body>":
/// asks `workers` times on fresh connections (one each, in turn) -> worker id -> body.
std::map<std::string, std::string> askEachWorker(uint16_t port, const std::string& target, int workers);

/// `clients` threads, each sending `each` GETs of target over one keep-alive connection;
/// the bodies of the 200 answers (a client stops at its first failure).
std::vector<std::string> requestMany(uint16_t port, const std::string& target, int clients, int each);

bool processAlive(pid_t pid);
/// Live (non-zombie) direct children of a process, sorted.
std::vector<pid_t> childrenOf(pid_t parent);
/// CPU time (user + system) a process used so far, in seconds.
double cpuSeconds(pid_t pid);
/// readlink of every /proc/<pid>/fd entry.
std::vector<std::string> listFds(pid_t pid);
/// Resident set size of a process (VmRSS of /proc/<pid>/status) in KiB; -1 if it is gone.
long residentKb(pid_t pid);
/// A blocking TCP socket connected to 127.0.0.1:port (the caller closes it); throws
/// std::runtime_error if it cannot connect. For tests that need the raw descriptor
/// (non-blocking sends, reads counted rather than kept).
int connectLoopback(uint16_t port);

/// A bounded load generator: `clients` threads send GET / until finish(), over keep-alive
/// connections (reconnecting when the server says Connection: close) or one connection
/// per request, and count every outcome.
class Load {
 public:
  Load(uint16_t port, bool keepAlive, int clients, std::string watchBody = "");
  ~Load();  ///< finish()
  void finish();
  std::atomic<long> ok{0}, failed{0}, non2xx{0};
  std::atomic<long> watched{0};  ///< 2xx responses whose body was watchBody
  /// How the first few failures happened (for the test's INFO): what failed, after how
  /// many requests on that connection, how long it waited, errno.
  std::string failures() const;

 private:
  void run(uint16_t port, bool keepAlive);
  void count(const std::optional<HttpResponse>& r);
  void fail(const std::string& what);
  std::string watch_;
  mutable std::mutex failuresMutex_;
  std::vector<std::string> failures_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace hostd::test
