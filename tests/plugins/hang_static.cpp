// A plugin whose static initialiser never returns: loading it hangs the loading process.
#include <hostd/plugin.hpp>

#include <unistd.h>

namespace {
struct Hang {
  Hang() {
    for (;;) pause();
  }
} hang;
}  // namespace

struct Never : hostd::Handler {
  void on_request(hostd::Request&, hostd::Response& res) override { res.send("never\n"); }
};
HOSTD_PLUGIN(Never, "hang_static", "1")
