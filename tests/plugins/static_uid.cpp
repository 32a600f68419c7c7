// A plugin whose static initialiser records who loads it: "<pid> <euid> <egid>" appended to
// $STATIC_UID_FILE (if set). The probe and every worker run it before any plugin call.
#include <hostd/plugin.hpp>

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace {
struct Record {
  Record() {
    const char* file = std::getenv("STATIC_UID_FILE");
    if (!file) return;
    if (FILE* f = std::fopen(file, "a")) {
      std::fprintf(f, "%d %u %u\n", int(getpid()), unsigned(geteuid()), unsigned(getegid()));
      std::fclose(f);
    }
  }
} record;
}  // namespace

struct Who : hostd::Handler {
  void on_request(hostd::Request&, hostd::Response& res) override { res.send(std::to_string(geteuid()) + "\n"); }
};
HOSTD_PLUGIN(Who, "static_uid", "1")
