#include "master/plugin_store.h"

#include "master/plugin_trust.h"

#include "master/plugin_probe.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace hostd::master {
namespace fs = std::filesystem;

namespace {

// A directory of a master that is gone: ours (owner), made by a master (.lock), and its
// lock is free. Anything else in the cache directory is left alone.
bool abandoned(const fs::path& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) return false;
  int fd = open((dir / ".lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);
  return free;
}

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(m & 07777));
  return buf;
}

}  // namespace

std::string PluginStore::defaultCacheDir() {
  if (geteuid() == 0) return "/run/hostd";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) return std::string(xdg) + "/hostd";
  return "/tmp/hostd-" + std::to_string(geteuid());
}

PluginStore::PluginStore(std::string exe, std::string cacheDir) : exe_(std::move(exe)) {
  if (cacheDir.empty()) cacheDir = defaultCacheDir();
  cacheDir_ = cacheDir;
  const std::string key = "[plugins] cache_dir " + cacheDir;
  struct stat st {};
  if (lstat(cacheDir.c_str(), &st) != 0) {
    std::error_code ec;
    fs::create_directories(fs::path(cacheDir).parent_path(), ec);
    if (mkdir(cacheDir.c_str(), 0711) != 0 && errno != EEXIST)
      throw std::runtime_error(key + ": cannot create it: " + std::strerror(errno));
    lstat(cacheDir.c_str(), &st);
  }
  // Workers load code from here: it must be ours alone (a directory someone else can
  // write to, or swap, would let them choose what the workers run).
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
    throw std::runtime_error(key + " must be a directory (not a symlink) owned by uid " + std::to_string(geteuid()) +
                             " and not writable by group or others; it is " +
                             (S_ISLNK(st.st_mode) ? std::string("a symlink")
                                                  : "owned by uid " + std::to_string(st.st_uid) + ", mode " +
                                                        octal(st.st_mode)) +
                             ". Use another directory, or fix it: chown, chmod 0711");
  // Workers running as another user ([server] user) pass through to their copy, and only
  // that: traversable, not listable.
  if ((st.st_mode & 0011) != 0011) chmod(cacheDir.c_str(), (st.st_mode & 07777) | 0011);
  struct statvfs vfs {};
  if (statvfs(cacheDir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NOEXEC))
    throw std::runtime_error(key +
                             " is on a filesystem mounted noexec: the private plugin copies could not be "
                             "loaded from there; set [plugins] cache_dir to a directory on an exec mount");
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(cacheDir, ec)) {
    if (e.path().filename().string().rfind("master-", 0) == 0 && abandoned(e.path())) {
      fs::remove_all(e.path(), ec);
      ++removedStale_;
    }
  }
  // Locked before it is visible under a master- name: another master starting at the same
  // moment never sees it unlocked.
  std::string tmpl = cacheDir + "/.new-" + std::to_string(getpid()) + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a private plugin directory in " + cacheDir);
  lockFd_ = open((tmpl + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockFd_ < 0 || flock(lockFd_, LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error("cannot lock the private plugin directory " + tmpl);
  chmod(tmpl.c_str(), 0711);
  dir_ = cacheDir + "/master-" + tmpl.substr(cacheDir.size() + 6);
  if (rename(tmpl.c_str(), dir_.c_str()) != 0) {
    fs::remove_all(tmpl, ec);
    throw std::runtime_error("cannot create the private plugin directory " + dir_ + ": " + std::strerror(errno));
  }
}

PluginStore::~PluginStore() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (lockFd_ >= 0) close(lockFd_);
}

PluginStore::Prepared PluginStore::copy(const std::string& source, const std::string& pluginsDir, uint64_t version) {
  Prepared p;
  // Opened once and checked as opened: the bytes copied are the bytes checked.
  int in = openTrustedPlugin(source, pluginsDir, &p.message);
  if (in < 0) return p;
  std::string stem = fs::path(source).stem().string();
  std::string copy = dir_ + "/" + stem + "." + std::to_string(version) + ".so";
  int out = ::open(copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = out >= 0;
  char buf[65536];
  for (ssize_t n; ok && (n = ::read(in, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0 && ::write(out, buf, size_t(n)) == n;
  }
  ::close(in);
  // Readable by workers running as another user, whatever the umask.
  if (out >= 0) ok = fchmod(out, 0644) == 0 && ::close(out) == 0 && ok;
  if (!ok) {
    p.message = "cannot copy plugin " + source + " to " + copy + ": " + std::strerror(errno);
    discard(copy);
    return p;
  }
  p.ok = true;
  p.path = copy;
  return p;
}

PluginStore::Prepared PluginStore::accept(Prepared copied, const std::string& source, const ProbeResult& r) {
  if (!r.ok) {
    Prepared refused;
    refused.message = r.message;
    for (size_t at; (at = refused.message.find(copied.path)) != std::string::npos;)
      refused.message.replace(at, copied.path.size(), source);
    discard(copied.path);
    return refused;
  }
  copied.name = r.name;
  copied.version = r.version;
  return copied;
}

PluginStore::Prepared PluginStore::prepare(const std::string& source, const std::string& pluginsDir, uint64_t version,
                                           const config::RunAs& as, unsigned loadTimeoutMs) {
  Prepared p = copy(source, pluginsDir, version);
  if (!p.ok) return p;
  return accept(p, source, probePlugin(exe_, p.path, as, loadTimeoutMs));
}

void PluginStore::discard(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace hostd::master
