// The master's decision on a worker's exit (master/exit_policy.h), case by case.
#include "master/exit_policy.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace hostd::master;

TEST_CASE("every kind of worker exit gets its decision", "[exit]") {
  struct Case {
    std::string what;
    ExitFacts facts;
    ExitDecision want;
  };
  auto f = [](auto set) {
    ExitFacts x;
    set(x);
    return x;
  };
  const std::vector<Case> cases = {
      {"a serving worker crashes", f([](ExitFacts&) {}), ExitDecision::Crash},
      {"shutting down: whatever the exit", f([](ExitFacts& x) { x.stopping = true; x.wasStarting = true; x.reloading = true; }),
       ExitDecision::FinishStop},
      {"told to drain, then exits", f([](ExitFacts& x) { x.askedToStop = true; }), ExitDecision::Expected},
      {"asked to be replaced, then exits", f([](ExitFacts& x) { x.replacementSpawned = true; }), ExitDecision::Expected},
      {"a worker of an older build exits", f([](ExitFacts& x) { x.currentGeneration = false; }), ExitDecision::Expected},
      {"a new-build worker dies before ready during a reload",
       f([](ExitFacts& x) { x.wasStarting = true; x.reloading = true; }), ExitDecision::Rollback},
      {"an old-build worker dies before ready during a reload (a respawn of the old build)",
       f([](ExitFacts& x) { x.wasStarting = true; x.reloading = true; x.currentGeneration = false; }),
       ExitDecision::Expected},
      {"a first-start worker dies before ready", f([](ExitFacts& x) { x.wasStarting = true; x.startingUp = true; }),
       ExitDecision::StartupFailed},
      {"a first-start worker exits with the fatal code",
       f([](ExitFacts& x) { x.wasStarting = true; x.startingUp = true; x.fatalExitCode = true; }),
       ExitDecision::StartupFailed},
      {"a respawned worker cannot start (fatal code)", f([](ExitFacts& x) { x.wasStarting = true; x.fatalExitCode = true; }),
       ExitDecision::GiveUpFatal},
      {"a respawned worker dies before ready (not fatal)", f([](ExitFacts& x) { x.wasStarting = true; }),
       ExitDecision::Crash},
      {"killed at start_timeout during a reload", f([](ExitFacts& x) { x.wasStarting = true; x.reloading = true; }),
       ExitDecision::Rollback},
      {"a serving worker of the current build dies during a reload", f([](ExitFacts& x) { x.reloading = true; }),
       ExitDecision::Crash},
      {"a replaced worker exits with the fatal code", f([](ExitFacts& x) { x.replacementSpawned = true; x.fatalExitCode = true; }),
       ExitDecision::Expected},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(int(classifyExit(c.facts)) == int(c.want));
    CHECK(expectedExit(c.facts) == (c.want == ExitDecision::Expected || c.want == ExitDecision::FinishStop));
  }
}
