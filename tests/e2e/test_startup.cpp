// Startup and refusal paths: options, config errors, plugin refusals, port in use.
#include "harness.h"

#include <catch2/catch.hpp>

using namespace hostd::test;
using namespace std::chrono_literals;

TEST_CASE("the version and help options answer and exit 0", "[e2e][startup]") {
  RunResult v = runHostd({"--version"});
  CHECK(v.exitCode == 0);
  CHECK_THAT(v.output, Catch::Contains("hostd 0.") && Catch::Contains("plugin ABI 1.3"));
  RunResult h = runHostd({"--help"});
  CHECK(h.exitCode == 0);
  CHECK_THAT(h.output, Catch::Contains("-c FILE, --config=FILE") && Catch::Contains("-t, --test"));
  CHECK_THAT(h.output, !Catch::Contains("-cFILE"));  // Poco's formatting, which reads as one word
}

TEST_CASE("an unknown option is a usage error", "[e2e][startup]") {
  RunResult r = runHostd({"--bogus"});
  CHECK(r.exitCode == 64);
  CHECK_THAT(r.output, Catch::Contains("bogus"));
}

TEST_CASE("the config test option accepts the shipped default config with the bundled hello plugin", "[e2e][startup]") {
  RunResult r = runHostd({"-t", "-c", std::string(HOSTD_SOURCE_DIR) + "/conf/server.ini"});
  INFO(r.output);
  CHECK(r.exitCode == 0);
  CHECK_THAT(r.output, Catch::Contains("plugin hello 1.0.0") && Catch::Contains("test is successful"));
}

TEST_CASE("a bad config exits non-zero naming the file and the key, before binding", "[e2e][startup]") {
  TempDir dir;
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[server]\nworkers = lots\n", "workers"},
           {"[server]\nlisten = 127.0.0.1\n", "listen"},
           {"[limits]\nmax_body_bytes = -1\n", "max_body_bytes"},
           {"[server]\nwrokers = 2\n", "wrokers"},
           {"[plugins]\nhandler = nosuchplugin\n", "handler"}}) {
    std::string p = dir.write("c.ini", text + "[plugins]\ndir = " HOSTD_TEST_PLUGIN_DIR "\n");
    for (bool test : {false, true}) {
      std::vector<std::string> args = {"-c", p};
      if (test) args.insert(args.begin(), "-t");
      RunResult r = runHostd(args);
      INFO(text << "\n" << r.output);
      CHECK(r.exitCode != 0);
      CHECK_THAT(r.output, Catch::Contains(p) && Catch::Contains(key));
      CHECK_THAT(r.output, !Catch::Contains("listening on"));
    }
  }
  RunResult missing = runHostd({"-c", dir.path() + "/nope.ini"});
  CHECK(missing.exitCode != 0);
  CHECK_THAT(missing.output, Catch::Contains("nope.ini"));
}

TEST_CASE("a plugin with the wrong ABI, no entry, bad magic or a missing symbol is refused clearly",
          "[e2e][startup]") {
  struct Case {
    std::string plugin, expect;
  };
  for (const Case& c : {Case{"bad_abi", "ABI 99."}, Case{"no_entry", "does not export hostd_plugin_entry"},
                        Case{"bad_magic", "bad plugin magic"}, Case{"missing_symbol", "hostd_test_no_such_function"},
                        Case{"crash_static", "crashed while loading"}}) {
    TempDir dir;
    std::string p = dir.write("server.ini", testConfig(c.plugin));
    for (bool test : {true, false}) {
      std::vector<std::string> args = {"-c", p};
      if (test) args.insert(args.begin(), "-t");
      RunResult r = runHostd(args);
      INFO(c.plugin << (test ? " -t" : "") << "\n" << r.output);
      CHECK(r.exitCode == 1);
      CHECK_THAT(r.output, Catch::Contains(c.expect) && Catch::Contains(c.plugin + ".so"));
      CHECK_THAT(r.output, !Catch::Contains("listening on"));
    }
  }
}

TEST_CASE("a plugin whose init fails: the master shows the plugin's message and exits 1", "[e2e][startup]") {
  HostdProcess h(testConfig("testplug", 2, "[plugin.testplug]\nfail_init = database unreachable at db:5432\n"));
  auto code = h.waitExit(15s);
  INFO(h.output());
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_THAT(h.output(), Catch::Contains("[H0115]") && Catch::Contains("database unreachable at db:5432"));
  // Fatal exits are not respawned: exactly one start per slot.
  CHECK(h.countLog("[H0103]") == 2);
}

TEST_CASE("a plugin that calls fatal in init fails like an init failure, without a respawn storm", "[e2e][startup]") {
  HostdProcess h(testConfig("testplug", 2, "[plugin.testplug]\nfatal_init = true\n"));
  auto code = h.waitExit(15s);
  INFO(h.output());
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_THAT(h.output(), Catch::Contains("[H0115]") &&
                             Catch::Contains("plugin called fatal before serving: cannot go on without its database"));
  CHECK(h.countLog("[H0103]") == 2);
}

TEST_CASE("a plugin that crashes in init: reported, master exits 1 without a respawn loop", "[e2e][startup]") {
  HostdProcess h(testConfig("testplug", 1, "[plugin.testplug]\ncrash_init = true\n"));
  auto code = h.waitExit(15s);
  INFO(h.output());
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_THAT(h.output(), Catch::Contains("[H0115]") && Catch::Contains("signal 6"));
  CHECK(h.countLog("[H0103]") == 1);
}

TEST_CASE("a port in use is an error, not a silent second server", "[e2e][startup]") {
  HostdProcess first(testConfig("testplug", 1));
  uint16_t port = first.port();
  TempDir dir;
  std::string cfg = testConfig("testplug", 1);
  std::string needle = "listen = 127.0.0.1:0";
  REQUIRE(cfg.find(needle) != std::string::npos);
  cfg.replace(cfg.find(needle), needle.size(), "listen = 127.0.0.1:" + std::to_string(port));
  RunResult r = runHostd({"-c", dir.write("second.ini", cfg)});
  INFO(r.output);
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.output, Catch::Contains("[H0100]") && Catch::Contains("[server] listen") &&
                           Catch::Contains(std::to_string(port)));
}
