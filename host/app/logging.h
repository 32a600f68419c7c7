// Process-wide logging setup: one line per event on stderr, tagged with pid and source.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hostd::app {

constexpr size_t kLogTextCap = 1024;      ///< default cap of outside text in one log line
constexpr size_t kPluginLogCap = 8192;    ///< cap of one plugin log message

/// Routes Poco's root logger to stderr, one write(2) per line (so the lines of master
/// and workers sharing one stderr never interleave), format:
///   2026-11-25 03:30:00.123 I [1234 master] [H0101] listening on 127.0.0.1:8080
/// `level` is a Poco level name ("information", "debug", ...).
void setupLogging(const std::string& level);

/// Text from outside (a plugin's message, a reason sent by a worker, a request target)
/// made safe for one log line: CR, LF, other control bytes and DEL become \n, \r, \t or
/// \xNN, backslashes are doubled, and past `cap` bytes of input the rest is replaced by
/// "...(N more bytes)". A newline can never forge a line.
std::string logSafe(std::string_view text, size_t cap = kLogTextCap);

}  // namespace hostd::app
