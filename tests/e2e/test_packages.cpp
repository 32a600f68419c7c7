// The Debian packages (cpack -G DEB): unpacked, not installed, they hold a hostd that serves
// and a hostd-dev with which a plugin builds through find_package(hostd-sdk).
#include "harness.h"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace hostd::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("cpack builds hostd and hostd-dev, and a plugin built from the unpacked SDK is served by the unpacked hostd",
          "[e2e][packages]") {
  TempDir work;
  const std::string debs = work.path() + "/debs", root = work.path() + "/root";
  RunResult pack = runProgram("cpack", {"-G", "DEB", "-B", debs, "--config", HOSTD_BUILD_DIR "/CPackConfig.cmake"},
                              Ms(180000));
  INFO(pack.output);
  REQUIRE(pack.exitCode == 0);
  for (const char* deb : {"hostd_", "hostd-dev_"}) {
    std::string file;
    for (const auto& e : fs::directory_iterator(debs))
      if (e.path().filename().string().rfind(deb, 0) == 0 && e.path().extension() == ".deb") file = e.path().string();
    INFO(deb);
    REQUIRE(!file.empty());
    RunResult x = runProgram("dpkg-deb", {"-x", file, root});
    REQUIRE(x.exitCode == 0);
  }
  const std::string prefix = root + HOSTD_INSTALL_PREFIX;
  for (const char* f : {"/bin/hostd", "/bin/hostctl", "/etc/hostd/server.ini", "/lib/systemd/system/hostd.service",
                        "/etc/logrotate.d/hostd", "/libexec/hostd/hostd-supervise", "/include/hostd/plugin.h",
                        "/include/hostd/plugin.hpp", "/share/pkgconfig/hostd-sdk.pc",
                        "/share/doc/hostd-dev/html/index.html"}) {  // the SDK reference (doxygen)
    INFO(f);
    CHECK(fs::exists(prefix + f));
  }

  // A plugin project the way a user writes one: find_package(hostd-sdk), nothing else.
  TempDir src;
  src.write("CMakeLists.txt",
            "cmake_minimum_required(VERSION 3.18)\nproject(pkgplug CXX)\nfind_package(hostd-sdk 0.1 REQUIRED)\n"
            "hostd_sdk_add_plugin(pkgplug pkgplug.cpp)\n");
  src.write("pkgplug.cpp",
            "#include <hostd/plugin.hpp>\n"
            "struct P : hostd::Handler {\n"
            "  void on_request(hostd::Request&, hostd::Response& res) override {\n"
            "    hostd::exec(\"cat /proc/$PPID/comm\", [res](hostd::ExecResult& r) mutable {\n"
            "      res.send(\"from the package, a child under \" + r.out);\n"
            "    });\n"
            "  }\n"
            "};\nHOSTD_PLUGIN(P, \"pkgplug\", \"1.0\")\n");
  const std::string build = work.path() + "/build";
  RunResult conf = runProgram("cmake", {"-S", src.path(), "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix}, Ms(120000));
  INFO(conf.output);
  REQUIRE(conf.exitCode == 0);
  RunResult make = runProgram("cmake", {"--build", build}, Ms(120000));
  INFO(make.output);
  REQUIRE(make.exitCode == 0);
  REQUIRE(fs::exists(build + "/pkgplug.so"));

  HostdProcess h(testConfig("pkgplug", 1, "[control]\nsocket = control.sock\n", build), {}, {}, prefix + "/bin/hostd");
  uint16_t port = h.port();
  auto r = httpGet(port, "/");
  REQUIRE(r);
  CHECK(r->body == "from the package, a child under hostd-supervise\n");  // found in libexec/hostd
  RunResult status = runProgram(prefix + "/bin/hostctl", {"-c", h.configPath(), "status"});
  CHECK(status.exitCode == 0);
  CHECK_THAT(status.output, Catch::Contains("plugin pkgplug 1.0"));
}
