#include "master/plugin_trust.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

std::string checkOne(const std::string& path, bool isDir) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";  // missing: reported (better) by whoever reads it
  const bool ownerOk = st.st_uid == 0 || st.st_uid == geteuid();
  const bool writable = (st.st_mode & 022) != 0;
  if (ownerOk && !writable) return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
  const std::string what = isDir ? "plugins directory " : "plugin ";
  std::string fix = writable ? "chmod go-w " + path : "";
  if (!ownerOk) fix += std::string(fix.empty() ? "" : " and ") + "chown root " + path;
  return what + path + " is " + (writable ? "writable by group or others" : "owned by another user") + " (owner uid " +
         owner(st.st_uid) + ", mode " + mode + "): whoever can change it chooses the code hostd's workers run. " +
         "It must be owned by root or by the user hostd runs as (uid " + std::to_string(geteuid()) +
         ") and not writable by group or others. Fix: " + fix;
}

}  // namespace

std::string untrustedPlugin(const std::string& pluginPath, const std::string& pluginsDir) {
  std::vector<std::pair<std::string, bool>> paths = {{pluginPath, false}, {pluginsDir, true}};
  char real[PATH_MAX];
  if (realpath(pluginPath.c_str(), real)) {  // a symlink: where the code really is, too
    std::filesystem::path r(real);
    if (r.string() != pluginPath) paths.push_back({r.parent_path().string(), true});
  }
  for (const auto& [path, isDir] : paths)
    if (std::string why = checkOne(path, isDir); !why.empty()) return why;
  return "";
}

}  // namespace hostd::master
