// The path of the running hostd binary: what the master execs workers and the plugin
// probe from, and what a worker execs its child-process supervisors from.
#pragma once

#include <string>

namespace hostd::app {

/// The absolute path of this executable (uv_exepath), "" if the system cannot tell.
std::string selfExecutable();

}  // namespace hostd::app
