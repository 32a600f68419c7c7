// The server configuration: parsing and validation of server.ini (see conf/server.ini).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>
#include <string_view>

namespace hostd::config {

enum class Scheduling { Shared, RoundRobin, ReusePort };

/// [cluster] on_exception: what a worker does when a plugin callback throws.
enum class OnException { Respond, Replace };

/// [state]: where the shared key/value store lives.
struct StateConfig {
  enum class Backend { Embedded, Redis };
  Backend backend = Backend::Embedded;
  std::string url = "redis://127.0.0.1:6379";  ///< as written; host/port below are parsed from it
  std::string redis_host = "127.0.0.1";
  uint16_t redis_port = 6379;
  std::string redis_user, redis_password;  ///< AUTH [user] password, if the url has them
  unsigned redis_db = 0;                   ///< SELECT db, from the url's path
  std::string prefix = "hostd:";  ///< every Redis key (and the change channel) starts with it
  unsigned timeout_ms = 2000;     ///< a Redis command taking longer fails with HOSTD_EUNAVAILABLE
  /// At start-up: 0 = start the workers at once, with empty replicas, if Redis cannot be
  /// reached; N = wait up to N seconds for Redis (and its state), then exit 1. Start-up
  /// only: a reload neither reads it nor counts it as a [state] change.
  unsigned wait_for_redis_s = 0;
  /// The url with its user info (user and password) shown as "***", for logs.
  std::string redactedUrl() const;
};
inline bool operator==(const StateConfig& a, const StateConfig& b) {
  return a.backend == b.backend && a.redis_host == b.redis_host && a.redis_port == b.redis_port &&
         a.redis_user == b.redis_user && a.redis_password == b.redis_password && a.redis_db == b.redis_db &&
         a.prefix == b.prefix && a.timeout_ms == b.timeout_ms;
}

struct ListenAddress {
  std::string host = "127.0.0.1";  ///< numeric address; "localhost" is kept as written
  uint16_t port = 8080;            ///< 0 = any free port
  bool ipv6 = false;
  /// "127.0.0.1:8080" or "[::1]:8080".
  std::string toString() const;
};

enum class AccessFormat { Combined, Json };

/// Who workers, the plugin probe and every child process run as: [server] user and group,
/// resolved by loadConfig (config/run_as.h).
struct RunAs {
  int uid = -1, gid = -1;        ///< -1: keep hostd's own identity (hostd is not root)
  std::vector<unsigned> groups;  ///< supplementary groups (the user's, as initgroups gives)
  std::string user, group;       ///< their names, for log lines
  bool switches() const { return uid >= 0; }
};

/// A validated configuration. Every member has the documented default.
struct Config {
  std::string file;  ///< absolute path of the config file ("" when parsed from text)
  ListenAddress listen;
  unsigned workers = 1;  ///< resolved: "auto" became the CPU count
  Scheduling scheduling = Scheduling::Shared;
  unsigned graceful_timeout = 5;
  unsigned thread_pool = 4;  ///< threads of each worker's queue_work pool (libuv's UV_THREADPOOL_SIZE)
  std::string user, group;  ///< [server] user / group as written ("" = unset)
  RunAs run_as;             ///< what they resolve to (loadConfig)
  std::string plugins_dir;  ///< absolute
  std::string handler = "hello";
  bool watch = false;
  std::string cache_dir;  ///< where private plugin copies live ("" = PluginStore::defaultCacheDir())
  unsigned load_timeout = 10;  ///< seconds the probe may take to load the plugin before it is refused
  unsigned restart_limit = 10;
  unsigned restart_window = 60;
  unsigned heartbeat_timeout = 10;
  unsigned start_timeout = 60;  ///< seconds a new worker has to become ready
  unsigned quarantine_after = 3;     ///< crashes/hangs of one route that quarantine it (0 = off)
  unsigned quarantine_seconds = 60;  ///< the window they are counted in, and the cool-down
  uint64_t max_requests = 0;
  uint64_t max_requests_jitter = 0;  ///< each worker recycles after max_requests + [0, jitter]
  uint64_t max_memory_mb = 0;        ///< recycle a worker whose RSS exceeds this (0 = never)
  size_t max_header_bytes = 8192;
  size_t max_body_bytes = 1048576;
  unsigned header_timeout = 10;
  unsigned keepalive_timeout = 5;
  unsigned body_timeout = 60;        ///< the whole request body must arrive within this
  unsigned send_timeout = 30;        ///< a client that takes no output for this long is closed
  size_t max_output_buffer = 1048576; ///< unsent bytes past which a connection stops parsing
  /// [children]: at most this many live children (programs under their supervisors) per
  /// worker; further exec/exec_file/spawn calls wait in a queue of max_queued (FIFO) for at
  /// most queue_timeout_ms, and fail at once (HOSTD_EUNAVAILABLE) when the queue is full.
  unsigned children_max = 32;
  unsigned children_max_queued = 1024;
  unsigned children_queue_timeout_ms = 10000;
  OnException on_exception = OnException::Respond;
  std::string log_level = "information";
  std::string access_log;  ///< [log] access: "" = off
  AccessFormat access_format = AccessFormat::Combined;
  std::string log_file;    ///< [log] file: the server log ("" = stderr)
  std::string metrics_listen;  ///< [metrics] listen as written ("" = off); parsed into `metrics`
  ListenAddress metrics;
  std::string control_socket;  ///< [control] socket: "" = the default (ctl/request_server.h), "off" = none
  StateConfig state;
  /// [plugin.<name>] sections, handed to the plugin untouched: name -> key (lower case) -> value.
  std::map<std::string, std::map<std::string, std::string>> plugin_sections;

  /// plugins_dir + "/" + handler + ".so"
  std::string pluginPath() const;
  /// The [plugin.<name>] section, or nullptr.
  const std::map<std::string, std::string>* pluginSection(const std::string& name) const;
};

/// A config that cannot be used; what() names the file, `[section] key`, the value seen
/// and what was expected.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses INI text (pure: no I/O). `file` names the source in messages, and its folder
/// anchors relative paths. `cpuCount` resolves workers = auto.
Config parseConfig(std::string_view text, const std::string& file, unsigned cpuCount);

/// Reads and parses `path` (made absolute), checks the handler's .so exists and resolves
/// [server] user/group (config/run_as.h).
Config loadConfig(const std::string& path);

/// Lossless JSON form, to hand the validated config to a worker.
std::string toJson(const Config& cfg);
/// Throws ConfigError on malformed input.
Config fromJson(const std::string& json);

}  // namespace hostd::config
