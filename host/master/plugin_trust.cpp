#include "master/plugin_trust.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace hostd::master {
namespace {

std::string owner(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  std::string n = std::to_string(uid);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) n += " (" + std::string(pw.pw_name) + ")";
  return n;
}

/// "" if st is trustworthy, else why (for `what path`).
std::string judge(const struct stat& st, const std::string& what, const std::string& path) {
  const bool ownerOk = st.st_uid == 0 || st.st_uid == geteuid();
  const bool stickyRootDir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && st.st_uid == 0;
  const bool writable = (st.st_mode & 022) != 0 && !stickyRootDir;
  if (ownerOk && !writable) return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
  std::string fix = writable ? "chmod go-w " + path : "";
  if (!ownerOk) fix += std::string(fix.empty() ? "" : " and ") + "chown root " + path;
  return what + path + " is " + (writable ? "writable by group or others" : "owned by another user") + " (owner uid " +
         owner(st.st_uid) + ", mode " + mode + "): whoever can change it chooses the code hostd's workers run. " +
         "It must be owned by root or by the user hostd runs as (uid " + std::to_string(geteuid()) +
         ") and not writable by group or others. Fix: " + fix;
}

}  // namespace

int openTrustedPlugin(const std::string& pluginPath, const std::string& pluginsDir, std::string* why) {
  int fd = open(pluginPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = "cannot open plugin " + pluginPath + ": " + std::strerror(errno);
    return -1;
  }
  auto refuse = [&](std::string reason) {
    *why = std::move(reason);
    close(fd);
    return -1;
  };
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return refuse("plugin " + pluginPath + " is not a regular file");
  if (std::string w = judge(st, "plugin ", pluginPath); !w.empty()) return refuse(w);
  // Where the opened file really is (symlinks resolved, as the kernel opened it).
  char real[PATH_MAX];
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), real, sizeof real - 1);
  if (n <= 0) return refuse("cannot tell where plugin " + pluginPath + " is: " + std::strerror(errno));
  real[n] = '\0';
  std::vector<std::string> dirs = {pluginsDir};
  for (std::filesystem::path p = std::filesystem::path(real).parent_path();; p = p.parent_path()) {
    dirs.push_back(p.string());
    if (p == p.root_path() || p.empty()) break;
  }
  for (const std::string& d : dirs) {
    if (stat(d.c_str(), &st) != 0) continue;  // (the configured dir vanished: its file is open already)
    if (std::string w = judge(st, "plugins directory ", d); !w.empty()) return refuse(w);
  }
  return fd;
}

}  // namespace hostd::master
