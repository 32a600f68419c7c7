// Messages between workers: each worker keeps its own in-memory cache of slow-to-build
// values; an update broadcasts "cache.invalidate" so every worker drops its copy.
//
//   GET  /item?id=7        -> the value, "X-Cache: hit" or "miss" (built on a miss)
//   POST /item?id=7        -> the item changed (say, in the database): every worker,
//                             this one included, drops its copy
#include <hostd/plugin.hpp>

#include <map>
#include <string>

struct Cache : hostd::Handler {
  std::map<std::string, std::string> cache;   // what this worker built

  void on_message(std::string_view topic, std::string_view payload, int from_worker) override {
    if (topic != "cache.invalidate") return;
    cache.erase(std::string(payload));
    hostd::log_info("item " + std::string(payload) + " invalidated by worker " + std::to_string(from_worker));
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    std::string id(req.query_param("id"));
    if (req.path() != "/item" || id.empty()) {
      res.status(404).send("try /item?id=1\n");
      return;
    }
    if (req.method() == "POST") {
      hostd::broadcast("cache.invalidate", id);
      res.status(202).send("item " + id + " invalidated everywhere\n");
      return;
    }
    auto hit = cache.find(id);
    bool cached = hit != cache.end();
    if (!cached) hit = cache.emplace(id, build(id)).first;
    res.header("X-Cache", cached ? "hit" : "miss").send(hit->second);
  }

  /// The expensive part (a query, a render), done once per worker per invalidation.
  std::string build(const std::string& id) {
    static int version = 0;
    return "item " + id + " built by worker " + std::to_string(hostd::worker_id()) + " (build " +
           std::to_string(++version) + ")\n";
  }
};

HOSTD_PLUGIN(Cache, "cache", "1.0.0")
