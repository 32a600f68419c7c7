#include "config/run_as.h"

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <vector>

namespace hostd::config {
namespace {

/// getpwnam, or a number; false if neither names a user.
bool findUser(const std::string& name, passwd* out, std::vector<char>& buf) {
  passwd* found = nullptr;
  buf.assign(16384, 0);
  if (getpwnam_r(name.c_str(), out, buf.data(), buf.size(), &found) == 0 && found) return true;
  char* end = nullptr;
  unsigned long n = std::strtoul(name.c_str(), &end, 10);
  if (name.empty() || *end || n > 0x7fffffff) return false;
  return getpwuid_r(uid_t(n), out, buf.data(), buf.size(), &found) == 0 && found;
}

/// A group by name or number; -1 if neither names one.
int findGroup(const std::string& name, std::string* canonical) {
  group g{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found) == 0 && found) {
    *canonical = g.gr_name;
    return int(g.gr_gid);
  }
  char* end = nullptr;
  unsigned long n = std::strtoul(name.c_str(), &end, 10);
  if (name.empty() || *end || n > 0x7fffffff) return -1;
  *canonical = getgrgid_r(gid_t(n), &g, buf.data(), buf.size(), &found) == 0 && found ? g.gr_name : name;
  return int(n);
}

std::string groupName(gid_t gid) {
  group g{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  return getgrgid_r(gid, &g, buf.data(), buf.size(), &found) == 0 && found ? g.gr_name : std::to_string(gid);
}

}  // namespace

RunAs resolveRunAs(const std::string& user, const std::string& group, const std::string& file) {
  auto fail = [&](const char* key, const std::string& value, const std::string& expected) {
    throw ConfigError(file + ": [server] " + key + " = \"" + value + "\": expected " + expected);
  };
  const bool root = geteuid() == 0;
  const std::string wanted = user.empty() && root ? "nobody" : user;
  RunAs r;
  if (wanted.empty() && group.empty()) return r;  // not root, nothing asked: run as we are
  passwd pw{};
  std::vector<char> buf;
  if (!wanted.empty() && !findUser(wanted, &pw, buf))
    fail("user", wanted, user.empty() ? "an existing user: hostd runs as root and its workers default to \"nobody\", "
                                        "which this system lacks; set [server] user"
                                      : "an existing user (see getent passwd)");
  int gid = wanted.empty() ? int(getegid()) : int(pw.pw_gid);
  std::string gname = groupName(gid_t(gid));
  if (!group.empty() && (gid = findGroup(group, &gname)) < 0) fail("group", group, "an existing group (see getent group)");
  const int uid = wanted.empty() ? int(geteuid()) : int(pw.pw_uid);
  if (!root) {
    if (uid != int(geteuid()) || gid != int(getegid()))
      fail(user.empty() ? "group" : "user", user.empty() ? group : user,
           "the user and group hostd already runs as (uid " + std::to_string(geteuid()) + "): only a hostd "
           "started as root can switch its workers to another user; start it as root, or remove the key");
    return r;  // nothing to switch
  }
  r.uid = uid;
  r.gid = gid;
  r.user = pw.pw_name;
  r.group = gname;
  // The user's supplementary groups, as initgroups(3) would set them (nginx does the same).
  std::vector<gid_t> gs(64);
  int n = int(gs.size());
  while (getgrouplist(pw.pw_name, gid_t(gid), gs.data(), &n) < 0) gs.resize(size_t(n));
  gs.resize(size_t(n));
  for (gid_t g : gs) r.groups.push_back(unsigned(g));
  return r;
}

std::string dropPrivileges(const RunAs& who) {
  if (!who.switches() || geteuid() != 0) return "";
  std::vector<gid_t> groups(who.groups.begin(), who.groups.end());
  auto err = [](const char* call) { return std::string(call) + " failed: " + std::strerror(errno); };
  if (setgroups(groups.size(), groups.data()) != 0) return err("setgroups");
  if (setresgid(gid_t(who.gid), gid_t(who.gid), gid_t(who.gid)) != 0) return err("setgid");
  if (setresuid(uid_t(who.uid), uid_t(who.uid), uid_t(who.uid)) != 0) return err("setuid");
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) return err("getresuid");
  const uid_t u = uid_t(who.uid);
  const gid_t g = gid_t(who.gid);
  if (ru != u || eu != u || su != u || rg != g || eg != g || sg != g)
    return "the switch to uid " + std::to_string(who.uid) + " gid " + std::to_string(who.gid) + " did not take";
  if (who.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) return "root could be regained after the switch";
  return "";
}

}  // namespace hostd::config
