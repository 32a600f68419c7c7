// Process-wide logging setup: one line per event on stderr, tagged with pid and source.
#pragma once

#include <string>

namespace hostd::app {

/// Routes Poco's root logger to stderr, one write(2) per line (so the lines of master
/// and workers sharing one stderr never interleave), format:
///   2026-11-25 03:30:00.123 I [1234 master] [H0101] listening on 127.0.0.1:8080
/// `level` is a Poco level name ("information", "debug", ...).
void setupLogging(const std::string& level);

}  // namespace hostd::app
