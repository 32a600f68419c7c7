// Child processes: runs one of an allow-list of commands and returns its output, without
// blocking the worker (the child runs while the loop keeps serving).
//
//   GET /run/uptime   -> the output of `uptime`   (commands from [plugin.command_runner])
//   GET /run/rm       -> 404: not in the allow-list
//
//   [plugin.command_runner]
//   commands = uptime df uname
//   timeout_ms = 2000
#include <hostd/plugin.hpp>

#include <set>
#include <sstream>
#include <string>

struct CommandRunner : hostd::Handler {
  std::set<std::string> allowed;
  hostd::ExecOptions options;

  void init() override {
    std::istringstream names(hostd::config("commands", "uptime uname"));
    for (std::string name; names >> name;) allowed.insert(name);
    options.timeout_ms = uint32_t(std::stoul(hostd::config("timeout_ms", "2000")));
    options.max_output = 64 * 1024;
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    std::string_view path = req.path();
    std::string name(path.substr(path.rfind('/') + 1));
    if (path.rfind("/run/", 0) != 0 || !allowed.count(name)) {
      res.status(404).send("unknown command; allowed: " + list() + "\n");
      return;
    }
    try {
      // exec_file: no shell, so nothing in the request can become shell syntax.
      hostd::exec_file(name, {}, [res, name](hostd::ExecResult& r) mutable {
        res.header("Content-Type", "text/plain");
        if (r.status == HOSTD_ETIMEDOUT) res.status(504).send(name + ": " + r.message + "\n");
        else if (!r.ok()) res.status(500).send(name + " failed: " + (r.message.empty() ? r.err : r.message) + "\n");
        else res.send(r.out);
      }, options);
    } catch (const hostd::Error& e) {  // not installed here: an answer, not a worker crash
      res.status(500).send(std::string(e.what()) + "\n");
    }
  }

  std::string list() const {
    std::string out;
    for (const std::string& n : allowed) out += (out.empty() ? "" : " ") + n;
    return out;
  }
};

HOSTD_PLUGIN(CommandRunner, "command_runner", "1.0.0")
