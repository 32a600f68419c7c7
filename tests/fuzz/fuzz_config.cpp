// server.ini parsing (config/config.h): parseConfig on arbitrary text. It throws on bad
// input; a config it accepts must survive the hand-off to a worker: toJson -> fromJson ->
// toJson gives the same JSON.
//
// HOSTD_FUZZ_STRICT_EXCEPTIONS=1 also aborts on exceptions other than config::ConfigError
// (parseConfig documents ConfigError only; anything else escapes the "bad config" message).
#include "config/config.h"

#include <Poco/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

using namespace hostd::config;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_config: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

bool strictExceptions() {
  static const bool strict = [] {
    const char* v = std::getenv("HOSTD_FUZZ_STRICT_EXCEPTIONS");
    return v && *v == '1';
  }();
  return strict;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Config c;
  try {
    c = parseConfig(text, "fuzz.ini", 2);
  } catch (const ConfigError&) {
    return 0;
  } catch (const Poco::Exception& e) {  // derives from std::exception: caught first
    if (strictExceptions()) fail("parseConfig threw a Poco exception", e.displayText());
    return 0;
  } catch (const std::exception& e) {
    if (strictExceptions()) fail("parseConfig threw a non-ConfigError", std::string(typeid(e).name()) + ": " + e.what());
    return 0;
  }
  std::string j1 = toJson(c);
  Config back;
  try {
    back = fromJson(j1);
  } catch (const Poco::Exception& e) {
    fail("fromJson(toJson(parseConfig(...))) threw a Poco exception", e.displayText());
  } catch (const std::exception& e) {
    fail("fromJson(toJson(parseConfig(...))) threw", e.what());
  }
  std::string j2 = toJson(back);
  if (j1 != j2) fail("toJson -> fromJson -> toJson is not stable", j1 + "\n  vs\n" + j2);
  return 0;
}
