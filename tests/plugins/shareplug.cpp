// The test plugin for shared state and child processes (SDK ABI 1.2).
#include <hostd/plugin.hpp>

#include <chrono>
#include <thread>
#include <unistd.h>
#include <csignal>
#include <memory>
#include <string>

namespace {
int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A query parameter, form-decoded ('+' is a space, %XX a byte).
std::string param(hostd::Request& req, std::string_view name, std::string_view fallback = {}) {
  std::string_view v = req.query_param(name);
  if (v.empty()) v = fallback;
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') s += ' ';
    else if (v[i] == '%' && i + 2 < v.size()) {
      s += char(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else s += v[i];
  }
  return s;
}

std::string describe(const hostd::ExecResult& r) {
  return "status=" + std::to_string(r.status) + "\ncode=" + std::to_string(r.exit_code) +
         "\nsignal=" + std::to_string(r.term_signal) + "\nout=" + r.out + "\nerr=" + r.err + "\nmessage=" + r.message +
         "\n";
}
}  // namespace

struct SharePlug : hostd::Handler {
  std::string seen;     // every change under "w/": "key=value@<system clock us>;"
  std::string atInit;   // what the replica held when init ran

  void init() override {
    // A slow start (a cache warming up) while this file exists: changes pile up meanwhile.
    std::string marker = hostd::config("slow_init_if_exists");
    if (!marker.empty() && access(marker.c_str(), F_OK) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoul(hostd::config("init_delay_ms", "3000"))));
    atInit = "keys:" + hostd::state::get("full/a").value_or("-") + "," + hostd::state::get("full/b").value_or("-") +
             ",count=" + std::to_string(hostd::state::get_int("count"));
    hostd::state::watch_prefix("w/", [this](std::string_view key, std::optional<std::string_view> value) {
      seen += std::string(key) + "=" + (value ? std::string(*value) : std::string("<deleted>")) + "@" +
              std::to_string(nowUs()) + ";";
    });
  }

  void on_request(hostd::Request& req, hostd::Response& res) override {
    std::string_view path = req.path();
    auto answer = [res](const hostd::StateResult& r) mutable {
      if (r.ok()) res.send(std::to_string(r.value) + "\n");
      else res.status(503).send("error " + std::to_string(r.status) + ": " + r.error + "\n");
    };
    if (path == "/incr") {
      hostd::state::incr(param(req, "key", "count"), std::stoll(param(req, "by", "1")), answer);
    } else if (path == "/set") {
      // Answers with the time the write was made, for the watch latency test.
      int64_t at = nowUs();
      hostd::state::set(param(req, "key"), param(req, "value"), [res, at](const hostd::StateResult& r) mutable {
        if (r.ok()) res.send(std::to_string(at) + "\n");
        else res.status(503).send("error " + std::to_string(r.status) + ": " + r.error + "\n");
      });
    } else if (path == "/set-get") {
      // Read-your-writes: in the completion, this worker's replica already has the value.
      std::string key = param(req, "key");
      hostd::state::set(key, param(req, "value"), [res, key](const hostd::StateResult& r) mutable {
        res.send(r.ok() ? hostd::state::get(key).value_or("<absent>") : "error: " + r.error);
      });
    } else if (path == "/set-order") {
      // Did this worker's own watch (on "w/") see the write before the write's done ran?
      std::string change = param(req, "key") + "=" + param(req, "value") + "@";
      hostd::state::set(param(req, "key"), param(req, "value"), [this, res, change](const hostd::StateResult& r) mutable {
        if (!r.ok()) res.status(503).send("error: " + r.error);
        else res.send(seen.find(change) != std::string::npos ? "watch-before-done" : "done-first");
      });
    } else if (path == "/del") {
      hostd::state::del(param(req, "key"), answer);
    } else if (path == "/get") {
      std::optional<std::string> v = hostd::state::get(param(req, "key"));
      if (v) res.send(*v);
      else res.status(404).send("absent\n");
    } else if (path == "/seen") {
      res.send(std::to_string(hostd::worker_id()) + "|" + seen);
    } else if (path == "/init") {
      res.send(atInit + "\n");
    } else if (path == "/exec") {
      hostd::ExecOptions o;
      o.timeout_ms = uint32_t(std::stoul(param(req, "timeout", "0")));
      o.max_output = std::stoul(param(req, "cap", "0"));
      o.cwd = param(req, "cwd");
      try {
        hostd::exec(param(req, "cmd"), [res](hostd::ExecResult& r) mutable { res.send(describe(r)); }, o);
      } catch (const hostd::Error& e) {
        res.status(400).send(std::string(e.what()) + "\n");
      }
    } else if (path == "/exec-file") {
      hostd::ExecOptions o;
      o.cwd = param(req, "cwd");
      try {
        hostd::exec_file(param(req, "file"), {param(req, "arg")},
                         [res](hostd::ExecResult& r) mutable { res.send(describe(r)); }, o);
      } catch (const hostd::Error& e) {
        res.status(404).send(std::string(e.what()) + "\n");
      }
    } else if (path == "/spawn") {
      // Streams the child's stdout as it comes; the last chunk says how it ended.
      hostd::SpawnHandlers h;
      h.on_stdout = [res](std::string_view chunk) mutable { res.write(chunk); };
      h.on_exit = [res](int status, int code, int sig) mutable {
        res.end("exit status=" + std::to_string(status) + " code=" + std::to_string(code) + " signal=" +
                std::to_string(sig) + "\n");
      };
      hostd::spawn("/bin/sh", {"-c", param(req, "cmd")}, h);
    } else if (path == "/spawn-kill") {
      // A child killed through the SDK reports the signal.
      hostd::SpawnHandlers h;
      h.on_exit = [res](int status, int code, int sig) mutable {
        res.send("exit status=" + std::to_string(status) + " code=" + std::to_string(code) + " signal=" +
                 std::to_string(sig) + "\n");
      };
      // A shell waiting on a sleep: the signal must reach both (the program's group).
      uint64_t id = hostd::spawn("/bin/sh", {"-c", "sleep 30; echo late"}, h);
      if (!hostd::kill_child(id, std::stoi(param(req, "sig", "15")))) res.status(500).send("kill_child failed\n");
    } else if (path == "/orphan") {
      // Starts a long child that leaves a long grandchild in the background; answers with
      // both pids ("grandchild child") while they keep running.
      hostd::SpawnHandlers h;
      h.on_stdout = [res, sent = std::make_shared<bool>(false)](std::string_view chunk) mutable {
        if (!*sent) res.send(std::string(chunk));
        *sent = true;
      };
      hostd::spawn("/bin/sh", {"-c", "sleep 300 & echo $! $$; exec sleep 300"}, h);
    } else {
      res.status(404).send("not found\n");
    }
  }
};

HOSTD_PLUGIN(SharePlug, "shareplug", "1.0")
