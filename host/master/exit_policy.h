// What a worker's exit means: the master's decision, as a pure function of what the master
// knows (no clock, no syscalls), unit-tested case by case like RestartPolicy.
#pragma once

namespace hostd::master {

/// What the master knows when a worker process has exited.
struct ExitFacts {
  bool stopping = false;            ///< the master is shutting down
  bool askedToStop = false;         ///< the worker was told to drain (Stopping)
  bool replacementSpawned = false;  ///< it asked to be replaced and its successor exists or is held
  bool currentGeneration = true;    ///< it runs the current build
  bool wasStarting = false;         ///< it never became ready
  bool reloading = false;           ///< a reload is rolling out
  bool startingUp = false;          ///< the cluster's first start is not complete
  bool fatalExitCode = false;       ///< it exited (no signal) with ipc::kExitFatal: cannot start
};

enum class ExitDecision {
  FinishStop,     ///< shutting down: one fewer to wait for
  Expected,       ///< asked to go, replaced, or of an older build: nothing to do
  Rollback,       ///< a worker of the new build died before ready: roll the reload back
  StartupFailed,  ///< a first-start worker died before ready: hostd cannot start
  GiveUpFatal,    ///< it cannot start (fatal code): leave the slot empty until a reload
  Crash,          ///< unexpected: the restart policy decides (backoff, give-up)
};

/// The exit is not news (logged at information level, never counted).
inline bool expectedExit(const ExitFacts& f) {
  return f.askedToStop || f.replacementSpawned || f.stopping || !f.currentGeneration;
}

/// The decision, in this order of precedence.
inline ExitDecision classifyExit(const ExitFacts& f) {
  if (f.stopping) return ExitDecision::FinishStop;
  if (expectedExit(f)) return ExitDecision::Expected;
  if (f.wasStarting && f.reloading) return ExitDecision::Rollback;
  if (f.wasStarting && f.startingUp) return ExitDecision::StartupFailed;
  if (f.fatalExitCode) return ExitDecision::GiveUpFatal;
  return ExitDecision::Crash;
}

}  // namespace hostd::master
