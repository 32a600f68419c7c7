// Shared state: a hit counter per path, exact across every worker — and across every
// hostd on every machine when [state] backend = redis.
//
//   GET /anything   -> "/anything: 3 hit(s)"   (answered once the increment is applied)
//   GET /stats      -> every counter, read from this worker's replica (no round trip)
#include <hostd/plugin.hpp>

#include <map>
#include <string>

struct HitCounter : hostd::Handler {
  std::map<std::string, int64_t> counters;  // this worker's view, kept current by a watch

  void init() override {
    // The replica is complete before init runs; the watch keeps `counters` in step with
    // every change, whichever worker (or host) made it.
    hostd::state::watch_prefix("hits:", [this](std::string_view key, std::optional<std::string_view> value) {
      std::string path(key.substr(5));
      if (value) counters[path] = std::stoll(std::string(*value));
      else counters.erase(path);
    });
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    std::string path(req.path());
    if (path == "/stats") {
      std::string out;
      for (const auto& [p, n] : counters) out += p + " " + std::to_string(n) + "\n";
      res.header("Content-Type", "text/plain").send(out.empty() ? "no hits yet\n" : out);
      return;
    }
    hostd::state::incr("hits:" + path, 1, [res, path](const hostd::StateResult& r) mutable {
      if (!r.ok()) {  // e.g. Redis unreachable: say so, the worker keeps serving
        res.status(503).header("Content-Type", "text/plain").send("counter unavailable: " + r.error + "\n");
        return;
      }
      res.header("Content-Type", "text/plain").send(path + ": " + std::to_string(r.value) + " hit(s)\n");
    });
  }
};

HOSTD_PLUGIN(HitCounter, "hit_counter", "1.0.0")
