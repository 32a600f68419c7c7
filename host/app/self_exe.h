// The path of the running hostd binary: what the master execs workers and the plugin
// probe from, and what a worker execs its child-process supervisors from.
#pragma once

#include <string>

namespace hostd::app {

/// The absolute path of this executable (uv_exepath), "" if the system cannot tell. For
/// argv[0] and messages: what is exec'd is kRunningBinary.
std::string selfExecutable();

/// What hostd execs to start a copy of itself (a worker, the plugin probe, a child's
/// supervisor): this very binary, even after the file at selfExecutable() was replaced
/// (a package upgrade renames the new build over it) or removed. A stored path would then
/// start the new build under the old master — or nothing, and a crashed worker could not be
/// replaced. Exec'd by a process forked from this one, it names the parent's binary.
inline constexpr const char* kRunningBinary = "/proc/self/exe";

}  // namespace hostd::app
