// Outside text in log lines (app::logSafe): one line, bounded, readable.
#include "app/logging.h"

#include <catch2/catch.hpp>

using hostd::app::logSafe;

TEST_CASE("newlines and control bytes cannot forge a log line", "[log]") {
  CHECK(logSafe("a\nb\r\nc") == "a\\nb\\r\\nc");
  CHECK(logSafe(std::string("x\0y", 3)) == "x\\x00y");
  CHECK(logSafe("tab\there") == "tab\\there");
  CHECK(logSafe("del\x7f") == "del\\x7f");
  CHECK(logSafe("back\\slash") == "back\\\\slash");
  CHECK(logSafe("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 stays readable
}

TEST_CASE("outside text is capped, and the cut is said", "[log]") {
  std::string big(5000, 'a');
  std::string s = logSafe(big, 100);
  CHECK(s == std::string(100, 'a') + "...(4900 more bytes)");
  CHECK(logSafe("short", 100) == "short");
}
