// The bundled default handler: answers every request with the configured greeting.
//   [plugin.hello]
//   greeting = Hello World
#include <hostd/plugin.hpp>

struct Hello : hostd::Handler {
  std::string body;

  void init() override { body = hostd::config("greeting", "Hello World") + "\n"; }

  void on_request(hostd::Request&, hostd::Response& res) override {
    res.status(200).header("Content-Type", "text/plain").send(body);
  }
};

HOSTD_PLUGIN(Hello, "hello", "1.0.0")
