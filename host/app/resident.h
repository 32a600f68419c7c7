// Resident memory of a process, from /proc/<pid>/statm.
#pragma once

#include <cstdint>

namespace hostd::app {

/// Resident set size in bytes of `pid` (0: this process), 0 if unknown.
uint64_t residentBytes(int pid = 0);

}  // namespace hostd::app
