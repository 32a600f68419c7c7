#include "config/config.h"
#include "config/run_as.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace hostd::config;

namespace {
Config parse(const std::string& text, unsigned cpus = 4) { return parseConfig(text, "/etc/hostd/server.ini", cpus); }

/// The error text for a config that must be refused.
std::string refusal(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("config was accepted: " << text);
  return {};
}
}  // namespace

TEST_CASE("an empty config has every default", "[config]") {
  Config c = parse("", 3);
  CHECK(c.listen.toString() == "127.0.0.1:8080");
  CHECK(c.workers == 3);
  CHECK(c.scheduling == Scheduling::Shared);
  CHECK(c.graceful_timeout == 5);
  CHECK(c.plugins_dir == "/etc/hostd/plugins");
  CHECK(c.handler == "hello");
  CHECK(c.pluginPath() == "/etc/hostd/plugins/hello.so");
  CHECK_FALSE(c.watch);
  CHECK(c.load_timeout == 10);
  CHECK(c.restart_limit == 10);
  CHECK(c.restart_window == 60);
  CHECK(c.heartbeat_timeout == 10);
  CHECK(c.max_requests == 0);
  CHECK(c.max_requests_jitter == 0);
  CHECK(c.max_memory_mb == 0);
  CHECK(c.max_header_bytes == 8192);
  CHECK(c.max_body_bytes == 1048576);
  CHECK(c.header_timeout == 10);
  CHECK(c.keepalive_timeout == 5);
  CHECK(c.body_timeout == 60);
  CHECK(c.start_timeout == 60);
  CHECK(c.quarantine_after == 3);
  CHECK(c.quarantine_seconds == 60);
  CHECK(c.send_timeout == 30);
  CHECK(c.max_output_buffer == 1048576);
  CHECK(c.on_exception == OnException::Respond);
  CHECK(c.log_level == "information");
}

TEST_CASE("every key is read, and comments of both kinds and inline comments are ignored", "[config]") {
  Config c = parse(R"(
# a hash comment
; a semicolon comment
[server]
listen = [::1]:9090          ; inline comment
WORKERS = 3                  # inline hash comment
scheduling = shared
graceful_timeout = 7
[plugins]
dir = /opt/plugins
handler = my-plugin_2
watch = yes
load_timeout = 30
[cluster]
restart_limit = 4
restart_window = 30
heartbeat_timeout = 3
max_requests = 1000
max_requests_jitter = 50
max_memory_mb = 512
on_exception = replace
start_timeout = 7
[limits]
max_header_bytes = 4096
max_body_bytes = 0
header_timeout = 2
keepalive_timeout = 1
body_timeout = 9
send_timeout = 8
max_output_buffer = 65536
[log]
level = debug
[plugin.my-plugin_2]
Greeting = Hello World ; with a comment
path = /a;b#c
)");
  CHECK(c.listen.ipv6);
  CHECK(c.listen.host == "::1");
  CHECK(c.listen.toString() == "[::1]:9090");
  CHECK(c.workers == 3);
  CHECK(c.graceful_timeout == 7);
  CHECK(c.pluginPath() == "/opt/plugins/my-plugin_2.so");
  CHECK(c.watch);
  CHECK(c.load_timeout == 30);
  CHECK(c.restart_limit == 4);
  CHECK(c.restart_window == 30);
  CHECK(c.heartbeat_timeout == 3);
  CHECK(c.max_requests == 1000);
  CHECK(c.max_requests_jitter == 50);
  CHECK(c.max_memory_mb == 512);
  CHECK(c.max_header_bytes == 4096);
  CHECK(c.max_body_bytes == 0);
  CHECK(c.header_timeout == 2);
  CHECK(c.keepalive_timeout == 1);
  CHECK(c.body_timeout == 9);
  CHECK(c.send_timeout == 8);
  CHECK(c.max_output_buffer == 65536);
  CHECK(c.on_exception == OnException::Replace);
  CHECK(c.start_timeout == 7);
  CHECK(c.log_level == "debug");
  Config back = fromJson(toJson(c));  // what a worker gets
  CHECK(back.body_timeout == 9);
  CHECK(back.send_timeout == 8);
  CHECK(back.max_output_buffer == 65536);
  CHECK(back.on_exception == OnException::Replace);
  const auto* s = c.pluginSection("my-plugin_2");
  REQUIRE(s);
  CHECK(s->at("greeting") == "Hello World");
  CHECK(s->at("path") == "/a;b#c");  // no whitespace before ';' / '#': part of the value
}

TEST_CASE("relative plugin dirs are relative to the config file's folder", "[config]") {
  CHECK(parseConfig("[plugins]\ndir = ../build/plugins\n", "/src/hostd/conf/server.ini", 1).plugins_dir ==
        "/src/hostd/build/plugins");
  CHECK(parseConfig("[plugins]\ndir = p\n", "/x/y.ini", 1).plugins_dir == "/x/p");
}

TEST_CASE("scheduling accepts shared, round_robin and reuseport", "[config]") {
  CHECK(parse("[server]\nscheduling = round_robin\n").scheduling == Scheduling::RoundRobin);
  CHECK(parse("[server]\nscheduling = reuseport\n").scheduling == Scheduling::ReusePort);
  CHECK(parse("[server]\nscheduling = SHARED\n").scheduling == Scheduling::Shared);
}

TEST_CASE("port 0 means any free port", "[config]") {
  CHECK(parse("[server]\nlisten = 127.0.0.1:0\n").listen.port == 0);
  CHECK(parse("[server]\nlisten = localhost:80\n").listen.host == "localhost");
}

TEST_CASE("each bad input names file, line, [section] key and what was expected", "[config]") {
  struct Case {
    std::string text;
    std::vector<std::string> expect;
  };
  std::vector<Case> cases = {
      {"[server]\nwrokers = 2\n", {"server.ini:2", "unknown key \"wrokers\" in [server]", "workers"}},
      {"[srever]\nworkers = 2\n", {"server.ini:2", "unknown section [srever]"}},
      {"[cluster]\non_exception = ignore\n", {"[cluster] on_exception = \"ignore\"", "respond or replace"}},
      {"[limits]\nmax_output_buffer = 100\n", {"[limits] max_output_buffer = \"100\"", "from 4096"}},
      {"[limits]\nsend_timeout = 0\n", {"[limits] send_timeout = \"0\"", "from 1 to 3600"}},
      {"workers = 2\n", {"server.ini:1", "outside any section"}},
      {"[server]\nworkers = 0\n", {"[server] workers = \"0\"", "\"auto\" or a whole number from 1 to 1024"}},
      {"[server]\nworkers = abc\n", {"[server] workers = \"abc\"", "auto"}},
      {"[server]\nworkers = -1\n", {"[server] workers = \"-1\""}},
      {"[server]\nworkers = 99999\n", {"[server] workers = \"99999\""}},
      {"[server]\nworkers = 4x\n", {"[server] workers = \"4x\""}},
      {"[server]\nlisten = 127.0.0.1\n", {"[server] listen = \"127.0.0.1\"", "host:port"}},
      {"[server]\nlisten = 127.0.0.1:70000\n", {"[server] listen", "65535"}},
      {"[server]\nlisten = [::1:8080\n", {"[server] listen = \"[::1:8080\""}},
      {"[server]\nlisten = :8080\n", {"[server] listen = \":8080\""}},
      {"[server]\nlisten = ::1:8080\n", {"[server] listen = \"::1:8080\""}},
      {"[server]\nscheduling = bogus\n", {"[server] scheduling = \"bogus\"", "shared, round_robin or reuseport"}},
      {"[server]\ngraceful_timeout = 0\n", {"[server] graceful_timeout = \"0\"", "from 1 to 3600"}},
      {"[plugins]\nwatch = maybe\n", {"[plugins] watch = \"maybe\"", "true or false"}},
      {"[plugins]\nload_timeout = 0\n", {"[plugins] load_timeout = \"0\"", "from 1 to 3600"}},
      {"[plugins]\nhandler = ../etc/passwd\n", {"[plugins] handler", "[A-Za-z0-9_-]"}},
      {"[limits]\nmax_body_bytes = -5\n", {"[limits] max_body_bytes = \"-5\""}},
      {"[limits]\nmax_header_bytes = 10\n", {"[limits] max_header_bytes = \"10\"", "from 256"}},
      {"[log]\nlevel = loud\n", {"[log] level = \"loud\"", "information"}},
      {"[server]\nworkers\n", {"server.ini:2", "key = value"}},
      {"[server\nworkers = 1\n", {"server.ini:1", "closing ']'"}},
  };
  for (const Case& c : cases) {
    std::string msg = refusal(c.text);
    INFO(c.text << " -> " << msg);
    CHECK_THAT(msg, Catch::StartsWith("/etc/hostd/server.ini"));
    for (const std::string& e : c.expect) CHECK_THAT(msg, Catch::Contains(e));
  }
}

TEST_CASE("loadConfig: missing file and missing plugin are named", "[config]") {
  CHECK_THROWS_WITH(loadConfig("/nonexistent/dir/server.ini"), Catch::Contains("/nonexistent/dir/server.ini"));
  char dir[] = "/tmp/hostd-config-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/server.ini";
  std::ofstream(path) << "[plugins]\ndir = plugins\nhandler = nothere\n";
  CHECK_THROWS_WITH(loadConfig(path), Catch::Contains("[plugins] handler") &&
                                          Catch::Contains(std::string(dir) + "/plugins/nothere.so"));
  std::remove(path.c_str());
  rmdir(dir);
}

TEST_CASE("toJson / fromJson round-trip", "[config]") {
  Config c = parse("[server]\nlisten = [::1]:0\nworkers = 7\n[cluster]\nmax_requests = 123456789012\n"
                   "[plugin.x]\nk = v w\n");
  Config d = fromJson(toJson(c));
  CHECK(d.listen.toString() == c.listen.toString());
  CHECK(d.listen.ipv6);
  CHECK(d.workers == 7);
  CHECK(d.max_requests == 123456789012ull);
  CHECK(d.max_memory_mb == c.max_memory_mb);
  CHECK(d.plugins_dir == c.plugins_dir);
  CHECK(d.pluginSection("x")->at("k") == "v w");
  CHECK(d.file == c.file);
  CHECK_THROWS_AS(fromJson("{not json"), ConfigError);
  // Who the workers run as travels resolved: a worker never looks names up.
  c.run_as = RunAs{65534, 1, {1, 65534}, "nobody", "daemon"};
  d = fromJson(toJson(c));
  CHECK(d.run_as.uid == 65534);
  CHECK(d.run_as.gid == 1);
  CHECK(d.run_as.groups == std::vector<unsigned>{1, 65534});
  CHECK(d.run_as.user == "nobody");
  CHECK(d.run_as.group == "daemon");
}

TEST_CASE("[server] user and group resolve to ids, by name or number, and nobody is the root default", "[config]") {
  Config c = parse("[server]\nuser = www-data\ngroup = adm\n");
  CHECK(c.user == "www-data");
  CHECK(c.group == "adm");
  CHECK_THROWS_WITH(parse("[server]\nuser = a b\n"), Catch::Contains("[server] user = \"a b\": expected a user"));
  if (geteuid() != 0) return;  // resolving to another user needs root (CI runs as root)
  RunAs nobody = resolveRunAs("", "", "/x.ini");
  CHECK(nobody.uid == 65534);
  CHECK(nobody.user == "nobody");
  CHECK(nobody.group == "nogroup");
  RunAs root = resolveRunAs("root", "", "/x.ini");
  CHECK(root.uid == 0);
  CHECK(root.switches());
  RunAs byNumber = resolveRunAs("65534", "1", "/x.ini");
  CHECK(byNumber.user == "nobody");
  CHECK(byNumber.gid == 1);
  CHECK(byNumber.group == "daemon");
  CHECK_THROWS_WITH(resolveRunAs("no-such-user-xq", "", "/x.ini"),
                    Catch::Contains("/x.ini: [server] user = \"no-such-user-xq\": expected an existing user"));
  CHECK_THROWS_WITH(resolveRunAs("", "no-such-group-xq", "/x.ini"),
                    Catch::Contains("[server] group = \"no-such-group-xq\": expected an existing group"));
}

TEST_CASE("[state] selects the shared-state backend", "[config]") {
  Config d = parse("");
  CHECK(d.state.backend == StateConfig::Backend::Embedded);
  CHECK(d.state.prefix == "hostd:");
  Config r = parse("[state]\nbackend = redis\nurl = redis://10.0.0.5:6380\nprefix = app1:\ntimeout_ms = 500\n");
  CHECK(r.state.backend == StateConfig::Backend::Redis);
  CHECK(r.state.redis_host == "10.0.0.5");
  CHECK(r.state.redis_port == 6380);
  CHECK(r.state.prefix == "app1:");
  CHECK(r.state.timeout_ms == 500);
  Config auth = parse("[state]\nurl = redis://app:p%40ss:w@redis.local:6390/3\n");
  CHECK(auth.state.redis_user == "app");
  CHECK(auth.state.redis_password == "p@ss:w");
  CHECK(auth.state.redis_host == "redis.local");
  CHECK(auth.state.redis_port == 6390);
  CHECK(auth.state.redis_db == 3);
  CHECK(auth.state.redactedUrl() == "redis://***@redis.local:6390/3");
  Config pw = parse("[state]\nurl = redis://:secret@10.1.1.1\n");
  CHECK(pw.state.redis_user.empty());
  CHECK(pw.state.redis_password == "secret");
  CHECK(pw.state.redactedUrl() == "redis://***@10.1.1.1");
  CHECK(fromJson(toJson(auth)).state == auth.state);
  Config v6 = parse("[state]\nurl = redis://[::1]\n");
  CHECK(v6.state.redis_host == "::1");
  CHECK(v6.state.redis_port == 6379);
  Config back = fromJson(toJson(r));
  CHECK(back.state.backend == StateConfig::Backend::Redis);
  CHECK(back.state.redis_port == 6380);
  CHECK(back.state.prefix == "app1:");
}

TEST_CASE("a bad [state] value names the key and what was expected", "[config]") {
  CHECK_THAT(refusal("[state]\nbackend = memcached\n"),
             Catch::Contains("server.ini:2") && Catch::Contains("[state] backend") && Catch::Contains("embedded or redis"));
  CHECK_THAT(refusal("[state]\nurl = http://127.0.0.1:6379\n"),
             Catch::Contains("[state] url") && Catch::Contains("redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"));
  CHECK_THAT(refusal("[state]\nurl = redis://127.0.0.1:99999\n"), Catch::Contains("[state] url"));
  CHECK_THAT(refusal("[state]\nurl = redis://:6379\n"), Catch::Contains("[state] url"));
  CHECK_THAT(refusal("[state]\nurl = redis://127.0.0.1:0\n"), Catch::Contains("[state] url"));
  CHECK_THAT(refusal("[state]\nurl = redis://127.0.0.1:6379/x\n"), Catch::Contains("[state] url"));
  CHECK_THAT(refusal("[state]\nurl = redis://secret@127.0.0.1\n"),
             Catch::Contains("USER:PASSWORD or :PASSWORD") && !Catch::Contains("secret"));
  CHECK_THAT(refusal("[state]\nurl = redis://:50%off@127.0.0.1\n"),
             Catch::Contains("%25") && !Catch::Contains("50%off"));
  CHECK_THAT(refusal("[state]\nurl = redis://:pw@127.0.0.1:99999\n"), !Catch::Contains(":pw@"));
  CHECK_THAT(refusal("[state]\nurl = redis://127.0.0.1?db=1\n"), Catch::Contains("[state] url"));
  CHECK_THAT(refusal("[state]\nprefix = a b\n"), Catch::Contains("[state] prefix"));
  CHECK_THAT(refusal("[state]\nport = 1\n"), Catch::Contains("unknown key \"port\" in [state]"));
  CHECK_THAT(refusal("[state]\nwait_for_redis = forever\n"), Catch::Contains("[state] wait_for_redis"));
  CHECK_THAT(refusal("[state]\nwait_for_redis = 3601\n"), Catch::Contains("[state] wait_for_redis"));
}

TEST_CASE("[children] bounds: defaults, limits, and what a worker receives", "[config]") {
  Config d = parse("");
  CHECK(d.children_max == 32);
  CHECK(d.children_max_queued == 1024);
  CHECK(d.children_queue_timeout_ms == 10000);
  Config c = parse("[children]\nmax_per_worker = 4\nmax_queued = 0\nqueue_timeout_ms = 250\n");
  Config back = fromJson(toJson(c));
  CHECK(back.children_max == 4);
  CHECK(back.children_max_queued == 0);
  CHECK(back.children_queue_timeout_ms == 250);
  CHECK_THAT(refusal("[children]\nmax_per_worker = 0\n"), Catch::Contains("[children] max_per_worker"));
  CHECK_THAT(refusal("[children]\nqueue_timeout_ms = 0\n"), Catch::Contains("[children] queue_timeout_ms"));
  CHECK_THAT(refusal("[children]\nmax = 3\n"), Catch::Contains("unknown key \"max\" in [children]"));
}

TEST_CASE("wait_for_redis and thread_pool: defaults, bounds, and what a worker receives", "[config]") {
  Config d = parse("");
  CHECK(d.state.wait_for_redis_s == 0);
  CHECK(d.thread_pool == 4);
  Config c = parse("[server]\nthread_pool = 16\n[state]\nbackend = redis\nwait_for_redis = 30\n");
  CHECK(c.state.wait_for_redis_s == 30);
  CHECK(c.thread_pool == 16);
  CHECK(fromJson(toJson(c)).thread_pool == 16);
  // Start-up only: changing it is not a [state] change a reload would have to refuse.
  CHECK(c.state == parse("[state]\nbackend = redis\n").state);
  CHECK_THAT(refusal("[server]\nthread_pool = 0\n"), Catch::Contains("[server] thread_pool"));
  CHECK_THAT(refusal("[server]\nthread_pool = 1025\n"), Catch::Contains("[server] thread_pool"));
}

TEST_CASE("a config that is not UTF-8 text is refused where it is written (found by fuzz_config)", "[config]") {
  // A worker gets its config as JSON: bytes that are not UTF-8 passed -t and then made
  // every worker fail to start.
  auto refusal = [](const std::string& text) {
    try {
      parseConfig(text, "/etc/hostd/server.ini", 2);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refusal("[plugin.x]\nk = \x8a\n"),
             Catch::Contains("server.ini:2") && Catch::Contains("0x8a") && Catch::Contains("not UTF-8 text"));
  CHECK_THAT(refusal(std::string("[plugin.x]\nk\0z = v\n", 19)), Catch::Contains("0x00"));
  CHECK_THAT(refusal("[state]\nurl = redis://:p%80ss@127.0.0.1\n"),
             Catch::Contains("[state] url") && Catch::Contains("UTF-8"));
  CHECK(refusal("[plugin.x]\ngreeting = Grüß Gott\r\n") == "accepted");
  Config c = parseConfig("[plugin.x]\ngreeting = Grüß Gott\n", "/x.ini", 1);
  CHECK(fromJson(toJson(c)).pluginSection("x")->at("greeting") == "Grüß Gott");
}
