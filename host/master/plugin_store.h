// Private, versioned copies of the plugin: what workers actually dlopen.
#pragma once

#include "master/plugin_probe.h"

#include <cstdint>
#include <string>

namespace hostd::master {

/// Each build of the plugin the master accepts is copied to a private file
/// (<dir>/<name>.<version>.so) and the copy is validated in a probe process. Workers load
/// the copy, so `cp new.so plugins/x.so` over the live file, a half-written file, or
/// the dynamic loader's cache of an old image can never reach a worker; a respawn after
/// a crash loads exactly the build that was validated. The directory is ours (0711:
/// workers running as another user can reach their copy, nobody can list or change it),
/// lives under the cache directory ([plugins] cache_dir) and is removed with the store;
/// one left behind by a master that was killed is removed by the next one (each master
/// holds a lock in its own directory for as long as it lives).
class PluginStore {
 public:
  /// Creates `cacheDir` if needed (0711; "" = defaultCacheDir()), removes the directories
  /// of dead masters in it, and creates this master's own. Throws std::runtime_error,
  /// also when the directory is on a noexec mount (dlopen would refuse every copy).
  PluginStore(std::string exe, std::string cacheDir = "");
  /// root: /run/hostd; others: $XDG_RUNTIME_DIR/hostd, else /tmp/hostd-<uid>.
  static std::string defaultCacheDir();
  /// How many directories of dead masters the constructor removed.
  size_t removedStale() const { return removedStale_; }
  ~PluginStore();
  PluginStore(const PluginStore&) = delete;
  PluginStore& operator=(const PluginStore&) = delete;

  struct Prepared {
    bool ok = false;
    std::string path;           ///< the private copy (when ok)
    std::string name, version;  ///< from the plugin's descriptor (when ok)
    std::string message;        ///< why it was refused (when !ok)
  };
  /// Copies `source` (from `pluginsDir`) to a new private file and probes that copy as
  /// `as`, blocking (start-up), for at most loadTimeoutMs.
  Prepared prepare(const std::string& source, const std::string& pluginsDir, uint64_t version,
                   const config::RunAs& as, unsigned loadTimeoutMs);
  /// Only the copy (ok and path set; name and version once probed): for a probe run from
  /// the loop (master/plugin_probe.h startPluginProbe), then accept(). A plugin others
  /// could replace is refused first (master/plugin_trust.h).
  Prepared copy(const std::string& source, const std::string& pluginsDir, uint64_t version);
  /// The probe's verdict on a copy: accepted, or refused (the copy is discarded, and the
  /// message names `source`, the user's file, not our copy).
  Prepared accept(Prepared copied, const std::string& source, const ProbeResult& probe);
  const std::string& exe() const { return exe_; }
  /// Deletes a copy no worker will load again (workers that mapped it keep their mapping).
  void discard(const std::string& path);
  const std::string& dir() const { return dir_; }
  /// The cache directory this store lives in ([plugins] cache_dir, or the default).
  const std::string& cacheDir() const { return cacheDir_; }

 private:
  std::string exe_;
  std::string dir_;
  std::string cacheDir_;
  int lockFd_ = -1;
  size_t removedStale_ = 0;
};

}  // namespace hostd::master
