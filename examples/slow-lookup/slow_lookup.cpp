// Blocking work, timers and errors: a lookup that blocks (a database driver without an
// async API, say) runs on the worker's thread pool; the request gets an answer within a
// deadline whichever finishes first; bad input and failures become clear HTTP errors.
//
//   GET /lookup?key=abc           -> "abc => cba" after [plugin.slow_lookup] work_ms
//   GET /lookup?key=abc&ms=5000   -> 504 once deadline_ms passed (the work still finishes,
//                                    off the loop; its late answer is dropped)
//   GET /lookup                   -> 400: the work threw, the completion turns it into an answer
//   GET /boom                     -> throws in on_request: hostd answers 500, logs it, serves on
//
//   [plugin.slow_lookup]
//   work_ms = 50        ; how long one lookup blocks its pool thread
//   deadline_ms = 1000  ; the longest a client waits
#include <hostd/plugin.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

// What the request and its two possible finishers (the work, the deadline) share.
struct Pending {
  hostd::Response res;
  bool answered = false;
  uint64_t timer = 0;
  std::string result;  // written on the pool thread, read in the completion (on the loop)
  explicit Pending(hostd::Response r) : res(r) {}
  void answer(int status, const std::string& body) {
    if (answered) return;  // the other finisher was first
    answered = true;
    res.status(status).header("Content-Type", "text/plain").send(body);
  }
};

}  // namespace

struct SlowLookup : hostd::Handler {
  unsigned workMs = 50, deadlineMs = 1000;

  void init() override {
    workMs = unsigned(std::stoul(hostd::config("work_ms", "50")));
    deadlineMs = unsigned(std::stoul(hostd::config("deadline_ms", "1000")));
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    if (req.path() == "/boom") throw std::runtime_error("the handler failed on purpose");
    if (req.path() != "/lookup") {
      res.status(404).send("try /lookup?key=abc\n");
      return;
    }
    // Copy what the work needs: the Request is gone once on_request returns.
    std::string key(req.query_param("key"));
    std::string ms(req.query_param("ms"));
    unsigned blockMs = ms.empty() ? workMs : unsigned(std::stoul(ms));
    auto p = std::make_shared<Pending>(res);

    p->timer = hostd::set_timeout(deadlineMs, [p] { p->answer(504, "lookup timed out\n"); });
    hostd::queue_work(
        [p, key, blockMs] {  // on a pool thread: may block, must not call the SDK
          if (key.empty()) throw std::invalid_argument("missing ?key=");
          std::this_thread::sleep_for(std::chrono::milliseconds(blockMs));
          p->result = key + " => " + std::string(key.rbegin(), key.rend()) + "\n";
        },
        [p](std::exception_ptr error) {  // back on the loop: may answer
          hostd::cancel_timer(p->timer);
          if (!error) return p->answer(200, p->result);
          try {
            std::rethrow_exception(error);
          } catch (const std::invalid_argument& e) {
            p->answer(400, std::string(e.what()) + "\n");
          } catch (const std::exception& e) {
            hostd::log_error(std::string("lookup failed: ") + e.what());
            p->answer(502, "lookup failed\n");
          }
        });
  }
};

HOSTD_PLUGIN(SlowLookup, "slow_lookup", "1.0.0")
