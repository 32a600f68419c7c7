// The master's decision core (master/cluster_core.h), table-driven: each scenario is a list
// of steps, each step an event and the exact commands it must produce. The simulated shell
// below does what Master does with them (a Spawn succeeds or fails and the core is told).
#include "master/cluster_core.h"

#include <catch2/catch.hpp>

#include <functional>
#include <set>
#include <string>
#include <vector>

using namespace hostd::master;
using Cmds = std::vector<std::string>;

namespace {

ClusterCore::Params params(unsigned workers) {
  ClusterCore::Params p;
  p.workers = workers;
  p.policy.limit = 2;
  p.policy.windowMs = 60000;
  p.policy.firstDelayMs = 100;
  p.heartbeatTimeoutS = 10;
  p.startTimeoutS = 60;
  return p;
}

/// The shell, simulated: commands are carried out in order, as Master::apply does.
struct Sim {
  ClusterCore core{1, params(2), "plugin t 1"};
  uint64_t t = 0;
  std::set<uint64_t> failSpawn;  ///< serials whose Spawn fails (EMFILE, E2BIG, fork)
  bool lastBlamed = false;

  /// The commands the event caused, and those their outcomes caused, as strings. The
  /// log lines that only narrate another command (H0103 started, H0107 drain, H0108
  /// kill) are left out: the command is in the list.
  Cmds run(const std::function<void(Sim&)>& event) {
    event(*this);
    Cmds out;
    for (std::vector<Command> cmds = core.take(); !cmds.empty(); cmds = core.take()) {
      for (const Command& c : cmds) {
        const std::string s = c.str();
        if (s == "log H0103" || s == "log H0107" || s == "log H0108") continue;
        out.push_back(s);
        if (c.kind != Command::Kind::Spawn || !core.worker(c.serial)) continue;  // (Master skips it too)
        if (failSpawn.count(c.serial)) core.spawnFailed(c.serial, "uv_spawn failed: E2BIG", t);
        else core.spawned(c.serial, int(1000 + c.serial));
      }
    }
    return out;
  }
};

struct Step {
  std::string what;
  std::function<void(Sim&)> event;
  Cmds want;
};

// Events, as the shell reports them.
auto start = [](Sim& s) { s.core.start(s.t); };
auto ready = [](uint64_t w) { return [w](Sim& s) { s.core.ready(w, s.t); }; };
auto crash = [](uint64_t w) {
  return [w](Sim& s) { s.lastBlamed = s.core.exited(w, "killed by signal 11", false, "while serving GET /x", s.t); };
};
auto exits = [](uint64_t w) { return [w](Sim& s) { s.lastBlamed = s.core.exited(w, "exited with code 0", false, "", s.t); }; };
auto fatalExit = [](uint64_t w) { return [w](Sim& s) { s.core.exited(w, "exited with code 2", true, "", s.t); }; };
auto suicide = [](uint64_t w) { return [w](Sim& s) { s.core.suicide(w, "fatal() called", false, s.t); }; };
auto recycle = [](uint64_t w) { return [w](Sim& s) { s.core.suicide(w, "max_requests", true, s.t); }; };
auto due = [](int slot) { return [slot](Sim& s) { s.core.respawnDue(slot, s.t); }; };
auto after = [](uint64_t ms) { return [ms](Sim& s) { s.t += ms; }; };
auto tickAt = [](uint64_t ms) {
  return [ms](Sim& s) {
    s.t = ms;
    s.core.tick(s.t);
  };
};
/// A tick at ms while `unread` workers' frames wait in their channels, unread.
auto tickUnread = [](uint64_t ms, std::set<uint64_t> unread) {
  return [ms, unread](Sim& s) {
    s.t = ms;
    s.core.tick(s.t, [&](uint64_t w) { return unread.count(w) > 0; });
  };
};
/// The watchdog ticks once a second up to endMs; the `beating` workers send heartbeats.
auto ticksUntil = [](uint64_t endMs, std::vector<uint64_t> beating) {
  return [endMs, beating](Sim& s) {
    for (s.t += 1000; s.t <= endMs; s.t += 1000) {
      for (uint64_t w : beating) s.core.heartbeat(w, s.t);
      s.core.tick(s.t);
    }
    s.t = endMs;
  };
};
auto beat = [](uint64_t w) { return [w](Sim& s) { s.core.heartbeat(w, s.t); }; };
auto hup = [](Sim& s) { s.core.reloadRequested("SIGHUP"); };
auto accepted = [](unsigned workers) {
  return [workers](Sim& s) { s.core.reloadAccepted(s.core.generation() + 1, params(workers), "plugin t 2", s.t); };
};
auto refused = [](Sim& s) { s.core.reloadRefused("plugin did not finish loading within 10 s"); };
auto stop = [](bool graceful) { return [graceful](Sim& s) { s.core.stop(graceful); }; };
auto scaleTo = [](unsigned n, std::string refusal) {
  return [n, refusal](Sim& s) { CHECK(s.core.scale(n, s.t) == refusal); };
};
auto failSpawn = [](uint64_t w) { return [w](Sim& s) { s.failSpawn.insert(w); }; };
auto graceTimeout = [](uint64_t w) { return [w](Sim& s) { s.core.gracefulTimeout(w); }; };
auto protocolError = [](uint64_t w) { return [w](Sim& s) { s.core.protocolError(w, "protocol error: bad frame"); }; };
auto then = [](std::function<void(Sim&)> a, std::function<void(Sim&)> b) {
  return [a, b](Sim& s) {
    a(s);
    b(s);
  };
};

/// Two workers (#1 slot 1, #2 slot 2) started and ready.
const std::vector<Step> kStarted = {
    {"start", start, {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1"}},
    {"#1 ready", ready(1), {"log H0104"}},
    {"#2 ready", ready(2), {"log H0104", "log H0105", "notify READY=1"}},
};

std::vector<Step> started(std::vector<Step> more) {
  std::vector<Step> all = kStarted;
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

void play(const std::vector<Step>& steps, Sim& sim) {
  for (const Step& st : steps) {
    INFO("step: " << st.what);
    CHECK(sim.run(st.event) == st.want);
  }
}

struct Scenario {
  std::string name;
  std::vector<Step> steps;
};

/// Each scenario in its own section, from a fresh cluster.
void playEach(const std::vector<Scenario>& table) {
  for (const Scenario& sc : table) {
    SECTION(sc.name) {
      Sim sim;
      play(sc.steps, sim);
    }
  }
}

}  // namespace

TEST_CASE("cluster core: start-up", "[core]") {
  const std::vector<Scenario> table = {
      {"every slot starts, then the cluster is up", kStarted},
      {"the first spawn fails: hostd cannot start (exit 1), the other worker is never started",
       {{"spawn #1 fails", failSpawn(1), {}},
        {"start", start,
         {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1", "log H0110", "log H0115", "notify STOPPING=1", "cancel slot=1", "cancel slot=2",
          "log H0119", "finish code=1"}},
        {"no worker is known", [](Sim& s) { CHECK(s.core.workers().empty()); }, {}}}},
      {"a worker starts but its control channel cannot be set up: killed, and hostd cannot start",
       {{"start", start, {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1"}},
        {"#1 is broken", [](Sim& s) { s.core.spawnedBroken(1, 1001, "dup() failed: EMFILE"); }, {"log H0110", "kill #1"}},
        {"#1 exits", exits(1), {"log H0109", "log H0115", "notify STOPPING=1", "cancel slot=1", "cancel slot=2", "kill #2"}},
        {"#2 exits", exits(2), {"log H0109", "log H0119", "finish code=1"}}}},
      {"the second spawn fails after the first is ready",
       {{"spawn #2 fails", failSpawn(2), {}},
        {"start", start, {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1", "log H0110", "log H0115", "notify STOPPING=1", "cancel slot=1", "cancel slot=2", "kill #1"}},
        {"#1 exits", exits(1), {"log H0109", "log H0119", "finish code=1"}}}},
      {"a worker dies before it is ready: hostd cannot start",
       {{"start", start, {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1"}},
        {"#1 ready", ready(1), {"log H0104"}},
        {"#2 exits with the fatal code", fatalExit(2), {"log H0109", "log H0115", "notify STOPPING=1", "cancel slot=1", "cancel slot=2", "kill #1"}},
        {"#1 exits", exits(1), {"log H0109", "log H0119", "finish code=1"}}}},
      {"a worker never ready within start_timeout is killed, and hostd cannot start",
       {{"start", start, {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1"}},
        {"#1 ready", ready(1), {"log H0104"}},
        {"61 s of ticks, #1 heartbeating", ticksUntil(61000, {1}), {"kill #2"}},
        {"#2 exits", exits(2), {"log H0109", "log H0115", "notify STOPPING=1", "cancel slot=1", "cancel slot=2", "kill #1"}}}},
      {"SIGHUP during start-up is refused with a reason", {{"start", start, {"spawn slot=1 #1 gen=1", "spawn slot=2 #2 gen=1"}},
                                                          {"SIGHUP", hup, {"log H0126"}}}},
  };
  playEach(table);
}

TEST_CASE("cluster core: crashes, the restart policy and giving up", "[core]") {
  const std::vector<Scenario> table = {
      {"a crash respawns the slot after the backoff",
       started({{"#1 crashes", crash(1), {"log H0109", "log H0124", "arm slot=1 100ms"}},
                {"the timer fires", due(1), {"spawn slot=1 #3 gen=1"}},
                {"#3 ready", ready(3), {"log H0104"}}})},
      {"a respawn that fails to spawn (EMFILE) is retried through the policy",
       started({{"#1 crashes", crash(1), {"log H0109", "log H0124", "arm slot=1 100ms"}},
                {"spawn #3 fails", failSpawn(3), {}},
                {"the timer fires", due(1), {"spawn slot=1 #3 gen=1", "log H0110", "log H0124", "arm slot=1 200ms"}},
                {"the timer fires", due(1), {"spawn slot=1 #4 gen=1"}}})},
      {"past the limit the slot gives up; the other slot keeps serving",
       started({{"#1 crashes", crash(1), {"log H0109", "log H0124", "arm slot=1 100ms"}},
                {"respawn", due(1), {"spawn slot=1 #3 gen=1"}},
                {"#3 ready", ready(3), {"log H0104"}},
                {"#3 crashes", crash(3), {"log H0109", "log H0124", "arm slot=1 200ms"}},
                {"respawn", due(1), {"spawn slot=1 #4 gen=1"}},
                {"#4 crashes before ready", crash(4), {"log H0109", "log H0114"}},
                {"a late timer does nothing", due(1), {}}})},
      {"every slot given up: clients are refused and hostd exits 3",
       started({{"#1 fatal", fatalExit(1), {"log H0109", "log H0113"}},
                {"#2 fatal", fatalExit(2),
                 {"log H0109", "log H0113", "log H0140", "close-listeners", "notify STOPPING=1", "cancel slot=1", "cancel slot=2",
                  "log H0119", "finish code=3"}}})},
      {"the last worker of given-up slots leaves after a refused suicide: exit 3",
       started({{"#2 fatal", fatalExit(2), {"log H0109", "log H0113"}},
                {"#1 suicide", suicide(1), {"log H0106", "log H0124", "arm slot=1 100ms"}},
                {"replacement", due(1), {"spawn slot=1 #3 gen=1 replaces=#1"}},
                {"#3 ready", ready(3), {"log H0104", "drain #1"}},
                {"#1 exits", exits(1), {"log H0109"}},
                {"#3 suicide", suicide(3), {"log H0106", "log H0124", "arm slot=1 200ms"}},
                {"replacement", due(1), {"spawn slot=1 #4 gen=1 replaces=#3"}},
                {"#4 ready", ready(4), {"log H0104", "drain #3"}},
                {"#4 suicide: refused", suicide(4), {"log H0106", "log H0114", "drain #4"}},
                {"#3 exits: nothing accepts now", exits(3),
                 {"log H0109", "log H0140", "close-listeners", "notify STOPPING=1", "cancel slot=1", "cancel slot=2"}},
                {"#4 finished its requests", exits(4), {"log H0109", "log H0119", "finish code=3"}}})},
      {"a hung worker is killed and its request blamed; a drained one is not",
       started({{"heartbeat of #2 only, at 11 s", then(after(11000), then(beat(2), tickAt(11000))), {"kill #1"}},
                {"#1 exits", crash(1), {"log H0109", "log H0124", "arm slot=1 100ms"}},
                {"blamed", [](Sim& s) { CHECK(s.lastBlamed); }, {}}})},
      {"a late watchdog tick judges nobody (heartbeats may be waiting unread)",
       started({{"tick at 1 s", tickAt(1000), {}}, {"tick at 15 s: late", tickAt(15000), {}},
                {"the heartbeats are read", then(beat(1), beat(2)), {}}, {"tick at 16 s", tickAt(16000), {}}})},
      {"a worker whose frames wait unread is not judged hung (the master's loop was late, not it)",
       // Found under load in the reload test: after the master's loop stalled, ticks came
       // on time again before the heartbeats queued in the pipes were read.
       started({{"ticks up to 10 s, all heartbeats read", ticksUntil(10000, {1, 2}), {}},
                {"ticks up to 20 s, no heartbeat read", ticksUntil(20000, {}), {}},
                {"at 21 s, #1's heartbeats wait unread, #2 sent none", tickUnread(21000, {1}), {"kill #2"}},
                {"#1's are read", beat(1), {}},
                {"tick at 22 s", tickAt(22000), {}}})},
      {"a protocol error kills the worker once; graceful_timeout kills a drained one",
       started({{"#1 breaks the protocol", protocolError(1), {"log H0111", "kill #1"}},
                {"and again", protocolError(1), {}},
                {"#2 recycles", recycle(2), {"log H0106", "spawn slot=2 #3 gen=1 replaces=#2"}},
                {"#3 ready", ready(3), {"log H0104", "drain #2"}},
                {"#2 never leaves", graceTimeout(2), {"kill #2"}},
                {"#2 exits: expected, not blamed", exits(2), {"log H0109"}},
                {"not blamed", [](Sim& s) { CHECK_FALSE(s.lastBlamed); }, {}}})},
      {"a replacement that cannot be spawned: the old worker drains and the slot backs off",
       started({{"spawn #3 fails", failSpawn(3), {}},
                {"#1 recycles", recycle(1),
                 {"log H0106", "spawn slot=1 #3 gen=1 replaces=#1", "log H0110", "drain #1", "log H0124",
                  "arm slot=1 100ms"}},
                {"respawn", due(1), {"spawn slot=1 #4 gen=1"}}})},
  };
  playEach(table);
}

TEST_CASE("cluster core: reload, rollback and stop", "[core]") {
  const std::vector<Scenario> table = {
      {"a reload rolls one slot at a time and finishes",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"SIGHUP while probing", hup, {"log H0126"}},
                {"the probe accepts", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"#3 ready", ready(3), {"log H0104", "drain #1", "spawn slot=2 #4 gen=2"}},
                {"SIGHUP while rolling", hup, {"log H0126"}},
                {"#4 ready", ready(4), {"log H0104", "drain #2", "reload-finished gen=1", "log H0123", "notify READY=1"}},
                {"old workers leave", then(exits(1), exits(2)), {"log H0109", "log H0109"}},
                {"the next SIGHUP probes", hup, {"notify RELOADING=1", "probe"}}})},
      {"a refused probe (timeout, crash, bad config) leaves everything serving; the next SIGHUP works",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}}, {"the probe times out", refused, {"log H0121", "notify READY=1"}}, {"SIGHUP", hup, {"notify RELOADING=1", "probe"}}})},
      {"the new worker cannot be spawned: rolled back at once",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"spawn #3 fails", failSpawn(3), {}},
                {"accepted", accepted(2),
                 {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2", "log H0110", "log H0127",
                  "notify READY=1", "rollback gen=2", "cancel slot=1", "cancel slot=2"}},
                {"SIGHUP", hup, {"notify RELOADING=1", "probe"}}})},
      {"the new worker never becomes ready: start_timeout kills it and rolls back",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"61 s of heartbeats from the old workers", ticksUntil(61000, {1, 2}), {"kill #3"}},
                {"#3 exits", exits(3), {"log H0109", "log H0127", "notify READY=1", "rollback gen=2", "cancel slot=1", "cancel slot=2"}},
                {"SIGHUP", hup, {"notify RELOADING=1", "probe"}}})},
      {"the second slot's new worker dies: the first slot's new worker drains, an old-build one comes back",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"#3 ready", ready(3), {"log H0104", "drain #1", "spawn slot=2 #4 gen=2"}},
                {"#4 crashes before ready", crash(4),
                 {"log H0109", "log H0127", "notify READY=1", "rollback gen=2", "drain #3", "cancel slot=1", "cancel slot=2",
                  "spawn slot=1 #5 gen=1"}},
                {"#5 ready", ready(5), {"log H0104"}}})},
      {"an old-build worker dies mid-roll: its slot is served when the roll reaches it",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"old #2 crashes", crash(2), {"log H0109"}},
                {"#3 ready", ready(3), {"log H0104", "drain #1", "spawn slot=2 #4 gen=2"}},
                {"#4 ready", ready(4), {"log H0104", "reload-finished gen=1", "log H0123", "notify READY=1"}}})},
      {"an old-build worker dies mid-roll and the roll fails: the rollback respawns it",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"old #2 crashes", crash(2), {"log H0109"}},
                {"#3 crashes before ready", crash(3),
                 {"log H0109", "log H0127", "notify READY=1", "rollback gen=2", "cancel slot=1", "cancel slot=2", "spawn slot=2 #4 gen=1"}}})},
      {"a reload that shrinks the cluster drains the extra slot",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted: 1 worker", accepted(1), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"#3 ready", ready(3), {"log H0104", "drain #1", "drain #2", "reload-finished gen=1", "log H0123", "notify READY=1"}}})},
      {"a reload gives a given-up slot a new chance",
       started({{"#2 fatal", fatalExit(2), {"log H0109", "log H0113"}},
                {"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"#3 ready", ready(3), {"log H0104", "drain #1", "spawn slot=2 #4 gen=2"}},
                {"#4 ready", ready(4), {"log H0104", "reload-finished gen=1", "log H0123", "notify READY=1"}}})},
      {"a held-back suicide replacement is cancelled by a reload",
       started({{"#1 suicide", suicide(1), {"log H0106", "log H0124", "arm slot=1 100ms"}},
                {"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"the old timer fires late", due(1), {}},
                {"#3 ready", ready(3), {"log H0104", "drain #1", "spawn slot=2 #4 gen=2"}}})},
      {"stop while probing: the probe is killed and its answer ignored",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"SIGTERM", stop(true), {"notify STOPPING=1", "kill-probe", "cancel slot=1", "cancel slot=2", "drain #1", "drain #2"}},
                {"the probe answers", accepted(2), {}},
                {"workers leave", then(exits(1), exits(2)), {"log H0109", "log H0109", "log H0119", "finish code=0"}}})},
      {"stop while rolling: the starting new worker is drained with the rest",
       started({{"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"accepted", accepted(2), {"cancel slot=1", "cancel slot=2", "log H0122", "spawn slot=1 #3 gen=2"}},
                {"SIGTERM", stop(true), {"notify STOPPING=1", "cancel slot=1", "cancel slot=2", "drain #1", "drain #2", "drain #3"}},
                {"#3 becomes ready anyway: it was told to drain", ready(3), {}},
                {"all leave", then(exits(1), then(exits(2), exits(3))),
                 {"log H0109", "log H0109", "log H0109", "log H0119", "finish code=0"}}})},
      {"scale: new slots start, slots past the count drain; never during a reload or start-up",
       started({{"scale to 3", scaleTo(3, ""), {"log H0145", "spawn slot=3 #3 gen=1", "notify STATUS=serving: 3 worker(s), plugin t 1"}},
                {"#3 ready", ready(3), {"log H0104"}},
                {"scale to 1", scaleTo(1, ""),
                 {"log H0145", "cancel slot=2", "cancel slot=3", "drain #2", "drain #3", "notify STATUS=serving: 1 worker(s), plugin t 1"}},
                {"SIGHUP", hup, {"notify RELOADING=1", "probe"}},
                {"scale while probing", scaleTo(2, "a reload is running"), {}},
                {"the config says 2 again", accepted(2), {"cancel slot=1", "cancel slot=2", "cancel slot=3", "log H0122", "spawn slot=1 #4 gen=2"}}})},
      {"a second SIGTERM (or SIGQUIT) kills what still runs",
       started({{"SIGTERM", stop(true), {"notify STOPPING=1", "cancel slot=1", "cancel slot=2", "drain #1", "drain #2"}},
                {"#1 leaves", exits(1), {"log H0109"}},
                {"SIGQUIT", stop(false), {"cancel slot=1", "cancel slot=2", "kill #2"}},
                {"#2 exits", crash(2), {"log H0109", "log H0119", "finish code=0"}},
                {"nothing afterwards", hup, {}}})},
      {"a crash during the stop is not respawned",
       started({{"SIGTERM", stop(true), {"notify STOPPING=1", "cancel slot=1", "cancel slot=2", "drain #1", "drain #2"}},
                {"#1 crashes", crash(1), {"log H0109"}},
                {"a suicide is not replaced", suicide(2), {"log H0106"}},
                {"#2 exits", exits(2), {"log H0109", "log H0119", "finish code=0"}}})},
  };
  playEach(table);
}

TEST_CASE("cluster core: the worker table follows the events", "[core]") {
  Sim sim;
  play(kStarted, sim);
  REQUIRE(sim.core.worker(1));
  CHECK(sim.core.worker(1)->pid == 1001);
  CHECK(sim.core.worker(1)->state == ClusterCore::State::Ready);
  sim.run(recycle(1));
  CHECK(sim.core.worker(1)->replacementSpawned);
  CHECK(sim.core.worker(3)->state == ClusterCore::State::Starting);
  sim.run(ready(3));
  CHECK(sim.core.worker(1)->state == ClusterCore::State::Stopping);
  sim.run(exits(1));
  CHECK(sim.core.worker(1) == nullptr);
  CHECK(sim.core.workers().size() == 2);
}

TEST_CASE("cluster core: restarts are counted by reason and reloads by result (for metrics)", "[core]") {
  Sim sim;
  play(kStarted, sim);
  sim.run(crash(1));  // respawned after the backoff: a crash
  sim.run(due(1));
  sim.run(ready(3));
  sim.run(recycle(2));  // routine replacement
  sim.run(ready(4));
  sim.run(exits(2));
  sim.run(hup);
  sim.run(refused);
  sim.run(hup);
  sim.run(accepted(2));
  sim.run(ready(5));
  sim.run(ready(6));
  const auto& r = sim.core.restartsByReason();
  CHECK(r.at("crash") == 1);
  CHECK(r.at("recycle") == 1);
  CHECK(r.at("reload") == 2);
  CHECK(r.count("hung") == 0);
  CHECK(sim.core.reloadsByResult().at("refused") == 1);
  CHECK(sim.core.reloadsByResult().at("finished") == 1);
}
