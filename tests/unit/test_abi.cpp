// The plugin ABI check: every refusal names what was seen and what was expected.
#include "plugin/plugin_loader.h"
#include "worker/host_api.h"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>

using hostd::plugin::checkDescriptor;

namespace {
int onRequest(void*, hostd_request*, hostd_response*, char*, size_t) { return HOSTD_OK; }

hostd_plugin good() {
  return hostd_plugin{HOSTD_PLUGIN_MAGIC, sizeof(hostd_plugin), HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR,
                      "hello", "1.0.0", nullptr, &onRequest, nullptr, nullptr};
}
}  // namespace

TEST_CASE("a well-formed descriptor is accepted", "[abi]") {
  hostd_plugin d = good();
  CHECK(checkDescriptor(&d, "/p/hello.so").empty());
}

TEST_CASE("a plugin built for an older minor of the same major is accepted", "[abi]") {
  hostd_plugin d = good();
  d.abi_minor = 0;
  CHECK(checkDescriptor(&d, "/p/hello.so").empty());
}

TEST_CASE("a NULL descriptor is refused", "[abi]") {
  std::string msg = checkDescriptor(nullptr, "/p/x.so");
  CHECK_THAT(msg, Catch::Contains("/p/x.so") && Catch::Contains("no descriptor"));
}

TEST_CASE("bad magic is refused as not a hostd plugin", "[abi]") {
  hostd_plugin d = good();
  d.magic = 0x12345678;
  std::string msg = checkDescriptor(&d, "/p/x.so");
  CHECK_THAT(msg, Catch::Contains("0x12345678") && Catch::Contains("not a hostd plugin"));
}

TEST_CASE("a different ABI major is refused naming both versions", "[abi]") {
  hostd_plugin d = good();
  d.abi_major = 99;
  d.abi_minor = 3;
  std::string msg = checkDescriptor(&d, "/p/x.so");
  CHECK_THAT(msg, Catch::Contains("ABI 99.3") && Catch::Contains("ABI 1.") && Catch::Contains("rebuild"));
}

TEST_CASE("a truncated descriptor is refused", "[abi]") {
  hostd_plugin d = good();
  d.size = 8;
  CHECK_THAT(checkDescriptor(&d, "/p/x.so"), Catch::Contains("8 bytes"));
}

TEST_CASE("an invalid plugin name is refused", "[abi]") {
  hostd_plugin d = good();
  d.name = "bad name!";
  CHECK_THAT(checkDescriptor(&d, "/p/x.so"), Catch::Contains("\"bad name!\"") && Catch::Contains("not valid"));
  d.name = nullptr;
  CHECK_THAT(checkDescriptor(&d, "/p/x.so"), Catch::Contains("(null)"));
}

TEST_CASE("a plugin without on_request is refused", "[abi]") {
  hostd_plugin d = good();
  d.on_request = nullptr;
  CHECK_THAT(checkDescriptor(&d, "/p/x.so"), Catch::Contains("no on_request"));
}

TEST_CASE("loading a missing file explains what to check", "[abi]") {
  REQUIRE_THROWS_WITH(hostd::plugin::loadPlugin("/nonexistent/x.so"),
                      Catch::Contains("cannot load plugin /nonexistent/x.so"));
}

TEST_CASE("the host API table only grew at its end, and the host fills every member", "[abi]") {
  // 1.1 members follow the 1.0 ones, 1.2 the 1.1 ones, 1.3 the 1.2 ones: a plugin built
  // against an older minor finds every member it knows where it expects it.
  static_assert(offsetof(hostd_host_api, queue_work) > offsetof(hostd_host_api, fatal));
  static_assert(offsetof(hostd_host_api, state_get) > offsetof(hostd_host_api, send_to));
  static_assert(offsetof(hostd_host_api, res_output) > offsetof(hostd_host_api, child_kill));
  static_assert(offsetof(hostd_host_api, plugin_error) == sizeof(hostd_host_api) - sizeof(void*));
  static hostd::worker::HostServices services;  // the table keeps a pointer to it
  const hostd_host_api* api = hostd::worker::makeHostApi(&services);
  CHECK(api->size == sizeof(hostd_host_api));
  CHECK(api->abi_minor == HOSTD_ABI_MINOR);
  // Every function pointer is set (the table is a run of pointers after the header).
  const char* base = reinterpret_cast<const char*>(api);
  for (size_t off = offsetof(hostd_host_api, req_method); off < sizeof(hostd_host_api); off += sizeof(void*)) {
    void* fn = nullptr;
    std::memcpy(&fn, base + off, sizeof fn);
    INFO("host API member at offset " << off);
    CHECK(fn != nullptr);
  }
}
