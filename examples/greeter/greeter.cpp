// An out-of-tree hostd plugin: greets by name, and can answer later (asynchronously).
//
//   GET /?name=Ada          -> "Hello, Ada!"          (greeting from [plugin.greeter])
//   GET /later?ms=200       -> answered 200 ms later, without blocking the worker
//   POST /echo              -> the request body back
#include <hostd/plugin.hpp>

#include <string>

struct Greeter : hostd::Handler {
  std::string greeting;

  void init() override {
    greeting = hostd::config("greeting", "Hello");
    hostd::log_info("greeter ready on worker " + std::to_string(hostd::worker_id()));
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    if (req.path() == "/later") {
      std::string ms(req.query_param("ms"));
      // Keep the response handle (a cheap copy) and finish it from a timer.
      hostd::set_timeout(ms.empty() ? 100 : std::stoul(ms), [res]() mutable {
        res.status(200).header("Content-Type", "text/plain").send("sorry I'm late\n");
      });
      return;
    }
    if (req.path() == "/echo" && req.method() == "POST") {
      res.status(200).header("Content-Type", "application/octet-stream").send(req.body());
      return;
    }
    std::string name(req.query_param("name"));
    res.status(200)
        .header("Content-Type", "text/plain")
        .send(greeting + ", " + (name.empty() ? std::string("world") : name) + "!\n");
  }
};

HOSTD_PLUGIN(Greeter, "greeter", "1.0.0")
