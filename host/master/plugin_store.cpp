#include "master/plugin_store.h"

#include "master/plugin_probe.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace hostd::master {
namespace fs = std::filesystem;

namespace {

// A lock nobody holds: the master that made the directory is gone.
bool abandoned(const fs::path& dir) {
  int fd = open((dir / ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No lock file: a master died while creating it, or another is creating it right now.
    struct stat st {};
    return stat(dir.c_str(), &st) == 0 && time(nullptr) - st.st_mtime > 60;
  }
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);
  return free;
}

}  // namespace

std::string PluginStore::defaultCacheDir() {
  if (geteuid() == 0) return "/run/hostd";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) return std::string(xdg) + "/hostd";
  return "/tmp/hostd-" + std::to_string(geteuid());
}

PluginStore::PluginStore(std::string exe, std::string cacheDir) : exe_(std::move(exe)) {
  if (cacheDir.empty()) cacheDir = defaultCacheDir();
  std::error_code ec;
  fs::create_directories(cacheDir, ec);
  if (ec) throw std::runtime_error("[plugins] cache_dir " + cacheDir + ": cannot create it: " + ec.message());
  chmod(cacheDir.c_str(), 0700);
  struct statvfs vfs {};
  if (statvfs(cacheDir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NOEXEC))
    throw std::runtime_error("[plugins] cache_dir " + cacheDir +
                             " is on a filesystem mounted noexec: the private plugin copies could not be "
                             "loaded from there; set [plugins] cache_dir to a directory on an exec mount");
  for (const fs::directory_entry& e : fs::directory_iterator(cacheDir, ec)) {
    if (e.path().filename().string().rfind("master-", 0) == 0 && abandoned(e.path())) {
      fs::remove_all(e.path(), ec);
      ++removedStale_;
    }
  }
  std::string tmpl = cacheDir + "/master-" + std::to_string(getpid()) + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a private plugin directory " + tmpl);
  dir_ = tmpl;
  lockFd_ = open((dir_ + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockFd_ < 0 || flock(lockFd_, LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error("cannot lock the private plugin directory " + dir_);
}

PluginStore::~PluginStore() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (lockFd_ >= 0) close(lockFd_);
}

PluginStore::Prepared PluginStore::copy(const std::string& source, uint64_t version) {
  Prepared p;
  std::string stem = fs::path(source).stem().string();
  std::string copy = dir_ + "/" + stem + "." + std::to_string(version) + ".so";
  std::ifstream in(source, std::ios::binary);
  std::ofstream out(copy, std::ios::binary | std::ios::trunc);
  if (!in || !out || !(out << in.rdbuf()) || !out.flush()) {
    p.message = "cannot copy plugin " + source + " to " + copy + " (missing or unreadable?)";
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

PluginStore::Prepared PluginStore::prepare(const std::string& source, uint64_t version) {
  Prepared p = copy(source, version);
  if (!p.ok) return p;
  return accept(p, source, probePlugin(exe_, p.path));
}

void PluginStore::discard(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace hostd::master
