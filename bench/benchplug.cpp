// The plugin bench/matrix.sh measures: one route per row of the matrix.
//   /        "Hello World\n" (as the bundled hello plugin)
//   /echo    the request body back
//   /64k     a 64 KiB body
//   /stream  1 MiB streamed chunked, 64 KiB writes with back-pressure (also /1m)
//   /exec       hostd::exec("true"), answered with the exit code      (bench/exec.sh)
//   /exec-file  hostd::exec_file("/bin/true"), likewise
#include <hostd/plugin.hpp>

#include <memory>
#include <string>

namespace {

const std::string kHello = "Hello World\n";
const std::string k64k(64 * 1024, 'x');

void pump(hostd::Response res, std::shared_ptr<int> left) {
  while (*left > 0 && res.writable() && !res.client_gone()) {
    res.write(k64k);
    --*left;
  }
  if (*left == 0 || res.client_gone()) return res.end();
  res.on_drain([res, left]() mutable { pump(res, left); });
}

std::string code(const hostd::ExecResult& r) { return std::to_string(r.exit_code) + "\n"; }

}  // namespace

struct Bench : hostd::Handler {
  void on_request(hostd::Request& req, hostd::Response& res) override {
    std::string_view path = req.path();
    res.header("Content-Type", "text/plain");
    if (path == "/echo") res.send(req.body());
    else if (path == "/64k") res.send(k64k);
    else if (path == "/stream" || path == "/1m") pump(res, std::make_shared<int>(16));
    else if (path == "/exec") hostd::exec("true", [res](hostd::ExecResult& r) mutable { res.send(code(r)); });
    else if (path == "/exec-file")
      hostd::exec_file("/bin/true", {}, [res](hostd::ExecResult& r) mutable { res.send(code(r)); });
    else res.send(kHello);
  }
};

HOSTD_PLUGIN(Bench, "benchplug", "1.0.0")
