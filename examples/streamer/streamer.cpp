// Streaming with back-pressure: a large generated body sent at the speed the client reads
// it, with the worker's memory bounded by [limits] max_output_buffer whatever the size.
//
//   GET /stream?mib=64   -> 64 MiB of text lines (chunked), produced only while the
//                           connection has room, continued from on_drain when it drained
//
// Each finished stream logs how often it had to wait for the client.
#include <hostd/plugin.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace {

// Produces the body piece by piece: a 64 KiB chunk of numbered lines at a time.
struct Source {
  uint64_t left;        // bytes still to send
  uint64_t line = 0;    // next line number
  uint64_t waits = 0;   // how often the client was slower than us
  std::string chunk;

  explicit Source(uint64_t bytes) : left(bytes) {}
  bool more() const { return left > 0; }
  std::string_view next() {
    chunk.clear();
    char buf[32];
    while (chunk.size() < 64 * 1024) {
      int n = std::snprintf(buf, sizeof buf, "line %012llu\n", static_cast<unsigned long long>(line++));
      chunk.append(buf, size_t(n));
    }
    if (chunk.size() > left) chunk.resize(size_t(left));
    left -= chunk.size();
    return chunk;
  }
};

// Write while the connection has room; then wait for it to drain and go on from there.
void pump(hostd::Response res, std::shared_ptr<Source> src) {
  while (src->more() && res.writable()) res.write(src->next());
  if (!src->more() || res.client_gone()) {
    hostd::log_info("stream finished (" + std::string(src->more() ? "client gone" : "complete") + "), waited for the client " +
                    std::to_string(src->waits) + " time(s)");
    res.end();
    return;
  }
  ++src->waits;
  res.on_drain([res, src]() mutable { pump(res, src); });
}

}  // namespace

struct Streamer : hostd::Handler {
  void on_request(hostd::Request& req, hostd::Response& res) override {
    if (req.path() != "/stream") {
      res.status(404).send("try /stream?mib=64\n");
      return;
    }
    std::string mib(req.query_param("mib"));
    uint64_t bytes = (mib.empty() ? 1 : std::stoull(mib)) << 20;
    res.status(200).header("Content-Type", "text/plain");
    pump(res, std::make_shared<Source>(bytes));
  }
};

HOSTD_PLUGIN(Streamer, "streamer", "1.0.0")
