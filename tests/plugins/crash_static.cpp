// A plugin whose static initialiser aborts: loading it crashes the loading process.
#include <hostd/plugin.hpp>

#include <cstdlib>

namespace {
struct Boom {
  Boom() { std::abort(); }
} boom;
}  // namespace

struct Never : hostd::Handler {
  void on_request(hostd::Request&, hostd::Response& res) override { res.send("never\n"); }
};
HOSTD_PLUGIN(Never, "crash_static", "1")
